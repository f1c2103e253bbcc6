"""The workflow API over real HTTP: a whole case by requests, errors that name the field, audited reads."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from core.runtime import Runtime
from store.audit import AuditEntry, verify_chain
from store.crypto import FieldCipher, Pseudonymizer
from store.db import Database
from tests.fhir_helpers import GatewayServer
from tests.workflow_fixtures import (
    NOW,
    drain_outbox,
    finding,
    flagged_case,
    months_ago,
    presentation,
    runtime_for,
    years_ago,
)

# The shared token acts as the bootstrap administrator, a real user row (id 1, created by the migration).
BOOTSTRAP_ACTOR = "user:1 (Beheerder (gedeeld API-token))"


@pytest.fixture
def runtime(db: Database, database_url: str, tmp_path: Path) -> Runtime:
    return runtime_for(db, database_url, tmp_path)


@pytest.fixture
def api(runtime: Runtime) -> Iterator[httpx.Client]:
    with (
        GatewayServer(runtime) as server,
        httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {runtime.api_token}"}, timeout=30
        ) as client,
    ):
        yield client


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def loc_of(response: httpx.Response) -> list[list[Any]]:
    return [item["loc"] for item in response.json()["detail"]]


def test_a_whole_case_through_the_api_from_flag_to_closed(
    api: httpx.Client, runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-API", birth_date=years_ago(33)),
        [finding("R-STR-1", "R-STR", "gewurgd door partner")],
    )
    state = ok(api.get(f"/api/cases/{case_id}/workflow"))
    assert state["state"] == "flagged" and set(state["allowed_actions"]) == {"confirm", "dismiss"}
    state = ok(
        api.post(
            f"/api/cases/{case_id}/confirm",
            json={
                "expected_version": state["version"],
                "melder": {"name": "Dr. B. Smit"},
                "reason": "petechiën en striemen",
            },
        )
    )
    assert state["state"] == "confirmed"
    for party in ("forensic", "police"):
        ok(
            api.post(
                f"/api/cases/{case_id}/consents",
                json={
                    "party": party,
                    "decision": "permit",
                    "given_by": ["patient"],
                },
            ),
            201,
        )
    ok(
        api.put(
            f"/api/cases/{case_id}/kindcheck",
            json={
                "cares_for_minors": "yes",
                "children": [{"name": "Daan", "school": "De Regenboog"}],
            },
        )
    )
    ok(api.put(f"/api/cases/{case_id}/meldcode/5", json={"summary": "acuut onveilig", "decision": "melden"}))
    ok(
        api.post(
            f"/api/cases/{case_id}/legal-bases",
            json={
                "party": "veilig_thuis",
                "basis": "meldrecht",
                "justification": "acute onveiligheid, kinderen thuis",
            },
        ),
        201,
    )
    version = ok(api.get(f"/api/cases/{case_id}/workflow"))["version"]
    intake = ok(api.post(f"/api/cases/{case_id}/intake", json={"expected_version": version}))
    assert {p["party"] for p in intake["parties"]} == {"forensic", "police", "veilig_thuis"}
    times = {"forensic": 20, "police": 50, "veilig_thuis": 35}
    for party, minutes in times.items():
        intake = ok(
            api.post(
                f"/api/cases/{case_id}/intake/acknowledgements/{party}",
                json={
                    "earliest_available_at": (NOW + timedelta(minutes=minutes)).isoformat(),
                    "acknowledged_by": f"{party} dienst",
                },
            )
        )
    proposed = intake["proposed_at"]
    assert proposed is not None and intake["agreed_at"] is None
    version = ok(api.get(f"/api/cases/{case_id}/workflow"))["version"]
    intake = ok(
        api.post(
            f"/api/cases/{case_id}/intake/agreed-time",
            json={
                "expected_version": version,
                "agreed_at": proposed,
            },
        )
    )
    assert intake["agreed_at"] == proposed
    version = ok(api.get(f"/api/cases/{case_id}/workflow"))["version"]
    ok(
        api.post(
            f"/api/cases/{case_id}/transitions",
            # The agreed time lies ahead (the slowest party could come in 50 minutes): early needs a reason.
            json={"expected_version": version, "action": "complete_intake", "reason": "iedereen was er al"},
        )
    )
    check = ok(
        api.put(
            f"/api/cases/{case_id}/discharge-check",
            json={
                "safe_home_question_asked": True,
                "safe_home_answer": "no",
                "destination": "vrouwenopvang",
                "safety_plan_agreed": True,
                "huisverbod_considered": True,
                "children_safety_arranged": True,
                "follow_up_appointment": "Veilig Thuis belt morgen",
                "hand_over_to": ["veilig_thuis", "huisarts"],
            },
        )
    )
    assert check["completed"] is True
    for action in ("complete_discharge_check", "close"):
        version = ok(api.get(f"/api/cases/{case_id}/workflow"))["version"]
        state = ok(
            api.post(
                f"/api/cases/{case_id}/transitions", json={"expected_version": version, "action": action}
            )
        )
    assert state["state"] == "closed" and state["pending_timers"] == []

    timeline = ok(api.get(f"/api/cases/{case_id}/timeline"))
    moves = [(e["from_state"], e["to_state"]) for e in timeline if e["kind"] == "transition"]
    assert moves[0] == ("flagged", "confirmed") and moves[-1] == ("safe_discharge", "closed")
    confirm = next(e for e in timeline if e["action"] == "confirm")
    assert confirm["actor"] == BOOTSTRAP_ACTOR and confirm["detail"]["reason"] == "petechiën en striemen"
    drain_outbox(runtime)
    with runtime.db.read() as session:
        reads = (
            session.execute(select(AuditEntry.resource_type).where(AuditEntry.action == "read"))
            .scalars()
            .all()
        )
        assert "Case/timeline" in reads
        assert verify_chain(session) is None


def test_validation_errors_name_the_field(
    api: httpx.Client, runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-VAL", birth_date=years_ago(14)),
        [finding("R-BR-T", "R-BR", "blauwe plek rug")],
    )
    missing_melder = api.post(f"/api/cases/{case_id}/confirm", json={"expected_version": 1})
    assert missing_melder.status_code == 422 and ["body", "melder"] in loc_of(missing_melder)

    wrong_state = api.post(
        f"/api/cases/{case_id}/transitions", json={"expected_version": 1, "action": "close"}
    )
    assert wrong_state.status_code == 409 and loc_of(wrong_state) == [["body", "action"]]

    ok(api.post(f"/api/cases/{case_id}/confirm", json={"expected_version": 1, "melder": {"name": "Dr. C"}}))
    stale = api.post(f"/api/cases/{case_id}/dismiss", json={"expected_version": 1, "reason_code": "other"})
    assert stale.status_code == 409 and loc_of(stale) == [["body", "expected_version"]]

    # 14 years old: a permit needs the child AND the parents (WGBO 12–15).
    only_child = api.post(
        f"/api/cases/{case_id}/consents",
        json={
            "party": "forensic",
            "decision": "permit",
            "given_by": ["patient"],
        },
    )
    assert only_child.status_code == 422 and loc_of(only_child) == [["body", "given_by"]]
    assert "parent_or_guardian" in only_child.json()["detail"][0]["msg"]

    no_children = api.put(f"/api/cases/{case_id}/kindcheck", json={"cares_for_minors": "yes"})
    assert no_children.status_code == 422 and "children" in no_children.text

    meldrecht_for_police = api.post(
        f"/api/cases/{case_id}/legal-bases",
        json={
            "party": "police",
            "basis": "meldrecht",
            "justification": "x",
        },
    )
    assert meldrecht_for_police.status_code == 422 and loc_of(meldrecht_for_police) == [["body", "basis"]]

    bad_step = api.put(f"/api/cases/{case_id}/meldcode/6", json={"summary": "x"})
    assert bad_step.status_code == 422 and ["path", "step"] in loc_of(bad_step)

    assert api.get("/api/cases/999999/workflow").status_code == 404
    assert httpx.get(f"{api.base_url}/api/cases/{case_id}/workflow").status_code == 401
    with runtime.db.read() as session:
        from consent.models import ConsentRecord

        assert session.execute(select(ConsentRecord)).first() is None  # refused requests changed nothing


def test_refused_police_see_nothing_in_the_shared_view(
    api: httpx.Client, runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-SV", birth_date=years_ago(45)),
        [finding("R-STR-1", "R-STR", "gewurgd")],
    )
    ok(api.post(f"/api/cases/{case_id}/confirm", json={"expected_version": 1, "melder": {"name": "Dr. D"}}))
    ok(
        api.post(
            f"/api/cases/{case_id}/consents",
            json={"party": "police", "decision": "deny", "given_by": ["patient"]},
        ),
        201,
    )
    given_at = (NOW - timedelta(minutes=10)).isoformat()
    overview = ok(
        api.post(
            f"/api/cases/{case_id}/consents",
            json={
                "party": "forensic",
                "decision": "permit",
                "given_by": ["patient"],
                "decided_at": given_at,
                "note": "mondeling, in bijzijn van verpleegkundige",
            },
        ),
        201,
    )
    forensic_consent = overview["consents"][-1]
    assert forensic_consent["decided_at"].replace("Z", "+00:00")[:19] == given_at[:19]
    assert forensic_consent["recorded_by"] == BOOTSTRAP_ACTOR
    assert forensic_consent["note"].startswith("mondeling")
    assert [c["party"] for c in overview["consents"]] == ["police", "forensic"] and overview[
        "legal_bases"
    ] == []
    police = ok(api.get(f"/api/cases/{case_id}/shared-view/police"))
    assert (
        police["case_reference"] is None and police["patient_identity"] is None and police["findings"] is None
    )
    assert set(police["withheld"]) == {"case_reference", "intake_time", "patient_identity", "findings"}
    forensic = ok(api.get(f"/api/cases/{case_id}/shared-view/forensic"))
    assert forensic["case_reference"] and forensic["patient_identity"]["name"]["family"] == "de Vries"
    decision = ok(
        api.get(f"/api/cases/{case_id}/disclosure", params={"party": "police", "field": "findings"})
    )
    assert decision == {
        "party": "police",
        "field": "findings",
        "allowed": False,
        "ground": None,
        "reason": "consent refused for patient",
    }


def test_melding_is_prefilled_edited_approved_and_rendered_as_json_and_pdf(
    api: httpx.Client, runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer, tmp_path: Path
) -> None:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-MEL", birth_date=months_ago(4), given="Sem", family="Çelik"),
        [finding("R-BR-E", "R-BR", "blauwe plek oor")],
    )
    ok(
        api.post(
            f"/api/cases/{case_id}/confirm", json={"expected_version": 1, "melder": {"name": "Dr. É. Jansen"}}
        )
    )
    too_soon = api.post(f"/api/cases/{case_id}/melding")
    assert too_soon.status_code == 409 and loc_of(too_soon) == [["body", "meldcode"]]
    ok(
        api.put(
            f"/api/cases/{case_id}/meldcode/3",
            json={
                "summary": "gesprek met moeder",
                "discussed_with_family": True,
                "family_reaction": "moeder schrok, wil hulp",
                "support_network": "oma woont in Tilburg",
            },
        )
    )
    ok(
        api.put(
            f"/api/cases/{case_id}/meldcode/4",
            json={"summary": "gewogen", "assessment": "vermoeden van toegebracht letsel"},
        )
    )
    ok(api.put(f"/api/cases/{case_id}/meldcode/5", json={"summary": "afwegingskader", "decision": "melden"}))
    doc = ok(api.post(f"/api/cases/{case_id}/melding"), 201)
    content = doc["content"]
    assert content["melder"]["name"] == "Dr. É. Jansen" and content["patient"]["name"] == "Sem Çelik"
    assert content["support_network"] == "oma woont in Tilburg" and content["discussed_with_family"] is True
    assert any("blauwe plek oor" in f for f in content["facts"])
    assert content["interpretation"].startswith("vermoeden van toegebracht letsel")
    assert [s["done"] for s in content["steps_taken"]] == [False, False, True, True, True]

    edited = ok(
        api.patch(
            f"/api/cases/{case_id}/melding",
            json={
                "revision": 1,
                "facts": [*content["facts"], "Blauwe plek 2 cm achter het linkeroor"],
                "open_melden": {
                    "exception_claimed": True,
                    "ground": "safety_of_child_or_family",
                    "explanation": "vader dreigt",
                },
            },
        )
    )
    assert edited["melding"]["revision"] == 2
    no_ground = api.post(f"/api/cases/{case_id}/melding/approve", json={"revision": 2})
    assert no_ground.status_code == 409 and loc_of(no_ground) == [["body", "legal_basis"]]
    ok(
        api.post(
            f"/api/cases/{case_id}/legal-bases",
            json={
                "party": "veilig_thuis",
                "basis": "meldrecht",
                "justification": "zuigeling met letsel",
            },
        ),
        201,
    )
    stale = api.post(f"/api/cases/{case_id}/melding/approve", json={"revision": 1})
    assert stale.status_code == 422 and loc_of(stale) == [["body", "revision"]]
    approved = ok(api.post(f"/api/cases/{case_id}/melding/approve", json={"revision": 2}))
    assert approved["melding"]["status"] == "approved"
    assert approved["melding"]["approved_by"] == BOOTSTRAP_ACTOR
    after = api.patch(f"/api/cases/{case_id}/melding", json={"revision": 2, "other_information": "x"})
    assert after.status_code == 409

    pdf = api.get(f"/api/cases/{case_id}/melding.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    path = tmp_path / "melding.pdf"
    path.write_bytes(pdf.content)
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout
    assert "Melding aan Veilig Thuis" in text and "Sem Çelik" in text and "Dr. É. Jansen" in text
    assert text.index("Blauwe plek 2 cm achter het linkeroor") < text.index(
        "vermoeden van toegebracht letsel"
    )
    assert "Uitzondering op open melden: safety_of_child_or_family" in text

    ok(api.post(f"/api/cases/{case_id}/melding/delivery", json={"status": "sent"}))
    delivered = ok(
        api.post(
            f"/api/cases/{case_id}/melding/delivery", json={"status": "delivered", "reference": "VT-2026-123"}
        )
    )
    assert (
        delivered["melding"]["status"] == "delivered"
        and delivered["melding"]["delivery_reference"] == "VT-2026-123"
    )
    again = api.post(f"/api/cases/{case_id}/melding/delivery", json={"status": "sent"})
    assert again.status_code == 409 and loc_of(again) == [["body", "status"]]


def test_openapi_documents_the_workflow_endpoints(api: httpx.Client) -> None:
    paths = ok(api.get("/openapi.json"))["paths"]
    for path in (
        "/api/cases/{case_id}/confirm",
        "/api/cases/{case_id}/dismiss",
        "/api/cases/{case_id}/consents",
        "/api/cases/{case_id}/legal-bases",
        "/api/cases/{case_id}/intake",
        "/api/cases/{case_id}/discharge-check",
        "/api/cases/{case_id}/melding",
        "/api/cases/{case_id}/melding.pdf",
        "/api/cases/{case_id}/timeline",
    ):
        assert path in paths, path
