"""Logging in from outside, end to end in headless Chromium against the real gateway processes.

The hospital's identity provider is PyPI's `oidc-provider-mock` in its own process; the EHR of the
SMART App Launch is `tests/smart_ehr.py`, also its own process. The physician clicks what a physician
clicks: "Inloggen via het ziekenhuis" and the provider's form, or the card link in the EHR.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from adapters.hl7.ack import parse_ack
from adapters.hl7.client import MLLPClient
from core.runtime import Runtime
from core.settings import Settings
from gateway.app import create_app
from identity.models import User
from store.audit import AuditEntry
from tests import cds_helpers as cds
from tests.gateway_process import GatewayProcesses
from tests.oidc_servers import OidcProvider, SmartEhr
from tests.servers import free_port
from tests.test_pages import CHROMIUM_ARGS

CDS_KEY = cds.SigningKey("ehr-cds-key")  # the EHR's key for its CDS Hooks calls
CLIENT_ID = "spoedplein"
SMART_CLIENT_ID = "spoedplein-smart"
PATIENT_SYSTEM = "https://etz.example/patient-id"
_numbers = itertools.count(1)

# An infant with an unexplained bruise behind the ear (it flags), with a local patient id and a visit
# number in PV1-19: the EHR's Patient and Encounter carry the same two identifiers.
A04 = (
    "MSH|^~\\&|HIX|ETZ|SPOEDPLEIN|ETZ|20261123100000+0100||ADT^A04^ADT_A01|{cid}|P|2.5\r"
    "EVN|A04|20261123100000+0100\r"
    "PID|1||{pid}^^^ETZ^PI||Test&&Test^Kim||20260720|M\r"
    "PV1|1|E|SEH^K1^1^ETZ||||01234^Jansen^A||||||||||||{visit}|||||||||||||||||||||||||20261123095500+0100\r"
    "PV2|||^Blauwe plek achter het linker oor, ouders weten niet hoe\r"
)


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[GatewayProcesses, OidcProvider, SmartEhr]]:
    root = tmp_path_factory.mktemp("sso")
    gateway = GatewayProcesses(root / "gw")
    provider = OidcProvider(root)
    # A confidential client at the EHR, its secret given as a file (as Docker secrets are): the EHR
    # refuses the code exchange unless the secret comes along.
    ehr = SmartEhr(
        root,
        client_id=SMART_CLIENT_ID,
        redirect_uri=f"{gateway.http_url}/launch/callback",
        client_secret="smart-geheim-van-de-test",
    )
    secret_file = root / "smart-client-secret"
    secret_file.write_text("smart-geheim-van-de-test\n")
    jwks = CDS_KEY.write_jwks(root / "ehr-cds-jwks.json")
    gateway.env.update(
        {
            "SPOEDPLEIN_CDS_TRUSTED_ISSUERS": f'{{"{cds.ISSUER}": "{jwks}"}}',
            "SPOEDPLEIN_OIDC_ISSUER": provider.url,
            "SPOEDPLEIN_OIDC_CLIENT_ID": CLIENT_ID,
            "SPOEDPLEIN_OIDC_CLIENT_SECRET": "geheim-van-de-test",
            "SPOEDPLEIN_OIDC_ROLE_CLAIM": "groups",
            "SPOEDPLEIN_OIDC_ROLE_MAP": "seh-artsen=physician,spoedplein-coordinatoren=coordinator",
            "SPOEDPLEIN_SMART_ALLOWED_ISS": f'["{ehr.iss}"]',
            "SPOEDPLEIN_SMART_CLIENT_ID": SMART_CLIENT_ID,
            "SPOEDPLEIN_SMART_CLIENT_SECRET_FILE": str(secret_file),
            "SPOEDPLEIN_PATIENT_ID_SYSTEMS": f'{{"{PATIENT_SYSTEM}": "ETZ"}}',
        }
    )
    try:
        gateway.start("serve")
        gateway.start("worker")
        gateway.start("beat")
        yield gateway, provider, ehr
    finally:
        gateway.stop_all()
        provider.stop()
        ehr.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(locale="nl-NL")
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def _db(gateway: GatewayProcesses) -> Session:
    return Session(create_engine(f"sqlite:///{gateway.data_dir / 'spoedplein.sqlite'}"))


def audit_entries(gateway: GatewayProcesses, **where: str) -> list[AuditEntry]:
    with _db(gateway) as db:
        query = select(AuditEntry)
        for column, value in where.items():
            query = query.where(getattr(AuditEntry, column) == value)
        return list(db.execute(query).scalars())


def user_named(gateway: GatewayProcesses, display_name: str) -> User | None:
    with _db(gateway) as db:
        return db.execute(select(User).where(User.display_name == display_name)).scalar_one_or_none()


def has_session(context: BrowserContext) -> bool:
    return any(c["name"] == "spoedplein_sessie" for c in context.cookies())


def log_in_at_provider(page: Page, gateway: GatewayProcesses, provider: OidcProvider, sub: str) -> None:
    page.goto(f"{gateway.http_url}/login")
    page.click("text=Inloggen via het ziekenhuis")
    page.wait_for_url(f"{provider.url}/**")
    page.fill("input[name=sub]", sub)
    page.click("button:has-text('Authorize')")


def test_oidc_login_lands_on_a_page_with_the_mapped_role(
    servers: tuple[GatewayProcesses, OidcProvider, SmartEhr], context: BrowserContext, page: Page
) -> None:
    gateway, provider, _ = servers
    provider.put_user("c.dekker", {"name": "C. Dekker", "groups": ["kantine", "spoedplein-coordinatoren"]})
    log_in_at_provider(page, gateway, provider, "c.dekker")
    page.wait_for_url(f"{gateway.http_url}/login")
    notice = page.inner_text(".notice")
    assert "C. Dekker" in notice and "coördinator" in notice
    assert has_session(context)
    user = user_named(gateway, "C. Dekker")
    assert user is not None and user.role == "coordinator"
    logins = audit_entries(gateway, resource_type="Session", action="login", source="oidc")
    assert any(e.actor.startswith(f"user:{user.id} ") for e in logins)


def test_a_case_link_sends_the_physician_through_the_hospital_login_and_back_to_the_case(
    servers: tuple[GatewayProcesses, OidcProvider, SmartEhr], context: BrowserContext, page: Page
) -> None:
    gateway, provider, _ = servers
    [case_id] = send_a04(gateway, pid="8150", visits=["V-8150-1"])
    provider.put_user("a.devries", {"name": "Dr. A. de Vries", "groups": ["seh-artsen"]})
    page.goto(f"{gateway.http_url}/cases/{case_id}")
    page.wait_for_url(f"{gateway.http_url}/login?next=**")
    page.click("#login-oidc")
    page.wait_for_url(f"{provider.url}/**")
    page.fill("input[name=sub]", "a.devries")
    page.click("button:has-text('Authorize')")
    page.wait_for_url(f"{gateway.http_url}/cases/{case_id}")
    assert page.inner_text("h1").startswith("Casus SP-")
    user = user_named(gateway, "Dr. A. de Vries")
    assert user is not None and user.role == "physician"


def test_a_person_without_a_mapped_role_is_refused_in_dutch_and_gets_no_session(
    servers: tuple[GatewayProcesses, OidcProvider, SmartEhr], context: BrowserContext, page: Page
) -> None:
    gateway, provider, _ = servers
    provider.put_user("k.bakker", {"name": "K. Bakker", "groups": ["kantine"]})
    log_in_at_provider(page, gateway, provider, "k.bakker")
    page.wait_for_url(f"{gateway.http_url}/login/oidc/callback**")
    assert page.inner_text("h1") == "Geen toegang tot Spoedplein"
    assert not has_session(context)
    assert user_named(gateway, "K. Bakker") is None
    refused = audit_entries(gateway, action="login_failed", source="oidc", reason="no-role")
    assert [(e.actor, e.outcome) for e in refused] == [("oidc:k.bakker", "denied")]


def test_a_callback_with_a_forged_state_is_refused(
    servers: tuple[GatewayProcesses, OidcProvider, SmartEhr], context: BrowserContext, page: Page
) -> None:
    gateway, provider, _ = servers
    provider.put_user("m.visser", {"name": "M. Visser", "groups": ["seh-artsen"]})
    page.goto(f"{gateway.http_url}/login/oidc")  # a real login in progress: the browser holds its cookie
    page.wait_for_url(f"{provider.url}/**")
    # An attacker's link with a code of their own and a state they made up (login CSRF).
    page.goto(f"{gateway.http_url}/login/oidc/callback?code=stolen-code&state=forged-state")
    assert page.inner_text("h1") == "Inlogpoging verlopen"
    assert not has_session(context)
    assert user_named(gateway, "M. Visser") is None


def send_a04(gateway: GatewayProcesses, *, pid: str, visits: list[str]) -> list[int]:
    """One A04 per visit of patient `pid`, over one connection; the ids of the cases they open, in order."""
    before = {c["id"] for c in gateway.api("/api/cases", limit=1000)}
    with MLLPClient("127.0.0.1", gateway.mllp_port) as client:
        for visit in visits:
            message = A04.format(cid=f"SSO-{pid}-{visit}", pid=pid, visit=visit).encode()
            assert parse_ack(client.send(message)).code == "AA"
    new: list[int] = []

    def opened() -> bool:
        new[:] = sorted(c["id"] for c in gateway.api("/api/cases", limit=1000) if c["id"] not in before)
        return len(new) == len(visits)

    gateway.wait_for(opened, what="the cases to open")
    return new


def ehr_knows(ehr: SmartEhr, *, pid: str, visit: str, practitioner: str, **launch: str) -> str:
    """The EHR's Patient and Encounter for this visit, and a launch of the app for them by `practitioner`."""
    n = next(_numbers)
    patient_id, encounter_id = f"pat-{n}", f"enc-{n}"
    ehr.put(
        {
            "resourceType": "Patient",
            "id": patient_id,
            "identifier": [{"system": PATIENT_SYSTEM, "value": pid}],
            "name": [{"family": "Test", "given": ["Kim"]}],
            "birthDate": "2026-07-20",
        }
    )
    ehr.put(
        {
            "resourceType": "Encounter",
            "id": encounter_id,
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"},
            "identifier": [
                {"system": "https://etz.example/visit", "value": visit, "type": {"coding": [{"code": "VN"}]}}
            ],
            "subject": {"reference": f"Patient/{patient_id}"},
        }
    )
    return ehr.register_launch(
        patient=patient_id,
        encounter=encounter_id,
        user={"sub": f"ehr-{practitioner}", "name": practitioner, "fhirUser": f"Practitioner/{n}"},
        **launch,
    )


def test_a_smart_launch_opens_the_case_of_that_encounter_as_the_physician(
    servers: tuple[GatewayProcesses, OidcProvider, SmartEhr], context: BrowserContext, page: Page
) -> None:
    gateway, _, ehr = servers
    # The launched visit's case first, then a later visit of the same patient: the patient's latest case
    # is not the one, the encounter decides.
    case_id, _later_visit = send_a04(gateway, pid="8101", visits=["V-8101-1", "V-8101-2"])
    launch = ehr_knows(ehr, pid="8101", visit="V-8101-1", practitioner="Dr. L. Smit")
    page.goto(ehr.page_with_link(f"{gateway.http_url}/launch?iss={ehr.iss}&launch={launch}"))
    page.click("#card")
    page.wait_for_url(f"{gateway.http_url}/cases/{case_id}")
    assert page.inner_text("h1").startswith("Casus SP-")
    user = user_named(gateway, "Dr. L. Smit")
    assert user is not None and user.role == "physician"
    reads = audit_entries(gateway, resource_type="Case", resource_id=str(case_id))
    assert [e.actor for e in reads] == [f"user:{user.id} (Dr. L. Smit)"]
    logins = audit_entries(gateway, action="login", source="smart", actor=f"user:{user.id} (Dr. L. Smit)")
    assert [e.actor_role for e in logins] == ["physician"]


def test_the_cds_card_is_a_smart_link_that_opens_its_case_as_the_physician(
    servers: tuple[GatewayProcesses, OidcProvider, SmartEhr], context: BrowserContext, page: Page
) -> None:
    gateway, _, ehr = servers
    n = next(_numbers)
    patient = {
        **cds.patient_resource(),
        "id": f"pat-cds-{n}",
        "identifier": [{"system": PATIENT_SYSTEM, "value": f"83{n:02d}"}],
    }
    encounter = {
        **cds.encounter_resource(),
        "id": f"enc-cds-{n}",
        "subject": {"reference": f"Patient/pat-cds-{n}"},
        "identifier": [
            {
                "system": "https://etz.example/visit",
                "value": f"V-CDS-{n}",
                "type": {"coding": [{"code": "VN"}]},
            }
        ],
    }
    ehr.put(patient)
    ehr.put(encounter)
    hook = f"{gateway.http_url}/cds-services/spoedplein-signals-patient-view"
    body = cds.hook_request(
        "patient-view",
        {
            "patient": patient,
            "encounter": encounter,
            "conditions": cds.searchset(cds.conditions(1)),
            "observations": cds.searchset([]),
        },
    )
    answer = httpx.post(
        hook, json=body, headers={"Authorization": f"Bearer {CDS_KEY.token(hook)}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    [card] = answer.json()["cards"]
    [link] = card["links"]
    assert link["type"] == "smart" and link["url"] == f"{gateway.http_url}/launch"
    [case] = [c for c in gateway.api("/api/cases", limit=1000) if c["reference"] == link["appContext"]]

    # The EHR launches the app as the CDS Hooks spec says: the link's URL plus iss and launch, and the
    # card's appContext handed back in the token response.
    launch = ehr.register_launch(
        patient=patient["id"],
        encounter=encounter["id"],
        appContext=link["appContext"],
        user={"sub": "ehr-dr-kok", "name": "Dr. E. Kok", "fhirUser": "Practitioner/kok"},
    )
    page.goto(ehr.page_with_link(f"{link['url']}?iss={ehr.iss}&launch={launch}"))
    page.click("#card")
    page.wait_for_url(f"{gateway.http_url}/cases/{case['id']}")
    assert page.inner_text("h1").startswith("Casus SP-")
    user = user_named(gateway, "Dr. E. Kok")
    assert user is not None
    assert audit_entries(
        gateway, resource_type="Case", resource_id=str(case["id"]), actor=f"user:{user.id} (Dr. E. Kok)"
    )


def test_a_smart_launch_whose_id_token_carries_another_nonce_is_refused(
    servers: tuple[GatewayProcesses, OidcProvider, SmartEhr], context: BrowserContext, page: Page
) -> None:
    gateway, _, ehr = servers
    [case_id] = send_a04(gateway, pid="8102", visits=["V-8102-1"])
    launch = ehr_knows(
        ehr, pid="8102", visit="V-8102-1", practitioner="Dr. R. Mol", id_token_nonce="replayed"
    )
    page.goto(f"{gateway.http_url}/launch?iss={ehr.iss}&launch={launch}")
    page.wait_for_url(f"{gateway.http_url}/launch/callback**")
    assert page.inner_text("h1") == "Inloggen is niet gelukt"
    assert not has_session(context)
    assert user_named(gateway, "Dr. R. Mol") is None
    assert not audit_entries(gateway, resource_type="Case", resource_id=str(case_id))
    assert audit_entries(gateway, action="login_failed", source="smart", reason="token")


def test_a_launch_for_a_patient_without_a_case_says_so(
    servers: tuple[GatewayProcesses, OidcProvider, SmartEhr], context: BrowserContext, page: Page
) -> None:
    gateway, _, ehr = servers
    launch = ehr_knows(ehr, pid="8199", visit="V-8199-1", practitioner="Dr. S. Bos")
    page.goto(f"{gateway.http_url}/launch?iss={ehr.iss}&launch={launch}")
    page.wait_for_url(f"{gateway.http_url}/launch/geen-casus")
    assert page.inner_text("h1") == "Geen Spoedplein-casus"
    assert has_session(context)


@pytest.fixture
def unlisted_server() -> Iterator[tuple[str, list[str]]]:
    """A FHIR base that is not on the allowed list; it records every request that reaches it."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/fhir", hits
    server.shutdown()
    server.server_close()


def test_a_launch_from_an_iss_not_on_the_list_is_refused_without_contacting_it(
    servers: tuple[GatewayProcesses, OidcProvider, SmartEhr], unlisted_server: tuple[str, list[str]]
) -> None:
    gateway, _, ehr = servers
    unlisted, hits = unlisted_server
    for iss in (unlisted, f"{ehr.iss}.evil.example", f"{ehr.iss}/../other", ""):
        response = httpx.get(f"{gateway.http_url}/launch", params={"iss": iss, "launch": "x"}, timeout=10)
        assert response.status_code == 400
        assert "Openen vanuit het EPD geweigerd" in response.text
        assert "location" not in response.headers
    assert hits == []


def test_the_login_page_offers_the_hospital_login(
    servers: tuple[GatewayProcesses, OidcProvider, SmartEhr],
) -> None:
    gateway, _, _ = servers
    assert "Inloggen via het ziekenhuis" in httpx.get(f"{gateway.http_url}/login", timeout=10).text


@pytest.fixture
def unconfigured(tmp_path: Path) -> Iterator[TestClient]:
    runtime = Runtime.start(Settings(data_dir=tmp_path))
    try:
        with TestClient(create_app(runtime), follow_redirects=False) as client:
            yield client
    finally:
        runtime.close()


def test_without_a_provider_or_an_ehr_configured_nothing_is_offered_and_nothing_is_contacted(
    unconfigured: TestClient, unlisted_server: tuple[str, list[str]]
) -> None:
    unlisted, hits = unlisted_server
    assert "Inloggen via het ziekenhuis" not in unconfigured.get("/login").text
    answer = unconfigured.get("/login/oidc")
    assert answer.status_code == 404 and "niet ingesteld" in answer.text
    launch = unconfigured.get("/launch", params={"iss": unlisted, "launch": "x"})
    assert launch.status_code == 400 and "Openen vanuit het EPD geweigerd" in launch.text
    assert hits == []


def test_a_role_map_naming_an_unknown_role_stops_the_start(tmp_path: Path) -> None:
    runtime = Runtime.start(Settings(data_dir=tmp_path, oidc_role_map="seh-artsen=superuser"))
    try:
        with pytest.raises(ValueError, match="unknown role 'superuser'"):
            create_app(runtime)
    finally:
        runtime.close()
