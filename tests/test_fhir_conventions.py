"""FHIR REST conventions over real HTTP: the CapabilityStatement without a token, OperationOutcome for
unknown paths and methods, content negotiation (`Accept`, `_format`), absolute `Location` and `fullUrl`,
and codes outside required value sets refused with the element's path and nothing stored."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from sqlalchemy import func, select

from store.inbox import InboxMessage
from tests.conftest import new_sqlite_database
from tests.fhir_helpers import GatewayServer, auth, make_runtime

PUBLIC = "https://spoedplein.ziekenhuis.example"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    directory = tmp_path_factory.mktemp("fhir-conventions")
    runtime = make_runtime(new_sqlite_database(directory), directory)
    with GatewayServer(runtime) as server:
        yield server
    runtime.close()


def stored(server: GatewayServer) -> int:
    with server.runtime.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(InboxMessage)) or 0)


def patient(pid: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.2.4.6.3", "value": "999911120"}],
        **extra,
    }


def test_the_capability_statement_is_served_without_a_token_and_is_valid_r4(gateway: GatewayServer) -> None:
    reply = httpx.get(f"{gateway.url}/fhir/metadata")

    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("application/fhir+json")
    CapabilityStatement.model_validate(reply.json())  # a valid R4 resource
    statement = reply.json()
    assert statement["fhirVersion"] == "4.0.1" and statement["kind"] == "instance"
    assert statement["implementation"]["url"] == f"{gateway.url}/fhir"
    served = {r["type"]: {i["code"] for i in r["interaction"]} for r in statement["rest"][0]["resource"]}
    assert served["Patient"] == {"create", "update"}
    assert served["Flag"] == {"read", "search-type"} and "AuditEvent" in served


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/fhir/Patient/1/_history/2/more", 404, "not-found"),
        ("PUT", "/fhir/a/b/c/d", 404, "not-found"),
        ("DELETE", "/fhir/Flag/sp-flag-1", 405, "not-supported"),
        ("PATCH", "/fhir/Patient/pat-1", 405, "not-supported"),
        ("GET", "/fhir", 405, "not-supported"),
    ],
)
def test_unknown_fhir_paths_and_methods_answer_an_operation_outcome(
    gateway: GatewayServer, method: str, path: str, status: int, code: str
) -> None:
    reply = httpx.request(method, f"{gateway.url}{path}", headers=auth())

    assert reply.status_code == status
    assert reply.headers["content-type"].startswith("application/fhir+json")
    body = reply.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == code
    if status == 405:
        assert reply.headers["allow"]


def test_paths_outside_fhir_keep_their_own_error_shape(gateway: GatewayServer) -> None:
    reply = httpx.get(f"{gateway.url}/api/no-such-thing", headers=auth())
    assert reply.status_code == 404 and reply.json() == {"detail": "Not Found"}


@pytest.mark.parametrize(
    ("accept", "query", "media_type"),
    [
        ("application/fhir+json", "", "application/fhir+json"),
        ("application/fhir+json; fhirVersion=4.0", "", "application/fhir+json"),
        ("application/json", "", "application/json"),
        ("text/html,application/xhtml+xml,*/*;q=0.8", "", "application/fhir+json"),
        ("application/fhir+xml", "?_format=json", "application/fhir+json"),
        ("application/fhir+json", "?_format=application/json", "application/json"),
    ],
)
def test_json_is_answered_in_the_media_type_the_client_asked_for(
    gateway: GatewayServer, accept: str, query: str, media_type: str
) -> None:
    reply = httpx.get(f"{gateway.url}/fhir/metadata{query}", headers={"Accept": accept})
    assert reply.status_code == 200
    assert reply.headers["content-type"].split(";")[0] == media_type
    assert reply.json()["resourceType"] == "CapabilityStatement"


@pytest.mark.parametrize(
    ("accept", "query"),
    [("application/fhir+xml", ""), ("application/fhir+json", "?_format=xml"), ("text/turtle", "")],
)
def test_a_client_that_accepts_no_json_gets_406_and_nothing_is_stored(
    gateway: GatewayServer, accept: str, query: str
) -> None:
    before = stored(gateway)
    reply = httpx.post(
        f"{gateway.url}/fhir/Patient{query}",
        json=patient("pat-406"),
        headers={**auth(), "Accept": accept, "Content-Type": "application/fhir+json"},
    )

    assert reply.status_code == 406
    assert reply.json()["issue"][0]["code"] == "not-supported"
    assert stored(gateway) == before


def test_a_created_resource_has_an_absolute_location(gateway: GatewayServer) -> None:
    reply = httpx.post(f"{gateway.url}/fhir/Patient", json=patient("pat-loc"), headers=auth())

    assert reply.status_code == 201
    assert reply.headers["location"].startswith(f"{gateway.url}/fhir/Patient/pat-loc/_history/")
    assert httpx.URL(reply.headers["location"]).is_absolute_url


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (patient("pat-x", gender="x"), "Patient.gender"),
        (patient("pat-y", name=[{"family": "Jansen", "use": "CURRENT"}]), "Patient.name[0].use"),
        (
            {
                "resourceType": "Bundle",
                "type": "batch",
                "entry": [
                    {
                        "request": {"method": "POST", "url": "Observation"},
                        "resource": {
                            "resourceType": "Observation",
                            "status": "done",
                            "code": {"text": "x"},
                        },
                    }
                ],
            },
            "Bundle.entry[0].resource.status",
        ),
    ],
)
def test_a_code_outside_its_required_value_set_is_refused_naming_the_path(
    gateway: GatewayServer, body: dict[str, Any], path: str
) -> None:
    before = stored(gateway)
    url = f"{gateway.url}/fhir" + ("" if body["resourceType"] == "Bundle" else "/Patient")
    reply = httpx.post(url, json=body, headers=auth())

    assert reply.status_code == 400
    issue = reply.json()["issue"][0]
    assert issue["code"] == "value" and issue["expression"] == [path]
    assert stored(gateway) == before


def test_valid_codes_pass(gateway: GatewayServer) -> None:
    reply = httpx.post(
        f"{gateway.url}/fhir/Patient",
        json=patient("pat-ok", gender="female", name=[{"family": "Jansen", "use": "official"}]),
        headers=auth(),
    )
    assert reply.status_code == 201, reply.text


def test_the_public_base_url_makes_location_and_full_url(tmp_path: Path) -> None:
    runtime = make_runtime(new_sqlite_database(tmp_path), tmp_path, public_base_url=PUBLIC + "/")
    try:
        with GatewayServer(runtime) as server:
            created = httpx.post(f"{server.url}/fhir/Patient", json=patient("pat-pub"), headers=auth())
            search = httpx.get(f"{server.url}/fhir/Flag", params={"patient": "999911120"}, headers=auth())
            metadata = httpx.get(f"{server.url}/fhir/metadata").json()
    finally:
        runtime.close()

    assert created.headers["location"].startswith(f"{PUBLIC}/fhir/Patient/pat-pub/_history/")
    assert search.status_code == 200 and search.json()["type"] == "searchset"
    assert metadata["implementation"]["url"] == f"{PUBLIC}/fhir"
