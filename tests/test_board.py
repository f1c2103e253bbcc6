"""The coordinator's board in a real headless Chromium against the real gateway processes.

A case is opened the way it happens in the ED (HL7 A04 over MLLP, processed by the worker process),
confirmed and its joint intake requested through the API; the board is open in Chromium while a party's
acknowledgement arrives, and the row changes in place over server-sent events: no reload, no navigation.
The event stream itself is checked over plain HTTP: each event's id is the change feed's cursor, and a
reconnect with an old `Last-Event-ID` gets the current board at once, while an up-to-date one gets
nothing until something moves.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.gateway_process import API_TOKEN, GatewayProcesses
from tests.test_pages import PASSWORD, add_user, browser, open_flagged_case  # noqa: F401  (fixtures)

COORDINATOR = "coord.smit"
POLICE_OFFICER = "politie.jansen"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcesses]:
    processes = GatewayProcesses(tmp_path_factory.mktemp("board") / "gw")
    add_user(processes, COORDINATOR, "C. Smit", role="coordinator")
    add_user(processes, POLICE_OFFICER, "P. Jansen", role="police")
    processes.start("serve")
    processes.start("worker")
    processes.start("beat")
    yield processes
    processes.stop_all()


def api(gateway: GatewayProcesses, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    response = httpx.request(
        method,
        f"{gateway.http_url}{path}",
        json=body,
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        timeout=30,
    )
    assert response.status_code < 300, response.text
    return response.json()


def case_with_intake_requested(gateway: GatewayProcesses) -> int:
    """An infant's flagged case, confirmed, with forensic (parents' consent) and Veilig Thuis (meldrecht)
    asked to the joint intake."""
    case_id = open_flagged_case(gateway)
    version = api(gateway, "GET", f"/api/cases/{case_id}/workflow")["version"]
    api(
        gateway,
        "POST",
        f"/api/cases/{case_id}/confirm",
        {"expected_version": version, "melder": {"name": "Dr. T"}},
    )
    api(
        gateway,
        "POST",
        f"/api/cases/{case_id}/consents",
        {"party": "forensic", "decision": "permit", "given_by": ["parent_or_guardian"]},
    )
    api(
        gateway,
        "POST",
        f"/api/cases/{case_id}/legal-bases",
        {"party": "veilig_thuis", "basis": "meldrecht", "justification": "letsel bij een zuigeling"},
    )
    version = api(gateway, "GET", f"/api/cases/{case_id}/workflow")["version"]
    intake = api(gateway, "POST", f"/api/cases/{case_id}/intake", {"expected_version": version})
    assert {p["party"] for p in intake["parties"]} == {"forensic", "veilig_thuis"}
    return case_id


def acknowledge(gateway: GatewayProcesses, case_id: int, party: str) -> None:
    api(
        gateway,
        "POST",
        f"/api/cases/{case_id}/intake/acknowledgements/{party}",
        {"earliest_available_at": "2030-01-01T10:00:00+00:00", "acknowledged_by": "dienst"},
    )


def test_the_board_updates_live_when_an_acknowledgement_arrives(
    gateway: GatewayProcesses,
    browser: Browser,  # noqa: F811
) -> None:
    case_id = case_with_intake_requested(gateway)
    context = browser.new_context(locale="nl-NL")
    page: Page = context.new_page()
    try:
        page.goto(f"{gateway.http_url}/")
        assert "/login?next=/board" in page.url
        page.fill("#username", COORDINATOR)
        page.fill("#password", PASSWORD)
        page.click("form[action='/login'] button[type=submit]")
        assert page.url.endswith("/board")
        navigations: list[str] = []
        page.on("framenavigated", lambda frame: navigations.append(frame.url))
        page.evaluate("window.__sameDocument = true")  # gone if the page were reloaded
        party = page.locator(f"#case-{case_id} [data-party='forensic']")
        assert party.get_attribute("data-status") == "requested"
        assert "gevraagd" in party.inner_text()
        expect(page.locator("#board-status")).to_contain_text("verbonden")  # the event stream is open

        acknowledge(gateway, case_id, "forensic")

        expect(party).to_have_attribute("data-status", "acknowledged", timeout=15_000)
        assert "bevestigd" in party.inner_text()
        assert page.locator(f"#case-{case_id}").get_attribute("class") is not None
        assert "changed" in (page.locator(f"#case-{case_id}").get_attribute("class") or "")
        assert page.evaluate("window.__sameDocument") is True
        assert navigations == []
        assert page.url.endswith("/board")
        assert int(page.locator("#board-live").get_attribute("data-updates") or "0") >= 1
    finally:
        context.close()


def sse_events(response: httpx.Response, *, wanted: int, within_s: float) -> list[dict[str, str]]:
    """Parse server-sent events from a streaming response until `wanted` board events or the deadline."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    deadline = time.monotonic() + within_s
    for line in response.iter_lines():
        if line == "":
            if current.get("event") == "board":
                events.append(current)
                if len(events) >= wanted:
                    break
            current = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            current[name] = current.get(name, "") + value.removeprefix(" ")
        if time.monotonic() > deadline:
            break
    return events


def session_cookie(gateway: GatewayProcesses, username: str = COORDINATOR) -> dict[str, str]:
    with httpx.Client(base_url=gateway.http_url, timeout=30) as client:
        answer = client.post("/login", data={"username": username, "password": PASSWORD, "next": "/board"})
        assert answer.status_code == 303, answer.text
        return dict(client.cookies)


@pytest.mark.serial  # asserts how long it took: a busy parallel worker would fail it
def test_a_reconnect_with_an_old_last_event_id_gets_the_current_board_at_once(
    gateway: GatewayProcesses,
) -> None:
    case_id = case_with_intake_requested(gateway)
    cookies = session_cookie(gateway)
    with httpx.Client(
        base_url=gateway.http_url, cookies=cookies, timeout=httpx.Timeout(10, read=5)
    ) as client:
        table = client.get("/board/table")
        assert table.status_code == 200
        cursor = table.headers["x-board-cursor"]

        acknowledge(gateway, case_id, "forensic")  # happens while the board is "away"

        started = time.monotonic()
        with client.stream("GET", "/board/events", headers={"Last-Event-ID": cursor}) as stream:
            [event] = sse_events(stream, wanted=1, within_s=4)
        assert time.monotonic() - started < 4
        assert event["id"] != cursor
        data = json.loads(event["data"])
        assert case_id in data["changed"]
        assert f'id="case-{case_id}"' in data["html"] and 'data-status="acknowledged"' in data["html"]

        # Up to date: the stream stays quiet (pings only) until something moves.
        try:
            with client.stream("GET", "/board/events", headers={"Last-Event-ID": event["id"]}) as stream:
                quiet = sse_events(stream, wanted=1, within_s=2.5)
        except httpx.ReadTimeout:
            quiet = []
        assert quiet == []

        # Unauthenticated: refused.
    assert httpx.get(f"{gateway.http_url}/board/events", timeout=10).status_code == 401


def test_home_leads_to_the_board_and_the_board_needs_a_login(gateway: GatewayProcesses) -> None:
    anonymous = httpx.get(f"{gateway.http_url}/", timeout=10, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login?next=/board"
    assert httpx.get(f"{gateway.http_url}/board", timeout=10).status_code in (303, 200)
    with httpx.Client(base_url=gateway.http_url, cookies=session_cookie(gateway), timeout=10) as client:
        home = client.get("/", follow_redirects=False)
        assert home.status_code == 303 and home.headers["location"] == "/board"
        bad = client.get("/board", params={"state": "nonsense"})
        assert bad.status_code == 422 and 'id="state-error"' in bad.text
        listing = client.get("/cases", params={"state": "intake_requested", "period": "alle"})
        assert listing.status_code == 200 and "data-case=" in listing.text
        english = client.get("/board", params={"lang": "en"})
        assert "Since arrival" in english.text and "Sinds aankomst" not in english.text
    with httpx.Client(base_url=gateway.http_url, cookies=session_cookie(gateway, POLICE_OFFICER)) as police:
        for path in ("/board", "/figures", "/cases"):
            refused = police.get(path)
            assert refused.status_code == 403 and "data-case" not in refused.text, path
        assert police.get("/board/table").status_code == 403
        assert police.get("/board/events").status_code == 403
