"""Test helpers for real users: create one and open a login session for it, as the login page would."""

from __future__ import annotations

from core.runtime import Runtime
from identity import service, sessions
from identity.deps import lifetimes
from identity.models import AuthMethod, Role


def session_cookie(
    runtime: Runtime, username: str, role: Role, display_name: str = "", organisation: str = ""
) -> str:
    """A live session cookie for `username` (created with `role` when it does not exist yet)."""
    with runtime.db.write() as db:
        user = service.get_by_username(db, username) or service.create_user(
            db, username=username, role=role, display_name=display_name, organisation=organisation
        )
        return sessions.start(
            db,
            user,
            auth_method=AuthMethod.PASSWORD,
            client="127.0.0.1",
            now=runtime.clock.now(),
            lifetimes=lifetimes(runtime),
        )
