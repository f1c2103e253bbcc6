"""No patient data in any log line: `spoedplein run` (http, mllp, worker, beat) at DEBUG takes an HL7
message with a known test patient through MLLP, the EHR's CDS hook for that patient, and the case
workflow over the API; then `audit verify` and `audit export` run. Everything the processes logged is
scanned for the patient's names and BSN. On the way: the beat anchors the chain head, the chain
verifies, and the export holds this patient's reads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx

from adapters.hl7.ack import parse_ack
from adapters.hl7.client import MLLPClient
from tests import cds_helpers as cds
from tests.gateway_process import API_TOKEN, ROOT, GatewayProcesses

BSN = "111222333"
GIVEN, FAMILY = "Femke-Jolien", "Quaedvlieg"
VISIT = "V-SCAN-1"
A04 = (
    "MSH|^~\\&|HIX|ETZ|SPOEDPLEIN|ETZ|20261123100000+0100||ADT^A04^ADT_A01|SCAN-1|P|2.5\r"
    "EVN|A04|20261123100000+0100\r"
    f"PID|1||{BSN}^^^NLMINBIZA^NNNLD~7001^^^ETZ^PI||{FAMILY}^{GIVEN}||20230720|F\r"
    f"PV1|1|E|SEH^K1^1^ETZ||||||||||||||||{VISIT}^^^ETZ^VN|||||||||||||||||||||||||20261123095500+0100\r"
    "PV2|||^Blauwe plek achter het linker oor, ouders weten niet hoe\r"
)
PATIENT_DATA = (BSN, GIVEN, FAMILY, GIVEN.split("-")[0], "Jolien")


def prefetch() -> dict[str, object]:
    return cds.patient_view_prefetch(
        bsn=BSN, visit=VISIT, family=FAMILY, given=GIVEN, birth_date="2023-07-20", gender="female"
    )


def test_a_patient_through_mllp_cds_and_the_workflow_leaves_no_name_or_bsn_in_any_log(tmp_path: Path) -> None:
    key = cds.SigningKey("ehr-key-1")
    jwks = key.write_jwks(tmp_path / "jwks.json")
    gateway = GatewayProcesses(
        tmp_path / "gw",
        env={
            "SPOEDPLEIN_CDS_TRUSTED_ISSUERS": json.dumps({cds.ISSUER: str(jwks)}),
            "SPOEDPLEIN_AUDIT_ANCHOR_INTERVAL_S": "1",
        },
    )
    api = httpx.Client(
        base_url=gateway.http_url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30
    )
    try:
        gateway.run()
        with MLLPClient("127.0.0.1", gateway.mllp_port) as client:
            assert parse_ack(client.send(A04.encode())).code == "AA"
        gateway.wait_for(lambda: gateway.api("/api/cases"), what="the case opened")
        (case,) = gateway.api("/api/cases")

        url = f"{gateway.http_url}/cds-services/spoedplein-signals-patient-view"
        reply = httpx.post(
            url,
            json=cds.hook_request("patient-view", prefetch()),
            headers={"Authorization": f"Bearer {key.token(url)}"},
            timeout=30,
        )
        assert reply.status_code == 200 and reply.json()["cards"], reply.text

        version = api.get(f"/api/cases/{case['id']}").json()["version"]
        confirmed = api.post(
            f"/api/cases/{case['id']}/confirm",
            json={"expected_version": version, "melder": {"name": "Dr. S. Scan"}, "reason": "striemen"},
        )
        assert confirmed.status_code == 200, confirmed.text
        assert api.get(f"/api/cases/{case['id']}/timeline").status_code == 200
        assert api.get("/api/presentations").status_code == 200

        anchors = gateway.data_dir / "audit-anchors.jsonl"
        gateway.wait_for(
            lambda: anchors.exists() and anchors.read_text().strip(), what="an anchor from the beat"
        )

        verify = subprocess.run(
            [sys.executable, "-m", "gateway", "audit", "verify"],
            env=gateway.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert verify.returncode == 0, verify.stdout + verify.stderr
        export = subprocess.run(
            [sys.executable, "-m", "gateway", "audit", "export", "--patient", BSN, "--format", "json"],
            env=gateway.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert export.returncode == 0, export.stderr
        rows = json.loads(export.stdout)
        reads = {(r["action"], r["resource_type"]) for r in rows}
        assert {("read", "Case"), ("update", "Case/confirm"), ("read", "Case/timeline")} <= reads
        assert ("read", "Presentation/list") in reads and ("export", "AuditLog") in reads
        cds_cards = [r for r in rows if r["resource_type"] == "Case/cds-card"]
        assert (
            cds_cards and cds_cards[0]["actor"] == "ehr:Practitioner/dr-1" and cds_cards[0]["source"] == "cds"
        )
        assert cds_cards[0]["actor_org"] == cds.ISSUER
        (gateway.logs / "cli.log").write_text(verify.stderr + export.stderr)
    finally:
        api.close()
        gateway.stop_all()

    logged = {path.name: path.read_text(errors="replace") for path in gateway.logs.iterdir()}
    everything = "\n".join(logged.values())
    # The scan has something to scan: many lines, DEBUG ones among them (JSON lines since logs are
    # structured; the plain form where a library writes its own).
    assert everything.count("\n") > 20
    assert '"level": "debug"' in everything or " DEBUG " in everything
    assert "audit anchor seq=" in everything  # the beat's anchor is in the log too
    found = [
        (name, number, value)
        for name, text in logged.items()
        for number, line in enumerate(text.splitlines(), 1)
        for value in PATIENT_DATA
        if value.lower() in line.lower()
    ]
    assert found == [], found
