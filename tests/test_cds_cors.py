"""CORS for CDS Hooks over real HTTP: only the configured origins, only under /cds-services."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fhir_helpers import GatewayServer, make_runtime

ALLOWED = "https://sandbox.cds-hooks.test"


@pytest.fixture
def gateway(database_url: str, tmp_path: Path) -> Iterator[GatewayServer]:
    runtime = make_runtime(database_url, tmp_path, cds_cors_origins=[ALLOWED])
    with GatewayServer(runtime) as server:
        yield server
    runtime.close()


def preflight(url: str, origin: str) -> httpx.Response:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    return httpx.options(url, headers=headers)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_configured_origin_may_call_the_cds_services_and_others_may_not(gateway: GatewayServer) -> None:
    allowed = preflight(f"{gateway.url}/cds-services/spoedplein-signals-patient-view", ALLOWED)
    stranger = preflight(f"{gateway.url}/cds-services/spoedplein-signals-patient-view", "https://evil.test")
    discovery = httpx.get(f"{gateway.url}/cds-services", headers={"Origin": ALLOWED})

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in stranger.headers
    assert discovery.headers["access-control-allow-origin"] == ALLOWED


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_other_paths_get_no_cors_headers(gateway: GatewayServer) -> None:
    reply = httpx.get(
        f"{gateway.url}/fhir/Flag", params={"patient": "999911120"}, headers={"Origin": ALLOWED}
    )

    assert "access-control-allow-origin" not in reply.headers
