"""End to end with the real gateway processes (serve, worker, beat) and a recording EHR FHIR server:
a FHIR feed opens a case, the CDS hooks see it, write-back reaches the EHR, discharge is guarded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import cds_helpers as cds
from tests.fhir_helpers import EhrFhirServer
from tests.gateway_process import API_TOKEN, GatewayProcesses


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[GatewayProcesses, EhrFhirServer, cds.SigningKey]]:
    key = cds.SigningKey("ehr-e2e")
    with EhrFhirServer() as ehr:
        processes = GatewayProcesses(
            tmp_path / "gw",
            env={
                "SPOEDPLEIN_EHR_FHIR_URL": ehr.url,
                "SPOEDPLEIN_CDS_TRUSTED_ISSUERS": json.dumps(
                    {cds.ISSUER: str(key.write_jwks(tmp_path / "jwks"))}
                ),
            },
        )
        processes.start("serve")
        processes.start("worker")
        processes.start("beat")
        try:
            yield processes, ehr, key
        finally:
            processes.stop_all()


def hook(
    gateway: GatewayProcesses, key: cds.SigningKey, service: str, body: dict[str, Any]
) -> httpx.Response:
    url = f"{gateway.http_url}/cds-services/{service}"
    return httpx.post(url, json=body, headers={"Authorization": f"Bearer {key.token(url)}"}, timeout=30)


def test_cds_opened_case_is_written_back_and_discharge_without_check_is_flagged(
    world: tuple[GatewayProcesses, EhrFhirServer, cds.SigningKey],
) -> None:
    gateway, ehr, key = world

    start = hook(
        gateway,
        key,
        "spoedplein-signals-encounter-start",
        cds.hook_request("encounter-start", cds.prefetch()),
    )
    assert start.status_code == 200, start.text
    [card] = start.json()["cards"]
    [case] = gateway.api("/api/cases")
    assert card["links"][0]["url"].endswith(f"/cases/{case['id']}")

    gateway.wait_for(
        lambda: any(r.method == "PUT" and "/Flag/" in r.path for r in ehr.requests), what="Flag written back"
    )
    flag = next(r for r in ehr.requests if r.method == "PUT" and "/Flag/" in r.path).json()
    assert flag["subject"]["identifier"]["value"] == "999911120"

    discharge_data = {k: v for k, v in cds.prefetch().items() if k in ("patient", "encounter")}
    discharge = hook(
        gateway, key, "spoedplein-safe-discharge", cds.hook_request("encounter-discharge", discharge_data)
    )
    assert discharge.status_code == 200
    assert [c["indicator"] for c in discharge.json()["cards"]] == ["critical"]


def test_fhir_feed_opens_a_case_that_the_patient_view_hook_finds_without_writing(
    world: tuple[GatewayProcesses, EhrFhirServer, cds.SigningKey],
) -> None:
    gateway, _ehr, key = world
    resources = [cds.patient_resource(), cds.encounter_resource(), *cds.conditions(1)]
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources
        ],
    }
    posted = httpx.post(
        f"{gateway.http_url}/fhir", json=bundle, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30
    )
    assert posted.status_code == 200
    gateway.wait_for(lambda: len(gateway.api("/api/cases")) == 1, what="case from the FHIR feed")
    presentations_before = len(gateway.api("/api/presentations"))

    view = hook(
        gateway, key, "spoedplein-signals-patient-view", cds.hook_request("patient-view", cds.prefetch())
    )

    assert view.status_code == 200, view.text
    [case] = gateway.api("/api/cases")
    assert view.json()["cards"][0]["links"][0]["url"].endswith(f"/cases/{case['id']}")
    assert len(gateway.api("/api/presentations")) == presentations_before
