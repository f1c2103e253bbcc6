"""Service functions of the case workflow: confirm, dismiss, reopen, the meldcode steps, the Kindcheck,
consent and legal basis on a case, and closing.

Plain keyword-only functions on a session in the caller's transaction; each change is a timeline event,
and the state changes go through the transition table (`workflows.transitions`).
"""

from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent import service as consent_service
from consent.models import (
    PATIENT_SUBJECT,
    ConsentDecision,
    Consenter,
    ConsentRecord,
    LegalBasisKind,
    LegalBasisRecord,
    Party,
)
from presentations import service as presentations
from store.crypto import FieldCipher
from workflows import timers
from workflows.errors import CaseNotFound, GuardFailed, WorkflowError
from workflows.intake import sync_parties
from workflows.limits import DEFAULT_LIMITS, Limits
from workflows.models import (
    FACTS_MELDER_AAD,
    KINDCHECK_AAD,
    MELDCODE_AAD,
    PSEUDONYM_PREFIX,
    Case,
    CaseFacts,
    CaseState,
    EventKind,
    KindcheckRecord,
    MeldcodeStepRecord,
)
from workflows.schemas import (
    Child,
    ConfirmFacts,
    DismissReason,
    KindcheckAnswer,
    KindcheckInput,
    MeldcodeStep,
    MeldcodeStepInput,
    Melder,
)
from workflows.timeline import add_event
from workflows.transitions import Action, apply_transition, check_version

# Rule families that describe physical injuries: a confirmed case with one of these needs forensic medicine.
INJURY_FAMILIES = frozenset({"R-BR", "R-AHT", "R-SI", "R-FX", "R-BU", "R-STR"})


def get_case(session: Session, case_id: int, *, for_update: bool = False) -> Case:
    query = select(Case).where(Case.id == case_id)
    if for_update:
        query = query.with_for_update()
    case = session.execute(query).scalar_one_or_none()
    if case is None:
        raise CaseNotFound(f"no case {case_id}", field="case_id")
    return case


def patient_age_years(session: Session, cipher: FieldCipher, case: Case) -> int | None:
    record = presentations.latest_for_encounter(session, case.encounter_ref)
    if record is None:
        return None
    return presentations.load(cipher, record).age_at_arrival_years


def confirm(
    session: Session,
    cipher: FieldCipher,
    case: Case,
    facts: ConfirmFacts,
    *,
    actor: str,
    expected_version: int | None,
    reason: str = "",
) -> CaseFacts:
    """flagged → confirmed: the physician confirms the concern and states the facts that set the route."""
    age = (
        facts.patient_age_years
        if facts.patient_age_years is not None
        else patient_age_years(session, cipher, case)
    )
    injuries = facts.injuries
    if injuries is None:
        injuries = any(f.family in INJURY_FAMILIES for f in case.findings)
    child = facts.child_involved if facts.child_involved is not None else (age is not None and age < 18)
    apply_transition(
        session, cipher, case, Action.CONFIRM, actor=actor, expected_version=expected_version, reason=reason
    )
    row = session.get(CaseFacts, case.id) or CaseFacts(case_id=case.id)
    row.confirmed_by = actor
    row.confirmed_at = case.updated_at
    row.injuries = injuries
    row.child_involved = child
    row.patient_age_years = age
    row.sexual_violence_at = facts.sexual_violence_at
    row.melder = cipher.encrypt(facts.melder.model_dump_json().encode(), FACTS_MELDER_AAD)
    session.add(row)
    session.flush()
    add_event(
        session,
        cipher,
        case,
        kind=EventKind.FACTS,
        actor=actor,
        detail={
            "injuries": injuries,
            "child_involved": child,
            "patient_age_years": age,
            "sexual_violence_at": facts.sexual_violence_at.isoformat() if facts.sexual_violence_at else None,
        },
    )
    return row


def read_melder(cipher: FieldCipher, facts: CaseFacts) -> Melder:
    return Melder.model_validate_json(cipher.decrypt(facts.melder, FACTS_MELDER_AAD))


def dismiss(
    session: Session,
    cipher: FieldCipher,
    case: Case,
    *,
    reason_code: DismissReason,
    note: str,
    actor: str,
    expected_version: int | None,
) -> None:
    """flagged → dismissed with a reason code (counted per rule) and the physician's words."""
    check_version(case, expected_version)
    if reason_code is DismissReason.OTHER and not note.strip():
        raise WorkflowError("say why in `note` when the reason is `other`", field="note")
    apply_transition(
        session,
        cipher,
        case,
        Action.DISMISS,
        actor=actor,
        expected_version=expected_version,
        reason=note,
        reason_code=reason_code.value,
        detail={"rule_ids": sorted({f.rule_id for f in case.findings})},
    )
    timers.cancel(session, case_id=case.id)


def reopen(
    session: Session,
    cipher: FieldCipher,
    case: Case,
    *,
    reason: str,
    actor: str,
    expected_version: int | None,
    limits: Limits = DEFAULT_LIMITS,
) -> None:
    """dismissed → flagged, with a reason; the open-too-long timer starts again."""
    if case.patient_ref.startswith(PSEUDONYM_PREFIX):
        raise GuardFailed(
            "this flag was pseudonymised by the retention policy: it no longer names a patient", field="state"
        )
    apply_transition(
        session, cipher, case, Action.REOPEN, actor=actor, expected_version=expected_version, reason=reason
    )
    timers.schedule(
        session,
        case_id=case.id,
        kind=timers.TimerKind.CASE_OPEN_TOO_LONG,
        due_at=case.updated_at + limits.case_open,
    )


def _require_open(case: Case) -> None:
    if case.state in (CaseState.DISMISSED, CaseState.CLOSED):
        raise GuardFailed(f"not possible on a case in state {case.state}", field="state")


def _require_open_and_confirmed(case: Case) -> None:
    if case.state in (CaseState.FLAGGED, CaseState.DISMISSED, CaseState.CLOSED):
        raise GuardFailed(f"not possible on a case in state {case.state}; confirm it first", field="state")


def record_meldcode_step(
    session: Session,
    cipher: FieldCipher,
    case: Case,
    step: MeldcodeStep,
    body: MeldcodeStepInput,
    *,
    actor: str,
    expected_version: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> MeldcodeStepRecord:
    """Record (or correct) one of the five meldcode steps; the decision "melden" brings in Veilig Thuis."""
    _require_open_and_confirmed(case)
    check_version(case, expected_version)
    if step is MeldcodeStep.DECISION and body.decision is None:
        raise WorkflowError("step 5 needs the decision (afwegingskader)", field="decision")
    if step is not MeldcodeStep.DECISION and body.decision is not None:
        raise WorkflowError("a decision belongs to step 5", field="decision")
    row = session.execute(
        select(MeldcodeStepRecord).where(
            MeldcodeStepRecord.case_id == case.id, MeldcodeStepRecord.step == int(step)
        )
    ).scalar_one_or_none() or MeldcodeStepRecord(case_id=case.id, step=int(step))
    row.decision = body.decision.value if body.decision else ""
    row.recorded_by = actor
    row.data = cipher.encrypt(body.model_dump_json().encode(), MELDCODE_AAD)
    session.add(row)
    session.flush()
    add_event(
        session,
        cipher,
        case,
        kind=EventKind.MELDCODE_STEP,
        actor=actor,
        code=f"step{int(step)}:{row.decision}",
    )
    sync_parties(session, cipher, case, actor=actor, limits=limits)
    return row


def meldcode_steps(session: Session, cipher: FieldCipher, case_id: int) -> dict[int, MeldcodeStepInput]:
    rows = session.execute(select(MeldcodeStepRecord).where(MeldcodeStepRecord.case_id == case_id)).scalars()
    return {
        row.step: MeldcodeStepInput.model_validate_json(cipher.decrypt(row.data, MELDCODE_AAD))
        for row in rows
    }


def record_kindcheck(
    session: Session,
    cipher: FieldCipher,
    case: Case,
    body: KindcheckInput,
    *,
    actor: str,
    expected_version: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> KindcheckRecord:
    """ "Zorgt u voor minderjarige kinderen?": yes (with the children) brings in Veilig Thuis."""
    _require_open(case)
    check_version(case, expected_version)
    row = session.get(KindcheckRecord, case.id) or KindcheckRecord(case_id=case.id)
    row.cares_for_minors = body.cares_for_minors.value
    row.asked_by = actor
    row.children = cipher.encrypt(
        json.dumps([c.model_dump(mode="json") for c in body.children]).encode(), KINDCHECK_AAD
    )
    session.add(row)
    session.flush()
    add_event(
        session,
        cipher,
        case,
        kind=EventKind.KINDCHECK,
        actor=actor,
        code=body.cares_for_minors.value,
        detail={"children": len(body.children)},
    )
    sync_parties(session, cipher, case, actor=actor, limits=limits)
    return row


def kindcheck_children(
    session: Session, cipher: FieldCipher, case_id: int
) -> tuple[KindcheckAnswer | None, list[Child]]:
    row = session.get(KindcheckRecord, case_id)
    if row is None:
        return None, []
    children = [Child.model_validate(c) for c in json.loads(cipher.decrypt(row.children, KINDCHECK_AAD))]
    return KindcheckAnswer(row.cares_for_minors), children


def record_consent(
    session: Session,
    cipher: FieldCipher,
    case: Case,
    *,
    party: Party,
    decision: ConsentDecision,
    given_by: frozenset[Consenter],
    actor: str,
    subject: str = PATIENT_SUBJECT,
    subject_age_years: int | None = None,
    note: str = "",
    expected_version: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
    decided_at: datetime | None = None,
) -> ConsentRecord:
    """Consent of the patient (or parents, per the WGBO ages) for one party; the intake follows it."""
    _require_open(case)
    check_version(case, expected_version)
    if subject_age_years is None and subject == PATIENT_SUBJECT:
        facts = session.get(CaseFacts, case.id)
        subject_age_years = facts.patient_age_years if facts else patient_age_years(session, cipher, case)
    row = consent_service.record_consent(
        session,
        cipher,
        case_id=case.id,
        party=party,
        decision=decision,
        given_by=given_by,
        subject_age_years=subject_age_years,
        recorded_by=actor,
        subject=subject,
        note=note,
        decided_at=decided_at,
    )
    add_event(
        session,
        cipher,
        case,
        kind=EventKind.CONSENT,
        actor=actor,
        code=f"{party.value}:{decision.value}",
        detail={"subject": subject, "given_by": sorted(g.value for g in given_by)},
    )
    sync_parties(session, cipher, case, actor=actor, limits=limits)
    return row


def record_legal_basis(
    session: Session,
    cipher: FieldCipher,
    case: Case,
    *,
    party: Party,
    basis: LegalBasisKind,
    justification: str,
    actor: str,
    subject: str = PATIENT_SUBJECT,
    expected_version: int | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> LegalBasisRecord:
    """A ground to disclose without consent (meldrecht, acute danger), recorded as such — not as consent."""
    _require_open(case)
    check_version(case, expected_version)
    row = consent_service.record_legal_basis(
        session,
        cipher,
        case_id=case.id,
        party=party,
        basis=basis,
        justification=justification,
        recorded_by=actor,
        subject=subject,
    )
    add_event(
        session, cipher, case, kind=EventKind.LEGAL_BASIS, actor=actor, code=f"{party.value}:{basis.value}"
    )
    sync_parties(session, cipher, case, actor=actor, limits=limits)
    return row


def revoke_legal_basis(
    session: Session,
    cipher: FieldCipher,
    case: Case,
    *,
    basis_id: int,
    actor: str,
    limits: Limits = DEFAULT_LIMITS,
) -> LegalBasisRecord:
    """Withdraw a recorded ground; a party that stood on it alone is stood down."""
    row = consent_service.revoke_legal_basis(session, case_id=case.id, basis_id=basis_id)
    add_event(
        session,
        cipher,
        case,
        kind=EventKind.LEGAL_BASIS,
        actor=actor,
        code=f"{row.party}:{row.basis}:revoked",
    )
    sync_parties(session, cipher, case, actor=actor, limits=limits)
    return row


def close(
    session: Session,
    cipher: FieldCipher,
    case: Case,
    *,
    actor: str,
    expected_version: int | None,
    reason: str = "",
) -> None:
    """safe_discharge → closed: the hand-over is done; every pending timer stops."""
    apply_transition(
        session, cipher, case, Action.CLOSE, actor=actor, expected_version=expected_version, reason=reason
    )
    timers.cancel(session, case_id=case.id)
