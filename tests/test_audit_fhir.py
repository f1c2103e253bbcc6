"""The audit log as FHIR AuditEvents (IHE BALP shape) at `GET /fhir/AuditEvent?patient=`: the patient's
entries with who, role, organisation, where and why; nothing of another patient; the search is itself
audited; a caller without the admin (or integration) role is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from adapters.fhir import views as fhir_views
from core.deps import Caller
from store import audit
from tests.fhir_helpers import API_TOKEN, CLIENT_TIMEOUT_S, GatewayServer, make_runtime

BSN = "999911120"
OTHER_BSN = "999912345"


@pytest.fixture
def gateway(database_url: str, tmp_path: Path) -> Iterator[GatewayServer]:
    runtime = make_runtime(database_url, tmp_path)
    with GatewayServer(runtime) as server:
        yield server
    runtime.close()


def test_a_patients_audit_events_are_balp_shaped_and_the_search_is_audited(gateway: GatewayServer) -> None:
    runtime = gateway.runtime
    mine, other = runtime.pseudonyms.ref("bsn", BSN), runtime.pseudonyms.ref("bsn", OTHER_BSN)
    with runtime.db.write() as session:
        audit.record(
            session,
            actor="u-17",
            actor_name="Dr. A. Visser",
            actor_role="physician",
            actor_org="ETZ Spoedeisende Hulp",
            action=audit.AuditAction.BREAK_GLASS,
            resource_type="Case",
            resource_id=4,
            case_id=4,
            patient_ref=mine,
            client="10.1.2.3",
            source="page",
            reason="patiënt aanspreekbaar, acute zorg",
        )
        audit.record(
            session,
            actor="u-9",
            action=audit.AuditAction.READ,
            resource_type="Case",
            resource_id=5,
            patient_ref=other,
        )

    answer = httpx.get(
        f"{gateway.url}/fhir/AuditEvent",
        params={"patient": BSN},
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        timeout=CLIENT_TIMEOUT_S,
    )
    assert answer.status_code == 200, answer.text
    events = [e["resource"] for e in answer.json()["entry"]]
    assert len(events) == 1 and other not in answer.text and BSN not in answer.text
    (event,) = events
    assert (
        event["type"]["code"] == "rest" and event["subtype"][0]["code"] == "read" and event["action"] == "R"
    )
    assert event["outcome"] == "0"
    user = event["agent"][0]
    assert user["who"]["identifier"]["value"] == "u-17" and user["who"]["display"] == "Dr. A. Visser"
    assert user["who"]["identifier"]["assigner"]["display"] == "ETZ Spoedeisende Hulp"
    assert user["role"] == [{"text": "physician"}] and user["network"]["address"] == "10.1.2.3"
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "BTG"
    assert event["purposeOfEvent"][0]["text"] == "patiënt aanspreekbaar, acute zorg"
    patient = next(e for e in event["entity"] if e.get("role", {}).get("code") == "1")
    assert patient["what"]["identifier"]["value"] == mine

    with runtime.db.read() as session:
        newest = session.execute(
            select(audit.AuditEntry).order_by(audit.AuditEntry.seq.desc()).limit(1)
        ).scalar_one()
        assert audit.verify(session).intact
    assert (newest.resource_type, newest.action, newest.patient_ref) == ("AuditEvent", "read", mine)
    assert newest.source == "fhir" and newest.actor.startswith("user:") and newest.actor_role == "admin"


def test_a_caller_without_the_admin_role_reads_no_audit_events() -> None:
    physician = Caller(actor="u-1", client="127.0.0.1", role="physician")
    with pytest.raises(fhir_views.FhirError) as refused:
        fhir_views.require_audit_reader(physician)
    assert refused.value.status == 403
    fhir_views.require_audit_reader(Caller(actor="u-2", client="127.0.0.1", role="admin"))
