"""Chaos: 50 escalations run in the real processes (beat, worker) on PostgreSQL + Redis; while the
backups are being paged the worker is SIGKILLed and Redis is restarted (its queues gone). Every page is
delivered, none twice — counted at the SMS server, per person and per escalation step.

Time moves for all processes together through the offset-file clock (`SPOEDPLEIN_CLOCK_OFFSET_FILE`).
"""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from consent.models import ConsentDecision, Party
from core.clock import OffsetFileClock
from notifications.models import PageAttempt
from store.audit import chain_key
from store.crypto import FieldCipher, Pseudonymizer
from store.db import Database, make_engine
from tests.conftest import TEST_KEY, new_postgres_database
from tests.gateway_process import GatewayProcesses
from tests.pager_fixtures import NUMBERS, SMS_WEBHOOK_SECRET, write_roster
from tests.paging_servers import SmsGateway
from tests.servers import PostgresServer, RedisServer
from tests.workflow_fixtures import finding, flagged_case, presentation, record_consents, years_ago
from workflows import intake, service
from workflows.schemas import ConfirmFacts, Melder

pytestmark = pytest.mark.serial
CASES = 50


@pytest.fixture
def redis_alone() -> Iterator[RedisServer]:
    server = RedisServer()  # its own: this test restarts it
    yield server
    server.stop()


def open_cases(db: Database, count: int) -> list[int]:
    cipher, pseudonyms = FieldCipher(TEST_KEY), Pseudonymizer(TEST_KEY)
    ids = []
    for i in range(count):
        case_id = flagged_case(
            db,
            cipher,
            pseudonyms,
            presentation(visit=f"V-CHAOS-{i}", birth_date=years_ago(30)),
            [finding("R-STR-1", "R-STR", "gewurgd")],
        )
        with db.write() as session:
            case = service.get_case(session, case_id)
            service.confirm(
                session,
                cipher,
                case,
                ConfirmFacts(melder=Melder(name="Dr")),
                actor="dr",
                expected_version=None,
            )
            record_consents(session, cipher, case, (Party.FORENSIC,), ConsentDecision.PERMIT, actor="dr")
            intake.request_intake(session, cipher, case, actor="dr", expected_version=None)
        ids.append(case_id)
    return ids


def test_killing_the_worker_and_restarting_redis_during_50_escalations_loses_and_doubles_nothing(
    tmp_path: Path, postgres_server: PostgresServer, redis_alone: RedisServer
) -> None:
    sms = SmsGateway()
    url = new_postgres_database(postgres_server)
    offset = OffsetFileClock(tmp_path / "clock-offset")
    offset.set_offset(0)
    env = {
        "SPOEDPLEIN_DATABASE_URL": url,
        "SPOEDPLEIN_BROKER_URL": redis_alone.url,
        "SPOEDPLEIN_ENCRYPTION_KEY": base64.b64encode(TEST_KEY).decode(),
        "SPOEDPLEIN_ROSTER_FILE": str(write_roster(tmp_path)),
        "SPOEDPLEIN_SMS_URL": sms.url,
        "SPOEDPLEIN_SMS_TOKEN": sms.token,
        "SPOEDPLEIN_SMS_WEBHOOK_SECRET": SMS_WEBHOOK_SECRET,
        "SPOEDPLEIN_SMTP_URL": "smtp://u:p@127.0.0.1:9",  # never used: nothing here falls back to e-mail
        "SPOEDPLEIN_CLOCK_OFFSET_FILE": str(offset.path),
        "SPOEDPLEIN_ACK_DEADLINE_S": "86400",
        "SPOEDPLEIN_RELAY_REDELIVER_AFTER_S": "3",
    }
    gateway = GatewayProcesses(tmp_path / "gw", env=env)
    db = Database(make_engine(url), audit_key=chain_key(TEST_KEY))
    try:
        open_cases(db, CASES)
        gateway.start("beat")
        gateway.start("worker")
        gateway.wait_for(lambda: len(sms.accepted) >= CASES, timeout_s=120, what="the on-call pages")
        on_call = Counter(m.to for m in sms.accepted.values())
        assert sum(on_call.values()) == CASES and len(on_call) == 1  # one doctor on call, 50 pages

        offset.set_offset(5 * 60 + 1)  # five minutes later: every escalation moves to the backup now
        time.sleep(0.3)
        gateway.kill("worker")  # mid-wave
        redis_alone.restart(down_s=1.0)  # and the broker loses whatever it held
        time.sleep(1.0)
        gateway.start("worker")
        # Two and a half minutes on, the auditor re-drives whatever the killed worker left half-sent.
        offset.set_offset(7 * 60 + 30)
        gateway.wait_for(
            lambda: len(sms.to(NUMBERS["bakker"])) >= CASES, timeout_s=180, what="the backups' pages"
        )

        def attempts_now() -> list[PageAttempt]:
            with db.read() as session:
                return list(session.execute(select(PageAttempt)).scalars().all())

        # A message the killed worker handed to the provider but never recorded stays `sending` until the
        # auditor re-drives it (same reference: the provider takes it once). Wait for that, then for
        # anything doubled to arrive.
        gateway.wait_for(
            lambda: all(a.state == "accepted" for a in attempts_now()),
            timeout_s=120,
            what="every attempt recorded as accepted",
        )
        time.sleep(2.0)

        by_number = Counter(m.to for m in sms.accepted.values())
        assert by_number == Counter({next(iter(on_call)): CASES, NUMBERS["bakker"]: CASES})
        attempts = attempts_now()
        per_step = Counter((a.page_id, a.step_id, a.person) for a in attempts)
        assert len(per_step) == 2 * CASES and set(per_step.values()) == {1}
        assert {a.reference for a in attempts} == set(sms.accepted)
        assert all(a.state == "accepted" for a in attempts)
    finally:
        gateway.stop_all()
        db.dispose()
        sms.stop()
