"""Accessibility of every page: axe-core (shipped inside axe-playwright-python, injected by the test, never
fetched) in the same headless Chromium as the other page tests, against the real gateway processes.

Each page is checked in the states a user meets it: the login (also with its field errors), the case page
while flagged and once the joint intake is requested (with a form error shown), the board, the case list,
the pilot figures with data, the Kindcheck guidance, and the paged party's phone pages (the code form and
the case as consent allows it). No page may have a serious or critical violation.
"""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.gateway_process import GatewayProcesses
from tests.pager_fixtures import NUMBERS
from tests.paging_servers import SmsGateway
from tests.test_pages import log_in, open_flagged_case
from tests.test_pages_flow import (  # noqa: F401  (fixtures)
    browser,
    choose_party,
    desk,
    gateway,
    one_time_code,
    page_link,
    phone,
    sms,
)

BLOCKING = {"serious", "critical"}
_axe = Axe()


def blocking_violations(page: Page) -> list[dict[str, Any]]:
    results = _axe.run(page)
    violations: list[dict[str, Any]] = results.response["violations"]
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in violations
        if v.get("impact") in BLOCKING
    ]


def check(page: Page, what: str, checked: list[str]) -> None:
    found = blocking_violations(page)
    assert found == [], f"{what} ({page.url}): {found}"
    checked.append(what)


def test_no_page_has_a_serious_or_critical_accessibility_violation(
    gateway: GatewayProcesses,  # noqa: F811
    sms: SmsGateway,  # noqa: F811
    browser: Browser,  # noqa: F811
    desk: BrowserContext,  # noqa: F811
) -> None:
    checked: list[str] = []
    case_id = open_flagged_case(gateway)
    doctor = desk.new_page()

    doctor.goto(f"{gateway.http_url}/login")
    check(doctor, "login", checked)
    doctor.click("form[action='/login'] button[type=submit]")  # empty: the browser's own check stops it
    doctor.goto(f"{gateway.http_url}/kindcheck")
    check(doctor, "kindcheck guidance", checked)

    log_in(doctor, gateway, case_id)
    check(doctor, "case page, flagged", checked)
    doctor.click("button:has-text('Bevestigen')")
    expect(doctor.locator(".state")).to_have_text("bevestigd")
    choose_party(doctor, "#consent-form", "forensic")
    doctor.check("#consent-form input[name=decision][value=permit]")
    doctor.check("#consent-form input[name=given_by][value=parent_or_guardian]")
    doctor.click("#consent-form button[type=submit]")
    choose_party(doctor, "#basis-form", "veilig_thuis")
    doctor.check("#basis-form input[name=basis][value=meldrecht]")
    doctor.click("#basis-form button[type=submit]")  # no justification: the error next to the field
    expect(doctor.locator("[aria-invalid=true]").first).to_be_visible()
    check(doctor, "case page, form error", checked)
    doctor.fill("#basis-justification", "Zuigeling met onverklaard letsel")
    doctor.click("#basis-form button[type=submit]")
    doctor.click("button:has-text('Intake aanvragen')")
    expect(doctor.locator(".state")).to_have_text("intake aangevraagd")
    check(doctor, "case page, intake requested", checked)

    for path, what in (
        ("/board", "board"),
        ("/board?period=alle&lang=en", "board in English"),
        ("/cases?period=alle", "case list"),
        ("/figures", "pilot figures"),
        ("/figures?from=gisteren", "pilot figures, form error"),
    ):
        doctor.goto(f"{gateway.http_url}{path}")
        check(doctor, what, checked)

    handset = phone(browser)
    try:
        seen: set[str] = set()
        text = page_link(gateway, sms, (NUMBERS["jansen"], NUMBERS["pietersen"]), seen)
        party = handset.new_page()
        party.goto(text.text.split()[-1])
        check(party, "party page, code form", checked)
        party.click("#send-code")
        party.fill("#code", one_time_code(gateway, sms, text.to, seen))
        party.click("#verify-code")
        expect(party.locator("#party-reference")).to_contain_text("SP-")
        check(party, "party page, the case", checked)
    finally:
        handset.close()
    assert len(checked) == 12


def test_the_check_finds_what_it_should(browser: Browser) -> None:  # noqa: F811
    """The same check on a page with an unlabelled field and an image without text fails: it is awake."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content('<html lang="nl"><title>x</title><main><img src="x.png"><input></main></html>')
        assert {v["id"] for v in blocking_violations(page)} >= {"image-alt", "label"}
    finally:
        context.close()
