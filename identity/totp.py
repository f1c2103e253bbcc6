"""The second factor of a local login: a TOTP code (RFC 6238, 6 digits, 30 s; `pyotp`) from the person's
authenticator app.

Optional per user (`spoedplein user totp NAME` enrols: the secret and its otpauth URI are shown once),
required for the outside parties' roles when `SPOEDPLEIN_TOTP_REQUIRED_FOR_PARTIES` says so. The secret
is stored encrypted (`users.totp_secret`, an `Encrypted` column). A code is accepted within one step of
the server's clock, and each code only once (`users.totp_last_step`). A wrong code counts as a failed
login: the same counter and lockout as a wrong password (`service.check_password`), so guessing codes is
as slow as guessing passwords; the pages rate-limit code attempts as well (`identity.ratelimit`).
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

import pyotp
from sqlalchemy.orm import Session

from identity.models import ED_ROLES, Role, User
from identity.service import IdentityError, LoginRefused, get_by_username

ISSUER = "Spoedplein"
DIGITS = 6
STEP_S = 30
WINDOW = 1  # steps either side of now: a phone clock a little off still works
PARTY_ROLES = frozenset(Role) - ED_ROLES - {Role.INTEGRATION}


def enrol(session: Session, *, username: str) -> tuple[str, str]:
    """Give a user a new TOTP secret (replacing any earlier one); returns (secret, otpauth URI), to be
    shown once and never again."""
    user = get_by_username(session, username)
    if user is None:
        raise IdentityError(f"no user {username!r}")
    if user.password_hash is None:
        raise IdentityError(f"user {username!r} has no password to add a second factor to")
    secret = pyotp.random_base32()
    user.totp_secret, user.totp_last_step = secret.encode(), None
    return secret, pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def remove(session: Session, *, username: str) -> None:
    user = get_by_username(session, username)
    if user is None:
        raise IdentityError(f"no user {username!r}")
    user.totp_secret, user.totp_last_step = None, None


def enrolled(user: User) -> bool:
    return user.totp_secret is not None


def required(user: User, *, for_parties: bool) -> bool:
    """Must this user log in with a code? (Enrolled users always do.)"""
    return enrolled(user) or (for_parties and Role(user.role) in PARTY_ROLES)


def check_code(
    session: Session, *, user: User, code: str, now: datetime, max_failures: int, lockout: timedelta
) -> LoginRefused | None:
    """None when `code` is the user's current code (and not used before); else why not. A wrong code is
    a failed login (counted; `max_failures` in a row lock the account for `lockout`)."""
    if user.disabled:
        return LoginRefused.DISABLED
    if user.locked_until is not None and user.locked_until > now:
        return LoginRefused.LOCKED
    if user.totp_secret is None:
        return LoginRefused.NO_SECOND_FACTOR
    totp = pyotp.TOTP(user.totp_secret.decode(), digits=DIGITS, interval=STEP_S)
    digits = "".join(code.split())
    current = int(now.timestamp()) // STEP_S
    matched = None
    for step in range(current - WINDOW, current + WINDOW + 1):
        # Every step is compared (no early exit): the time taken says nothing about which one matched.
        if hmac.compare_digest(totp.generate_otp(step).encode(), digits.encode()[: DIGITS + 1]):
            matched = step
    if matched is None or (user.totp_last_step is not None and matched <= user.totp_last_step):
        user.failed_logins += 1
        if user.failed_logins >= max_failures:
            user.locked_until, user.failed_logins = now + lockout, 0
            return LoginRefused.LOCKED
        return LoginRefused.WRONG_CODE
    user.totp_last_step = matched
    user.failed_logins, user.locked_until = 0, None
    return None
