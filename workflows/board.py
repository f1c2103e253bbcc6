"""The coordinator's board as data: open cases, their steps, overdue timers, parties, and a change feed.

Pure read queries. The board shows codes, times and the case's opaque reference, never patient data.

The change feed is the database itself, so it works across processes (the worker writes, the HTTP
process serves): every workflow change and every pager report appends a `case_event` row, and a new case
gets a new `cases` row. `cursor` is the pair of the highest ids, written `"<event id>-<case id>"`; a board
that last saw cursor *c* asks `changed_since(c)` which cases moved since. Time passing alone changes no
row (a timer falling due); the board's periodic full refresh shows that.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from notifications.models import AttemptState, Page, PageAttempt, PagePurpose
from presentations.models import PresentationRecord
from workflows.models import (
    OPEN_STATES,
    Case,
    CaseEvent,
    CaseFinding,
    CaseState,
    CaseTimer,
    DischargeCheckRecord,
    EventKind,
    Intake,
    IntakeParty,
)

MAX_ROWS = 500  # a board longer than this is no board; the filter narrows it


@dataclass(frozen=True)
class Step:
    action: str
    at: datetime


@dataclass(frozen=True)
class PartyLine:
    """One party asked to the joint intake: its answer and how far its page got."""

    party: str
    status: str  # requested | acknowledged | cancelled
    requested_at: datetime
    acknowledged_at: datetime | None
    page_state: str  # the newest intake page's state, or "" before the pager took it
    delivery: str  # the furthest any message of that page got: delivered, accepted, sent, failed, queued, ""


@dataclass(frozen=True)
class Overdue:
    kind: str  # a TimerKind value
    party: str
    due_at: datetime


@dataclass(frozen=True)
class BoardRow:
    case_id: int
    reference: str
    state: str
    severity: str
    rule_ids: tuple[str, ...]
    arrival_at: datetime | None
    opened_at: datetime
    steps: tuple[Step, ...]
    overdue: tuple[Overdue, ...]
    discharged_without_check: bool
    parties: tuple[PartyLine, ...] = field(default=())

    @property
    def last_step_at(self) -> datetime:
        return self.steps[-1].at if self.steps else self.opened_at


_DELIVERY_RANK = {
    AttemptState.DELIVERED.value: 5,
    AttemptState.ACCEPTED.value: 4,
    AttemptState.SENT.value: 4,
    AttemptState.SENDING.value: 2,
    AttemptState.QUEUED.value: 2,
    AttemptState.RETRY.value: 2,
    AttemptState.FAILED.value: 1,
    AttemptState.UNDELIVERED.value: 1,
}


def cursor(session: Session) -> str:
    """Where the change feed stands now."""
    event_id = session.execute(select(func.max(CaseEvent.id))).scalar_one() or 0
    case_id = session.execute(select(func.max(Case.id))).scalar_one() or 0
    return f"{event_id}-{case_id}"


def parse_cursor(raw: str | None) -> tuple[int, int] | None:
    if not raw:
        return None
    event_id, sep, case_id = raw.strip().partition("-")
    if not sep or not event_id.isdigit() or not case_id.isdigit() or len(raw) > 40:
        return None
    return int(event_id), int(case_id)


def changed_since(session: Session, since: tuple[int, int]) -> list[int]:
    """Ids of the cases with an event after the cursor, or opened after it."""
    event_id, case_id = since
    moved = set(session.execute(select(CaseEvent.case_id).where(CaseEvent.id > event_id)).scalars())
    moved |= set(session.execute(select(Case.id).where(Case.id > case_id)).scalars())
    return sorted(moved)


def rows(
    session: Session, *, now: datetime, states: frozenset[str] | None = None, since: datetime | None = None
) -> list[BoardRow]:
    """The board: cases in `states` (default: the open ones) opened since `since`, the longest waiting
    first (oldest arrival); at most `MAX_ROWS`."""
    wanted = states or frozenset(s.value for s in OPEN_STATES)
    query = select(Case).where(Case.state.in_(sorted(wanted)))
    if since is not None:
        query = query.where(Case.opened_at >= since)
    cases = list(session.execute(query.order_by(Case.opened_at, Case.id).limit(MAX_ROWS)).scalars())
    ids = [c.id for c in cases]
    if not ids:
        return []

    rules: dict[int, set[str]] = defaultdict(set)
    for case_id, rule_id in session.execute(
        select(CaseFinding.case_id, CaseFinding.rule_id).where(CaseFinding.case_id.in_(ids))
    ):
        rules[case_id].add(rule_id)
    arrivals: dict[str, datetime] = {}
    for ref, arrival_at, created_at in session.execute(
        select(
            PresentationRecord.encounter_ref, PresentationRecord.arrival_at, PresentationRecord.created_at
        ).where(PresentationRecord.encounter_ref.in_({c.encounter_ref for c in cases}))
    ):
        moment = arrival_at or created_at
        if ref not in arrivals or moment < arrivals[ref]:
            arrivals[ref] = moment
    steps: dict[int, list[Step]] = defaultdict(list)
    unchecked_discharge: set[int] = set()
    for case_id, kind, action, at in session.execute(
        select(CaseEvent.case_id, CaseEvent.kind, CaseEvent.action, CaseEvent.at)
        .where(
            CaseEvent.case_id.in_(ids),
            CaseEvent.kind.in_([EventKind.TRANSITION.value, EventKind.DISCHARGED_WITHOUT_CHECK.value]),
        )
        .order_by(CaseEvent.id)
    ):
        if kind == EventKind.TRANSITION.value:
            steps[case_id].append(Step(action, at))
        else:
            unchecked_discharge.add(case_id)
    checked = set(
        session.execute(
            select(DischargeCheckRecord.case_id).where(
                DischargeCheckRecord.case_id.in_(ids), DischargeCheckRecord.completed.is_(True)
            )
        ).scalars()
    )
    parties: dict[int, list[IntakeParty]] = defaultdict(list)
    for party in session.execute(
        select(IntakeParty).where(IntakeParty.case_id.in_(ids)).order_by(IntakeParty.id)
    ).scalars():
        parties[party.case_id].append(party)
    intake_done = {
        case_id
        for case_id, done_at in session.execute(
            select(Intake.case_id, Intake.done_at).where(Intake.case_id.in_(ids))
        )
        if done_at is not None
    }
    pages = _intake_pages(session, ids)
    overdue: dict[int, list[Overdue]] = defaultdict(list)
    by_id = {c.id: c for c in cases}
    for timer in session.execute(
        select(CaseTimer)
        .where(CaseTimer.case_id.in_(ids), CaseTimer.due_at <= now, CaseTimer.cancelled_at.is_(None))
        .order_by(CaseTimer.due_at)
    ).scalars():
        case = by_id[timer.case_id]
        if _still_overdue(case, timer, parties[case.id], case.id in intake_done):
            overdue[case.id].append(Overdue(timer.kind, timer.party, timer.due_at))

    return [
        BoardRow(
            case_id=c.id,
            reference=c.reference,
            state=c.state,
            severity=c.highest_severity,
            rule_ids=tuple(sorted(rules[c.id])),
            arrival_at=arrivals.get(c.encounter_ref),
            opened_at=c.opened_at,
            steps=tuple(steps[c.id]),
            overdue=tuple(overdue[c.id]),
            discharged_without_check=c.id in unchecked_discharge and c.id not in checked,
            parties=tuple(
                PartyLine(
                    party=p.party,
                    status=p.status,
                    requested_at=p.requested_at,
                    acknowledged_at=p.acknowledged_at,
                    page_state=pages.get((c.id, p.party), ("", ""))[0],
                    delivery=pages.get((c.id, p.party), ("", ""))[1],
                )
                for p in parties[c.id]
            ),
        )
        for c in cases
    ]


def _still_overdue(case: Case, timer: CaseTimer, parties: list[IntakeParty], intake_done: bool) -> bool:
    """The timer's condition still holds (the same conditions the timer tick checks before it acts)."""
    if case.state not in OPEN_STATES:
        return False
    if timer.kind == "ack_deadline":
        return any(p.party == timer.party and p.status == "requested" for p in parties)
    if timer.kind == "intake_overdue":
        return case.state == CaseState.INTAKE_SCHEDULED and not intake_done
    return True


def _intake_pages(session: Session, case_ids: list[int]) -> dict[tuple[int, str], tuple[str, str]]:
    """(case, party) → (state of the newest intake page, the furthest delivery of its messages)."""
    newest: dict[tuple[int, str], Page] = {}
    for page in session.execute(
        select(Page)
        .where(Page.case_id.in_(case_ids), Page.purpose == PagePurpose.INTAKE.value)
        .order_by(Page.id)
    ).scalars():
        assert page.case_id is not None
        newest[(page.case_id, page.party)] = page
    best: dict[int, str] = {}
    if newest:
        for page_id, state in session.execute(
            select(PageAttempt.page_id, PageAttempt.state).where(
                PageAttempt.page_id.in_([p.id for p in newest.values()])
            )
        ):
            if _DELIVERY_RANK.get(state, 0) > _DELIVERY_RANK.get(best.get(page_id, ""), 0):
                best[page_id] = state
    return {key: (page.state, best.get(page.id, "")) for key, page in newest.items()}
