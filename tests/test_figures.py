"""The pilot figures against hand-computed values on seeded data, the anonymised CSV, and the chart.

The seed is small enough to count on paper (the numbers in each assertion are worked out in its
comment). Served by the real app over HTTP; runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.orm import Session

from adapters.fhir.models import CdsCard, CdsFeedback
from core.runtime import Runtime
from gateway.pages import auth
from identity.models import Role
from presentations.models import PresentationRecord
from store.crypto import FieldCipher
from store.db import Database
from tests.fhir_helpers import GatewayServer
from tests.identity_helpers import session_cookie
from tests.workflow_fixtures import runtime_for
from workflows.models import (
    Case,
    CaseEvent,
    CaseFinding,
    DischargeCheckRecord,
    Intake,
    IntakeParty,
    KindcheckRecord,
    SilentFlag,
)

DAY = datetime(2026, 11, 10, tzinfo=UTC)  # a Tuesday; every case below arrives on it
OCTOBER = datetime(2026, 10, 12, 9, 0, tzinfo=UTC)
# What the seeded presentations "hold": none of it may reach the CSV.
NAMES = ("Jansen", "Noor", "Bakker")
BSN = "123456782"
BIRTH_DATES = ("2025-03-14", "14-03-2025", "20250314")


def at(hour: int, minute: int = 0, base: datetime = DAY) -> datetime:
    return base.replace(hour=hour, minute=minute)


class Seeder:
    def __init__(self, session: Session, cipher: FieldCipher) -> None:
        self.session = session
        self.cipher = cipher
        self.presentations: dict[str, int] = {}

    def visit(self, encounter: str, arrival: datetime) -> int:
        # The encrypted blob stands in for a presentation with a name, BSN and birth date.
        secret = f"{NAMES[0]} {NAMES[1]} {BSN} {BIRTH_DATES[0]}".encode()
        record = PresentationRecord(
            channel="hl7v2",
            event="admit",
            patient_ref=f"p-{encounter}",
            encounter_ref=encounter,
            arrival_at=arrival,
            created_at=arrival + timedelta(minutes=1),
            data=self.cipher.encrypt(secret, b"presentation:data"),
        )
        self.session.add(record)
        self.session.flush()
        self.presentations[encounter] = record.id
        return record.id

    def case(self, encounter: str, opened: datetime, rules: list[str], state: str) -> Case:
        case = Case(
            reference=f"SP-{encounter.upper():0>8}"[:11],
            state=state,
            encounter_ref=encounter,
            patient_ref=f"p-{encounter}",
            highest_severity="warning",
            opened_at=opened,
        )
        self.session.add(case)
        self.session.flush()
        for rule in rules:
            self.session.add(
                CaseFinding(
                    case_id=case.id,
                    presentation_id=self.presentations[encounter],
                    rule_id=rule,
                    family=rule.split("-")[1],
                    severity="warning",
                    fingerprint=f"{encounter}-{rule}",
                    data=b"x",
                )
            )
        return case

    def transition(self, case: Case, action: str, when: datetime) -> None:
        self.session.add(
            CaseEvent(case_id=case.id, at=when, actor="arts:test", kind="transition", action=action)
        )

    def party(self, case: Case, party: str, requested: datetime, acked: datetime | None, status: str) -> None:
        self.session.add(
            IntakeParty(
                case_id=case.id,
                party=party,
                required_because="test",
                status=status,
                requested_at=requested,
                acknowledged_at=acked,
            )
        )


def seed(db: Database, cipher: FieldCipher) -> None:
    with db.write() as session:
        s = Seeder(session, cipher)
        for n, hour in enumerate((1, 2, 3, 4, 5, 6), start=1):  # six visits without a case
            s.visit(f"plain{n}", at(hour))
        s.visit("e1", at(10))
        s.visit("e2", at(9))
        s.visit("e3", at(8))
        s.visit("e4", at(7))
        s.visit("e5", at(6))
        s.visit("e7", at(5))
        s.visit("e6", OCTOBER)  # outside the period

        # C1: flag 5, confirm 20, all acks 60 (forensic 10:50, police 11:00), intake 120; closed, checked.
        c1 = s.case("e1", at(10, 5), ["R-BR-TEN4"], "closed")
        s.transition(c1, "confirm", at(10, 20))
        s.party(c1, "forensic", at(10, 25), at(10, 50), "acknowledged")
        s.party(c1, "police", at(10, 25), at(11), "acknowledged")
        session.add(Intake(case_id=c1.id, route="standard", requested_at=at(10, 25), done_at=at(12)))
        session.add(DischargeCheckRecord(case_id=c1.id, completed=True, updated_by="arts:test", answers=b"x"))
        # C2: flag 10, confirm 40; Veilig Thuis has not acknowledged: no "all acknowledged".
        c2 = s.case("e2", at(9, 10), ["R-BR-TEN4", "R-FX"], "intake_requested")
        s.transition(c2, "confirm", at(9, 40))
        s.party(c2, "forensic", at(9, 45), at(10), "acknowledged")
        s.party(c2, "veilig_thuis", at(9, 45), None, "requested")
        # C3: flag 15, dismissed.
        c3 = s.case("e3", at(8, 15), ["R-FX"], "dismissed")
        s.transition(c3, "dismiss", at(8, 30))
        # C4: flag 20, never decided on the case, its only card overridden: dismissed by the card.
        c4 = s.case("e4", at(7, 20), ["R-CONS"], "flagged")
        # C5: flag 30, confirm 60; police stood down, forensic acknowledged 07:30 → all acks 90; closed
        # without a completed check; Kindcheck prompted and answered.
        c5 = s.case("e5", at(6, 30), ["R-PAR", "R-STR"], "closed")
        s.transition(c5, "confirm", at(7))
        s.party(c5, "forensic", at(7, 5), at(7, 30), "acknowledged")
        s.party(c5, "police", at(7, 5), None, "cancelled")
        session.add(
            DischargeCheckRecord(case_id=c5.id, completed=False, updated_by="arts:test", answers=b"x")
        )
        session.add(KindcheckRecord(case_id=c5.id, cares_for_minors="yes", asked_by="arts:t", children=b"x"))
        # C7: flag 1; Kindcheck prompted, not answered; its card accepted (so not dismissed).
        c7 = s.case("e7", at(5, 1), ["R-PAR"], "flagged")
        # C6: October, outside the period.
        s.case("e6", OCTOBER + timedelta(minutes=3), ["R-FX"], "flagged")
        session.flush()
        session.add_all(
            [
                CdsCard(uuid="card-c4", service_id="s", case_id=c4.id, rule_ids=["R-CONS"]),
                CdsCard(uuid="card-c7", service_id="s", case_id=c7.id, rule_ids=["R-PAR"]),
            ]
        )
        session.flush()
        session.add_all(
            [
                CdsFeedback(card_uuid="card-c4", outcome="overridden", outcome_at=at(7, 25)),
                CdsFeedback(card_uuid="card-c7", outcome="accepted", outcome_at=at(5, 5)),
            ]
        )
        # Silent mode: two encounters in the period (three rows), one in October.
        for encounter, rule, when in (
            ("s1", "R-BR-TEN4", at(3)),
            ("s1", "R-SI", at(3)),
            ("s2", "R-FX", at(4)),
            ("s3", "R-FX", OCTOBER),
        ):
            session.add(
                SilentFlag(
                    encounter_ref=encounter,
                    rule_id=rule,
                    family="x",
                    severity="warning",
                    fingerprint=rule,
                    source="hl7v2",
                    recorded_at=when,
                )
            )


@pytest.fixture
def runtime(db: Database, database_url: str, tmp_path: Path) -> Runtime:
    runtime = runtime_for(db, database_url, tmp_path)
    seed(db, runtime.cipher)
    return runtime


@pytest.fixture
def server(runtime: Runtime) -> Iterator[GatewayServer]:
    with GatewayServer(runtime) as gateway:
        yield gateway


def api(server: GatewayServer, path: str, **params: str) -> httpx.Response:
    return httpx.get(
        f"{server.url}{path}",
        params=params,
        headers={"Authorization": f"Bearer {server.runtime.api_token}"},
        timeout=30,
    )


NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


def by_key(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["key"]: item for item in items}


def definitions(answer: Any, path: str = "") -> dict[str, str]:
    """Every title and definition in the answer, by where it is (a figure by its key)."""
    found: dict[str, str] = {}
    if isinstance(answer, dict):
        here = f"{path}.{answer['key']}" if "key" in answer else path
        for name, value in answer.items():
            if name in ("title", "definition") and isinstance(value, str):
                found[f"{here}.{name}"] = value
            else:
                found |= definitions(value, f"{here}.{name}")
    elif isinstance(answer, list):
        for item in answer:
            found |= definitions(item, path)
    return found


def without_words(answer: Any) -> Any:
    """The answer with every title and definition blanked: the numbers and their structure."""
    if isinstance(answer, dict):
        return {k: "" if k in ("title", "definition") else without_words(v) for k, v in answer.items()}
    if isinstance(answer, list):
        return [without_words(item) for item in answer]
    return answer


def test_figures_json_speaks_dutch_when_asked_every_definition_translated_and_the_numbers_the_same(
    server: GatewayServer,
) -> None:
    english = api(server, "/api/figures", **NOVEMBER).json()
    dutch = api(server, "/api/figures", **NOVEMBER, lang="nl").json()
    by_header = httpx.get(
        f"{server.url}/api/figures",
        params=NOVEMBER,
        headers={"Authorization": f"Bearer {server.runtime.api_token}", "Accept-Language": "nl-NL,nl;q=0.9"},
        timeout=30,
    ).json()

    assert by_header == dutch
    en, nl = definitions(english), definitions(dutch)
    assert en.keys() == nl.keys() and len(en) >= 15
    untranslated = [where for where in en if en[where] == nl[where]]
    assert untranslated == []
    assert "veilig naar huis" in nl[".shares.safe_discharge_checked.definition"]
    assert without_words(dutch) == without_words(english)
    assert api(server, "/api/figures", lang="fr").status_code == 422


def test_figures_json_matches_the_hand_computed_values(server: GatewayServer) -> None:
    response = api(server, "/api/figures", **NOVEMBER)
    assert response.status_code == 200, response.text
    figures = response.json()
    # 6 plain visits + e1, e2, e3, e4, e5, e7 = 12 (e6 is in October)
    assert figures["ed_visits"]["value"] == 12
    assert figures["cases"]["value"] == 6
    durations = by_key(figures["durations"])
    # flag minutes 1, 5, 10, 15, 20, 30 → median (10 + 15) / 2, p90 rank ⌈5.4⌉ = 6 → 30
    assert durations["arrival_to_flag"] | {"definition": ""} == {
        "key": "arrival_to_flag",
        "title": "Arrival to flag",
        "definition": "",
        "count": 6,
        "median_minutes": 12.5,
        "p90_minutes": 30,
    }
    # confirmation 20, 40, 60 → 40 and rank ⌈2.7⌉ = 3 → 60
    assert (
        durations["arrival_to_confirmation"]["median_minutes"],
        durations["arrival_to_confirmation"]["p90_minutes"],
    ) == (40, 60)
    # all acknowledged: C1 60 and C5 90 (the stood-down police party does not count) → 75 and 90
    assert durations["arrival_to_all_acknowledged"]["count"] == 2
    assert (
        durations["arrival_to_all_acknowledged"]["median_minutes"],
        durations["arrival_to_all_acknowledged"]["p90_minutes"],
    ) == (75, 90)
    assert (durations["arrival_to_intake"]["count"], durations["arrival_to_intake"]["median_minutes"]) == (
        1,
        120,
    )
    for item in figures["durations"]:
        assert "Median and nearest-rank p90" in item["definition"]

    shares = by_key(figures["shares"])
    assert (
        shares["safe_discharge_checked"]["numerator"],
        shares["safe_discharge_checked"]["denominator"],
    ) == (1, 2)
    assert shares["safe_discharge_checked"]["value"] == 0.5
    assert shares["flags_per_1000_visits"]["value"] == 500.0  # 6 / 12 × 1000
    # decided: C1, C2, C5 confirmed; C3 dismissed; C4 dismissed by its card → 2 / 5
    assert shares["dismiss_rate"]["value"] == 0.4
    assert shares["kindcheck_answered"]["value"] == 0.5  # C5 of C5 and C7

    rules = {r["rule_id"]: r for r in figures["rules"]["items"]}
    assert rules["R-BR-TEN4"] | {} == {
        "rule_id": "R-BR-TEN4",
        "flagged": 2,
        "confirmed": 2,
        "dismissed": 0,
        "dismissed_by_card": 0,
        "undecided": 0,
        "dismiss_rate": 0.0,
        "ppv": 1.0,
    }
    assert (rules["R-FX"]["confirmed"], rules["R-FX"]["dismissed"], rules["R-FX"]["ppv"]) == (1, 1, 0.5)
    assert (rules["R-CONS"]["dismissed_by_card"], rules["R-CONS"]["ppv"]) == (1, 0.0)
    assert (rules["R-PAR"]["flagged"], rules["R-PAR"]["undecided"], rules["R-PAR"]["ppv"]) == (2, 1, 1.0)

    silent = figures["silent"]
    assert (silent["flags"], silent["encounters"]) == (3, 2)
    assert silent["by_rule"] == {"R-BR-TEN4": 1, "R-FX": 1, "R-SI": 1}
    assert silent["per_1000_visits"]["value"] == pytest.approx(166.6667)  # 2 / 12 × 1000
    assert "SPOEDPLEIN_SILENT_MODE" in silent["definition"]


def test_the_period_filters_and_a_bad_period_is_refused_naming_the_parameter(server: GatewayServer) -> None:
    october = api(server, "/api/figures", **{"from": "2026-10-01", "to": "2026-10-31"}).json()
    assert (october["cases"]["value"], october["ed_visits"]["value"], october["silent"]["flags"]) == (1, 1, 1)
    everything = api(server, "/api/figures").json()
    assert everything["cases"]["value"] == 7
    bad = api(server, "/api/figures", **{"from": "10-11-2026"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["query", "from"]
    backwards = api(server, "/api/figures", **{"from": "2026-11-10", "to": "2026-11-01"})
    assert backwards.status_code == 422 and backwards.json()["detail"][0]["loc"] == ["query", "to"]
    assert httpx.get(f"{server.url}/api/figures", timeout=10).status_code == 401


def test_the_csv_holds_no_patient_data_and_coarse_dates_only(server: GatewayServer, runtime: Runtime) -> None:
    response = api(server, "/api/figures.csv", **NOVEMBER)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    text = response.text
    for secret in (*NAMES, BSN, *BIRTH_DATES, "p-e1", "e1,", "SP-"):
        assert secret not in text, secret
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["row"] for r in rows] == [str(n) for n in range(1, 10)]  # 6 cases + 3 silent flags
    assert {r["week"] for r in rows} == {"2026-W46"} and {r["month"] for r in rows} == {"2026-11"}
    assert all(set(r) == set(rows[0]) for r in rows)
    assert not re.search(r"\d{4}-\d{2}-\d{2}|\d{2}-\d{2}-\d{4}|\d:\d\d", text)  # no day, no time
    first_case = next(r for r in rows if r["kind"] == "case" and r["minutes_arrival_to_intake"])
    assert (
        first_case["minutes_arrival_to_flag"] == "5"
        and first_case["safe_discharge_check_completed"] == "true"
    )


def test_the_figures_page_draws_the_charts_with_the_data(server: GatewayServer, runtime: Runtime) -> None:
    cookie = session_cookie(runtime, "coordinator1", Role.COORDINATOR, "Coördinator Test")
    with httpx.Client(base_url=server.url, cookies={auth.COOKIE_NAME: cookie}, timeout=30) as client:
        page = client.get("/figures", params=NOVEMBER)
        assert page.status_code == 200
        html = page.text
        assert 'id="chart-durations"' in html and '<title id="chart-durations-t">' in html
        # the p90 of arrival → flag is 30 minutes: the longest bar of the chart, written beside it
        assert 'data-value="30"' in html and "30 min" in html
        assert 'data-rule="R-CONS"' in html
        assert client.get("/figures", params={"from": "gisteren"}).status_code == 422
    assert httpx.get(f"{server.url}/figures", timeout=10, follow_redirects=False).status_code == 303
