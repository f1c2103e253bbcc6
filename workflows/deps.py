"""The case a request is about, as one FastAPI dependency: `/api/cases/{case_id}/…` handlers take
`case: CurrentCase` instead of each looking the case up and mapping "not found" themselves."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from core.deps import WriteSession, audit_access
from identity.deps import CurrentPrincipalDep
from store.audit import AuditAction
from store.db import get_by_id
from workflows.api_support import problem
from workflows.models import Case


def current_case(case_id: int, request: Request, session: WriteSession, caller: CurrentPrincipalDep) -> Case:
    """The case of the path's `case_id`, or 404 naming it; the access is written to the audit log.

    Takes the caller so that authentication comes first: without it, a stranger could tell which case
    ids exist (404) from which do not. Every `/api/cases/{case_id}/…` route reads or changes the case's
    patient data, so the audit entry is made here, once, for all of them (NEN 7513: no route can forget
    it): a GET is a read, anything else a change, named by the route (`Case/timeline`, `Case/intake`…).
    It is in the request's transaction: a request that fails leaves neither its change nor its entry.
    """
    case = get_by_id(session, Case, case_id)
    if case is None:
        raise problem(404, "case_id", f"no case {case_id}")
    audit_access(
        session,
        caller,
        AuditAction.READ if request.method in ("GET", "HEAD") else AuditAction.UPDATE,
        resource_type=_resource_of(request),
        resource_id=case.id,
        patient_ref=case.patient_ref,
        case_id=case.id,
        source="fhir" if request.url.path.startswith("/fhir") else "api",
    )
    return case


def _resource_of(request: Request) -> str:
    """`Case` and the route after the case id: `/api/cases/{case_id}/melding/pdf` is `Case/melding/pdf`."""
    route = request.scope.get("route")
    template = getattr(route, "path", "")
    rest = template.partition("{case_id}")[2].strip("/")
    return f"Case/{rest}"[:64] if rest else "Case"


CurrentCase = Annotated[Case, Depends(current_case)]
