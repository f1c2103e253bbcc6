"""Who is asking: the `Principal` behind a request, and the FastAPI dependencies that find it.

- `CurrentPrincipalDep` (API, FHIR): `Authorization: Bearer` with a person's or integration's token, or
  the shared SPOEDPLEIN_API_TOKEN (it acts as the bootstrap administrator), or a login session cookie.
  Nothing valid: 401.
- `PagePrincipalDep` (HTML pages): the login session cookie; without one the browser is sent to
  `/login?next=<here>` (install `install_login_redirect` on the app).

Every actor recorded anywhere comes from `Principal.actor`: `user:<id> (<display name>)`, a real user.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Annotated, Protocol
from urllib.parse import quote, unquote

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from core.deps import RuntimeDep
from core.runtime import Runtime
from identity import service, sessions, tokens
from identity.models import ED_ROLES, AuthMethod, Role, User

COOKIE_NAME = sessions.COOKIE_NAME

_bearer = HTTPBearer(
    auto_error=False,
    description="a person's or integration's API token (`spoedplein token create`), or SPOEDPLEIN_API_TOKEN",
)


def actor_label(user_id: int, display_name: str) -> str:
    """`user:<id> (<display name>)`: the id is what identifies; the name is what a reader needs."""
    return f"user:{user_id} ({display_name})"


@dataclass(frozen=True)
class Principal:
    """A real user acting through one request: who, in which role and organisation, how they proved it."""

    user_id: int
    username: str
    display_name: str
    role: Role
    organisation: str
    auth_method: AuthMethod
    client: str
    session_id: str | None = None
    # Set by the access policy when this request reads a case outside the person's scope with a reason
    # (break-the-glass): every audit entry of the request carries both.
    purpose: str = ""
    reason: str = ""

    @property
    def actor(self) -> str:
        """What the audit trail, the timeline and every `*_by` column record."""
        return actor_label(self.user_id, self.display_name)

    @property
    def name(self) -> str:
        return self.display_name

    @property
    def is_ed_staff(self) -> bool:
        return self.role in ED_ROLES


def principal_for(
    user: User, *, auth_method: AuthMethod, client: str, session_id: str | None = None
) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=Role(user.role),
        organisation=user.organisation,
        auth_method=auth_method,
        client=client,
        session_id=session_id,
    )


def lifetimes(runtime: Runtime) -> sessions.Lifetimes:
    settings = runtime.settings
    return sessions.Lifetimes(
        idle=timedelta(minutes=settings.session_idle_minutes),
        absolute=timedelta(hours=settings.session_absolute_hours),
    )


def shared_token_matches(runtime: Runtime, token: str | None) -> bool:
    """Is this the shared SPOEDPLEIN_API_TOKEN? (constant time)"""
    return token is not None and hmac.compare_digest(token.encode(), runtime.api_token.encode())


# The bootstrap administrator's user id per database: looked up (or created) once per process.
_bootstrap_ids: dict[str, tuple[int, str]] = {}


def _bootstrap_principal(runtime: Runtime, client: str) -> Principal:
    key = runtime.settings.resolved_database_url
    known = _bootstrap_ids.get(key)
    if known is None:
        with runtime.db.read() as db:
            user = service.get_by_username(db, service.BOOTSTRAP_ADMIN)
            found = (user.id, user.display_name) if user is not None else None
        if found is None:
            with runtime.db.write() as db:
                user = service.bootstrap_admin(db)
                found = (user.id, user.display_name)
        _bootstrap_ids[key] = known = found
    user_id, display_name = known
    return Principal(
        user_id=user_id,
        username=service.BOOTSTRAP_ADMIN,
        display_name=display_name,
        role=Role.ADMIN,
        organisation="",
        auth_method=AuthMethod.SHARED_TOKEN,
        client=client,
    )


def principal_from_token(runtime: Runtime, token: str, client: str) -> Principal | None:
    """The principal a bearer token stands for, or None."""
    if shared_token_matches(runtime, token):
        return _bootstrap_principal(runtime, client)
    if not token.startswith(tokens.PREFIX):
        return None  # not one of ours: no database round trip
    now = runtime.clock.now()
    with runtime.db.read() as db:
        owner = tokens.lookup(db, token, now=now)
        if owner is None:
            return None
        principal = principal_for(owner.user, auth_method=AuthMethod.API_TOKEN, client=client)
        needs_touch, token_id = owner.needs_touch, owner.token.id
    if needs_touch:
        with runtime.db.write() as db:
            tokens.touch(db, token_id=token_id, now=now)
    return principal


def principal_from_cookie(
    runtime: Runtime, cookie: str | None, client: str, *, touch: bool = True
) -> Principal | None:
    """The principal of a login session cookie, or None (missing, expired, revoked, user disabled).
    `touch=False` checks without counting the request as activity (a page refreshing itself)."""
    if not cookie:
        return None
    now = runtime.clock.now()
    with runtime.db.read() as db:
        live = sessions.lookup(db, cookie, now=now)
        if live is None:
            return None
        principal = principal_for(
            live.user,
            auth_method=AuthMethod(live.row.auth_method),
            client=client,
            session_id=live.row.id,
        )
        needs_touch = live.needs_touch and touch
    if needs_touch:
        with runtime.db.write() as db:
            sessions.touch(db, row_id=principal.session_id or "", now=now, lifetimes=lifetimes(runtime))
    return principal


def client_of(request: Request) -> str:
    return request.client.host if request.client else ""


def current_principal(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    client = client_of(request)
    principal = None
    if credentials is not None:
        principal = principal_from_token(runtime, credentials.credentials.strip(), client)
    else:
        principal = principal_from_cookie(runtime, request.cookies.get(COOKIE_NAME), client)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="a valid bearer token or login session is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    # The access policy (workflows/access.py) is installed on the app by the gateway: identity sits
    # below the domains whose rows (pages, consents) the policy reads.
    policy: AccessPolicy | None = getattr(request.app.state, "access_policy", None)
    if policy is not None:
        reason = unquote(request.headers.get(BREAK_GLASS_HEADER, ""))
        decided = policy(runtime, principal, request.method, request.url.path, break_glass_reason=reason)
        if not isinstance(decided, Principal):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"not allowed: {decided}")
        principal = decided
    return principal


# An API user's break-the-glass reason, sent with each request that reads a case outside their scope
# (percent-encoded UTF-8, so a Dutch reason survives an HTTP header).
BREAK_GLASS_HEADER = "X-Break-Glass-Reason"


class AccessPolicy(Protocol):
    """Checks (and audits when it refuses) one request of a principal: the principal to act as when
    allowed (with a break-the-glass purpose when a reason opened the case), else why not."""

    def __call__(
        self, runtime: Runtime, principal: Principal, method: str, path: str, *, break_glass_reason: str = ""
    ) -> Principal | object: ...


CurrentPrincipalDep = Annotated[Principal, Depends(current_principal)]


class LoginRequired(Exception):
    """Raised by `page_principal`: the handler `install_login_redirect` adds sends the browser to /login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def page_principal(request: Request, runtime: RuntimeDep) -> Principal:
    principal = principal_from_cookie(runtime, request.cookies.get(COOKIE_NAME), client_of(request))
    if principal is None:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(here)
    return principal


PagePrincipalDep = Annotated[Principal, Depends(page_principal)]


def login_url(next_path: str) -> str:
    return f"/login?next={quote(next_path, safe='/')}"


def install_login_redirect(app: FastAPI) -> None:
    async def _to_login(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return RedirectResponse(
            login_url(exc.next_path), status_code=303, headers={"Cache-Control": "no-store"}
        )

    app.add_exception_handler(LoginRequired, _to_login)


def credentials_present(runtime: Runtime, authorization: str, cookie_header: str) -> bool:
    """Does a request carry valid credentials? (The request guard asks before it reads a body.)"""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return principal_from_token(runtime, token.strip(), "") is not None
    if not cookie_header:
        return False
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(cookie_header)
    except Exception:  # a malformed Cookie header is simply no credential
        return False
    morsel = jar.get(COOKIE_NAME)
    return morsel is not None and principal_from_cookie(runtime, morsel.value, "") is not None
