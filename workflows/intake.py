"""The joint intake: which parties are required, paging them, acknowledgements, one common time.

Required parties (DOMAIN.md): the forensic doctor whenever there are injuries; Veilig Thuis when the
meldcode decision is "melden" or a child is involved; police only with the victim's consent or recorded
acute danger; the Centrum Seksueel Geweld acute route (with forensic examination) when sexual violence
happened less than 7 days ago. A required party is only paged once a disclosure ground exists for it
(consent or a legal basis): until then the plan shows it as waiting for one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import LegalBasisKind, Party
from consent.service import DisclosureField, DisclosureGround, decide_disclosure, has_legal_basis, has_permit
from notifications import service as pager
from notifications.models import PageState
from notifications.topics import page_key, request_intake_time, request_page
from store.crypto import FieldCipher
from store.db import utcnow
from workflows import timers
from workflows.errors import GuardFailed, WorkflowError
from workflows.limits import DEFAULT_LIMITS, Limits
from workflows.models import (
    Case,
    CaseFacts,
    CaseState,
    EventKind,
    Intake,
    IntakeParty,
    KindcheckRecord,
    MeldcodeStepRecord,
)
from workflows.schemas import KindcheckAnswer, MeldcodeDecision, MeldcodeStep
from workflows.timeline import add_event
from workflows.transitions import Action, apply_transition

CSG_WINDOW = timedelta(days=7)


class Route(StrEnum):
    ONE_STOP_SHOP = "one_stop_shop"
    CSG_ACUTE = "csg_acute"  # Centrum Seksueel Geweld: sexual violence < 7 days ago


class RequiredBecause(StrEnum):
    INJURIES = "injuries"
    MELDEN_DECIDED = "melden_decided"
    CHILD_INVOLVED = "child_involved"
    SEXUAL_VIOLENCE_RECENT = "sexual_violence_recent"
    CONSENT = "consent"
    ACUTE_DANGER = "acute_danger"


class PartyStatus(StrEnum):
    REQUESTED = "requested"
    ACKNOWLEDGED = "acknowledged"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class PartyPlan:
    party: Party
    required_because: RequiredBecause
    ground: DisclosureGround | None  # None: required, but no consent or legal basis yet

    @property
    def can_be_paged(self) -> bool:
        return self.ground is not None


def facts_of(session: Session, case: Case) -> CaseFacts:
    facts = session.get(CaseFacts, case.id)
    if facts is None:
        raise GuardFailed("the case is not confirmed yet", field="state")
    return facts


def route_of(facts: CaseFacts) -> Route:
    if facts.sexual_violence_at is not None and facts.confirmed_at - facts.sexual_violence_at < CSG_WINDOW:
        return Route.CSG_ACUTE
    return Route.ONE_STOP_SHOP


def melden_decided(session: Session, case_id: int) -> bool:
    step = session.execute(
        select(MeldcodeStepRecord).where(
            MeldcodeStepRecord.case_id == case_id, MeldcodeStepRecord.step == MeldcodeStep.DECISION
        )
    ).scalar_one_or_none()
    return step is not None and step.decision == MeldcodeDecision.MELDEN


def children_involved(session: Session, case: Case, facts: CaseFacts | None = None) -> bool:
    facts = facts or session.get(CaseFacts, case.id)
    kindcheck = session.get(KindcheckRecord, case.id)
    return bool(facts and facts.child_involved) or (
        kindcheck is not None and kindcheck.cares_for_minors == KindcheckAnswer.YES
    )


def intake_plan(session: Session, case: Case) -> list[PartyPlan]:
    """Who must come to the joint intake, why, and on which ground each may be paged."""
    facts = facts_of(session, case)
    required: dict[Party, RequiredBecause] = {}
    if facts.injuries:
        required[Party.FORENSIC] = RequiredBecause.INJURIES
    if route_of(facts) is Route.CSG_ACUTE:
        required[Party.CSG] = RequiredBecause.SEXUAL_VIOLENCE_RECENT
        required.setdefault(Party.FORENSIC, RequiredBecause.SEXUAL_VIOLENCE_RECENT)
    if melden_decided(session, case.id):
        required[Party.VEILIG_THUIS] = RequiredBecause.MELDEN_DECIDED
    elif children_involved(session, case, facts):
        required[Party.VEILIG_THUIS] = RequiredBecause.CHILD_INVOLVED
    # Aangifte is the adult victim's own choice: police come only with consent, or in acute danger.
    if has_permit(session, case.id, Party.POLICE):
        required[Party.POLICE] = RequiredBecause.CONSENT
    elif has_legal_basis(session, case.id, Party.POLICE, LegalBasisKind.ACUTE_DANGER):
        required[Party.POLICE] = RequiredBecause.ACUTE_DANGER
    plans = []
    for party, because in required.items():
        decision = decide_disclosure(
            session, case_id=case.id, party=party, field=DisclosureField.CASE_REFERENCE
        )
        plans.append(PartyPlan(party, because, decision.ground if decision.allowed else None))
    return sorted(plans, key=lambda p: list(Party).index(p.party))


def parties(session: Session, case_id: int) -> list[IntakeParty]:
    return list(
        session.execute(
            select(IntakeParty).where(IntakeParty.case_id == case_id).order_by(IntakeParty.id)
        ).scalars()
    )


def _ask(
    session: Session, cipher: FieldCipher, case: Case, plan: PartyPlan, *, actor: str, limits: Limits
) -> IntakeParty:
    row = session.execute(
        select(IntakeParty).where(IntakeParty.case_id == case.id, IntakeParty.party == plan.party.value)
    ).scalar_one_or_none()
    now = utcnow()
    if row is None:
        row = IntakeParty(case_id=case.id, party=plan.party.value, request_round=1)
        session.add(row)
    else:  # cancelled earlier (consent withdrawn), now required again: a new round, a new page
        row.request_round += 1
        row.acknowledged_at, row.acknowledged_by, row.earliest_available_at = None, "", None
    row.status = PartyStatus.REQUESTED.value
    row.required_because = plan.required_because.value
    row.requested_at = now
    session.flush()
    request_page(
        session,
        case_id=case.id,
        case_reference=case.reference,
        party=plan.party.value,
        request_round=row.request_round,
        reason=row.required_because,
    )
    timers.schedule(
        session,
        case_id=case.id,
        kind=timers.TimerKind.ACK_DEADLINE,
        due_at=now + limits.ack_deadline,
        party=row.party,
    )
    add_event(
        session,
        cipher,
        case,
        kind=EventKind.INTAKE_PARTY_ADDED,
        actor=actor,
        code=plan.party.value,
        detail={
            "required_because": plan.required_because.value,
            "ground": plan.ground.value if plan.ground else "",
        },
    )
    return row


def request_intake(
    session: Session,
    cipher: FieldCipher,
    case: Case,
    *,
    actor: str,
    expected_version: int | None,
    limits: Limits = DEFAULT_LIMITS,
) -> list[IntakeParty]:
    """confirmed → intake_requested: page every required party that may be paged."""
    plan = intake_plan(session, case)
    pageable = [p for p in plan if p.can_be_paged]
    if not pageable:
        waiting = ", ".join(p.party.value for p in plan) or "none"
        raise GuardFailed(
            f"no party can be asked to the intake yet (required: {waiting}); record consent or a legal basis",
            field="consent",
        )
    facts = facts_of(session, case)
    apply_transition(
        session, cipher, case, Action.REQUEST_INTAKE, actor=actor, expected_version=expected_version
    )
    row = session.get(Intake, case.id)
    if row is None:
        session.add(Intake(case_id=case.id, route=route_of(facts).value, requested_at=utcnow()))
    else:  # a new intake after an earlier one was cancelled: nothing of the old one carries over
        row.route, row.requested_at = route_of(facts).value, utcnow()
        row.proposed_at = row.agreed_at = row.done_at = None
        row.agreed_by = ""
    rows = [_ask(session, cipher, case, p, actor=actor, limits=limits) for p in pageable]
    session.flush()
    return rows


def sync_parties(
    session: Session, cipher: FieldCipher, case: Case, *, actor: str, limits: Limits = DEFAULT_LIMITS
) -> None:
    """After consent, a legal basis, the meldcode decision or the Kindcheck changed: page newly required
    parties, and stand down a party whose ground is gone (police after consent is withdrawn)."""
    if case.state not in (CaseState.INTAKE_REQUESTED, CaseState.INTAKE_SCHEDULED):
        return
    plan = {p.party: p for p in intake_plan(session, case) if p.can_be_paged}
    current = {Party(row.party): row for row in parties(session, case.id)}
    for party, p in plan.items():
        row = current.get(party)
        if row is None or row.status == PartyStatus.CANCELLED:
            _ask(session, cipher, case, p, actor=actor, limits=limits)
    for party, row in current.items():
        if party not in plan and row.status != PartyStatus.CANCELLED:
            row.status = PartyStatus.CANCELLED.value
            timers.cancel(session, case_id=case.id, kind=timers.TimerKind.ACK_DEADLINE, party=row.party)
            pager.stand_down(
                session,
                case_id=case.id,
                party=row.party,
                state=PageState.CANCELLED,
                reason="no longer required (ground withdrawn)",
                now=utcnow(),
                page_key=page_key(case.id, row.party, row.request_round),
            )
            add_event(
                session, cipher, case, kind=EventKind.INTAKE_PARTY_CANCELLED, actor=actor, code=party.value
            )
    _propose_if_complete(session, cipher, case, actor=actor)


def _active(session: Session, case_id: int) -> list[IntakeParty]:
    return [row for row in parties(session, case_id) if row.status != PartyStatus.CANCELLED]


def _propose_if_complete(session: Session, cipher: FieldCipher, case: Case, *, actor: str) -> datetime | None:
    """Once every party has acknowledged: the one time at which all of them can be there."""
    active = _active(session, case.id)
    intake = session.get(Intake, case.id)
    if intake is None or not active or any(row.status != PartyStatus.ACKNOWLEDGED for row in active):
        return None
    proposed = max(row.earliest_available_at for row in active if row.earliest_available_at is not None)
    if intake.proposed_at != proposed:
        intake.proposed_at = proposed
        # Everyone who acknowledged hears the one time; a changed proposal goes out again.
        request_intake_time(
            session, case_id=case.id, case_reference=case.reference, at=proposed, kind="proposed"
        )
        add_event(
            session,
            cipher,
            case,
            kind=EventKind.INTAKE_TIME_PROPOSED,
            actor=actor,
            detail={"proposed_at": proposed.isoformat()},
        )
    return proposed


def acknowledge(
    session: Session,
    cipher: FieldCipher,
    case: Case,
    party: Party,
    *,
    earliest_available_at: datetime,
    actor: str,
    by_page: bool = False,
) -> IntakeParty:
    """A paged party says it will come, and from when it can be there.

    The one model of acknowledgement: an answer to the page (SMS reply, the link's page) arrives here
    through the pager (`by_page`), an acknowledgement by phone through the API arrives here directly and
    stands the party's page down, so nobody is chased after they said yes."""
    row = session.execute(
        select(IntakeParty).where(IntakeParty.case_id == case.id, IntakeParty.party == party.value)
    ).scalar_one_or_none()
    if row is None or row.status == PartyStatus.CANCELLED:
        raise WorkflowError(f"{party.value} is not asked to the intake of this case", field="party")
    if case.state not in (CaseState.INTAKE_REQUESTED, CaseState.INTAKE_SCHEDULED):
        raise GuardFailed(f"no intake is being arranged (state {case.state})", field="state")
    row.status = PartyStatus.ACKNOWLEDGED.value
    row.acknowledged_at = utcnow()
    row.acknowledged_by = actor
    row.earliest_available_at = earliest_available_at
    timers.cancel(session, case_id=case.id, kind=timers.TimerKind.ACK_DEADLINE, party=party.value)
    if not by_page:
        pager.stand_down(
            session,
            case_id=case.id,
            party=party.value,
            state=PageState.ACKNOWLEDGED,
            reason=f"acknowledged by {actor}",
            now=utcnow(),
            page_key=page_key(case.id, party.value, row.request_round),
        )
    add_event(
        session,
        cipher,
        case,
        kind=EventKind.INTAKE_ACKNOWLEDGED,
        actor=actor,
        code=party.value,
        detail={"earliest_available_at": earliest_available_at.isoformat()},
    )
    _propose_if_complete(session, cipher, case, actor=actor)
    return row


def acknowledged_by_page(
    session: Session,
    cipher: FieldCipher,
    *,
    case_id: int,
    party: str,
    earliest_available_at: datetime | None,
    actor: str,
) -> IntakeParty | None:
    """The pager's answer for a party: recorded as the party's acknowledgement while an intake is being
    arranged; afterwards (the party was stood down, the case moved on) it is on the timeline only."""
    case = session.get(Case, case_id)
    if case is None or case.state not in (CaseState.INTAKE_REQUESTED, CaseState.INTAKE_SCHEDULED):
        return None
    row = session.execute(
        select(IntakeParty).where(IntakeParty.case_id == case_id, IntakeParty.party == party)
    ).scalar_one_or_none()
    if row is None or row.status == PartyStatus.CANCELLED:
        return None
    return acknowledge(
        session,
        cipher,
        case,
        Party(party),
        earliest_available_at=earliest_available_at or utcnow(),
        actor=actor,
        by_page=True,
    )


def agree_time(
    session: Session,
    cipher: FieldCipher,
    case: Case,
    *,
    agreed_at: datetime,
    actor: str,
    expected_version: int | None,
    limits: Limits = DEFAULT_LIMITS,
) -> Intake:
    """intake_requested → intake_scheduled at a time every party can make (again, for a changed time:
    everyone who acknowledged hears the new one)."""
    intake = session.get(Intake, case.id)
    active = _active(session, case.id)
    waiting = [row.party for row in active if row.status != PartyStatus.ACKNOWLEDGED]
    if intake is None or waiting or not active:
        raise GuardFailed(
            f"waiting for acknowledgements from: {', '.join(waiting) or 'nobody asked'}", field="state"
        )
    too_early = [
        row.party for row in active if row.earliest_available_at and row.earliest_available_at > agreed_at
    ]
    if too_early:
        raise WorkflowError(
            f"not every party can be there then: {', '.join(too_early)}; proposed {intake.proposed_at}",
            field="agreed_at",
        )
    apply_transition(
        session,
        cipher,
        case,
        Action.SCHEDULE_INTAKE,
        actor=actor,
        expected_version=expected_version,
        detail={"agreed_at": agreed_at.isoformat()},
    )
    changed = intake.agreed_at is not None and intake.agreed_at != agreed_at
    intake.agreed_at, intake.agreed_by = agreed_at, actor
    if changed:
        timers.cancel(session, case_id=case.id, kind=timers.TimerKind.INTAKE_OVERDUE)
    request_intake_time(session, case_id=case.id, case_reference=case.reference, at=agreed_at, kind="agreed")
    timers.schedule(
        session,
        case_id=case.id,
        kind=timers.TimerKind.INTAKE_OVERDUE,
        due_at=agreed_at + limits.intake_overdue,
    )
    return intake


def complete_intake(
    session: Session,
    cipher: FieldCipher,
    case: Case,
    *,
    actor: str,
    expected_version: int | None,
    reason: str = "",
    now: datetime | None = None,
) -> Intake:
    """intake_scheduled → intake_done. Before the agreed time it needs a reason (on the timeline): a
    joint intake done early may have gone ahead without a party that was coming at the agreed time."""
    now = now or utcnow()
    intake = session.get(Intake, case.id)
    agreed_at = intake.agreed_at if intake is not None else None
    early = agreed_at is not None and case.state == CaseState.INTAKE_SCHEDULED and now < agreed_at
    if early and not reason.strip():
        raise WorkflowError(
            f"the intake was agreed for {agreed_at}; completing it before then needs a reason", field="reason"
        )
    detail: dict[str, object] | None = (
        {"before_agreed_time": agreed_at.isoformat()} if early and agreed_at else None
    )
    apply_transition(
        session,
        cipher,
        case,
        Action.COMPLETE_INTAKE,
        actor=actor,
        expected_version=expected_version,
        reason=reason,
        detail=detail,
    )
    assert intake is not None  # intake_scheduled implies a scheduled intake
    intake.done_at = now
    timers.cancel(session, case_id=case.id, kind=timers.TimerKind.INTAKE_OVERDUE)
    return intake


def cancel_intake(
    session: Session,
    cipher: FieldCipher,
    case: Case,
    *,
    reason: str,
    actor: str,
    expected_version: int | None,
) -> None:
    """intake_requested / intake_scheduled → confirmed, with a reason: the intake cannot go ahead (a party
    never answers, the only ground was withdrawn, the patient left). Every party still asked is stood
    down and the intake's timers stop; from `confirmed` a new intake or the safe-discharge check."""
    apply_transition(
        session,
        cipher,
        case,
        Action.CANCEL_INTAKE,
        actor=actor,
        expected_version=expected_version,
        reason=reason,
    )
    for row in _active(session, case.id):
        row.status = PartyStatus.CANCELLED.value
        pager.stand_down(  # nobody is chased for an intake that will not happen
            session,
            case_id=case.id,
            party=row.party,
            state=PageState.CANCELLED,
            reason="intake cancelled",
            now=utcnow(),
            page_key=page_key(case.id, row.party, row.request_round),
        )
        add_event(session, cipher, case, kind=EventKind.INTAKE_PARTY_CANCELLED, actor=actor, code=row.party)
    timers.cancel(session, case_id=case.id, kind=timers.TimerKind.ACK_DEADLINE)
    timers.cancel(session, case_id=case.id, kind=timers.TimerKind.INTAKE_OVERDUE)
    intake = session.get(Intake, case.id)
    if intake is not None:
        intake.proposed_at = intake.agreed_at = None
        intake.agreed_by = ""
    session.flush()


def intake_under_way(session: Session, case_id: int) -> bool:
    """Is any party still asked to an intake of this case (not stood down)?"""
    return bool(_active(session, case_id))
