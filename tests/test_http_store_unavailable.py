"""A store that cannot be reached (PostgreSQL restarting, connections dropped) is a 503 with Retry-After
that says nothing changed — on the API, as a transient OperationOutcome on FHIR, as a page in the
person's language in a browser — not a 500. The PostgreSQL fault test (tests/test_faults.py) found the
500; this shows the answer on its own, fast. (MLLP's AR 207: tests/test_store_unavailable.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.runtime import Runtime
from tests.conftest import new_postgres_database
from tests.fhir_helpers import GatewayServer, auth, make_runtime
from tests.servers import PostgresServer


@pytest.fixture
def database(postgres_server: PostgresServer) -> str:
    return new_postgres_database(postgres_server)


@pytest.fixture
def gateway(database: str, tmp_path: Path) -> Iterator[GatewayServer]:
    runtime: Runtime = make_runtime(database, tmp_path)
    with GatewayServer(runtime) as server:
        yield server
    runtime.close()


def refuse_connections(server: PostgresServer, database: str, *, refuse: bool) -> None:
    """What a restart looks like to the gateway: its connections dropped, new ones refused."""
    name = database.rsplit("/", 1)[1]
    server.execute(f"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS {'false' if refuse else 'true'}")
    if refuse:
        server.execute(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")


def test_the_api_and_fhir_answer_503_retry_while_the_store_is_away_and_work_again_after(
    gateway: GatewayServer, postgres_server: PostgresServer, database: str
) -> None:
    cases = httpx.get(f"{gateway.url}/api/cases", headers=auth(), timeout=30)
    assert cases.status_code == 200, cases.text
    refuse_connections(postgres_server, database, refuse=True)
    try:
        api = httpx.get(f"{gateway.url}/api/cases", headers=auth(), timeout=30)
        assert api.status_code == 503, api.text
        assert api.headers["Retry-After"] == "5"
        assert api.json() == {"detail": "store unavailable; the request changed nothing, try again"}
        bsn = "http://fhir.nl/fhir/NamingSystem/bsn|999911120"
        fhir = httpx.get(f"{gateway.url}/fhir/Flag", params={"patient": bsn}, headers=auth(), timeout=30)
        assert fhir.status_code == 503, fhir.text
        assert fhir.headers["Retry-After"] == "5"
        (issue,) = fhir.json()["issue"]
        assert (issue["severity"], issue["code"]) == ("error", "transient")
        page = httpx.post(
            f"{gateway.url}/login",
            data={"username": "arts", "password": "geheim-wachtwoord"},
            headers={"Accept": "text/html"},
            timeout=30,
        )
        assert page.status_code == 503, page.text
        assert page.headers["content-type"].startswith("text/html")
        assert "De gegevens zijn even niet bereikbaar. Er is niets gewijzigd" in page.text
    finally:
        refuse_connections(postgres_server, database, refuse=False)
    again = httpx.get(f"{gateway.url}/api/cases", headers=auth(), timeout=30)
    assert again.status_code == 200, again.text
