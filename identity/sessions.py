"""Server-side login sessions: the cookie holds a random value, the database its hash and the session.

A session ends at the first of: logout (revoked), `idle` without a request, `absolute` after login, or
its user being disabled. Every check reads the row, so a revoked session is dead on the next request,
in every process.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from identity.models import AuthMethod, User, UserSession

COOKIE_NAME = "spoedplein_sessie"
_COOKIE_MAX = 100
# `last_seen` is written at most this often: a page with several requests should not write each time.
_TOUCH_EVERY = timedelta(seconds=30)


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta
    absolute: timedelta


def session_id(cookie: str) -> str:
    return hashlib.sha256(cookie.encode("utf-8", "surrogateescape")).hexdigest()


def start(
    session: Session,
    user: User,
    *,
    auth_method: AuthMethod,
    client: str,
    now: datetime,
    lifetimes: Lifetimes,
) -> str:
    """Open a session for `user` and return the cookie value (only its hash is stored)."""
    cookie = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            id=session_id(cookie),
            user_id=user.id,
            csrf_secret=secrets.token_urlsafe(32),
            created=now,
            last_seen=now,
            idle_expires_at=now + lifetimes.idle,
            absolute_expires_at=now + lifetimes.absolute,
            auth_method=auth_method.value,
            client=client[:200],
        )
    )
    session.flush()
    return cookie


@dataclass(frozen=True)
class LiveSession:
    row: UserSession
    user: User
    needs_touch: bool  # call `touch` in a write transaction: the idle expiry should slide


def lookup(session: Session, cookie: str | None, *, now: datetime) -> LiveSession | None:
    """The live session behind a cookie, or None. Reads only (a read transaction is enough)."""
    if not cookie or len(cookie) > _COOKIE_MAX:
        return None
    row = session.get(UserSession, session_id(cookie))
    if row is None or row.revoked_at is not None:
        return None
    if now >= row.idle_expires_at or now >= row.absolute_expires_at:
        return None
    user = session.get(User, row.user_id)
    if user is None or user.disabled:
        return None
    return LiveSession(row, user, needs_touch=now - row.last_seen >= _TOUCH_EVERY)


def touch(session: Session, *, row_id: str, now: datetime, lifetimes: Lifetimes) -> None:
    """Slide a live session's idle expiry (never past its absolute expiry)."""
    row = session.get(UserSession, row_id)
    if row is None or row.revoked_at is not None or now >= row.idle_expires_at:
        return
    row.last_seen = now
    row.idle_expires_at = min(now + lifetimes.idle, row.absolute_expires_at)


def revoke(session: Session, cookie: str | None, *, now: datetime) -> bool:
    """End the session behind a cookie (logout). True if there was a live one."""
    if not cookie or len(cookie) > _COOKIE_MAX:
        return False
    row = session.get(UserSession, session_id(cookie))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now
    return True


def revoke_all(session: Session, *, user_id: int, now: datetime | None = None) -> None:
    """End every session of a user (disabled, password changed)."""
    from store.db import utcnow

    session.execute(
        update(UserSession)
        .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
        .values(revoked_at=now or utcnow())
    )
