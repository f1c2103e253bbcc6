"""No dead ends: from every situation a case can reach, a physician has a way forward over the API.

Each scenario puts a case in one reachable situation — including the ones where the parties let the
physician down (a party never answers, the only ground is withdrawn after the intake was requested,
consent is withdrawn after the intake was agreed) — and the physician then walks it to `closed` taking
only actions open to them, each one a 2xx that moves the case on. Together the scenarios cover every
state that is not final. Over real HTTP, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.runtime import Runtime
from store.crypto import FieldCipher, Pseudonymizer
from store.db import Database
from tests.fhir_helpers import GatewayServer
from tests.workflow_fixtures import finding, flagged_case, presentation, runtime_for, years_ago
from workflows.models import OPEN_STATES, CaseState

CHECKLIST = {
    "safe_home_question_asked": True,
    "safe_home_answer": "no",
    "destination": "family_or_friends",
    "safety_plan_agreed": True,
    "huisverbod_considered": True,
    "children_safety_arranged": True,
    "follow_up_appointment": "huisarts over 3 dagen",
    "hand_over_to": ["huisarts"],
}


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


class Case:
    """One case over the API, as the physician (and, to set the scene, the parties) act on it."""

    def __init__(self, api: httpx.Client, case_id: int) -> None:
        self.api, self.id = api, case_id

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.api.request(method, f"/api/cases/{self.id}{path}", json=body)

    def ok(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.call(method, path, body)
        assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
        return response.json()

    @property
    def workflow(self) -> dict[str, Any]:
        return self.ok("GET", "/workflow")

    @property
    def state(self) -> CaseState:
        return CaseState(self.workflow["state"])

    def versioned(self, path: str, **body: Any) -> Any:
        return self.ok("POST", path, {"expected_version": self.workflow["version"], **body})

    def transition(self, action: str, reason: str = "") -> Any:
        return self.versioned("/transitions", action=action, reason=reason)

    # -- setting the scene ------------------------------------------------------------------------
    def confirm(self, **facts: Any) -> None:
        self.versioned("/confirm", melder={"name": "Dr. A. Jansen"}, **facts)

    def consent(self, party: str, decision: str) -> None:
        self.ok("POST", "/consents", {"party": party, "decision": decision, "given_by": ["patient"]})

    def request_intake(self) -> None:
        self.versioned("/intake")

    def acknowledge(self, party: str, at: datetime) -> None:
        body = {"earliest_available_at": at.isoformat(), "acknowledged_by": f"{party} dienst"}
        self.ok("POST", f"/intake/acknowledgements/{party}", body)

    def agree(self, at: datetime) -> None:
        self.versioned("/intake/agreed-time", agreed_at=at.isoformat())


def way_forward(case: Case) -> str:
    """The physician's next step towards `closed` from wherever the case stands; returns what was done.

    Departures from the normal route carry a reason: cancelling an intake that cannot go ahead, and
    completing an intake before its agreed time.
    """
    state = case.state
    if state is CaseState.FLAGGED:
        case.confirm()
        return "confirm"
    if state in (CaseState.CONFIRMED, CaseState.INTAKE_DONE):
        case.ok("PUT", "/discharge-check", CHECKLIST)
        case.transition("complete_discharge_check")
        return "complete_discharge_check"
    if state is CaseState.INTAKE_REQUESTED:
        intake = case.ok("GET", "/intake")
        active = [p for p in intake["parties"] if p["status"] != "cancelled"]
        if active and all(p["status"] == "acknowledged" for p in active):
            case.agree(datetime.fromisoformat(intake["proposed_at"]))
            return "schedule_intake"
        case.transition("cancel_intake", reason="de intake kan niet doorgaan")
        return "cancel_intake"
    if state is CaseState.INTAKE_SCHEDULED:
        agreed_at = datetime.fromisoformat(case.ok("GET", "/intake")["agreed_at"])
        early = datetime.now(UTC) < agreed_at
        case.transition("complete_intake", reason="alle partijen waren er eerder" if early else "")
        return "complete_intake"
    if state is CaseState.SAFE_DISCHARGE:
        case.transition("close")
        return "close"
    raise AssertionError(f"no way forward from {state}")


SOON = timedelta(minutes=30)


def only_flagged(case: Case) -> None:
    pass


def confirmed_and_the_patient_declines_forensic(case: Case) -> None:
    case.confirm()
    case.consent("forensic", "deny")


def confirmed_without_any_ground_yet(case: Case) -> None:
    case.confirm()


def intake_requested_and_the_party_never_answers(case: Case) -> None:
    case.confirm()
    case.consent("forensic", "permit")
    case.request_intake()


def intake_requested_and_its_only_ground_is_revoked(case: Case) -> None:
    # The example from the trial: police on acute danger is the only party; the ground is revoked after
    # the intake was requested, which stands police down and leaves nobody asked.
    case.confirm(injuries=False, child_involved=False)
    overview = case.ok(
        "POST", "/legal-bases", {"party": "police", "basis": "acute_danger", "justification": "dreiging"}
    )
    case.request_intake()
    (basis,) = overview["legal_bases"]
    case.ok("POST", f"/legal-bases/{basis['id']}/revoke")


def intake_requested_and_every_party_acknowledged(case: Case) -> None:
    intake_requested_and_the_party_never_answers(case)
    case.acknowledge("forensic", datetime.now(UTC) + SOON)


def intake_scheduled_for_later(case: Case) -> None:
    intake_requested_and_every_party_acknowledged(case)
    case.agree(datetime.now(UTC) + SOON)


def intake_scheduled_and_consent_withdrawn_afterwards(case: Case) -> None:
    intake_scheduled_for_later(case)
    case.consent("forensic", "deny")


def confirmed_again_after_a_cancelled_intake(case: Case) -> None:
    intake_requested_and_the_party_never_answers(case)
    case.transition("cancel_intake", reason="forensisch arts niet bereikbaar")


def intake_done(case: Case) -> None:
    intake_scheduled_for_later(case)
    case.transition("complete_intake", reason="eerder klaar")


def safe_discharge(case: Case) -> None:
    intake_done(case)
    case.ok("PUT", "/discharge-check", CHECKLIST)
    case.transition("complete_discharge_check")


SCENARIOS: list[tuple[Callable[[Case], None], CaseState]] = [
    (only_flagged, CaseState.FLAGGED),
    (confirmed_and_the_patient_declines_forensic, CaseState.CONFIRMED),
    (confirmed_without_any_ground_yet, CaseState.CONFIRMED),
    (confirmed_again_after_a_cancelled_intake, CaseState.CONFIRMED),
    (intake_requested_and_the_party_never_answers, CaseState.INTAKE_REQUESTED),
    (intake_requested_and_its_only_ground_is_revoked, CaseState.INTAKE_REQUESTED),
    (intake_requested_and_every_party_acknowledged, CaseState.INTAKE_REQUESTED),
    (intake_scheduled_for_later, CaseState.INTAKE_SCHEDULED),
    (intake_scheduled_and_consent_withdrawn_afterwards, CaseState.INTAKE_SCHEDULED),
    (intake_done, CaseState.INTAKE_DONE),
    (safe_discharge, CaseState.SAFE_DISCHARGE),
]


def test_the_scenarios_cover_every_state_that_is_not_final() -> None:
    assert {state for _, state in SCENARIOS} == set(OPEN_STATES)


@pytest.mark.parametrize(("scene", "state"), SCENARIOS, ids=[scene.__name__ for scene, _ in SCENARIOS])
def test_from_every_reachable_situation_the_physician_can_walk_the_case_to_closed(
    api: httpx.Client,
    runtime: Runtime,
    cipher: FieldCipher,
    pseudonyms: Pseudonymizer,
    scene: Callable[[Case], None],
    state: CaseState,
) -> None:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit=f"V-{scene.__name__}", birth_date=years_ago(34)),
        [finding("R-STR-1", "R-STR", "gewurgd")],
    )
    case = Case(api, case_id)
    scene(case)
    assert case.state is state
    steps = []
    while case.state is not CaseState.CLOSED:
        before = case.state
        steps.append(way_forward(case))
        assert case.state is not before, f"{steps[-1]} did not move the case on from {before}"
        assert len(steps) <= 8, steps
    assert case.workflow["pending_timers"] == []


def test_the_trial_case_whose_only_ground_was_revoked_is_no_longer_stuck(
    api: httpx.Client, runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-TRIAL", birth_date=years_ago(41)),
        [finding("R-STR-1", "R-STR", "gewurgd")],
    )
    case = Case(api, case_id)
    intake_requested_and_its_only_ground_is_revoked(case)
    assert "cancel_intake" in case.workflow["allowed_actions"]
    without_reason = case.call(
        "POST", "/transitions", {"expected_version": case.workflow["version"], "action": "cancel_intake"}
    )
    assert without_reason.status_code == 422 and without_reason.json()["detail"][0]["loc"] == [
        "body",
        "reason",
    ]
    case.transition("cancel_intake", reason="politie afgemeld, geen andere partij nodig")
    assert case.state is CaseState.CONFIRMED
    timeline = case.ok("GET", "/timeline")
    cancel = next(e for e in timeline if e["action"] == "cancel_intake")
    assert cancel["detail"]["reason"] == "politie afgemeld, geen andere partij nodig"


def test_completing_the_intake_before_the_agreed_time_needs_a_reason_kept_on_the_timeline(
    api: httpx.Client, runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-EARLY", birth_date=years_ago(27)),
        [finding("R-STR-1", "R-STR", "gewurgd")],
    )
    case = Case(api, case_id)
    intake_scheduled_for_later(case)
    early = case.call(
        "POST", "/transitions", {"expected_version": case.workflow["version"], "action": "complete_intake"}
    )
    assert early.status_code == 422 and early.json()["detail"][0]["loc"] == ["body", "reason"]
    assert case.state is CaseState.INTAKE_SCHEDULED
    case.transition("complete_intake", reason="forensisch arts kon eerder, patiënt wilde naar huis")
    assert case.state is CaseState.INTAKE_DONE
    done = next(e for e in case.ok("GET", "/timeline") if e["action"] == "complete_intake")
    assert done["detail"]["reason"] == "forensisch arts kon eerder, patiënt wilde naar huis"
    assert "before_agreed_time" in done["detail"]
