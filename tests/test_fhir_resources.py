"""Resources out, over real HTTP: every resource the gateway emits (Flag, DetectedIssue, Task, Consent,
Communication, AuditEvent, Provenance, searchset and transaction-response Bundles, OperationOutcomes,
CDS suggestions) validates with fhir.resources.R4B and holds no null or empty element; reads are audited."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from adapters.fhir.cds.analysis import to_presentation
from adapters.fhir.cds.cards import signals_card
from adapters.fhir.cds.catalog import SERVICES
from adapters.fhir.emitted import EmittedType
from adapters.fhir.validate import validate_resource
from consent.models import ConsentRecord
from detection.engine import detect
from notifications.models import Page
from presentations import service as presentations
from store.audit import AuditEntry
from tests import cds_helpers as cds
from tests.fhir_helpers import GatewayServer, auth, make_runtime
from workflows.cases import record_findings
from workflows.discharge import record_discharge_check
from workflows.models import Case, Intake
from workflows.schemas import DischargeChecklist

BSN = "999911120"


@pytest.fixture
def gateway(database_url: str, tmp_path: Path) -> Iterator[GatewayServer]:
    runtime = make_runtime(database_url, tmp_path)
    with GatewayServer(runtime) as server:
        yield server
    runtime.close()


def open_case_with_everything(server: GatewayServer) -> Case:
    """A case with findings, a consent and a refusal, an intake, a discharge check and two pages."""
    runtime = server.runtime
    presentation = to_presentation(
        cds.prefetch(), SERVICES["spoedplein-signals-encounter-start"], "Europe/Amsterdam"
    )
    now = datetime.now(UTC)
    with runtime.db.write() as session:
        record = presentations.save(
            session,
            cipher=runtime.cipher,
            pseudonyms=runtime.pseudonyms,
            presentation=presentation,
            inbox_message_id=None,
        )
        case = record_findings(
            session, cipher=runtime.cipher, presentation=record, findings=detect(presentation)
        )
        assert case is not None
        for party, decision in (("police", "deny"), ("veilig_thuis", "permit"), ("forensic", "not_asked")):
            session.add(
                ConsentRecord(
                    case_id=case.id,
                    party=party,
                    decision=decision,
                    given_by="patient",
                    decided_at=now,
                    recorded_by="dr",
                )
            )
        session.add(
            Intake(case_id=case.id, route="one_stop_shop", requested_at=now, agreed_at=now, agreed_by="dr")
        )
        for index, (party, state) in enumerate((("forensic", "acknowledged"), ("police", "suppressed"))):
            session.add(
                Page(
                    key=f"page-{index}",
                    purpose="intake",
                    case_id=case.id,
                    case_reference=case.reference,
                    party=party,
                    role=party,
                    state=state,
                    policy={},
                    info={},
                    created_at=now,
                )
            )
        record_discharge_check(session, runtime.cipher, case, DischargeChecklist(), actor="dr")
        return case


def empties(value: Any, path: str = "") -> list[str]:
    """Paths of every null, empty string, empty list or empty object in a JSON value."""
    if value is None or value == "" or value == [] or value == {}:
        return [path or "<root>"]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in empties(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in empties(v, f"{path}[{i}]")]
    return []


def assert_valid_and_full(resource: dict[str, Any]) -> None:
    assert empties(resource) == [], resource.get("resourceType")
    validate_resource(resource)


def test_every_emitted_resource_type_validates_and_has_no_empty_element(gateway: GatewayServer) -> None:
    case = open_case_with_everything(gateway)
    seen: dict[str, int] = {}

    for kind in EmittedType:
        reply = httpx.get(f"{gateway.url}/fhir/{kind.value}", params={"patient": BSN}, headers=auth())
        assert reply.status_code == 200, (kind, reply.text)
        bundle = reply.json()
        assert_valid_and_full(bundle) if bundle["total"] else validate_resource(bundle)
        for entry in bundle.get("entry", []):
            resource = entry["resource"]
            assert_valid_and_full(resource)
            seen[resource["resourceType"]] = seen.get(resource["resourceType"], 0) + 1
            one = httpx.get(f"{gateway.url}/fhir/{kind.value}/{resource['id']}", headers=auth())
            assert one.status_code == 200
            assert one.json() == resource

    assert seen["Flag"] == 1 and seen["Provenance"] == 1
    assert seen["DetectedIssue"] == len(case.findings) >= 1
    assert seen["Task"] == 3  # review, joint intake, safe-discharge check
    assert seen["Consent"] == 3 and seen["Communication"] == 2
    assert seen["AuditEvent"] >= 1  # the reads above were themselves logged


def test_flag_references_the_patient_by_bsn_and_its_text_is_neutral(gateway: GatewayServer) -> None:
    case = open_case_with_everything(gateway)

    flag = httpx.get(f"{gateway.url}/fhir/Flag/sp-flag-{case.id}", headers=auth()).json()

    assert flag["subject"] == {"identifier": {"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": BSN}}
    assert flag["status"] == "active"
    assert "mishandel" not in flag["code"]["text"].lower()


def test_reads_and_searches_are_audited(gateway: GatewayServer) -> None:
    case = open_case_with_everything(gateway)

    httpx.get(f"{gateway.url}/fhir/DetectedIssue", params={"patient": BSN}, headers=auth())
    httpx.get(f"{gateway.url}/fhir/Flag/sp-flag-{case.id}", headers=auth())

    with gateway.runtime.db.read() as session:
        logged = [
            (e.resource_type, e.resource_id, e.patient_ref)
            for e in session.execute(select(AuditEntry)).scalars()
        ]
    assert ("DetectedIssue", "search", case.patient_ref) in logged
    assert ("Flag", f"sp-flag-{case.id}", case.patient_ref) in logged


def test_unknown_type_id_and_missing_patient_are_operation_outcomes(gateway: GatewayServer) -> None:
    answers = [
        httpx.get(f"{gateway.url}/fhir/Patient/abc", headers=auth()),
        httpx.get(f"{gateway.url}/fhir/Flag/sp-flag-999999", headers=auth()),
        httpx.get(f"{gateway.url}/fhir/Flag/not-ours", headers=auth()),
        httpx.get(f"{gateway.url}/fhir/Flag", headers=auth()),
        httpx.get(f"{gateway.url}/fhir/Flag", params={"patient": "Patient/123"}, headers=auth()),
        httpx.get(f"{gateway.url}/fhir/Flag", params={"patient": BSN}),
    ]

    assert [a.status_code for a in answers] == [404, 404, 404, 400, 400, 401]
    for answer in answers:
        assert_valid_and_full(answer.json())


def test_ingest_answers_and_cds_suggestions_are_valid_and_full(gateway: GatewayServer) -> None:
    case = open_case_with_everything(gateway)
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": cds.patient_resource(),
                "request": {"method": "PUT", "url": f"Patient/{cds.PATIENT_ID}"},
            }
        ],
    }
    answers = [
        httpx.post(f"{gateway.url}/fhir", json=bundle, headers=auth()).json(),
        httpx.post(f"{gateway.url}/fhir/Encounter", json=cds.encounter_resource(), headers=auth()).json(),
        httpx.post(
            f"{gateway.url}/fhir/Encounter", json={"resourceType": "Encounter"}, headers=auth()
        ).json(),
    ]
    with gateway.runtime.db.read() as session:
        stored = session.get(Case, case.id)
        assert stored is not None
        from adapters.fhir.cds.cards import CaseRef
        from detection.models import Severity

        card = signals_card(
            service_id="s",
            case=CaseRef(stored.id, stored.reference, Severity(stored.highest_severity), stored.opened_at),
            rule_ids=["R-X"],
            patient_id=cds.PATIENT_ID,
            case_url="http://127.0.0.1/cases/1",
        )
    suggestions = [a["resource"] for s in card["suggestions"] for a in s["actions"]]

    for resource in [*answers, *suggestions]:
        assert_valid_and_full(resource)
