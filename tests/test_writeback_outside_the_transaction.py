"""No network call inside a write transaction: while the EHR takes 5 s to answer a write-back PUT, the
HL7 feed is stored and acknowledged as fast as ever. Real processes (serve, worker, beat) on the
embedded default, where a write transaction holds the one write lock of the SQLite database."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.hl7.ack import parse_ack
from adapters.hl7.client import MLLPClient
from tests.fhir_helpers import EhrFhirServer
from tests.gateway_process import GatewayProcesses

A04 = (
    "MSH|^~\\&|HIX|ETZ|SPOEDPLEIN|ETZ|20261123100000+0100||ADT^A04^ADT_A01|{cid}|P|2.5\r"
    "PID|1||{cid}^^^ETZ^PI||Testpersoon^Kind||20260801|F\r"
    "PV1|1|E|SEH^K1^1^ETZ||||||||||||||||V{cid}|||||||||||||||||||||||||20261123095500+0100\r"
    "PV2|||^{complaint}\r"
)
EHR_DELAY_S = 5.0


@pytest.fixture
def slow_ehr() -> Iterator[EhrFhirServer]:
    with EhrFhirServer(put_delay_s=EHR_DELAY_S) as ehr:
        yield ehr


@pytest.fixture
def gateway(tmp_path: Path, slow_ehr: EhrFhirServer) -> Iterator[GatewayProcesses]:
    processes = GatewayProcesses(tmp_path / "gw", env={"SPOEDPLEIN_EHR_FHIR_URL": slow_ehr.url})
    processes.start("serve")
    processes.start("worker")
    processes.start("beat")
    yield processes
    processes.stop_all()


def ack_latencies(client: MLLPClient, prefix: str, count: int) -> list[tuple[float, float]]:
    """(latency, time the ACK arrived) of each of `count` messages sent one after another."""
    out = []
    for n in range(count):
        sent = time.monotonic()
        ack = parse_ack(client.send(A04.format(cid=f"{prefix}{n}", complaint="enkel verzwikt").encode()))
        arrived = time.monotonic()
        assert ack.code == "AA"
        out.append((arrived - sent, arrived))
    return out


def test_acks_keep_coming_while_a_write_back_put_is_waiting_for_the_ehr(
    gateway: GatewayProcesses, slow_ehr: EhrFhirServer
) -> None:
    with MLLPClient("127.0.0.1", gateway.mllp_port) as client:
        before = ack_latencies(client, "QUIET-", 20)  # the same run, no write-back pending
        flagged = A04.format(cid="FLAG-1", complaint="blauwe plek achter het oor, geen verklaring")
        assert parse_ack(client.send(flagged.encode())).code == "AA"
        # The case opens, its write-back is queued, and the worker's first PUT reaches the slow EHR.
        gateway.wait_for(lambda: any(r.method == "PUT" for r in slow_ehr.requests), what="a write-back PUT")
        assert slow_ehr.puts_answered == []  # the EHR is still thinking (5 s)
        during = ack_latencies(client, "BUSY-", 20)
    first_answer_at = None
    deadline = time.monotonic() + 60
    while first_answer_at is None and time.monotonic() < deadline:
        first_answer_at = slow_ehr.puts_answered[0] if slow_ehr.puts_answered else None
        time.sleep(0.05)
    assert first_answer_at is not None, "the write-back never finished"
    # Every ACK came back while the PUT was still waiting for the EHR: nothing held the write lock.
    assert max(arrived for _, arrived in during) < first_answer_at
    # A sanity bound, not a timing test: far below the EHR's 5 s, in line with the quiet run.
    assert max(latency for latency, _ in during) < max(1.0, 10 * max(latency for latency, _ in before))
