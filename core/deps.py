"""FastAPI dependencies every router uses: the runtime, the database sessions, the audit call.

One way to do each: routers never read settings or open sessions on their own. Who is asking is the
`identity` package's business (`identity.deps.CurrentPrincipalDep`); this module only knows that an
actor has a name for the audit trail and a client address.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from core.runtime import Runtime
from store import audit


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


class Actor(Protocol):
    """Anyone whose reads and changes are recorded: a real user (`user:<id> (<name>)`) or the system."""

    @property
    def actor(self) -> str: ...

    @property
    def client(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def organisation(self) -> str: ...

    @property
    def display_name(self) -> str: ...

    @property
    def purpose(self) -> str:
        """Why this actor reads, when it is not the routine care of the case ("break-the-glass")."""
        ...

    @property
    def reason(self) -> str:
        """The reason the actor gave for that purpose (the break-the-glass reason), else empty."""
        ...


@dataclass(frozen=True)
class Caller:
    """An actor that is not a request's principal (a background step acting for the system)."""

    actor: str
    client: str
    role: str = ""
    organisation: str = ""
    display_name: str = ""
    purpose: str = ""
    reason: str = ""


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
    session: Session,
    caller: Actor,
    *,
    resource_type: str,
    resource_id: str | int,
    patient_ref: str,
    case_id: str | int = "",
    source: str = "",
) -> None:
    """Log a read of patient data in the caller's transaction (NEN 7513): no log, no data."""
    audit_access(
        session,
        caller,
        audit.AuditAction.READ,
        resource_type=resource_type,
        resource_id=resource_id,
        patient_ref=patient_ref,
        case_id=case_id,
        source=source,
    )


def audit_access(
    session: Session,
    caller: Actor,
    action: audit.AuditAction,
    *,
    resource_type: str,
    resource_id: str | int,
    patient_ref: str,
    case_id: str | int = "",
    source: str = "",
    purpose: str = "",
    reason: str = "",
) -> None:
    """Log any access to patient data (read, change, export, disclosure) by `caller` in its transaction:
    the one audit call, so who, role, organisation and where are filled the same way everywhere.
    `source` says through what (api, fhir, page, cds, cli). An actor that broke the glass carries its
    purpose and reason, so every one of its reads says so without each handler passing them."""
    audit.record(
        session,
        actor=caller.actor,
        actor_role=str(caller.role),
        actor_org=caller.organisation,
        actor_name=caller.display_name,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        patient_ref=patient_ref,
        case_id=case_id,
        client=caller.client,
        source=source,
        purpose=purpose or caller.purpose,
        reason=reason or caller.reason,
    )
