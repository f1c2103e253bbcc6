"""The FHIR resources the gateway emits for a case, built from the database with stable ids.

One function per resource type returns every resource of that type for a case (`BUILDERS`).
Ids are stable (`sp-flag-<case id>`, `sp-di-<finding id>`, …), so serving, writing
back and a CDS suggestion all name the same resource. The patient is referenced by BSN identifier when
the case's presentation has one (else by its first identifier, else by pseudonym): our store does not
know the EHR's Patient id.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.fhir import resources
from consent.models import ConsentDecision, ConsentRecord
from detection.models import BSN_SYSTEM, Finding
from notifications.models import Page, PageState
from presentations import service as presentations
from store.audit import AuditEntry
from store.crypto import FieldCipher
from workflows.models import FINDING_AAD, Case, CaseState, DischargeCheckRecord, Intake


class EmittedType(StrEnum):
    FLAG = "Flag"
    DETECTED_ISSUE = "DetectedIssue"
    TASK = "Task"
    CONSENT = "Consent"
    COMMUNICATION = "Communication"
    AUDIT_EVENT = "AuditEvent"
    PROVENANCE = "Provenance"


_ID = re.compile(r"^sp-(flag|di|task-review|task-intake|task-discharge|consent|comm|audit|prov)-(\d{1,18})$")
_COMMUNICATION_STATUS = {
    PageState.ACTIVE: "in-progress",
    PageState.ACKNOWLEDGED: "completed",
    PageState.DECLINED: "completed",
    PageState.EXHAUSTED: "completed",
    PageState.DONE: "completed",
    PageState.CANCELLED: "stopped",
    PageState.SUPPRESSED: "not-done",
    PageState.EXPIRED: "not-done",
}


def parse_id(resource_id: str) -> tuple[str, int] | None:
    """(kind, row id) of one of our ids, or None when the id is not ours."""
    match = _ID.match(resource_id)
    return (match.group(1), int(match.group(2))) if match else None


def patient_reference(session: Session, cipher: FieldCipher, case: Case) -> dict[str, Any]:
    record = presentations.latest_for_encounter(session, case.encounter_ref)
    if record is not None:
        patient = presentations.load(cipher, record).patient
        if patient.bsn:
            return {"identifier": {"system": BSN_SYSTEM, "value": patient.bsn}}
        if patient.identifiers:
            ident = patient.identifiers[0]
            return {"identifier": {"system": ident.system or None, "value": ident.value}}
    return {"identifier": {"system": resources.PSEUDONYM_SYSTEM, "value": case.patient_ref}}


def flags(session: Session, cipher: FieldCipher, case: Case, subject: dict[str, Any]) -> list[dict[str, Any]]:
    active = case.state not in (CaseState.DISMISSED, CaseState.CLOSED)
    return [
        resources.flag(
            id=f"sp-flag-{case.id}",
            subject=subject,
            case_reference=case.reference,
            active=active,
            start=case.opened_at,
            end=None if active else case.updated_at,
            version=case.version,
            updated=case.updated_at,
        )
    ]


def detected_issues(
    session: Session, cipher: FieldCipher, case: Case, subject: dict[str, Any]
) -> list[dict[str, Any]]:
    return [
        resources.detected_issue(
            id=f"sp-di-{row.id}",
            patient=subject,
            case_reference=case.reference,
            finding=Finding.model_validate_json(cipher.decrypt(row.data, FINDING_AAD)),
            identified=row.created_at,
        )
        for row in case.findings
    ]


def tasks(session: Session, cipher: FieldCipher, case: Case, subject: dict[str, Any]) -> list[dict[str, Any]]:
    status = resources.TaskStatus
    review = {
        CaseState.FLAGGED: status.REQUESTED,
        CaseState.DISMISSED: status.CANCELLED,
    }.get(CaseState(case.state), status.COMPLETED)
    out = [
        resources.task(
            id=f"sp-task-review-{case.id}",
            code=resources.TaskCode.REVIEW_SIGNALS,
            status=review,
            patient=subject,
            case_reference=case.reference,
            authored=case.opened_at,
            modified=case.updated_at,
        )
    ]
    intake = session.get(Intake, case.id)
    if intake is not None:
        progress = (
            status.COMPLETED if intake.done_at else status.ACCEPTED if intake.agreed_at else status.REQUESTED
        )
        out.append(
            resources.task(
                id=f"sp-task-intake-{case.id}",
                code=resources.TaskCode.JOINT_INTAKE,
                status=progress,
                patient=subject,
                case_reference=case.reference,
                authored=intake.requested_at,
                modified=intake.done_at or intake.agreed_at or intake.proposed_at,
            )
        )
    check = session.get(DischargeCheckRecord, case.id)
    if check is not None:
        out.append(
            resources.task(
                id=f"sp-task-discharge-{case.id}",
                code=resources.TaskCode.SAFE_DISCHARGE_CHECK,
                status=status.COMPLETED if check.completed else status.IN_PROGRESS,
                patient=subject,
                case_reference=case.reference,
                authored=check.updated_at,
                modified=check.completed_at or check.updated_at,
            )
        )
    return out


def consents(
    session: Session, cipher: FieldCipher, case: Case, subject: dict[str, Any]
) -> list[dict[str, Any]]:
    rows = session.execute(
        select(ConsentRecord).where(ConsentRecord.case_id == case.id).order_by(ConsentRecord.id)
    ).scalars()
    decision = {ConsentDecision.PERMIT: True, ConsentDecision.DENY: False}
    return [
        resources.consent(
            id=f"sp-consent-{row.id}",
            patient=subject,
            case_reference=case.reference,
            party=row.party,
            permit=decision.get(ConsentDecision(row.decision)),
            decided=row.decided_at,
        )
        for row in rows
    ]


def communications(
    session: Session, cipher: FieldCipher, case: Case, subject: dict[str, Any]
) -> list[dict[str, Any]]:
    rows = session.execute(select(Page).where(Page.case_id == case.id).order_by(Page.id)).scalars()
    return [
        resources.communication(
            id=f"sp-comm-{row.id}",
            case_reference=case.reference,
            status=_COMMUNICATION_STATUS.get(PageState(row.state), "unknown"),
            party=row.party or row.role or "coordinator",
            sent=row.created_at,
            text=f"Spoedplein {case.reference}: {row.purpose}",  # what a pager shows: no patient data
        )
        for row in rows
    ]


def audit_events(
    session: Session, cipher: FieldCipher, case: Case, subject: dict[str, Any]
) -> list[dict[str, Any]]:
    rows = session.execute(
        select(AuditEntry).where(AuditEntry.patient_ref == case.patient_ref).order_by(AuditEntry.id)
    ).scalars()
    return [audit_event(row) for row in rows]


def audit_event(row: AuditEntry) -> dict[str, Any]:
    return resources.audit_event(
        id=f"sp-audit-{row.id}",
        action=row.action,
        recorded=row.at,
        actor=row.actor,
        client=row.client,
        resource_type=row.resource_type,
        resource_id=row.resource_id,
        patient_ref=row.patient_ref,
        purpose=row.purpose,
        actor_name=row.actor_name,
        actor_role=row.actor_role,
        actor_org=row.actor_org,
        outcome=row.outcome,
        source=row.source,
        reason=row.reason,
        case_id=row.case_id,
    )


def provenances(
    session: Session, cipher: FieldCipher, case: Case, subject: dict[str, Any]
) -> list[dict[str, Any]]:
    targets = [f"Flag/sp-flag-{case.id}", *(f"DetectedIssue/sp-di-{row.id}" for row in case.findings)]
    return [resources.provenance(id=f"sp-prov-{case.id}", targets=targets, recorded=case.opened_at)]


Builder = Callable[[Session, FieldCipher, Case, dict[str, Any]], list[dict[str, Any]]]
BUILDERS: dict[EmittedType, Builder] = {
    EmittedType.FLAG: flags,
    EmittedType.DETECTED_ISSUE: detected_issues,
    EmittedType.TASK: tasks,
    EmittedType.CONSENT: consents,
    EmittedType.COMMUNICATION: communications,
    EmittedType.AUDIT_EVENT: audit_events,
    EmittedType.PROVENANCE: provenances,
}
