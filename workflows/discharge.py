"""The safe-discharge check and the discharge guard.

The checklist ("Kunt u veilig naar huis?", where the patient goes, safety plan, tijdelijk huisverbod,
children's safety, follow-up and hand-over) is stored encrypted; whether it is complete is kept in clear.
A discharge (ADT A03, or the CDS Hooks `encounter-discharge` hook) on an open case whose check is not
complete raises a critical timeline event and asks notifications to alert the coordinator — once per
discharge message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from notifications.topics import AlertReason, request_coordinator_alert
from presentations.models import PresentationRecord
from store.crypto import FieldCipher
from store.db import utcnow
from workflows.cases import open_case_for_encounter
from workflows.errors import GuardFailed
from workflows.intake import children_involved, intake_under_way
from workflows.models import (
    DISCHARGE_AAD,
    OPEN_STATES,
    Case,
    CaseEvent,
    CaseState,
    DischargeCheckRecord,
    EventKind,
    EventSeverity,
)
from workflows.schemas import DischargeChecklist
from workflows.timeline import add_event
from workflows.transitions import Action, apply_transition


@dataclass(frozen=True)
class DischargeStatus:
    """Where a case stands for discharge: `ok_to_discharge` is what a discharge hook needs to know."""

    case_id: int
    case_open: bool
    completed: bool
    missing: list[str] = field(default_factory=list)

    @property
    def ok_to_discharge(self) -> bool:
        return not self.case_open or self.completed


def read_checklist(cipher: FieldCipher, record: DischargeCheckRecord | None) -> DischargeChecklist:
    if record is None:
        return DischargeChecklist()
    return DischargeChecklist.model_validate_json(cipher.decrypt(record.answers, DISCHARGE_AAD))


def discharge_check_status(session: Session, case: Case, cipher: FieldCipher) -> DischargeStatus:
    """Is the safe-discharge check of this case complete, and if not, which items are missing?"""
    record = session.get(DischargeCheckRecord, case.id)
    checklist = read_checklist(cipher, record)
    missing = checklist.missing_items(children_involved=children_involved(session, case))
    return DischargeStatus(
        case_id=case.id, case_open=case.state in OPEN_STATES, completed=not missing, missing=missing
    )


def record_discharge_check(
    session: Session, cipher: FieldCipher, case: Case, checklist: DischargeChecklist, *, actor: str
) -> DischargeStatus:
    """Save the checklist as it stands (it may be filled in over time)."""
    if case.state not in OPEN_STATES:
        raise GuardFailed(f"the case is {case.state}", field="state")
    record = session.get(DischargeCheckRecord, case.id) or DischargeCheckRecord(case_id=case.id)
    missing = checklist.missing_items(children_involved=children_involved(session, case))
    now = utcnow()
    record.answers = cipher.encrypt(checklist.model_dump_json().encode(), DISCHARGE_AAD)
    record.updated_at, record.updated_by = now, actor
    record.completed = not missing
    record.completed_at = now if not missing else None
    session.add(record)
    session.flush()
    add_event(
        session,
        cipher,
        case,
        kind=EventKind.DISCHARGE_CHECK,
        actor=actor,
        code="complete" if not missing else "incomplete",
        detail={"missing": missing},
    )
    return DischargeStatus(case_id=case.id, case_open=True, completed=not missing, missing=missing)


def complete_discharge_check(
    session: Session, cipher: FieldCipher, case: Case, *, actor: str, expected_version: int | None
) -> None:
    """→ safe_discharge: needs a complete checklist; from `confirmed` only if no party is still asked."""
    status = discharge_check_status(session, case, cipher)
    if not status.completed:
        raise GuardFailed(
            f"the safe-discharge check is incomplete: {', '.join(status.missing)}", field="checklist"
        )
    if case.state == CaseState.CONFIRMED and intake_under_way(session, case.id):
        raise GuardFailed("parties are asked to an intake: finish or cancel the intake first", field="state")
    apply_transition(
        session, cipher, case, Action.COMPLETE_DISCHARGE_CHECK, actor=actor, expected_version=expected_version
    )


def guard_discharge(
    session: Session,
    cipher: FieldCipher,
    case: Case,
    *,
    source: str,
    source_id: str,
    actor: str = "spoedplein",
) -> CaseEvent | None:
    """The patient is being discharged: a critical event and a coordinator alert if the check is missing.

    Idempotent per (source, source_id): the same A03 redelivered, or the same hook call retried, alerts once.
    """
    status = discharge_check_status(session, case, cipher)
    if status.ok_to_discharge:
        return None
    key = f"discharge:{case.id}:{source}:{source_id}"
    detail: dict[str, Any] = {"source": source, "missing": status.missing}
    event = add_event(
        session,
        cipher,
        case,
        kind=EventKind.DISCHARGED_WITHOUT_CHECK,
        actor=actor,
        severity=EventSeverity.CRITICAL,
        code=source,
        detail=detail,
        dedupe_key=key,
    )
    request_coordinator_alert(
        session,
        case_id=case.id,
        case_reference=case.reference,
        reason=AlertReason.DISCHARGED_WITHOUT_CHECK,
        key=key,
        event_id=event.id,
    )
    return event


def on_discharge(session: Session, runtime: Any, presentation_record: PresentationRecord) -> CaseEvent | None:
    """Called by message processing for an A03 (or a FHIR discharge): guard the encounter's open case."""
    case = open_case_for_encounter(session, presentation_record.encounter_ref)
    if case is None:
        return None
    return guard_discharge(
        session,
        runtime.cipher,
        case,
        source=f"{presentation_record.channel}-discharge",
        source_id=str(presentation_record.id),
    )
