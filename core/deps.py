"""FastAPI dependencies every router uses: the runtime, the API token, the caller, the audit call.

One way to do each: routers never read settings or open sessions on their own.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from core.runtime import Runtime
from store import audit

_bearer = HTTPBearer(auto_error=False, description="SPOEDPLEIN_API_TOKEN (printed by `spoedplein run`)")


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


@dataclass(frozen=True)
class Caller:
    """Who is asking, for the audit log: an API client (token) or, later, a logged-in person."""

    actor: str
    client: str


def token_matches(runtime: Runtime, token: str | None) -> bool:
    """Is this the API token? (Constant-time; the one check both the route and the body guard use.)"""
    return token is not None and hmac.compare_digest(token.encode(), runtime.api_token.encode())


def bearer_token_matches(runtime: Runtime, authorization: str) -> bool:
    """`token_matches` for the value of an Authorization header (`Bearer <token>`)."""
    scheme, _, token = authorization.partition(" ")
    return scheme.lower() == "bearer" and token_matches(runtime, token.strip())


def require_token(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    if credentials is None or not token_matches(runtime, credentials.credentials):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="a valid bearer token is required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    client = request.client.host if request.client else ""
    return Caller(actor="api-token", client=client)


CallerDep = Annotated[Caller, Depends(require_token)]


def read_session(runtime: RuntimeDep) -> Iterator[Session]:
    with runtime.db.read() as session:
        yield session


def write_session(runtime: RuntimeDep) -> Iterator[Session]:
    with runtime.db.write() as session:
        yield session


ReadSession = Annotated[Session, Depends(read_session)]
# scope="function": the transaction commits before the response is sent, so a 2xx means committed and
# the caller's next request sees the change (the default "request" scope commits after the response).
WriteSession = Annotated[Session, Depends(write_session, scope="function")]


def audit_read(
    session: Session, caller: Caller, *, resource_type: str, resource_id: str | int, patient_ref: str
) -> None:
    """Log a read of patient data in the caller's transaction (NEN 7513): no log, no data."""
    audit.record(
        session,
        actor=caller.actor,
        action=audit.AuditAction.READ,
        resource_type=resource_type,
        resource_id=resource_id,
        patient_ref=patient_ref,
        client=caller.client,
    )
