"""`GET /metrics` and the logs: who may read metrics, what they count, and that neither a label, a value
nor a log line names a patient.

In-process over real HTTP for access, the FHIR channel and `X-Request-ID`; under `spoedplein run` for the
multiprocess sum (the MLLP part counts, the HTTP part answers) with a known test patient sent over MLLP
and processed into a case, after which neither the metrics nor any process's log (JSON lines, at DEBUG)
holds the patient's names, BSN or visit number.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters.hl7.client import MLLPClient
from tests.conftest import new_sqlite_database
from tests.fhir_helpers import GatewayServer, auth, make_runtime
from tests.gateway_process import API_TOKEN, GatewayProcesses
from tests.hl7_samples import VALID_BSN, adt_a04_nl, encode

# Every piece of patient data in `adt_a04_nl`: names of the child and both parents, BSN, visit number.
PATIENT_DATA = [
    "Müller",
    "Jürgen",
    "Çelik",
    "Aylin",
    "van der Berg",
    "Sanne",
    VALID_BSN,
    "7654321",
    "V2026-0042",
]


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a Prometheus text exposition (labels matched as given), or None."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    directory = tmp_path_factory.mktemp("metrics")
    runtime = make_runtime(new_sqlite_database(directory), directory)
    with GatewayServer(runtime) as server:
        yield server
    runtime.close()


def test_loopback_reads_metrics_without_a_token(gateway: GatewayServer) -> None:
    reply = httpx.get(f"{gateway.url}/metrics")
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/plain")
    assert sample(reply.text, "spoedplein_processing_lag_seconds") == 0.0


def test_outside_the_allowed_networks_only_the_token_reads_metrics(tmp_path: Path) -> None:
    runtime = make_runtime(new_sqlite_database(tmp_path), tmp_path, metrics_allow=["10.0.0.0/8"])
    try:
        with GatewayServer(runtime) as server:
            refused = httpx.get(f"{server.url}/metrics")
            wrong = httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer nope"})
            allowed = httpx.get(f"{server.url}/metrics", headers=auth())
    finally:
        runtime.close()
    assert refused.status_code == wrong.status_code == 401
    assert allowed.status_code == 200 and "spoedplein_outbox_depth" in allowed.text


def test_fhir_submissions_are_counted_by_outcome_and_stored_messages_by_status(
    gateway: GatewayServer,
) -> None:
    def counted(outcome: str) -> float:
        text = httpx.get(f"{gateway.url}/metrics").text
        return sample(text, "spoedplein_messages_total", channel="fhir", outcome=outcome) or 0.0

    before = {outcome: counted(outcome) for outcome in ("accepted", "resent", "rejected")}
    patient = {"resourceType": "Patient", "id": "m-1", "gender": "female", "name": [{"family": "Jansen"}]}
    assert httpx.post(f"{gateway.url}/fhir/Patient", json=patient, headers=auth()).status_code == 201
    assert httpx.post(f"{gateway.url}/fhir/Patient", json=patient, headers=auth()).status_code == 200
    bad = {**patient, "id": "m-2", "gender": "x"}
    assert httpx.post(f"{gateway.url}/fhir/Patient", json=bad, headers=auth()).status_code == 400

    text = httpx.get(f"{gateway.url}/metrics").text
    for outcome in ("accepted", "resent", "rejected"):
        assert counted(outcome) == before[outcome] + 1, outcome
    assert (sample(text, "spoedplein_inbox_messages", channel="fhir", status="received") or 0) >= 1
    assert (sample(text, "spoedplein_outbox_depth", topic="inbox.process") or 0) >= 1
    assert (sample(text, "spoedplein_ack_latency_seconds_count", channel="fhir") or 0) >= 2
    assert "Jansen" not in text


def test_a_request_id_is_kept_when_plain_and_made_when_not(gateway: GatewayServer) -> None:
    kept = httpx.get(f"{gateway.url}/healthz", headers={"X-Request-ID": "ehr-7f3a.42"})
    assert kept.headers["x-request-id"] == "ehr-7f3a.42"
    for bad in ("", "a" * 65, "Jansen, 123456782\tBSN"):
        made = httpx.get(f"{gateway.url}/healthz", headers={"X-Request-ID": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"]), bad
    assert httpx.get(f"{gateway.url}/healthz").headers["x-request-id"]


@pytest.mark.serial
def test_under_run_the_http_part_shows_what_the_mllp_part_counted_and_no_patient_data(tmp_path: Path) -> None:
    gateway = GatewayProcesses(tmp_path / "gw")
    gateway.run()
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    try:
        # The start-up probes send empty frames, each refused: count from here, once the MLLP part has
        # flushed them (it writes its counts once a second).
        time.sleep(1.5)
        before = httpx.get(f"{gateway.http_url}/metrics", headers=headers, timeout=10).text
        rejected_before = (
            sample(before, "spoedplein_messages_total", channel="hl7v2", outcome="rejected") or 0
        )
        message = encode(adt_a04_nl(control_id="MET-1"))
        with MLLPClient("127.0.0.1", gateway.mllp_port) as client:
            assert b"MSA|AA|MET-1" in client.send(message)
            assert b"MSA|AA|MET-1" in client.send(message)  # a resend
            assert b"MSA|AR" in client.send(b"not hl7 at all")

        def processed() -> str | None:
            text = httpx.get(f"{gateway.http_url}/metrics", headers=headers, timeout=10).text
            done = sample(text, "spoedplein_inbox_messages", channel="hl7v2", status="processed")
            return text if done == 1 and sample(text, "spoedplein_cases", state="flagged") else None

        deadline = time.monotonic() + 60
        while (text := processed()) is None:
            assert time.monotonic() < deadline, "the message was not processed into a case"
            time.sleep(0.3)
    finally:
        gateway.stop_all()

    assert sample(text, "spoedplein_messages_total", channel="hl7v2", outcome="accepted") == 1
    assert sample(text, "spoedplein_messages_total", channel="hl7v2", outcome="resent") == 1
    assert (
        sample(text, "spoedplein_messages_total", channel="hl7v2", outcome="rejected") == rejected_before + 1
    )
    assert sample(text, "spoedplein_ack_latency_seconds_count", channel="hl7v2") == 2
    assert any(line.startswith("spoedplein_findings{") for line in text.splitlines())
    assert sample(text, "spoedplein_processing_lag_seconds") == 0.0
    for value in PATIENT_DATA:
        assert value not in text, value
    # Every process logged JSON lines naming its part, and no line names the patient.
    logged = (gateway.logs / "run.log").read_text(encoding="utf-8", errors="replace")
    records = [json.loads(line) for line in logged.splitlines() if line.startswith("{")]
    assert {"run", "http", "mllp", "worker", "beat"} <= {r.get("part") for r in records}
    assert all("timestamp" in r and "level" in r for r in records)
    for value in PATIENT_DATA:
        assert value not in logged, value
    # Labels are words and codes, never free text.
    for labels in re.findall(r"\{([^}]*)\}", text):
        assert all(re.fullmatch(r'[a-z_]+="[A-Za-z0-9_.+\-:/ ]*"', pair) for pair in labels.split(",")), (
            labels
        )
