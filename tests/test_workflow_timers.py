"""Durable timers: rows with a due time and a token, fired once by the tick, and only while still relevant."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from consent.models import ConsentDecision, Party
from core.runtime import Runtime
from store.crypto import FieldCipher, Pseudonymizer
from store.db import Database, utcnow
from store.periodic import registered_jobs
from tests import paging_helpers
from tests.workflow_fixtures import (
    drain_outbox,
    finding,
    flagged_case,
    presentation,
    record_consents,
    runtime_for,
    years_ago,
)
from workflows import intake, service, timers
from workflows.models import CaseEvent, CaseTimer, EventKind
from workflows.schemas import ConfirmFacts, Melder


@pytest.fixture
def runtime(db: Database, database_url: str, tmp_path: Path) -> Runtime:
    return runtime_for(db, database_url, tmp_path)


def alerts(runtime: Runtime) -> list[tuple[int, str]]:
    return paging_helpers.alerts(runtime)


def intake_requested(runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer, visit: str) -> int:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit=visit, birth_date=years_ago(30)),
        [finding("R-STR-1", "R-STR", "gewurgd")],
    )
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        service.confirm(
            session, cipher, case, ConfirmFacts(melder=Melder(name="Dr")), actor="dr", expected_version=None
        )
        record_consents(
            session, cipher, case, (Party.FORENSIC, Party.POLICE), ConsentDecision.PERMIT, actor="dr"
        )
        intake.request_intake(session, cipher, case, actor="dr", expected_version=None)
    return case_id


def test_the_timer_tick_is_a_registered_periodic_job() -> None:
    assert "workflows.timers" in {job.name for job in registered_jobs()}


def test_a_new_case_has_an_open_too_long_timer_that_alerts_once_when_due(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-OPEN", birth_date=years_ago(30)),
        [finding("R-STR-1", "R-STR", "gewurgd")],
    )
    with runtime.db.read() as session:
        (timer,) = timers.pending(session, case_id)
        assert timer.kind == "case_open_too_long"
    assert timers.fire_due_timers(runtime.db, cipher, now=timer.due_at - timedelta(seconds=1)) == 0
    assert timers.fire_due_timers(runtime.db, cipher, now=timer.due_at) == 1
    assert timers.fire_due_timers(runtime.db, cipher, now=timer.due_at + timedelta(hours=1)) == 0
    drain_outbox(runtime)
    assert alerts(runtime) == [(case_id, "case_open_too_long")]


def test_ack_deadline_alerts_only_for_the_party_that_did_not_acknowledge(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = intake_requested(runtime, cipher, pseudonyms, "V-ACK")
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        intake.acknowledge(session, cipher, case, Party.FORENSIC, earliest_available_at=utcnow(), actor="fa")
    later = utcnow() + timedelta(hours=1)
    assert timers.fire_due_timers(runtime.db, cipher, now=later) == 1
    with runtime.db.read() as session:
        fired = (
            session.execute(
                select(CaseEvent.code).where(
                    CaseEvent.case_id == case_id, CaseEvent.kind == EventKind.TIMER_FIRED
                )
            )
            .scalars()
            .all()
        )
        assert fired == ["ack_overdue:police"]
        forensic = session.execute(
            select(CaseTimer).where(CaseTimer.case_id == case_id, CaseTimer.party == "forensic")
        ).scalar_one()
        assert forensic.cancelled_at is not None and forensic.fired_at is None
    drain_outbox(runtime)
    assert alerts(runtime) == [(case_id, "ack_overdue")]


def test_a_timer_whose_condition_passed_fires_silently(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    """The tick re-checks: a party that acknowledged after the due time but before the tick is not chased."""
    case_id = intake_requested(runtime, cipher, pseudonyms, "V-LATE")
    with runtime.db.write() as session:
        for row in intake.parties(session, case_id):
            row.status = "acknowledged"  # as if acknowledged without cancelling the timers
    assert timers.fire_due_timers(runtime.db, cipher, now=utcnow() + timedelta(hours=1)) == 0
    drain_outbox(runtime)
    assert [reason for _, reason in alerts(runtime)] == []


def test_a_stale_token_does_not_fire(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = intake_requested(runtime, cipher, pseudonyms, "V-TOK")
    with runtime.db.read() as session:
        timer = next(t for t in timers.pending(session, case_id) if t.party == "police")
    with runtime.db.write() as session:
        assert not timers.fire(session, cipher, timer.id, "not-the-token", now=utcnow())
        assert timers.fire(session, cipher, timer.id, timer.token, now=utcnow())
        assert not timers.fire(session, cipher, timer.id, timer.token, now=utcnow())  # already fired


def test_two_ticks_at_once_fire_each_timer_once(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_ids = [intake_requested(runtime, cipher, pseudonyms, f"V-RACE-{i}") for i in range(3)]
    later = utcnow() + timedelta(hours=1)
    results: list[int] = []
    start = threading.Barrier(2)

    def tick() -> None:
        start.wait()
        results.append(timers.fire_due_timers(runtime.db, cipher, now=later))

    threads = [threading.Thread(target=tick) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(results) == 6  # 3 cases × (forensic, police) ack deadlines; open-too-long not yet due
    drain_outbox(runtime)
    with runtime.db.read() as session:
        count = session.scalar(
            select(func.count())
            .select_from(CaseEvent)
            .where(CaseEvent.kind == EventKind.TIMER_FIRED, CaseEvent.case_id.in_(case_ids))
        )
        assert count == 6
    assert len(alerts(runtime)) == 6


def test_intake_overdue_alerts_when_the_agreed_time_has_long_passed(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = intake_requested(runtime, cipher, pseudonyms, "V-OVER")
    now = utcnow()
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        for party in (Party.FORENSIC, Party.POLICE):
            intake.acknowledge(session, cipher, case, party, earliest_available_at=now, actor="x")
        intake.agree_time(session, cipher, case, agreed_at=now, actor="dr", expected_version=None)
    timers.fire_due_timers(runtime.db, cipher, now=now + timedelta(minutes=61))
    drain_outbox(runtime)
    assert alerts(runtime) == [(case_id, "intake_overdue")]
