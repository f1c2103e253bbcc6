"""FHIR ingest over real HTTP: Bundles and single resources stored before the answer, idempotent resends,
OperationOutcomes that name the element path, normalised zones and BSN systems, the public corpus."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from detection.models import BSN_SYSTEM
from gateway import handlers as _registered_topics  # noqa: F401  (inbox.process for the worker test)
from gateway.outbox_runner import run_items
from store.inbox import Channel, InboxMessage, read_raw
from store.outbox import OutboxItem
from tests import cds_helpers as cds
from tests.fhir_helpers import GatewayServer, auth, make_runtime
from workflows.models import Case

CORPUS = Path(__file__).resolve().parent / "corpus" / "fhir" / "fhir-converter"
INVALID_ON_PURPOSE = {
    "ADT01-23-expected.json",
    "ADT01-28-expected.json",
    "ADT04-28-expected.json",
    # telecom.use "HOME", telecom.system "JP:1234567", name.use "CURRENT": outside required value sets
    "ADT04-23-expected.json",
    "LAB-ORU-1-expected.json",
    "LAB-ORU-2-expected.json",
}


@pytest.fixture
def gateway(database_url: str, tmp_path: Path) -> Iterator[GatewayServer]:
    runtime = make_runtime(database_url, tmp_path)
    with GatewayServer(runtime) as server:
        yield server
    runtime.close()


def patient(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": "pat-1",
        "meta": {"versionId": "3"},
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.2.4.6.3", "value": "999911120"}],
        "birthDate": "2023-05-01",
        **extra,
    }


def encounter(start: str = "2024-03-01T14:05") -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": "enc-1",
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"},
        "subject": {"reference": "Patient/pat-1"},
        "period": {"start": start},
    }


def transaction(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources
        ],
    }


def inbox_rows(server: GatewayServer) -> list[InboxMessage]:
    with server.runtime.db.read() as session:
        return list(session.execute(select(InboxMessage).order_by(InboxMessage.id)).scalars())


def stored_bundle(server: GatewayServer, row: InboxMessage) -> dict[str, Any]:
    return json.loads(read_raw(server.runtime.cipher, row))


def test_transaction_bundle_is_stored_with_its_outbox_row_and_answered_with_a_transaction_response(
    gateway: GatewayServer,
) -> None:
    reply = httpx.post(f"{gateway.url}/fhir", json=transaction(patient(), encounter()), headers=auth())

    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/fhir+json")
    body = reply.json()
    assert body["type"] == "transaction-response"
    assert body["entry"][0]["response"]["location"] == f"{gateway.url}/fhir/Patient/pat-1/_history/3"
    assert all(e["response"]["status"] == "201 Created" for e in body["entry"])
    rows = inbox_rows(gateway)
    assert len(rows) == 1 and rows[0].channel == Channel.FHIR
    with gateway.runtime.db.read() as session:
        assert session.scalar(select(func.count()).select_from(OutboxItem)) == 1


def test_resent_bundle_gets_the_same_answer_and_is_stored_once(gateway: GatewayServer) -> None:
    bundle = transaction(patient(), encounter())
    first = httpx.post(f"{gateway.url}/fhir", json=bundle, headers=auth())
    bundle["id"] = "another-envelope"  # same resources, new envelope: still the same submission
    again = httpx.post(f"{gateway.url}/fhir", json=bundle, headers=auth())

    assert first.status_code == 200 and again.status_code == 200
    assert again.json() == first.json()
    rows = inbox_rows(gateway)
    assert len(rows) == 1 and rows[0].resend_count == 1


def test_new_version_of_a_resource_is_a_new_submission(gateway: GatewayServer) -> None:
    httpx.post(f"{gateway.url}/fhir/Patient", json=patient(), headers=auth())
    reply = httpx.post(f"{gateway.url}/fhir/Patient", json=patient(meta={"versionId": "4"}), headers=auth())

    assert reply.status_code == 201
    assert reply.headers["location"] == f"{gateway.url}/fhir/Patient/pat-1/_history/4"
    assert len(inbox_rows(gateway)) == 2


def test_single_resource_is_created_then_a_resend_answers_200_with_the_same_outcome(
    gateway: GatewayServer,
) -> None:
    first = httpx.post(f"{gateway.url}/fhir/Encounter", json=encounter(), headers=auth())
    again = httpx.post(f"{gateway.url}/fhir/Encounter", json=encounter(), headers=auth())

    assert first.status_code == 201 and again.status_code == 200
    assert first.json() == again.json()
    assert first.json()["resourceType"] == "OperationOutcome"
    assert first.headers["location"] == again.headers["location"]
    assert first.headers["location"].startswith(f"{gateway.url}/fhir/Encounter/enc-1/_history/h")
    assert len(inbox_rows(gateway)) == 1


def test_local_time_and_oid_bsn_are_normalised_not_rejected(gateway: GatewayServer) -> None:
    reply = httpx.post(
        f"{gateway.url}/fhir", json=transaction(patient(), encounter("2024-03-01T14:05")), headers=auth()
    )

    assert reply.status_code == 200
    stored = stored_bundle(gateway, inbox_rows(gateway)[0])
    resources = {e["resource"]["resourceType"]: e["resource"] for e in stored["entry"]}
    assert resources["Encounter"]["period"]["start"] == "2024-03-01T14:05:00+01:00"  # CET in March
    assert resources["Patient"]["identifier"][0]["system"] == BSN_SYSTEM
    summer_start = encounter("2024-07-01T09:30:15")
    summer = httpx.post(f"{gateway.url}/fhir/Encounter", json=summer_start, headers=auth())
    assert summer.status_code == 201
    stored = stored_bundle(gateway, inbox_rows(gateway)[1])
    assert stored["entry"][0]["resource"]["period"]["start"] == "2024-07-01T09:30:15+02:00"


def test_invalid_element_gets_400_operation_outcome_naming_its_path_and_nothing_is_stored(
    gateway: GatewayServer,
) -> None:
    bad = patient(birthDate="2023-13-45")
    reply = httpx.post(f"{gateway.url}/fhir", json=transaction(bad, encounter()), headers=auth())

    assert reply.status_code == 400
    outcome = reply.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == ["Bundle.entry[0].resource.birthDate"]
    assert "2023-13-45" not in reply.text  # the value is not echoed
    assert inbox_rows(gateway) == []


@pytest.mark.parametrize(
    ("path", "body", "expression"),
    [
        ("/fhir/Patient", {"resourceType": "Patient", "colour": "blue"}, "Patient.colour"),
        ("/fhir/Patient", {"resourceType": "Encounter", "status": "planned"}, "resourceType"),
        ("/fhir/Encounter", {"resourceType": "Encounter", "class": {"code": "EMER"}}, "Encounter.status"),
        ("/fhir/Medication", {"resourceType": "Medication"}, "resourceType"),
        ("/fhir", {"resourceType": "Bundle", "type": "searchset", "entry": []}, "Bundle.type"),
        ("/fhir", {"resourceType": "Bundle", "type": "transaction"}, "Bundle.entry"),
        (
            "/fhir",
            {"resourceType": "Bundle", "type": "batch", "entry": [{"resource": patient()}]},
            "Bundle.entry[0].request",
        ),
        (
            "/fhir",
            {
                "resourceType": "Bundle",
                "type": "transaction",
                "entry": [{"resource": patient(), "request": {"method": "DELETE", "url": "Patient/pat-1"}}],
            },
            "Bundle.entry[0].request.method",
        ),
        (
            "/fhir",
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": {"resourceType": "Nope"}}],
            },
            "Bundle.entry[0].resource.resourceType",
        ),
        (
            "/fhir",
            {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": {}}]},
            "Bundle.entry[0].resource",
        ),
        (
            "/fhir/Patient",
            {"resourceType": "Patient", "contained": [{"resourceType": "Nope"}]},
            "Patient.contained[0].resourceType",
        ),
    ],
)
def test_each_kind_of_bad_request_names_where_it_is_wrong(
    gateway: GatewayServer, path: str, body: dict[str, Any], expression: str
) -> None:
    reply = httpx.post(f"{gateway.url}{path}", json=body, headers=auth())

    assert reply.status_code == 400, reply.text
    assert expression in reply.json()["issue"][0]["expression"]
    assert inbox_rows(gateway) == []


def test_body_that_is_not_json_gets_a_structure_issue(gateway: GatewayServer) -> None:
    reply = httpx.post(f"{gateway.url}/fhir", content=b"{not json", headers=auth())

    assert reply.status_code == 400
    assert reply.json()["issue"][0]["code"] == "structure"


def test_without_the_token_nothing_is_accepted(gateway: GatewayServer) -> None:
    reply = httpx.post(f"{gateway.url}/fhir/Patient", json=patient())

    assert reply.status_code == 401
    assert reply.json()["issue"][0]["code"] == "login"
    assert inbox_rows(gateway) == []


def test_corpus_valid_bundles_are_stored_and_invalid_ones_get_a_clear_outcome(gateway: GatewayServer) -> None:
    files = sorted(CORPUS.glob("*.json"))
    assert len(files) >= 18
    stored, refused = [], []
    for file in files:
        reply = httpx.post(
            f"{gateway.url}/fhir",
            content=file.read_bytes(),
            headers={**auth(), "Content-Type": "application/fhir+json"},
            timeout=60,
        )
        assert reply.status_code in (200, 400), (file.name, reply.status_code)
        if reply.status_code == 200:
            assert reply.json()["type"] == "batch-response"
            stored.append(file.name)
        else:
            issue = reply.json()["issue"][0]
            assert issue["expression"][0].startswith("Bundle.entry["), file.name
            assert issue["diagnostics"], file.name
            refused.append(file.name)

    assert set(refused) == INVALID_ON_PURPOSE
    assert len(inbox_rows(gateway)) == len(stored) == len(files) - len(INVALID_ON_PURPOSE)
    with gateway.runtime.db.read() as session:
        item_ids = list(session.scalars(select(OutboxItem.id)))
    run_items(gateway.runtime, item_ids)
    assert {row.status for row in inbox_rows(gateway)} == {"processed"}


def test_stored_bundle_is_processed_by_the_worker_into_a_case(gateway: GatewayServer) -> None:
    bundle = transaction(cds.patient_resource(), cds.encounter_resource(), *cds.conditions(1))
    assert httpx.post(f"{gateway.url}/fhir", json=bundle, headers=auth()).status_code == 200
    with gateway.runtime.db.read() as session:
        item_ids = list(session.scalars(select(OutboxItem.id)))

    run_items(gateway.runtime, item_ids)

    [row] = inbox_rows(gateway)
    assert row.status == "processed", row.status_reason
    with gateway.runtime.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 1


def test_put_of_a_resource_is_stored_once_and_its_id_must_match_the_url(gateway: GatewayServer) -> None:
    first = httpx.put(f"{gateway.url}/fhir/Encounter/enc-1", json=encounter(), headers=auth())
    again = httpx.put(f"{gateway.url}/fhir/Encounter/enc-1", json=encounter(), headers=auth())
    mismatch = httpx.put(f"{gateway.url}/fhir/Encounter/enc-2", json=encounter(), headers=auth())

    assert (first.status_code, again.status_code, mismatch.status_code) == (201, 200, 400)
    assert mismatch.json()["issue"][0]["expression"] == ["Encounter.id"]
    assert len(inbox_rows(gateway)) == 1
