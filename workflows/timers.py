"""Durable timers: rows with a due time and a token, fired once by a periodic tick.

`fire_due_timers` claims due rows (SKIP LOCKED on PostgreSQL, the write lock on SQLite), and fires a
row only if an UPDATE guarded by its token still finds it unfired and not cancelled. The act re-checks
the condition (the party may have acknowledged in the meantime) and uses the token in its event and
outbox keys, so two ticks racing, or one tick re-run after a crash, act once.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from notifications.topics import AlertReason, request_coordinator_alert
from store.crypto import FieldCipher
from store.db import Database, claim_rows, utcnow
from store.periodic import every
from workflows.models import (
    OPEN_STATES,
    Case,
    CaseState,
    CaseTimer,
    EventKind,
    EventSeverity,
    IntakeParty,
)
from workflows.timeline import add_event

log = logging.getLogger(__name__)
TICK_SECONDS = 5.0


class TimerKind(StrEnum):
    ACK_DEADLINE = "ack_deadline"
    INTAKE_OVERDUE = "intake_overdue"
    CASE_OPEN_TOO_LONG = "case_open_too_long"


_ALERT_FOR = {
    TimerKind.ACK_DEADLINE: AlertReason.ACK_OVERDUE,
    TimerKind.INTAKE_OVERDUE: AlertReason.INTAKE_OVERDUE,
    TimerKind.CASE_OPEN_TOO_LONG: AlertReason.CASE_OPEN_TOO_LONG,
}


def schedule(
    session: Session, *, case_id: int, kind: TimerKind, due_at: datetime, party: str = ""
) -> CaseTimer:
    timer = CaseTimer(
        case_id=case_id, kind=kind.value, party=party, due_at=due_at, token=secrets.token_hex(16)
    )
    session.add(timer)
    session.flush()
    return timer


def cancel(session: Session, *, case_id: int, kind: TimerKind | None = None, party: str | None = None) -> int:
    """Cancel pending timers of a case (all, or one kind, or one party's); returns how many."""
    query = update(CaseTimer).where(
        CaseTimer.case_id == case_id, CaseTimer.fired_at.is_(None), CaseTimer.cancelled_at.is_(None)
    )
    if kind is not None:
        query = query.where(CaseTimer.kind == kind.value)
    if party is not None:
        query = query.where(CaseTimer.party == party)
    result = session.execute(query.values(cancelled_at=utcnow()))
    return int(result.rowcount)  # type: ignore[attr-defined]


def pending(session: Session, case_id: int) -> list[CaseTimer]:
    return list(
        session.execute(
            select(CaseTimer)
            .where(
                CaseTimer.case_id == case_id, CaseTimer.fired_at.is_(None), CaseTimer.cancelled_at.is_(None)
            )
            .order_by(CaseTimer.due_at)
        ).scalars()
    )


def _still_relevant(session: Session, case: Case, timer: CaseTimer) -> bool:
    kind = TimerKind(timer.kind)
    if kind is TimerKind.ACK_DEADLINE:
        party = session.execute(
            select(IntakeParty).where(IntakeParty.case_id == case.id, IntakeParty.party == timer.party)
        ).scalar_one_or_none()
        return party is not None and party.status == "requested" and case.state in OPEN_STATES
    if kind is TimerKind.INTAKE_OVERDUE:
        return case.state == CaseState.INTAKE_SCHEDULED
    return case.state in OPEN_STATES


def fire(session: Session, cipher: FieldCipher, timer_id: int, token: str, *, now: datetime) -> bool:
    """Fire one timer if its token still holds; True if this call acted."""
    claimed = session.execute(
        update(CaseTimer)
        .where(
            CaseTimer.id == timer_id,
            CaseTimer.token == token,
            CaseTimer.fired_at.is_(None),
            CaseTimer.cancelled_at.is_(None),
        )
        .values(fired_at=now)
    )
    if not claimed.rowcount:  # type: ignore[attr-defined]
        return False
    timer = session.get(CaseTimer, timer_id)
    case = session.get(Case, timer.case_id) if timer else None
    if timer is None or case is None or not _still_relevant(session, case, timer):
        return False
    reason = _ALERT_FOR[TimerKind(timer.kind)]
    event = add_event(
        session,
        cipher,
        case,
        kind=EventKind.TIMER_FIRED,
        actor="spoedplein",
        severity=EventSeverity.WARNING,
        code=f"{reason.value}:{timer.party}" if timer.party else reason.value,
        dedupe_key=f"timer:{token}",
    )
    request_coordinator_alert(
        session,
        case_id=case.id,
        case_reference=case.reference,
        reason=reason,
        key=f"timer:{token}",
        event_id=event.id,
    )
    return True


def fire_due_timers(
    db: Database, cipher: FieldCipher, *, now: datetime | None = None, limit: int = 100
) -> int:
    """One tick: claim due timers and fire them; returns how many acted."""
    now = now or utcnow()
    with db.write() as session:
        due = session.execute(
            claim_rows(
                cast(Select[Any], select(CaseTimer.id, CaseTimer.token))
                .where(
                    CaseTimer.due_at <= now, CaseTimer.fired_at.is_(None), CaseTimer.cancelled_at.is_(None)
                )
                .order_by(CaseTimer.due_at)
                .limit(limit),
                db,
            )
        ).all()
        return sum(fire(session, cipher, row.id, row.token, now=now) for row in due)


@every(TICK_SECONDS, name="workflows.timers")
def timer_tick(runtime: Any) -> None:
    fired = fire_due_timers(runtime.db, runtime.cipher)
    if fired:
        log.info("workflow timers fired: %d", fired)
