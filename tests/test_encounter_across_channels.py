"""One encounter, one case, whichever channel it came by: an HL7 A04 opens the case, the EHR's
`patient-view` hook for the same patient and visit joins it (no second case), and the HL7 A03 that
follows raises the critical discharge event on that same case. Real processes: serve, worker, beat."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.hl7.ack import parse_ack
from adapters.hl7.client import MLLPClient
from tests import cds_helpers as cds
from tests.gateway_process import API_TOKEN, GatewayProcesses

BSN = "123456782"
VISIT = "V20260001"
A04 = (
    "MSH|^~\\&|HIX|ETZ|SPOEDPLEIN|ETZ|20261123100000+0100||ADT^A04^ADT_A01|X-1|P|2.5\r"
    "EVN|A04|20261123100000+0100\r"
    f"PID|1||{BSN}^^^NLMINBIZA^NNNLD~7001^^^ETZ^PI||Berg^Jurgen||20260720|M\r"
    f"PV1|1|E|SEH^K1^1^ETZ||||||||||||||||{VISIT}^^^ETZ^VN|||||||||||||||||||||||||20261123095500+0100\r"
    "PV2|||^Blauwe plek achter het linker oor, ouders weten niet hoe\r"
)
A03 = (
    A04.replace("ADT^A04^ADT_A01|X-1", "ADT^A03^ADT_A03|X-2")
    .replace("EVN|A04", "EVN|A03")
    .replace("|20261123095500+0100\r", "|20261123095500+0100|20261123130000+0100\r")
)


def prefetch() -> dict[str, Any]:
    """What the EHR sends with `patient-view`: the same child (BSN) and the same visit number, in FHIR."""
    return cds.patient_view_prefetch(
        bsn=BSN, visit=VISIT, family="Berg", given="Jurgen", birth_date="2026-07-20", gender="male"
    )


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[tuple[GatewayProcesses, cds.SigningKey]]:
    key = cds.SigningKey("ehr-key-1")
    jwks = key.write_jwks(tmp_path / "jwks.json")
    processes = GatewayProcesses(
        tmp_path / "gw", env={"SPOEDPLEIN_CDS_TRUSTED_ISSUERS": json.dumps({cds.ISSUER: str(jwks)})}
    )
    processes.start("serve")
    processes.start("worker")
    processes.start("beat")
    yield processes, key
    processes.stop_all()


def send(gateway: GatewayProcesses, message: str) -> None:
    with MLLPClient("127.0.0.1", gateway.mllp_port) as client:
        assert parse_ack(client.send(message.encode())).code == "AA"
    gateway.wait_for(
        lambda: not gateway.api("/api/messages", status="received"), what="the message processed"
    )


def test_hl7_a04_then_patient_view_then_a03_stay_on_one_case(
    gateway: tuple[GatewayProcesses, cds.SigningKey],
) -> None:
    processes, key = gateway
    send(processes, A04)
    (case,) = processes.api("/api/cases")

    url = f"{processes.http_url}/cds-services/spoedplein-signals-patient-view"
    reply = httpx.post(
        url,
        json=cds.hook_request("patient-view", prefetch()),
        headers={"Authorization": f"Bearer {key.token(url)}"},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    (card,) = reply.json()["cards"]
    assert card["links"][0]["url"].endswith(f"/cases/{case['id']}")
    assert [c["id"] for c in processes.api("/api/cases")] == [case["id"]]  # no second case

    send(processes, A03)
    assert [c["id"] for c in processes.api("/api/cases")] == [case["id"]]
    timeline = httpx.get(
        f"{processes.http_url}/api/cases/{case['id']}/timeline",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        timeout=10,
    ).json()
    discharge = [e for e in timeline if e["kind"] == "discharged_without_check"]
    assert len(discharge) == 1 and discharge[0]["severity"] == "critical"
