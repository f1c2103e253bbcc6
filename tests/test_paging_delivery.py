"""Delivery over real servers: a 5xx after the provider took the message is not a second SMS; duplicate
and out-of-order delivery reports; a slow provider; e-mail refused without STARTTLS; a Standard Webhooks
call a receiver verifies; a FHIR Communication created once; the signed single-use link and one-time
code; the watchdog; the melding by e-mail; and a scan of everything the servers received for the
patient's data."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from consent.models import LegalBasisKind, Party
from core.clock import ManualClock
from notifications import links
from notifications import pager as pager_jobs
from notifications import service as paging
from notifications.channels.base import OutboundMessage, Outcome
from notifications.channels.email import SmtpChannel
from notifications.models import Melding, PagePurpose, RosterChange
from store.crypto import FieldCipher, Pseudonymizer
from store.db import Database
from tests.pager_fixtures import (
    NUMBERS,
    PATIENT,
    SMS_WEBHOOK_SECRET,
    WEBHOOK_SECRET,
    Pager,
    case_with_intake,
    make_runtime,
)
from tests.paging_servers import FhirServer, SmsGateway, SmtpServer, WebhookReceiver
from workflows import melding, service
from workflows.schemas import (
    Child,
    KindcheckAnswer,
    KindcheckInput,
    MeldcodeDecision,
    MeldcodeStep,
    MeldcodeStepInput,
)


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
def hooks() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver(WEBHOOK_SECRET)
    yield server
    server.stop()


@pytest.fixture
def ehr() -> Iterator[FhirServer]:
    server = FhirServer()
    yield server
    server.stop()


def roster_with_all_channels(tmp_path: Path, hooks: WebhookReceiver) -> Path:
    from tests.pager_fixtures import ROSTER

    text = ROSTER.format(**NUMBERS)
    text = text.replace(
        '{id: police1, name: "Agent", phone: "+31655555555"}',
        f'{{id: police1, name: "Agent", phone: "+31655555555", webhook: "{hooks.url}/meldkamer",'
        ' fhir: "Practitioner/police-1"}',
    )
    rotation = '    rotation: {handover: "07:00", length_days: 7, start: "2026-03-01", members: [police1]}\n'
    text = text.replace(
        f"  police:\n{rotation}    escalation:\n      - {{notify: on_call, channels: [sms], wait: 5m}}",
        f"  police:\n{rotation}    escalation:\n      - {{notify: on_call, channels: [webhook], wait: 5m}}\n"
        "      - {notify: on_call, channels: [fhir], wait: 5m}",
    )
    path = tmp_path / "roster.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def pager(
    db: Database,
    database_url: str,
    tmp_path: Path,
    sms: SmsGateway,
    smtp: SmtpServer,
    hooks: WebhookReceiver,
    ehr: FhirServer,
) -> Pager:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    roster = roster_with_all_channels(tmp_path, hooks)
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
        webhook_secret=WEBHOOK_SECRET,
        ehr_fhir_url=f"{ehr.url}/fhir",
        melding_delivery="email",
        melding_email="meldingen@veiligthuis.test",
    )
    return Pager(runtime=runtime, clock=clock, sms=sms, roster_file=roster)


def report(pager: Pager, reference: str, status: str, received: str) -> str:
    with TestClient(pager_app(pager)) as client:
        body = {
            "messages": {"msg": {"reference": reference, "status": {"code": status}, "received": received}}
        }
        response = client.post("/webhooks/sms/reports", params={"secret": SMS_WEBHOOK_SECRET}, json=body)
        assert response.status_code == 200 and response.text == "OK"
    with pager.db.read() as session:
        from notifications.models import DeliveryReport

        return (
            session.execute(select(DeliveryReport.effect).order_by(DeliveryReport.id.desc()))
            .scalars()
            .first()
            or ""
        )


def pager_app(pager: Pager) -> Any:
    from gateway.app import create_app

    return create_app(pager.runtime)


def test_a_5xx_after_the_provider_took_the_sms_is_retried_with_the_same_reference_and_sent_once(
    pager: Pager, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    pager.sms.fail_after_accept = 1
    case_id = case_with_intake(pager, cipher, pseudonyms, visit="V-5XX")
    page = pager.page(case_id, "forensic")
    (attempt,) = pager.attempts(page.id)
    assert attempt.state == "retry" and attempt.tries == 1
    pager.advance(seconds=3)
    (attempt,) = pager.attempts(page.id)
    assert attempt.state == "accepted" and attempt.tries == 2
    references = [m["messages"]["msg"][0]["reference"] for m in pager.sms.posts]
    assert references == [attempt.reference, attempt.reference]  # posted twice …
    assert len(pager.sms.accepted) == 1  # … one SMS


def test_duplicate_and_out_of_order_delivery_reports_change_the_state_once_and_only_forward(
    pager: Pager, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = case_with_intake(pager, cipher, pseudonyms, visit="V-DLR2")
    page = pager.page(case_id, "forensic")
    (attempt,) = pager.attempts(page.id)
    assert report(pager, attempt.reference, "2", "10:00:02") == "applied"  # delivered, arriving first
    assert report(pager, attempt.reference, "2", "10:00:02") == "applied"  # the same again: not recorded
    assert report(pager, attempt.reference, "0", "10:00:01") == "late"  # "accepted", late
    assert report(pager, attempt.reference, "3", "10:00:03") == "late"  # a failure after delivery
    assert report(pager, "not-ours", "2", "x") == "unknown_reference"
    (attempt,) = pager.attempts(page.id)
    assert attempt.state == "delivered"
    with pager.db.read() as session:
        from notifications.models import DeliveryReport

        rows = (
            session.execute(select(DeliveryReport).where(DeliveryReport.attempt_id == attempt.id))
            .scalars()
            .all()
        )
    assert sorted(r.effect for r in rows) == ["applied", "late", "late"]  # the duplicate is not a row
    assert len(pager.sms.accepted) == 1  # no next channel: it was delivered


@pytest.mark.serial  # asserts how long it took: a busy parallel worker would fail it
def test_a_slow_provider_for_one_number_does_not_hold_up_the_others(
    pager: Pager, cipher: FieldCipher, pseudonyms: Pseudonymizer, hooks: WebhookReceiver
) -> None:
    doctor_numbers = {NUMBERS["jansen"], NUMBERS["pietersen"]}
    pager.sms.slow_numbers = doctor_numbers  # two seconds per message to the forensic doctor
    started = time.monotonic()
    case_id = case_with_intake(
        pager, cipher, pseudonyms, visit="V-SLOW", parties=(Party.FORENSIC, Party.POLICE)
    )
    assert time.monotonic() - started < 8
    states = {p.party: p.state for p in pager.pages(case_id, PagePurpose.INTAKE)}
    assert states == {"forensic": "active", "police": "active"}
    (fast,) = hooks.received_at.values()
    slow = next(m for m in pager.sms.accepted.values() if m.to in doctor_numbers).at
    assert slow - fast > 1.5  # the police page went out while the doctor's was still on its way


def test_without_starttls_the_smtp_channel_sends_nothing() -> None:
    plain = SmtpServer(starttls=False)
    try:
        channel = SmtpChannel(f"smtp://localhost:{plain.port}", sender="spoedplein@test")
        result = channel.send(OutboundMessage(reference="r1", address="a@b.test", subject="s", text="t"))
        assert result.outcome is Outcome.FAILED and "STARTTLS" in result.detail
        assert plain.messages == []
    finally:
        plain.stop()


def test_a_webhook_page_is_signed_per_standard_webhooks_and_a_fhir_communication_is_created_once(
    pager: Pager, cipher: FieldCipher, pseudonyms: Pseudonymizer, hooks: WebhookReceiver, ehr: FhirServer
) -> None:
    case_id = case_with_intake(pager, cipher, pseudonyms, visit="V-HOOK", parties=(Party.POLICE,))
    page = pager.page(case_id, "police")
    ((hook_id, payload),) = hooks.received.items()
    assert hooks.refused == []
    assert payload["case_reference"] == page.case_reference and payload["urgency"] == "emergency"
    assert payload["role"] == "police" and payload["link"].startswith("https://spoedplein.test/p/")
    assert hook_id == pager.attempts(page.id)[0].reference
    pager.advance(minutes=5)  # step 2: the EHR's in-basket
    (communication,) = ehr.created.values()
    assert communication["recipient"] == [{"reference": "Practitioner/police-1"}]
    assert "subject" not in communication and "encounter" not in communication
    attempt = pager.attempts(page.id)[-1]
    # A crash between "sent" and "recorded": the same attempt goes out again, and the EHR keeps one.
    config = paging.paging_config(pager.runtime)
    message = OutboundMessage(reference=attempt.reference, address=attempt.address, subject="", text="x")
    assert config.channel(paging.ChannelName.FHIR).send(message).outcome is Outcome.SENT
    assert ehr.posts == 2 and len(ehr.created) == 1


def test_a_replayed_or_forged_webhook_is_refused_by_the_receiver(hooks: WebhookReceiver) -> None:
    import httpx

    from notifications.channels.webhook import signed_headers

    body = json.dumps({"type": "page"})
    old = signed_headers(WEBHOOK_SECRET, "msg_1", datetime.now(UTC) - timedelta(minutes=6), body)
    assert httpx.post(f"{hooks.url}/x", content=body, headers=old).status_code == 400
    forged = signed_headers(
        "whsec_" + "b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==", "msg_2", datetime.now(UTC), body
    )
    assert httpx.post(f"{hooks.url}/x", content=body, headers=forged).status_code == 400
    assert hooks.received == {} and len(hooks.refused) == 2


def test_a_page_link_works_once_within_ten_minutes_and_shows_nothing_before_the_one_time_code(
    pager: Pager, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = case_with_intake(pager, cipher, pseudonyms, visit="V-LINK")
    page = pager.page(case_id, "forensic")
    (sms,) = [m for m in pager.sms.accepted.values()]
    url = sms.text.split()[-1]
    path = url.removeprefix("https://spoedplein.test")
    assert path.startswith("/p/")
    with TestClient(pager_app(pager), base_url="https://spoedplein.test") as client:
        tampered = client.get(
            path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB"), follow_redirects=False
        )
        assert tampered.status_code == 410
        opened = client.get(path, follow_redirects=False)
        assert opened.status_code == 303 and opened.headers["location"] == "/p"
        landing = client.get("/p")
        assert page.case_reference not in landing.text and "code" in landing.text
        assert client.get(path, follow_redirects=False).status_code == 410  # single use
        # Each form carries the CSRF token of the page it is on (gateway/csrf.py).
        found = re.search(r'name="csrftoken" value="([^"]+)"', landing.text)
        assert found is not None
        token = {"csrftoken": found.group(1)}
        sent = client.post("/p/code", data=token)
        assert sent.status_code == 200
        code_sms = [m for m in pager.sms.accepted.values() if "uw code is" in m.text]
        (code_text,) = code_sms
        code = code_text.text.split("uw code is ")[1][:6]
        assert (
            client.post(
                "/p/verify", data={**token, "code": "000000" if code != "000000" else "111111"}
            ).status_code
            == 403
        )
        assert (
            client.post("/p/verify", data={**token, "code": code}, follow_redirects=False).status_code == 303
        )
        verified = client.get("/p")
        # The forensic physician has the patient's consent: decide_disclosure lets them see who it is.
        assert page.case_reference in verified.text and PATIENT.family in verified.text
        answered = client.post(
            "/p/answer", data={**token, "answer": "ok", "at": "23:59"}, follow_redirects=False
        )
        assert answered.status_code == 303
    assert pager.page(case_id, "forensic").state == "acknowledged"
    # Codes are rate-limited: three per person per quarter of an hour. Counted for someone who has asked
    # for none yet: who is on call (and asked for a code above) depends on the date.
    with pager.db.write() as session:
        key = links.derive_key(pager.runtime, "page-code")
        now = pager.clock.now()
        issued = [links.issue_code(session, key, page_id=page.id, person="bakker", now=now) for _ in range(4)]
    assert [c is not None for c in issued] == [True, True, True, False]


def test_an_expired_link_is_refused(pager: Pager, cipher: FieldCipher, pseudonyms: Pseudonymizer) -> None:
    case_with_intake(pager, cipher, pseudonyms, visit="V-EXP")
    (sms,) = list(pager.sms.accepted.values())
    path = sms.text.split()[-1].removeprefix("https://spoedplein.test")
    pager.clock.advance(timedelta(minutes=10, seconds=1))
    with TestClient(pager_app(pager)) as client:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 410 and "verlopen" in response.text


def test_the_watchdog_alerts_the_coordinator_on_both_channels_once_when_the_pager_stalls(
    pager: Pager, smtp: SmtpServer
) -> None:
    pager_jobs.beat(pager.runtime, now=pager.clock.now())
    assert pager_jobs.watchdog_check(pager.runtime) is None  # it ticks
    pager.clock.advance(timedelta(seconds=61))
    first = pager_jobs.watchdog_check(pager.runtime)
    assert first is not None
    assert pager_jobs.watchdog_check(pager.runtime) is None  # one alert per stall
    (alert_sms,) = pager.sms.to(NUMBERS["coord"])
    assert "pager loopt niet" in alert_sms.text
    assert [m["To"] for m in smtp.messages] == ["coord@etz.test"]


def test_the_watchdog_follows_an_override_entered_through_the_api(pager: Pager, smtp: SmtpServer) -> None:
    # The rostered coordinator is off sick; the API's override puts Dr. Bakker on as coordinator. The
    # stalled-pager alert must reach Bakker, and not the absent coordinator.
    now = pager.clock.now()
    with pager.db.write() as session:
        for kind, role, person in (("absence", "", "coord"), ("override", "coordinator", "bakker")):
            session.add(
                RosterChange(
                    kind=kind,
                    role=role,
                    person=person,
                    starts_at=now - timedelta(hours=1),
                    ends_at=now + timedelta(hours=8),
                    created_by="test",
                    created_at=now,
                )
            )
    pager_jobs.beat(pager.runtime, now=now)
    pager.clock.advance(timedelta(seconds=61))
    assert pager_jobs.watchdog_check(pager.runtime) is not None
    assert pager.sms.to(NUMBERS["coord"]) == []
    (alert_sms,) = pager.sms.to(NUMBERS["bakker"])
    assert "pager loopt niet" in alert_sms.text


def test_an_approved_melding_goes_by_e_mail_with_its_pdf_and_is_marked_sent(
    pager: Pager, cipher: FieldCipher, pseudonyms: Pseudonymizer, smtp: SmtpServer
) -> None:
    case_id = case_with_intake(pager, cipher, pseudonyms, visit="V-MELD", parties=(Party.FORENSIC,))
    with pager.db.write() as session:
        case = service.get_case(session, case_id)
        service.record_legal_basis(
            session,
            cipher,
            case,
            party=Party.VEILIG_THUIS,
            basis=LegalBasisKind.MELDRECHT,
            justification="wurging",
            actor="dr",
        )
        service.record_meldcode_step(
            session,
            cipher,
            case,
            MeldcodeStep.DECISION,
            MeldcodeStepInput(summary="melden", decision=MeldcodeDecision.MELDEN),
            actor="dr",
        )
        draft = melding.create_draft(session, cipher, case, actor="dr")
        melding.edit(
            session,
            cipher,
            case,
            melding.MeldingPatch(facts=["striemen hals"]),
            actor="dr",
            revision=draft.revision,
        )
        melding.approve(session, cipher, case, actor="dr", revision=draft.revision)
    pager.drain()
    (mail,) = [m for m in smtp.messages if m["To"] == "meldingen@veiligthuis.test"]
    (pdf,) = [part for part in mail.walk() if part.get_content_type() == "application/pdf"]
    data = pdf.get_payload(decode=True)
    assert isinstance(data, bytes) and data.startswith(b"%PDF")
    with pager.db.read() as session:
        row = session.execute(select(Melding).where(Melding.case_id == case_id)).scalar_one()
        assert row.status == "sent" and row.delivery_reference


def test_nothing_any_server_received_holds_the_patients_data(
    pager: Pager,
    cipher: FieldCipher,
    pseudonyms: Pseudonymizer,
    smtp: SmtpServer,
    hooks: WebhookReceiver,
    ehr: FhirServer,
) -> None:
    case_id = case_with_intake(
        pager, cipher, pseudonyms, visit="V-PRIV", parties=(Party.FORENSIC, Party.POLICE, Party.CSG)
    )
    address = "Kerkstraat 12, 5038 AB Tilburg"
    with pager.db.write() as session:
        case = service.get_case(session, case_id)
        service.record_kindcheck(
            session,
            cipher,
            case,
            KindcheckInput(
                cares_for_minors=KindcheckAnswer.YES, children=[Child(name="Sem Oudejans", address=address)]
            ),
            actor="dr",
        )
    pager.drain()
    pager.sms.reject_numbers = set(NUMBERS.values())  # force every fall-back channel too
    pager.advance(minutes=5)
    pager.advance(minutes=5)
    pager_jobs.beat(pager.runtime, now=pager.clock.now() - timedelta(minutes=5))
    pager_jobs.watchdog_check(pager.runtime)
    received = b"\n".join(
        [
            *pager.sms.raw,
            *(m.as_bytes() for m in smtp.messages),
            json.dumps(list(hooks.received.values())).encode(),
            json.dumps(list(ehr.created.values())).encode(),
        ]
    )
    assert len(pager.sms.raw) >= 4 and smtp.messages and hooks.received and ehr.created
    birth = PATIENT.birth_date
    needles = [
        PATIENT.given,
        PATIENT.family,
        PATIENT.bsn,
        birth.isoformat(),
        birth.strftime("%d-%m-%Y"),
        birth.strftime("%Y%m%d"),
        "Kerkstraat",
        "5038 AB",
        "Sem",
        "gewurgd",
    ]
    found = [n for n in needles if n.lower().encode() in received.lower()]
    assert found == []
