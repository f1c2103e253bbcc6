"""Users: create, find, disable, check a password (argon2id, with lockout), and link outside logins.

Plain keyword-only functions on a caller's session; the caller commits. `upsert_external_user` is the
one door for logins that come from elsewhere (OIDC, SMART launch, a page link): it finds the user by
(source, subject) and keeps name, role and organisation as the outside world last said.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.models import Role, User

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so a wrong name costs as long as a wrong
    password (made on first use: hashing costs tens of milliseconds, not worth paying at import)."""
    return _hasher.hash("spoedplein: no such user")


BOOTSTRAP_ADMIN = "bootstrap-admin"
NAME_MAX = 100
PASSWORD_MIN = 10
PASSWORD_MAX = 1024


class IdentityError(Exception):
    """A request about users that cannot be done, in words the CLI prints and a page can show."""


def clean_text(raw: str, *, limit: int = NAME_MAX) -> str:
    """Text without control characters or surrounding space, at most `limit` characters (it goes into
    the audit trail and onto pages)."""
    kept = "".join(c for c in raw if unicodedata.category(c)[0] != "C")
    return " ".join(kept.split())[:limit]


def hash_password(password: str) -> str:
    if len(password) < PASSWORD_MIN:
        raise IdentityError(f"a password needs at least {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        raise IdentityError(f"a password has at most {PASSWORD_MAX} characters")
    return _hasher.hash(password)


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise IdentityError(f"no role {value!r}; roles: {', '.join(r.value for r in Role)}") from None


def get_by_username(session: Session, username: str) -> User | None:
    return session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def create_user(
    session: Session,
    *,
    username: str,
    role: Role,
    display_name: str = "",
    organisation: str = "",
    password: str | None = None,
    source: str = "local",
    external_subject: str | None = None,
) -> User:
    name = clean_text(username)
    if not name or name != username or " " in name:
        raise IdentityError("a username is one word without spaces or control characters")
    if get_by_username(session, name) is not None:
        raise IdentityError(f"user {name!r} exists already")
    user = User(
        username=name,
        display_name=clean_text(display_name) or name,
        role=role.value,
        organisation=clean_text(organisation),
        source=source,
        external_subject=external_subject,
        password_hash=hash_password(password) if password is not None else None,
        disabled=False,
        failed_logins=0,
    )
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, *, user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    user.failed_logins, user.locked_until = 0, None


def set_disabled(session: Session, *, username: str, disabled: bool = True) -> User:
    """Disable (or enable) a user; a disabled user's sessions and tokens stop working at once."""
    user = get_by_username(session, username)
    if user is None:
        raise IdentityError(f"no user {username!r}")
    user.disabled = disabled
    if disabled:
        from identity import sessions

        sessions.revoke_all(session, user_id=user.id)
    return user


def list_users(session: Session) -> list[User]:
    return list(session.execute(select(User).order_by(User.username)).scalars())


class LoginRefused(StrEnum):
    """Why a password login failed. The page says only "wrong name or password" or "locked"; the audit
    trail keeps the reason."""

    UNKNOWN_USER = "unknown_user"
    WRONG_PASSWORD = "wrong_password"
    NO_PASSWORD = "no_password"
    DISABLED = "disabled"
    LOCKED = "locked"
    WRONG_CODE = "wrong_code"  # the TOTP code (identity/totp.py)
    NO_SECOND_FACTOR = "no_second_factor"  # a code is required and the user has none enrolled


@dataclass(frozen=True)
class PasswordCheck:
    user: User | None
    refused: LoginRefused | None

    @property
    def ok(self) -> bool:
        return self.refused is None


def check_password(
    session: Session,
    *,
    username: str,
    password: str,
    now: datetime,
    max_failures: int,
    lockout: timedelta,
) -> PasswordCheck:
    """Check a local login. `max_failures` wrong passwords in a row lock the account for `lockout`; a
    locked account refuses even the right password until then (and does not say whether it was right)."""
    user = get_by_username(session, username) if len(username) <= NAME_MAX else None
    if user is None or user.password_hash is None:
        _verify(_dummy_hash(), password)
        return PasswordCheck(user, LoginRefused.UNKNOWN_USER if user is None else LoginRefused.NO_PASSWORD)
    if user.locked_until is not None and user.locked_until > now:
        return PasswordCheck(user, LoginRefused.LOCKED)
    if not _verify(user.password_hash, password[:PASSWORD_MAX]):
        user.failed_logins += 1
        if user.failed_logins >= max_failures:
            user.locked_until, user.failed_logins = now + lockout, 0
            return PasswordCheck(user, LoginRefused.LOCKED)
        return PasswordCheck(user, LoginRefused.WRONG_PASSWORD)
    if user.disabled:
        return PasswordCheck(user, LoginRefused.DISABLED)
    if user.totp_secret is None:
        # With a second factor the count goes on until the code is right too: else the password alone
        # would reset it and the code could be guessed without ever locking the account.
        user.failed_logins, user.locked_until = 0, None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return PasswordCheck(user, None)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def upsert_external_user(
    session: Session,
    *,
    source: str,
    subject: str,
    role: Role,
    display_name: str,
    organisation: str = "",
    username: str | None = None,
) -> User:
    """The user behind an outside login (OIDC issuer + `sub`, a SMART launch, a roster person id),
    created on first sight. Name, role and organisation follow what the source says now; a user an
    administrator disabled stays disabled (the caller must refuse the login: check `user.disabled`)."""
    user = session.execute(
        select(User).where(User.source == source, User.external_subject == subject)
    ).scalar_one_or_none()
    if user is None:
        wanted = clean_text(username or f"{_short(source)}:{subject}", limit=NAME_MAX).replace(" ", "_")
        candidate, n = wanted, 1
        while get_by_username(session, candidate) is not None:
            n += 1
            candidate = f"{wanted[: NAME_MAX - 4]}~{n}"
        user = create_user(
            session,
            username=candidate,
            role=role,
            display_name=display_name,
            organisation=organisation,
            source=source,
            external_subject=subject,
        )
        return user
    user.display_name = clean_text(display_name) or user.display_name
    user.role = role.value
    if organisation:
        user.organisation = clean_text(organisation)
    return user


def _short(source: str) -> str:
    return source.split("://", 1)[-1].split("/", 1)[0] or source


def bootstrap_admin(session: Session) -> User:
    """The user the shared SPOEDPLEIN_API_TOKEN acts as (the embedded default's first administrator).
    It has no password: it exists so that what the shared token does is recorded against a user."""
    user = get_by_username(session, BOOTSTRAP_ADMIN)
    if user is None:
        user = create_user(
            session,
            username=BOOTSTRAP_ADMIN,
            role=Role.ADMIN,
            display_name="Beheerder (gedeeld API-token)",
            source="bootstrap",
        )
    return user
