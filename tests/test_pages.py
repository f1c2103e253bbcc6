"""The physician's case page in a real headless Chromium against the real gateway processes.

A flagged case is opened the way it happens in the ED (an HL7 A04 over MLLP); the physician follows the
card link, logs in, reads the findings, and confirms or dismisses. Every view lands in the audit log.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from adapters.hl7.ack import parse_ack
from adapters.hl7.client import MLLPClient
from gateway.pages import auth
from store.audit import AuditEntry
from tests.gateway_process import GatewayProcesses
from tests.servers import free_port
from tests.test_gateway_processing import INFANT_EAR_BRUISE
from workflows.models import Case

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
PHYSICIAN = "Dr. A. de Vries"
# What the A04 carries about the patient: none of it may reach the page's title or a visible header.
PATIENT_DATA = ("Berg", "Jürgen", "123456782", "20260720", "7001")
_visits = itertools.count(1)


PASSWORD = "correct horse battery"
USERS = {PHYSICIAN: "arts.devries", "Dr. B. Jansen": "arts.jansen"}


def add_user(processes: GatewayProcesses, username: str, display_name: str, role: str = "physician") -> None:
    """Create a local user the way an operator does: `spoedplein user add`, password on standard input."""
    subprocess.run(
        [
            *(str(Path(sys.executable).with_name("spoedplein")), "user", "add", username, "--role", role),
            *("--display-name", display_name, "--data-dir", str(processes.data_dir)),
        ],
        input=PASSWORD + "\n",
        text=True,
        env=processes.env,
        check=True,
        capture_output=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcesses]:
    processes = GatewayProcesses(tmp_path_factory.mktemp("pages") / "gw")
    for display_name, username in USERS.items():
        add_user(processes, username, display_name)
    processes.start("serve")
    processes.start("worker")
    processes.start("beat")
    yield processes
    processes.stop_all()


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


def open_flagged_case(gateway: GatewayProcesses) -> int:
    """Send an infant with an unexplained bruise behind the ear; return the id of the case it opens."""
    before = {c["id"] for c in gateway.api("/api/cases", limit=1000)}
    n = next(_visits)
    # The sample's visit number is not in PV1-19, so the encounter is told apart by its arrival time.
    text = INFANT_EAR_BRUISE.format(cid=f"PG-{n}", visit=f"VP{n}")
    message = text.replace("20261123100000", f"2026112310{n:02d}00").encode("latin-1")
    with MLLPClient("127.0.0.1", gateway.mllp_port) as client:
        assert parse_ack(client.send(message)).code == "AA"
    new: list[int] = []

    def opened() -> bool:
        new[:] = [c["id"] for c in gateway.api("/api/cases", limit=1000) if c["id"] not in before]
        return bool(new)

    gateway.wait_for(opened, what="the case to open")
    assert len(new) == 1
    return new[0]


def case_state(gateway: GatewayProcesses, case_id: int) -> str:
    state: str = gateway.api(f"/api/cases/{case_id}")["state"]
    return state


def log_in(page: Page, gateway: GatewayProcesses, case_id: int, *, name: str = PHYSICIAN) -> None:
    page.goto(f"{gateway.http_url}/cases/{case_id}")
    assert "/login?next=" in page.url
    page.fill("#username", USERS[name])
    page.fill("#password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    assert page.url.endswith(f"/cases/{case_id}")


def actor_of(name: str) -> str:
    """What the audit trail records for a user: `user:<id> (<display name>)`, matched here by name."""
    return f"user:% ({name})"


def page_views(gateway: GatewayProcesses, case_id: int, actor: str) -> list[AuditEntry]:
    engine = create_engine(f"sqlite:///{gateway.data_dir / 'spoedplein.sqlite'}")
    try:
        with Session(engine) as session:
            return list(
                session.execute(
                    select(AuditEntry).where(
                        AuditEntry.resource_type == "Case",
                        AuditEntry.resource_id == str(case_id),
                        AuditEntry.actor.like(actor),
                        AuditEntry.action == "read",
                    )
                ).scalars()
            )
    finally:
        engine.dispose()


def test_case_link_needs_a_login_and_a_wrong_password_is_refused_in_dutch(
    gateway: GatewayProcesses, page: Page
) -> None:
    case_id = open_flagged_case(gateway)
    page.goto(f"{gateway.http_url}/cases/{case_id}")
    assert page.url == f"{gateway.http_url}/login?next=/cases/{case_id}"
    assert "Blauwe plek" not in page.content()
    page.fill("#username", USERS[PHYSICIAN])
    page.fill("#password", "not-the-password")
    page.click("form[action='/login'] button[type=submit]")
    assert "/login" in page.url
    assert "Gebruikersnaam of wachtwoord klopt niet" in page.inner_text("#password-error")
    assert "Traceback" not in page.content()
    assert [c for c in page.context.cookies() if c["name"] == "spoedplein_sessie"] == []  # no session
    assert page_views(gateway, case_id, actor_of(PHYSICIAN)) == []


def test_physician_logs_in_reads_the_findings_and_the_view_is_audited(
    gateway: GatewayProcesses, page: Page, tmp_path: Path
) -> None:
    case_id = open_flagged_case(gateway)
    api_case = gateway.api(f"/api/cases/{case_id}")
    log_in(page, gateway, case_id)

    assert page.title() == f"Spoedplein — Casus {api_case['reference']}"
    assert not any(value in page.title() for value in PATIENT_DATA)
    text = page.inner_text("main")
    for finding in api_case["findings"]:
        assert finding["explanation_nl"] in text
        if finding["next_step_nl"]:
            assert finding["next_step_nl"] in text
    assert "gesignaleerd" in page.inner_text(".state")
    assert not any(value in text for value in ("Jürgen", "123456782"))
    page.screenshot(path=str(tmp_path / "case-page.png"), full_page=True)

    views = page_views(gateway, case_id, actor_of(PHYSICIAN))
    assert len(views) == 1
    assert views[0].action == "read" and views[0].patient_ref == stored_patient_ref(gateway, case_id)

    cookie = next(c for c in page.context.cookies() if c["name"] == "spoedplein_sessie")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    response = page.goto(f"{gateway.http_url}/cases/{case_id}")
    assert response is not None
    headers = response.headers
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in headers["content-security-policy"]
    # Only this server's own script (the live refresh); nothing inline, nothing from elsewhere.
    assert "script-src 'self';" in headers["content-security-policy"]
    assert "unsafe" not in headers["content-security-policy"]
    assert len(page_views(gateway, case_id, actor_of(PHYSICIAN))) == 2


def stored_patient_ref(gateway: GatewayProcesses, case_id: int) -> str:
    """The case's pseudonymous patient ref, read as the page read it (the API does not return it)."""
    engine = create_engine(f"sqlite:///{gateway.data_dir / 'spoedplein.sqlite'}")
    try:
        with Session(engine) as session:
            case = session.get(Case, case_id)
            assert case is not None
            return case.patient_ref
    finally:
        engine.dispose()


def test_dismiss_without_a_reason_says_what_to_fix_and_changes_nothing(
    gateway: GatewayProcesses, page: Page
) -> None:
    case_id = open_flagged_case(gateway)
    log_in(page, gateway, case_id)
    version = gateway.api(f"/api/cases/{case_id}")["version"]
    page.select_option("#reason_code", "medical_explanation")
    page.click("button:has-text('Afwijzen')")
    assert "Licht in een paar woorden toe" in page.inner_text("#note-error")
    assert page.get_attribute("#note", "aria-invalid") == "true"
    # What was chosen stays chosen, so only the missing part has to be filled in.
    assert page.input_value("#reason_code") == "medical_explanation"
    after = gateway.api(f"/api/cases/{case_id}")
    assert after["state"] == "flagged" and after["version"] == version

    page.fill("#note", "Bekende stollingsstoornis, hematologie betrokken")
    page.click("button:has-text('Afwijzen')")
    assert "Het signaal is afgewezen" in page.inner_text(".banner.ok")
    assert "Signaal afgewezen (Medische verklaring)" in page.inner_text(".timeline")
    assert case_state(gateway, case_id) == "dismissed"
    timeline = gateway.api(f"/api/cases/{case_id}/timeline")
    assert any(
        e["actor"].startswith("user:")
        and e["actor"].endswith(f"({PHYSICIAN})")
        and e["to_state"] == "dismissed"
        for e in timeline
    )


def test_confirm_moves_the_case_to_confirmed_with_the_physician_as_actor(
    gateway: GatewayProcesses, page: Page
) -> None:
    case_id = open_flagged_case(gateway)
    log_in(page, gateway, case_id)
    page.click("button:has-text('Bevestigen')")
    assert "De casus is bevestigd" in page.inner_text(".banner.ok")
    state = case_state(gateway, case_id)
    assert state == "confirmed"
    assert page.get_attribute(".state", "data-state") == state
    assert "bevestigd" in page.inner_text(".state")
    assert page.query_selector("button:has-text('Bevestigen')") is None  # only a flagged case has the forms
    assert f"({PHYSICIAN})" in page.inner_text(".timeline")


def test_a_case_changed_by_someone_else_is_not_overwritten(
    gateway: GatewayProcesses, browser: Browser, page: Page
) -> None:
    case_id = open_flagged_case(gateway)
    log_in(page, gateway, case_id)  # this physician's page now holds the current version
    other = browser.new_context(locale="nl-NL")
    try:
        colleague = other.new_page()
        log_in(colleague, gateway, case_id, name="Dr. B. Jansen")
        colleague.click("button:has-text('Bevestigen')")
        assert case_state(gateway, case_id) == "confirmed"
    finally:
        other.close()

    page.select_option("#reason_code", "other")
    page.fill("#note", "Geen zorgen na gesprek")
    page.click("button:has-text('Afwijzen')")
    assert "Iemand anders heeft deze casus intussen gewijzigd" in page.inner_text(".banner.error")
    assert case_state(gateway, case_id) == "confirmed"


def test_forms_without_the_session_token_are_refused(gateway: GatewayProcesses, page: Page) -> None:
    case_id = open_flagged_case(gateway)
    log_in(page, gateway, case_id)
    version = gateway.api(f"/api/cases/{case_id}")["version"]
    # A forged form posted with the physician's own cookie but without the page's CSRF token.
    response = page.request.post(
        f"{gateway.http_url}/cases/{case_id}/confirm",
        form={"csrftoken": "guessed", "expected_version": str(version)},
        max_redirects=0,
    )
    assert response.status == 403
    assert "Formulier verlopen" in response.text()
    assert case_state(gateway, case_id) == "flagged"


def test_login_without_a_name_says_to_fill_it_in(gateway: GatewayProcesses) -> None:
    response = httpx.post(
        f"{gateway.http_url}/login", data={"username": "  ", "password": PASSWORD, "next": "/cases/1"}
    )
    assert response.status_code == 422
    assert "Vul uw gebruikersnaam in" in response.text
    assert "spoedplein_sessie" not in response.cookies


def test_login_only_returns_to_a_path_on_this_server(gateway: GatewayProcesses) -> None:
    for target in ("https://evil.example/x", "//evil.example/x", "/\\evil.example"):
        response = httpx.post(
            f"{gateway.http_url}/login",
            data={"username": USERS[PHYSICIAN], "password": PASSWORD, "next": target},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/login"


def test_a_tampered_or_missing_cookie_shows_no_case(gateway: GatewayProcesses) -> None:
    case_id = open_flagged_case(gateway)
    login = httpx.post(
        f"{gateway.http_url}/login",
        data={"username": USERS[PHYSICIAN], "password": PASSWORD, "next": f"/cases/{case_id}"},
        follow_redirects=False,
    )
    cookie = login.cookies["spoedplein_sessie"]
    forged = cookie[:-1] + ("A" if cookie[-1] != "A" else "B")
    response = httpx.get(
        f"{gateway.http_url}/cases/{case_id}", cookies={"spoedplein_sessie": forged}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
    good = httpx.get(
        f"{gateway.http_url}/cases/{case_id}", cookies={"spoedplein_sessie": cookie}, follow_redirects=False
    )
    assert good.status_code == 200 and "Signalen" in good.text


def test_an_unknown_case_gets_a_friendly_dutch_404(gateway: GatewayProcesses, page: Page) -> None:
    case_id = open_flagged_case(gateway)
    log_in(page, gateway, case_id)
    response = page.goto(f"{gateway.http_url}/cases/999999")
    assert response is not None and response.status == 404
    assert page.inner_text("h1") == "Casus niet gevonden"
    assert re.search(r"geen casus met nummer 999999", page.inner_text("main"))


def test_logout_ends_the_session_on_the_server_too(gateway: GatewayProcesses, page: Page) -> None:
    case_id = open_flagged_case(gateway)
    log_in(page, gateway, case_id)
    cookie = next(c["value"] for c in page.context.cookies() if c["name"] == "spoedplein_sessie")
    page.click("button:has-text('Uitloggen')")
    assert page.url == f"{gateway.http_url}/login"
    assert [c for c in page.context.cookies() if c["name"] == "spoedplein_sessie"] == []  # no session
    page.goto(f"{gateway.http_url}/cases/{case_id}")
    assert "/login?next=" in page.url
    # A copy of the cookie kept from before the logout opens nothing: the session is revoked server-side.
    replay = httpx.get(
        f"{gateway.http_url}/cases/{case_id}", cookies={"spoedplein_sessie": cookie}, follow_redirects=False
    )
    assert replay.status_code == 303 and replay.headers["location"].startswith("/login?next=")
    api = httpx.get(f"{gateway.http_url}/api/cases/{case_id}", cookies={"spoedplein_sessie": cookie})
    assert api.status_code == 401


def test_only_local_paths_are_accepted_as_the_place_to_return_to() -> None:
    assert auth.safe_next("/cases/12?x=1") == "/cases/12?x=1"
    for unsafe in ("", "cases/12", "//evil.example", "/\\evil.example", "https://evil.example/", "/a\r\nb"):
        assert auth.safe_next(unsafe) == "/login", unsafe


@pytest.fixture
def ehr_page() -> Iterator[tuple[str, dict[str, str]]]:
    """A stand-in for the EHR: another site (localhost, not 127.0.0.1) that shows the card's link."""
    links: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f'<!doctype html><a id="card" href="{links["href"]}">Casus openen</a>'.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}/", links
    server.shutdown()
    server.server_close()


def test_a_logged_in_physician_opens_the_card_link_from_the_ehr_without_logging_in_again(
    gateway: GatewayProcesses, browser: Browser, page: Page, ehr_page: tuple[str, dict[str, str]]
) -> None:
    case_id = open_flagged_case(gateway)
    log_in(page, gateway, case_id)
    ehr_url, links = ehr_page
    links["href"] = f"{gateway.http_url}/cases/{case_id}"
    page.goto(ehr_url)
    page.click("#card")
    page.wait_for_url(f"{gateway.http_url}/cases/{case_id}")
    assert page.inner_text("h1").startswith("Casus SP-")
    assert len(page_views(gateway, case_id, actor_of(PHYSICIAN))) == 2

    stranger = browser.new_context(locale="nl-NL")
    try:
        other = stranger.new_page()
        other.goto(ehr_url)
        other.click("#card")
        other.wait_for_url(f"{gateway.http_url}/login?next=/cases/{case_id}")
        assert "Blauwe plek" not in other.content()
    finally:
        stranger.close()


def test_english_on_request_remembered_and_the_form_errors_too(gateway: GatewayProcesses) -> None:
    with httpx.Client(base_url=gateway.http_url, headers={"Accept-Language": "nl-NL"}) as client:
        dutch = client.get("/login")
        assert '<html lang="nl">' in dutch.text and "Gebruikersnaam" in dutch.text
        english = client.get("/login", params={"lang": "en"})
        assert '<html lang="en">' in english.text and "Username" in english.text
        assert client.cookies.get("spoedplein_taal") == "en"
        # The cookie carries the choice to the next page, and to the form's error messages.
        token = re.search(r'name="csrftoken" value="([^"]+)"', english.text)
        assert token is not None  # the form's CSRF token (gateway/csrf.py): this client has cookies
        csrf = {"csrftoken": token.group(1)}
        refused = client.post("/login", data={**csrf, "username": "", "password": ""})
        assert "Fill in your username" in refused.text and "Fill in your password" in refused.text
        assert "Vul uw gebruikersnaam in" not in refused.text
        wrong = client.post("/login", data={**csrf, "username": USERS[PHYSICIAN], "password": "wrong"})
        assert wrong.status_code == 401 and "username or password is not right" in wrong.text
        assert 'href="/login?lang=nl"' in refused.text  # the switch back
