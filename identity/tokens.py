"""API tokens per person and per integration: shown once, stored as a SHA-256, revocable, scoped to roles.

A token looks like `spt_<random>`; the prefix lets a secret scanner and a log reader recognise it. The
random part is 256 bits, so a plain SHA-256 is enough to store it (no brute force can find it back).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.models import ApiToken, Role, User
from identity.service import IdentityError, clean_text, get_by_username

PREFIX = "spt_"
# `last_used` is written at most this often per token: a busy integration should not turn every read
# into a write.
_LAST_USED_EVERY = timedelta(minutes=5)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def create(
    session: Session, *, username: str, name: str = "", roles: list[Role] | None = None
) -> tuple[ApiToken, str]:
    """A new token for `username`: the row and the token itself (not kept; show it once)."""
    user = get_by_username(session, username)
    if user is None:
        raise IdentityError(f"no user {username!r}")
    if user.disabled:
        raise IdentityError(f"user {username!r} is disabled")
    wanted = [r.value for r in roles or []]
    if any(r != user.role for r in wanted):
        raise IdentityError(f"a token of {username!r} can only act as the user's role ({user.role})")
    plain = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_id=user.id, token_hash=token_hash(plain), name=clean_text(name), roles=wanted)
    session.add(row)
    session.flush()
    return row, plain


def revoke(session: Session, *, token_id: int, now: datetime) -> ApiToken:
    row = session.get(ApiToken, token_id) if 1 <= token_id < 2**63 else None
    if row is None:
        raise IdentityError(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
    return row


@dataclass(frozen=True)
class TokenOwner:
    token: ApiToken
    user: User
    needs_touch: bool


def lookup(session: Session, token: str, *, now: datetime) -> TokenOwner | None:
    """The live token and its enabled user, or None (unknown, revoked, or its user disabled). Reads only."""
    if not token.startswith(PREFIX) or len(token) > 200:
        return None
    row = session.execute(
        select(ApiToken).where(ApiToken.token_hash == token_hash(token))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    user = session.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    stale = row.last_used is None or now - row.last_used > _LAST_USED_EVERY
    return TokenOwner(row, user, needs_touch=stale)


def touch(session: Session, *, token_id: int, now: datetime) -> None:
    """Record when a token was last used (a write; `lookup` only reads)."""
    row = session.get(ApiToken, token_id)
    if row is not None:
        row.last_used = now


def list_tokens(session: Session) -> list[tuple[ApiToken, User]]:
    rows = session.execute(
        select(ApiToken, User).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
    )
    return [(t, u) for t, u in rows.tuples()]
