"""Opening and updating cases from detection results.

A positive presentation opens a case in state `flagged`, or adds its new findings to the open case of
the same encounter. The same finding (rule + evidence) from a resend or an A08 update is not added
twice, and a presentation with nothing new changes nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from detection.models import Finding, Severity
from presentations.models import PresentationRecord
from store.crypto import FieldCipher
from workflows import timers
from workflows.limits import DEFAULT_LIMITS
from workflows.models import FINDING_AAD, OPEN_STATES, Case, CaseFinding, CaseState

_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


def new_reference() -> str:
    """An opaque case reference that can go on a pager: no patient data, hard to guess."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "SP-" + "".join(secrets.choice(alphabet) for _ in range(8))


def fingerprint(finding: Finding) -> str:
    body = finding.model_dump_json(include={"rule_id", "evidence"})
    return hashlib.sha256(body.encode()).hexdigest()


def open_case_for_encounter(session: Session, encounter_ref: str) -> Case | None:
    return session.execute(
        select(Case)
        .where(Case.encounter_ref == encounter_ref, Case.state.in_([s.value for s in OPEN_STATES]))
        .order_by(Case.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def open_case_for_patient(session: Session, patient_ref: str) -> Case | None:
    """The patient's most recent open case, whatever the encounter (a launch without one)."""
    return session.execute(
        select(Case)
        .where(Case.patient_ref == patient_ref, Case.state.in_([s.value for s in OPEN_STATES]))
        .order_by(Case.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def record_findings(
    session: Session,
    *,
    cipher: FieldCipher,
    presentation: PresentationRecord,
    findings: list[Finding],
    case_open_limit: timedelta = DEFAULT_LIMITS.case_open,
) -> Case | None:
    """Attach findings to the encounter's open case (opening one if needed); None when nothing fired.

    A new case gets its durable "open too long" timer in the same transaction.
    """
    if not findings:
        return None
    case = open_case_for_encounter(session, presentation.encounter_ref)
    highest = max((f.severity for f in findings), key=_SEVERITY_RANK.__getitem__)
    if case is None:
        case = Case(
            reference=new_reference(),
            state=CaseState.FLAGGED,
            encounter_ref=presentation.encounter_ref,
            patient_ref=presentation.patient_ref,
            highest_severity=highest,
        )
        session.add(case)
        session.flush()
        timers.schedule(
            session,
            case_id=case.id,
            kind=timers.TimerKind.CASE_OPEN_TOO_LONG,
            due_at=case.opened_at + case_open_limit,
        )
        known: set[tuple[str, str]] = set()
    else:
        known = {(f.rule_id, f.fingerprint) for f in case.findings}
        if _SEVERITY_RANK[Severity(highest)] > _SEVERITY_RANK[Severity(case.highest_severity)]:
            case.highest_severity = highest
    for finding in findings:
        key = (finding.rule_id, fingerprint(finding))
        if key in known:
            continue
        known.add(key)
        case.findings.append(
            CaseFinding(
                presentation_id=presentation.id,
                rule_id=finding.rule_id,
                family=finding.family,
                severity=finding.severity.value,
                fingerprint=key[1],
                data=cipher.encrypt(finding.model_dump_json().encode(), FINDING_AAD),
            )
        )
    session.flush()
    return case


def read_findings(cipher: FieldCipher, case: Case) -> list[Finding]:
    return [Finding.model_validate_json(cipher.decrypt(f.data, FINDING_AAD)) for f in case.findings]
