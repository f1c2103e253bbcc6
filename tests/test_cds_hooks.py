"""CDS Hooks over real HTTP: discovery, each hook, prefetch fallback to the EHR's FHIR server, 412, the
JWT checks (bad signature, alg none, HMAC, untrusted iss, expiry, replayed jti, wrong aud), neutral
cards, feedback and the per-rule statistics."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import func, select, text

from adapters.fhir.cds.cards import MAX_SUMMARY
from adapters.fhir.models import CdsFeedback, CdsJwtId
from adapters.fhir.validate import validate_resource
from presentations.models import PresentationRecord
from store import audit, audit_batch
from store.audit import AuditEntry
from tests import cds_helpers as cds
from tests.fhir_helpers import EhrFhirServer, GatewayServer, auth, make_runtime
from workflows.discharge import record_discharge_check
from workflows.models import Case
from workflows.schemas import Destination, DischargeChecklist, HandOver, SafeHomeAnswer

SIGNALS_PV = "spoedplein-signals-patient-view"
SIGNALS_ES = "spoedplein-signals-encounter-start"
DISCHARGE = "spoedplein-safe-discharge"
URL_ISSUER = "https://other-ehr.test/cds-client"


@dataclass
class Setup:
    gateway: GatewayServer
    ehr: EhrFhirServer
    key: cds.SigningKey
    url_key: cds.SigningKey

    def call(
        self, service: str, body: dict[str, Any], *, token: str | None = None, path_suffix: str = ""
    ) -> httpx.Response:
        url = f"{self.gateway.url}/cds-services/{service}{path_suffix}"
        token = token if token is not None else self.key.token(url)
        return httpx.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    def aud(self, service: str) -> str:
        return f"{self.gateway.url}/cds-services/{service}"


@pytest.fixture
def setup(database_url: str, tmp_path: Path) -> Iterator[Setup]:
    key = cds.SigningKey("ehr-key-1")
    url_key = cds.SigningKey("other-key-1", algorithm="RS384")
    with EhrFhirServer() as ehr:
        ehr.resources["jwks"] = url_key.jwks()
        runtime = make_runtime(
            database_url,
            tmp_path,
            cds_trusted_issuers={
                cds.ISSUER: str(key.write_jwks(tmp_path / "ehr-jwks.json")),
                URL_ISSUER: f"{ehr.url}/jwks",
            },
            cds_fhir_servers=[ehr.url],  # plain http is accepted on loopback only
        )
        with GatewayServer(runtime) as gateway:
            yield Setup(gateway, ehr, key, url_key)
        runtime.close()


def count(setup: Setup, model: Any) -> int:
    with setup.gateway.runtime.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def assert_neutral(card: dict[str, Any]) -> None:
    """Nothing in the whole card tells a bystander at the screen the suspicion or who the patient is."""
    assert len(card["summary"]) <= MAX_SUMMARY
    text = json.dumps(card, ensure_ascii=False).lower()
    revealing = ("jansen", "noor", "999911120", "oor", "blauw", "mishandel", "abuse", "geweld", "ongeval")
    for word in (*revealing, "letsel", "r-br", "r-si", "kneuzing"):
        assert re.search(rf"\b{word}", text) is None, word


def test_discovery_lists_the_three_services_with_their_prefetch_templates(setup: Setup) -> None:
    reply = httpx.get(f"{setup.gateway.url}/cds-services")

    assert reply.status_code == 200
    services = {s["id"]: s for s in reply.json()["services"]}
    assert services[SIGNALS_PV]["hook"] == "patient-view"
    assert services[SIGNALS_ES]["hook"] == "encounter-start"
    assert services[DISCHARGE]["hook"] == "encounter-discharge"
    assert set(services[SIGNALS_PV]["prefetch"]) == {"patient", "encounter", "conditions", "observations"}
    assert services[SIGNALS_ES]["prefetch"]["patient"] == "Patient/{{context.patientId}}"


def test_patient_view_with_signals_answers_one_neutral_card_linked_to_the_new_case(setup: Setup) -> None:
    reply = setup.call(SIGNALS_PV, cds.hook_request("patient-view", cds.prefetch()))

    assert reply.status_code == 200, reply.text
    [card] = reply.json()["cards"]
    assert_neutral(card)
    assert card["indicator"] == "critical"
    assert card["source"]["label"]
    assert {r["code"] for r in card["overrideReasons"]} >= {"clinically-explained", "false-signal"}
    with setup.gateway.runtime.db.read() as session:
        case = session.execute(select(Case)).scalar_one()
    assert card["links"][0]["type"] == "absolute"
    assert card["links"][0]["url"].endswith(f"/cases/{case.id}")
    created = [a["resource"] for s in card["suggestions"] for a in s["actions"]]
    assert {r["resourceType"] for r in created} == {"Flag", "Task"}
    for resource in created:
        validate_resource(resource)
        assert resource.get("subject", resource.get("for")) == {"reference": f"Patient/{cds.PATIENT_ID}"}


def adult_prefetch(reason: str) -> dict[str, Any]:
    data = cds.prefetch(reason=reason, n_conditions=0)
    data["patient"]["birthDate"] = "1990-05-04"
    return data


def test_an_adult_brought_in_intoxicated_gets_the_kindcheck_info_card_and_no_case(setup: Setup) -> None:
    body = cds.hook_request("patient-view", adult_prefetch("alcoholintoxicatie, gevallen op straat"))

    reply = setup.call(SIGNALS_PV, body)

    assert reply.status_code == 200, reply.text
    (card,) = reply.json()["cards"]
    assert card["indicator"] == "info"
    assert "kinderen" in card["summary"] and "Zorgt u voor minderjarige kinderen" in card["detail"]
    assert_neutral(card)
    assert "intoxicatie" not in json.dumps(card).lower()
    assert card["links"][0]["url"].endswith("/kindcheck")  # the public base URL, then the guidance page
    assert count(setup, Case) == 0  # a prompt, not a flag
    page = httpx.get(f"{setup.gateway.url}/kindcheck")
    assert page.status_code == 200 and "0800-2000" in page.text


def test_the_kindcheck_card_links_to_the_encounters_open_case_when_there_is_one(setup: Setup) -> None:
    strangled = adult_prefetch("gewurgd, petechiën in het gezicht")
    flagged = setup.call(SIGNALS_PV, cds.hook_request("patient-view", strangled))
    (first,) = flagged.json()["cards"]
    assert first["indicator"] != "info"
    case_url = first["links"][0]["url"]
    data = adult_prefetch("onder invloed, dronken")  # the same patient and encounter, later

    reply = setup.call(SIGNALS_PV, cds.hook_request("patient-view", data))

    (card,) = reply.json()["cards"]
    assert card["indicator"] == "info" and card["links"][0]["url"] == case_url


def test_patient_view_without_signals_answers_no_cards_and_opens_nothing(setup: Setup) -> None:
    reply = setup.call(
        SIGNALS_PV, cds.hook_request("patient-view", cds.prefetch(reason="hoest en koorts", n_conditions=0))
    )

    assert reply.status_code == 200, reply.text
    assert reply.json() == {"cards": []}
    assert count(setup, Case) == 0


def card_entries(setup: Setup) -> list[AuditEntry]:
    with setup.gateway.runtime.db.read() as session:
        query = select(AuditEntry).where(AuditEntry.resource_type == "Case/cds-card")
        return list(session.execute(query.order_by(AuditEntry.seq)).scalars())


def test_repeated_hook_gives_the_same_card_and_writes_nothing_new_but_its_audit_entry(setup: Setup) -> None:
    body = cds.hook_request(
        "patient-view", cds.prefetch(), context={"patientId": "p-1", "userId": "Practitioner/dr-7"}
    )
    first = setup.call(SIGNALS_PV, body)
    presentations_after_first = count(setup, PresentationRecord)
    again = setup.call(SIGNALS_PV, body)

    assert first.json()["cards"][0]["uuid"] == again.json()["cards"][0]["uuid"]
    assert count(setup, Case) == 1
    assert count(setup, PresentationRecord) == presentations_after_first == 1
    # The repeated answer (case and card known: the cache-hit path) is a read of the case: audited too,
    # with the EHR's user, the patient's pseudonym and the case, like the first.
    entries = card_entries(setup)
    assert [e.action for e in entries] == ["create", "read"]
    assert entries[1].actor == entries[0].actor and entries[1].actor.startswith("ehr:Practitioner/")
    assert entries[1].source == "cds"
    assert entries[1].patient_ref == entries[0].patient_ref != "" and entries[1].case_id == entries[0].case_id


def test_simultaneous_repeated_hooks_are_each_audited_in_shared_commits(setup: Setup) -> None:
    body = cds.hook_request("patient-view", cds.prefetch())
    assert setup.call(SIGNALS_PV, body).status_code == 200
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda _: setup.call(SIGNALS_PV, body), range(24)))
    assert [a.status_code for a in answers] == [200] * 24
    assert len(card_entries(setup)) == 25
    appender = audit_batch.appender(setup.gateway.runtime.db)
    assert appender.entries == 24 and appender.batches <= 24
    with setup.gateway.runtime.db.read() as session:
        assert audit.verify_chain(session) is None  # one chain, no fork, however the commits were shared


def test_encounter_start_fetches_missing_prefetch_from_the_fhir_server_with_the_given_token(
    setup: Setup,
) -> None:
    setup.ehr.resources[f"Condition/{cds.conditions()[0]['id']}"] = cds.conditions()[0]
    data = cds.prefetch()
    del data["conditions"], data["observations"]
    body = cds.hook_request(
        "encounter-start",
        data,
        fhirServer=setup.ehr.url,
        fhirAuthorization={
            "access_token": "ehr-access-123",
            "token_type": "Bearer",
            "scope": "patient/*.read",
        },
    )

    reply = setup.call(SIGNALS_ES, body)

    assert reply.status_code == 200, reply.text
    assert len(reply.json()["cards"]) == 1
    fetched = {r.path.split("?")[0].rsplit("/", 1)[-1]: r for r in setup.ehr.requests if r.method == "GET"}
    assert set(fetched) == {"Condition", "Observation"}
    assert fetched["Condition"].path.endswith(f"Condition?patient={cds.PATIENT_ID}")
    assert fetched["Condition"].headers["Authorization"] == "Bearer ehr-access-123"


def test_the_access_token_goes_only_to_an_allowed_https_fhir_server(setup: Setup) -> None:
    data = cds.prefetch()
    del data["observations"]
    with EhrFhirServer() as stranger:
        for server, why in ((stranger.url, "allow-list"), ("http://ehr.example.test/fhir", "https")):
            body = cds.hook_request(
                "encounter-start",
                data,
                fhirServer=server,
                fhirAuthorization={"access_token": "ehr-access-123", "token_type": "Bearer", "scope": "x"},
            )
            reply = setup.call(SIGNALS_ES, body)
            assert reply.status_code == 412, reply.text
            assert why in reply.json()["issue"][0]["diagnostics"]
        assert stranger.requests == []  # never contacted, so never handed the token
    assert count(setup, Case) == 0


def test_missing_prefetch_without_a_fhir_server_is_412_naming_the_keys(setup: Setup) -> None:
    data = cds.prefetch()
    del data["observations"]
    reply = setup.call(SIGNALS_ES, cds.hook_request("encounter-start", data))

    assert reply.status_code == 412
    assert reply.json()["issue"][0]["expression"] == ["prefetch.observations"]
    assert count(setup, Case) == 0


def test_fhir_server_that_does_not_have_the_patient_is_412(setup: Setup) -> None:
    body = cds.hook_request("patient-view", None, fhirServer=setup.ehr.url)

    reply = setup.call(SIGNALS_PV, body)

    assert reply.status_code == 412
    expressions = [i["expression"][0] for i in reply.json()["issue"]]
    assert "prefetch.patient" in expressions


def test_bad_signature_is_refused(setup: Setup) -> None:
    impostor = cds.SigningKey(setup.key.kid)  # same kid, other key
    reply = setup.call(
        SIGNALS_PV,
        cds.hook_request("patient-view", cds.prefetch()),
        token=impostor.token(setup.aud(SIGNALS_PV)),
    )

    assert reply.status_code == 401
    assert "signature" in reply.json()["issue"][0]["diagnostics"]
    assert count(setup, Case) == 0


def test_alg_none_and_hmac_tokens_are_refused_before_any_key_is_used(setup: Setup) -> None:
    claims = {"iss": cds.ISSUER, "aud": setup.aud(SIGNALS_PV), "exp": 4102444800, "iat": 1, "jti": "x"}
    unsigned = jwt.encode(claims, "", algorithm="none")
    hmac_token = hs256_with_public_key_as_secret(claims, json.dumps(setup.key.jwk()).encode())

    for token in (unsigned, hmac_token):
        reply = setup.call(SIGNALS_PV, cds.hook_request("patient-view", cds.prefetch()), token=token)
        assert reply.status_code == 401
        assert "is not accepted" in reply.json()["issue"][0]["diagnostics"]


def hs256_with_public_key_as_secret(claims: dict[str, Any], secret: bytes) -> str:
    """The classic algorithm-confusion token, built by hand (PyJWT rightly refuses to make it)."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = part(b'{"alg":"HS256","typ":"JWT"}') + "." + part(json.dumps(claims).encode())
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{part(signature)}"


def test_untrusted_issuer_expired_token_and_missing_token_are_refused(setup: Setup) -> None:
    aud = setup.aud(SIGNALS_PV)
    body = cds.hook_request("patient-view", cds.prefetch())
    untrusted = setup.call(SIGNALS_PV, body, token=setup.key.token(aud, iss="https://stranger.test"))
    expired = setup.call(SIGNALS_PV, body, token=setup.key.token(aud, exp=1_000_000, iat=999_000))
    missing = httpx.post(aud, json=body)

    assert untrusted.status_code == expired.status_code == missing.status_code == 401
    assert "trusted" in untrusted.json()["issue"][0]["diagnostics"]
    assert "expired" in expired.json()["issue"][0]["diagnostics"]


def test_replayed_jti_is_refused(setup: Setup) -> None:
    token = setup.key.token(setup.aud(SIGNALS_PV), jti="once-only")
    body = cds.hook_request("patient-view", cds.prefetch())

    first = setup.call(SIGNALS_PV, body, token=token)
    replay = setup.call(SIGNALS_PV, body, token=token)

    assert first.status_code == 200
    assert replay.status_code == 401
    assert "replay" in replay.json()["issue"][0]["diagnostics"]
    assert count(setup, CdsJwtId) == 1


def test_token_for_another_url_is_refused(setup: Setup) -> None:
    token = setup.key.token(setup.aud(SIGNALS_ES))  # minted for encounter-start, used on patient-view

    reply = setup.call(SIGNALS_PV, cds.hook_request("patient-view", cds.prefetch()), token=token)

    assert reply.status_code == 401
    assert "aud" in reply.json()["issue"][0]["diagnostics"]


def test_issuer_whose_jwks_is_a_url_is_verified_with_the_fetched_key(setup: Setup) -> None:
    token = setup.url_key.token(setup.aud(SIGNALS_PV), iss=URL_ISSUER)

    reply = setup.call(SIGNALS_PV, cds.hook_request("patient-view", cds.prefetch()), token=token)

    assert reply.status_code == 200, reply.text
    assert any(r.path.endswith("/jwks") for r in setup.ehr.requests)


def test_an_issuer_whose_jwks_cannot_be_fetched_gets_a_retryable_503_not_a_401_and_nothing_is_stored(
    setup: Setup,
) -> None:
    # A 401 would tell the EHR its credentials are wrong; the keys being out of reach is ours to retry.
    setup.ehr.fail_next = 1
    token = setup.url_key.token(setup.aud(SIGNALS_PV), iss=URL_ISSUER)
    cases_before = count(setup, Case)

    reply = setup.call(SIGNALS_PV, cds.hook_request("patient-view", cds.prefetch()), token=token)

    assert reply.status_code == 503
    [issue] = reply.json()["issue"]
    assert issue["code"] == "transient"
    assert "could not be loaded" in issue["diagnostics"]
    assert count(setup, Case) == cases_before


def test_discharge_with_an_open_case_and_no_check_gets_a_critical_card(setup: Setup) -> None:
    setup.call(SIGNALS_ES, cds.hook_request("encounter-start", cds.prefetch()))
    data = {k: v for k, v in cds.prefetch().items() if k in ("patient", "encounter")}

    reply = setup.call(DISCHARGE, cds.hook_request("encounter-discharge", data))

    assert reply.status_code == 200, reply.text
    [card] = reply.json()["cards"]
    assert card["indicator"] == "critical"
    assert_neutral(card)
    assert card["suggestions"][0]["actions"][0]["resource"]["resourceType"] == "Task"


def test_discharge_after_a_completed_check_or_without_a_case_gets_no_card(setup: Setup) -> None:
    data = {k: v for k, v in cds.prefetch().items() if k in ("patient", "encounter")}
    without_case = setup.call(DISCHARGE, cds.hook_request("encounter-discharge", data))
    setup.call(SIGNALS_ES, cds.hook_request("encounter-start", cds.prefetch()))
    runtime = setup.gateway.runtime
    with runtime.db.write() as session:
        case = session.execute(select(Case)).scalar_one()
        checklist = DischargeChecklist(
            safe_home_question_asked=True,
            safe_home_answer=SafeHomeAnswer.NO,
            destination=Destination.ADMITTED,
            huisverbod_considered=True,
            children_safety_arranged=True,
            hand_over_to=[HandOver.VEILIG_THUIS],
        )
        record_discharge_check(session, runtime.cipher, case, checklist, actor="dr-test")

    after_check = setup.call(DISCHARGE, cds.hook_request("encounter-discharge", data))

    assert without_case.json() == {"cards": []}
    assert after_check.status_code == 200 and after_check.json() == {"cards": []}


def test_feedback_is_idempotent_and_feeds_the_per_rule_statistics(setup: Setup) -> None:
    [card] = setup.call(SIGNALS_PV, cds.hook_request("patient-view", cds.prefetch())).json()["cards"]
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "overridden",
                "overrideReason": {"reason": card["overrideReasons"][0], "userComment": "valpartij gezien"},
                "outcomeTimestamp": "2024-03-01T14:30:00+01:00",
            }
        ]
    }
    first = setup.call(
        SIGNALS_PV,
        feedback,
        path_suffix="/feedback",
        token=setup.key.token(setup.aud(SIGNALS_PV) + "/feedback"),
    )
    again = setup.call(
        SIGNALS_PV,
        feedback,
        path_suffix="/feedback",
        token=setup.key.token(setup.aud(SIGNALS_PV) + "/feedback"),
    )

    assert first.status_code == again.status_code == 200
    assert count(setup, CdsFeedback) == 1
    stats = httpx.get(f"{setup.gateway.url}/api/cds/statistics", headers=auth()).json()
    assert stats, "no rule statistics"
    for rule in stats.values():
        assert rule["cards"] == 1 and rule["overridden"] == 1 and rule["accepted"] == 0
        assert rule["override_reasons"] == {card["overrideReasons"][0]["code"]: 1}
    with setup.gateway.runtime.db.read() as session:
        stored = session.execute(select(CdsFeedback)).scalar_one()
        raw = session.execute(text("SELECT user_comment FROM cds_feedback")).scalar_one()
    assert b"valpartij" not in bytes(raw)  # encrypted at rest, by the column type
    assert stored.user_comment is not None and b"valpartij" in stored.user_comment  # read back in clear


def test_feedback_on_an_unknown_card_is_404_and_stores_nothing(setup: Setup) -> None:
    feedback = {
        "feedback": [
            {
                "card": "6f1c2e1a-0000-4000-8000-000000000000",
                "outcome": "accepted",
                "outcomeTimestamp": "2024-03-01T14:30:00Z",
            }
        ]
    }
    reply = setup.call(
        SIGNALS_PV,
        feedback,
        path_suffix="/feedback",
        token=setup.key.token(setup.aud(SIGNALS_PV) + "/feedback"),
    )

    assert reply.status_code == 404
    assert reply.json()["issue"][0]["expression"] == ["feedback[0].card"]
    assert count(setup, CdsFeedback) == 0


def test_hook_body_that_is_not_a_cds_request_is_400(setup: Setup) -> None:
    reply = setup.call(SIGNALS_PV, {"hook": "patient-view"})

    assert reply.status_code == 400
    assert reply.json()["resourceType"] == "OperationOutcome"


def test_prefetch_of_the_wrong_resource_type_is_400_naming_the_key(setup: Setup) -> None:
    data = cds.prefetch()
    data["observations"] = {"resourceType": "Nope"}

    reply = setup.call(SIGNALS_PV, cds.hook_request("patient-view", data))

    assert reply.status_code == 400
    assert reply.json()["issue"][0]["expression"] == ["prefetch.observations"]


def test_prefetch_element_of_the_wrong_type_is_400_naming_the_element_and_opens_nothing(setup: Setup) -> None:
    data = cds.prefetch()
    data["observations"]["entry"][0]["resource"]["valueBoolean"] = "ja"

    reply = setup.call(SIGNALS_PV, cds.hook_request("patient-view", data))

    assert reply.status_code == 400
    issue = reply.json()["issue"][0]
    assert issue["expression"] == ["prefetch.observations.entry[0].resource.valueBoolean"]
    assert "ja" not in json.dumps(reply.json())  # the value itself is never echoed
    assert count(setup, Case) == 0


def test_hook_body_that_is_not_json_is_400_with_an_operation_outcome(setup: Setup) -> None:
    url = f"{setup.gateway.url}/cds-services/{SIGNALS_PV}"
    reply = httpx.post(
        url,
        content=b'{"hook": "patient-view", ',
        headers={"Authorization": f"Bearer {setup.key.token(url)}", "Content-Type": "application/json"},
    )

    assert reply.status_code == 400
    assert reply.json()["resourceType"] == "OperationOutcome"
    assert reply.json()["issue"][0]["expression"] == ["body"]
