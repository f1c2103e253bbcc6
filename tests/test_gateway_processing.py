"""Stored messages are processed after the ACK by the real worker and beat processes, exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.hl7.ack import parse_ack
from adapters.hl7.client import MLLPClient
from gateway.commands.hl7 import replay_files
from tests.conftest import CORPUS
from tests.gateway_process import GatewayProcesses

INFANT_EAR_BRUISE = (
    "MSH|^~\\&|HIX|ETZ|SPOEDPLEIN|ETZ|20261123100000+0100||ADT^A04^ADT_A01|{cid}|P|2.4||||||8859/1\r"
    "EVN|A04|20261123100000+0100\r"
    "PID|1||123456782^^^NLMINBIZA^NNNLD~7001^^^ETZ^PI||van der Berg&van der&Berg^Jürgen||20260720|M\r"
    "PV1|1|E|SEH^K1^1^ETZ||||01234^Jansen^A||||||||||||{visit}|||||||||||||||||||||||||20261123095500+0100\r"
    "PV2|||^Blauwe plek achter het linker oor, ouders weten niet hoe\r"
)
PLAIN_SPRAIN = (
    "MSH|^~\\&|HIX|ETZ|SPOEDPLEIN|ETZ|20261123110000+0100||ADT^A04^ADT_A01|{cid}|P|2.5\r"
    "PID|1||7002^^^ETZ^PI||Çelik^Ayşe||19900101|F\r"
    "PV1|1|E|SEH^K2^1^ETZ||||||||||||||||{visit}\r"
    "PV2|||^Enkel verzwikt bij voetbal, geen ander letsel\r"
)


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayProcesses]:
    processes = GatewayProcesses(tmp_path / "gw")
    processes.start("serve")
    processes.start("worker")
    processes.start("beat")
    yield processes
    processes.stop_all()


def messages(gateway: GatewayProcesses, **params: object) -> list[dict[str, object]]:
    return gateway.api("/api/messages", limit=1000, **params)


def all_processed(gateway: GatewayProcesses) -> bool:
    return not messages(gateway, status="received")


def test_flagged_presentation_opens_one_case_and_a_resend_or_update_adds_none(
    gateway: GatewayProcesses,
) -> None:
    first = INFANT_EAR_BRUISE.format(cid="C-1", visit="V100").encode("latin-1")
    update = first.replace(b"ADT^A04^ADT_A01|C-1", b"ADT^A08^ADT_A01|C-2")
    with MLLPClient("127.0.0.1", gateway.mllp_port) as client:
        assert parse_ack(client.send(first)).code == "AA"
        assert parse_ack(client.send(first)).code == "AA"  # resend
        assert parse_ack(client.send(update)).code == "AA"  # A08 of the same visit
        assert parse_ack(client.send(PLAIN_SPRAIN.format(cid="C-3", visit="V200").encode())).code == "AA"
    gateway.wait_for(lambda: all_processed(gateway), what="all messages processed")
    statuses = {m["control_id"]: m["status"] for m in messages(gateway)}
    assert statuses == {"C-1": "processed", "C-2": "processed", "C-3": "processed"}
    presentations = gateway.api("/api/presentations")
    assert len(presentations) == 3
    cases = gateway.api("/api/cases")
    assert isinstance(cases, list) and len(cases) == 1
    assert cases[0]["state"] == "flagged"
    detail = gateway.api(f"/api/cases/{cases[0]['id']}")
    rule_ids = {f["rule_id"] for f in detail["findings"]}
    assert any(r.startswith("R-BR") for r in rule_ids), rule_ids


def test_dutch_names_and_bsn_survive_the_round_trip(gateway: GatewayProcesses) -> None:
    with MLLPClient("127.0.0.1", gateway.mllp_port) as client:
        client.send(INFANT_EAR_BRUISE.format(cid="N-1", visit="V300").encode("latin-1"))
        client.send(PLAIN_SPRAIN.format(cid="N-2", visit="V301").encode("utf-8"))
    gateway.wait_for(lambda: all_processed(gateway), what="processing")
    by_message = {p["inbox_message_id"]: p["id"] for p in gateway.api("/api/presentations")}
    ids = {m["control_id"]: m["id"] for m in messages(gateway)}
    infant = gateway.api(f"/api/presentations/{by_message[ids['N-1']]}")["presentation"]
    adult = gateway.api(f"/api/presentations/{by_message[ids['N-2']]}")["presentation"]
    assert infant["patient"]["bsn"] == "123456782"
    assert infant["patient"]["name"]["family_prefix"] == "van der"
    assert infant["patient"]["name"]["family_own"] == "Berg"
    assert infant["patient"]["name"]["given"] == ["Jürgen"]  # sent as ISO 8859-1 (MSH-18 8859/1)
    assert adult["patient"]["name"]["family"] == "Çelik" and adult["patient"]["name"]["given"] == ["Ayşe"]
    logs = "".join(gateway.log(part) for part in ("serve", "worker", "beat"))
    for patient_data in ("Berg", "Jürgen", "Çelik", "Ayşe", "123456782", "20260720", "Blauwe plek"):
        assert patient_data not in logs, f"patient data in the logs: {patient_data}"


def test_public_corpus_replays_with_every_message_accepted_and_reused_control_ids_marked(
    gateway: GatewayProcesses,
) -> None:
    corpus = CORPUS / "hl7v2" / "fhir-converter"
    files = sorted(corpus.glob("*.hl7"))
    assert len(files) == 139
    with MLLPClient("127.0.0.1", gateway.mllp_port, timeout_s=30) as client:
        summary = replay_files([corpus], client, show_progress=False)
    counts = summary.counts
    # Every corpus message is well-formed and different from every other: all 139 are taken in. The
    # corpus reuses MSH-10 across different messages of one sender (45 files say MSG00001): only 42
    # (MSH-3, MSH-4, MSH-10) keys for 139 messages, so 97 are marked as a reused control id.
    assert counts["accepted"] == 139, (counts, summary.reasons)
    assert counts["rejected"] == counts["no answer"] == 0
    gateway.wait_for(lambda: all_processed(gateway), timeout_s=120, what="corpus processed")
    stored = messages(gateway)
    assert len(stored) == 139
    assert sum(1 for row in stored if row["control_id_reused"]) == 97
    assert len(messages(gateway, control_id_reused=True)) == 97
    assert gateway.api("/api/messages/counts")["control_id_reused"] == 97
    for row in stored:
        assert row["status"] in {"processed", "ignored", "failed"}
        if row["status"] != "processed":
            assert row["status_reason"], row  # every message not processed says why

    # A second replay: the gateway answers every message with the ACK it stored (ACK made before this
    # run began), stores nothing new, and `replay` counts all of them as duplicates it recognised.
    time.sleep(2.1)  # ACK times have whole seconds: let the first run's lie more than a second back
    with MLLPClient("127.0.0.1", gateway.mllp_port, timeout_s=30) as client:
        again = replay_files([corpus], client, show_progress=False, clock_tolerance_s=1.0)
    assert again.counts["duplicate"] == 139 and again.counts["accepted"] == 0, again.counts
    assert len(messages(gateway)) == 139
    assert gateway.api("/api/messages/counts")["resends"] == 139
