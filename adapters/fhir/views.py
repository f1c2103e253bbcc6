"""Read-only FHIR API for what the gateway emits: `GET /fhir/{type}/{id}` and `GET /fhir/{type}?patient=`.

Types: Flag, DetectedIssue, Task, Consent, Communication, AuditEvent, Provenance. `patient` is a BSN,
an identifier as `system|value`, or our pseudonymous patient reference. Every read and every search is
logged (NEN 7513) in the same transaction that reads the data: no log, no data.

Failure modes: unknown type → 404 `not-supported`; unknown id → 404 `not-found`; search without
`patient` → 400 naming the parameter; no token → 401.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.fhir import emitted, resources
from adapters.fhir.emitted import EmittedType
from adapters.fhir.http import FhirResponse, FhirRoute, base_url
from adapters.fhir.outcome import FhirError, IssueType
from consent.models import ConsentRecord
from core.deps import Actor, RuntimeDep, WriteSession, audit_read
from core.runtime import Runtime
from detection.models import BSN_OID, BSN_SYSTEM
from identity.deps import CurrentPrincipalDep, Principal
from notifications.models import Page
from store.audit import AuditEntry
from store.crypto import Pseudonymizer
from workflows.models import Case, CaseFinding

router = APIRouter(tags=["fhir"], route_class=FhirRoute)
_BSN_SYSTEMS = frozenset({BSN_SYSTEM, f"urn:oid:{BSN_OID}", BSN_OID})


def emitted_type(name: str) -> EmittedType:
    try:
        return EmittedType(name)
    except ValueError:
        raise FhirError.one(404, IssueType.NOT_SUPPORTED, "this resource type is not served here") from None


def patient_refs(pseudonyms: Pseudonymizer, patient: str) -> list[str]:
    """The pseudonymous patient references a `patient` search value can mean."""
    value = patient.strip()
    if value.startswith(("bsn:", "pid:", "anon:")):
        return [value]
    if "|" in value:
        system, _, ident = value.partition("|")
        if system in _BSN_SYSTEMS:
            return [pseudonyms.ref("bsn", ident)]
        return [pseudonyms.ref("pid", f"{system}|{ident}")]
    if value.isdigit() and len(value) in (8, 9):
        return [pseudonyms.ref("bsn", value.zfill(9)), pseudonyms.ref("bsn", value)]
    raise FhirError.one(
        400, IssueType.VALUE, "patient: a BSN, system|value, or a patient reference", "patient"
    )


def _case_of(session: Session, kind: str, row_id: int) -> Case | None:
    if kind in ("flag", "task-review", "task-intake", "task-discharge", "prov"):
        return session.get(Case, row_id)
    holder: Any = {"di": CaseFinding, "consent": ConsentRecord, "comm": Page}.get(kind)
    row = session.get(holder, row_id) if holder is not None else None
    return session.get(Case, row.case_id) if row is not None else None


def read_one(
    session: Session, runtime: Runtime, caller: Principal, kind: EmittedType, resource_id: str
) -> dict[str, Any]:
    parsed = emitted.parse_id(resource_id)
    if parsed is None:
        raise FhirError.one(404, IssueType.NOT_FOUND, f"no {kind.value} with this id")
    if kind is EmittedType.AUDIT_EVENT:
        require_audit_reader(caller)
        entry = session.get(AuditEntry, parsed[1]) if parsed[0] == "audit" else None
        if entry is None:
            raise FhirError.one(404, IssueType.NOT_FOUND, "no AuditEvent with this id")
        audit_read(
            session,
            caller,
            resource_type="AuditEvent",
            resource_id=resource_id,
            patient_ref=entry.patient_ref,
            source="fhir",
        )
        return emitted.audit_event(entry)
    case = _case_of(session, parsed[0], parsed[1])
    if case is not None:
        subject = emitted.patient_reference(session, runtime.cipher, case)
        for resource in emitted.BUILDERS[kind](session, runtime.cipher, case, subject):
            if resource["id"] == resource_id:
                audit_read(
                    session,
                    caller,
                    resource_type=kind.value,
                    resource_id=resource_id,
                    patient_ref=case.patient_ref,
                    source="fhir",
                )
                return resource
    raise FhirError.one(404, IssueType.NOT_FOUND, f"no {kind.value} with this id")


# Who may read the audit log as AuditEvents: an administrator, or an integration (the shared API token
# is one until people have their own tokens; then `integration` can be taken out here).
AUDIT_READERS = frozenset({"admin", "integration"})


def require_audit_reader(caller: Actor) -> None:
    """403 for a caller whose role may not read the audit log (the refusal itself is audited by the
    policy layer that refused: here the response says no and nothing is read)."""
    if caller.role not in AUDIT_READERS:
        raise FhirError.one(403, IssueType.SECURITY, "reading the audit log needs the admin role")


def search(
    session: Session, runtime: Runtime, caller: Principal, kind: EmittedType, patient: str, base: str
) -> dict[str, Any]:
    refs = patient_refs(runtime.pseudonyms, patient)
    found: list[dict[str, Any]] = []
    if kind is EmittedType.AUDIT_EVENT:
        require_audit_reader(caller)
        entries = session.execute(
            select(AuditEntry).where(AuditEntry.patient_ref.in_(refs)).order_by(AuditEntry.id)
        ).scalars()
        found = [emitted.audit_event(entry) for entry in entries]
    else:
        cases = session.execute(select(Case).where(Case.patient_ref.in_(refs)).order_by(Case.id)).scalars()
        for case in cases:
            subject = emitted.patient_reference(session, runtime.cipher, case)
            found.extend(emitted.BUILDERS[kind](session, runtime.cipher, case, subject))
    for ref in refs:
        audit_read(
            session, caller, resource_type=kind.value, resource_id="search", patient_ref=ref, source="fhir"
        )
    return resources.finish(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(found),
            "entry": [
                {"fullUrl": f"{base}/fhir/{kind.value}/{r['id']}", "resource": r, "search": {"mode": "match"}}
                for r in found
            ],
        }
    )


@router.get("/fhir/{resource_type}/{resource_id}", summary="Read one resource the gateway emitted")
def get_resource(
    resource_type: str,
    resource_id: str,
    session: WriteSession,
    runtime: RuntimeDep,
    caller: CurrentPrincipalDep,
) -> FhirResponse:
    return FhirResponse(read_one(session, runtime, caller, emitted_type(resource_type), resource_id))


@router.get("/fhir/{resource_type}", summary="Search emitted resources by patient")
def search_resources(
    resource_type: str,
    request: Request,
    session: WriteSession,
    runtime: RuntimeDep,
    caller: CurrentPrincipalDep,
    patient: Annotated[str | None, Query()] = None,
) -> FhirResponse:
    kind = emitted_type(resource_type)
    if not patient:
        raise FhirError.one(400, IssueType.REQUIRED, "search needs the patient parameter", "patient")
    return FhirResponse(search(session, runtime, caller, kind, patient, base_url(request, runtime)))
