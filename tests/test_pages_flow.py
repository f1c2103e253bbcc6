"""The whole case in a real headless Chromium against the real gateway processes, with a real SMS server:
the physician confirms, records consent and a legal basis, asks for the joint intake; the forensic
physician opens the SMS's link on a phone-sized screen, enters the one-time code and acknowledges; the
physician's page shows it without a reload; the intake time is agreed; the melding is edited, previewed
as PDF and approved; the safe-discharge check is done and the case closed. And: a police officer whose
page was stood down after the victim refused police sees nothing of the case; a WGBO error is shown next
to its field; the page in English.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, ViewportSize, expect, sync_playwright

from gateway.pages import auth
from tests.gateway_process import API_TOKEN, GatewayProcesses
from tests.pager_fixtures import NUMBERS, ROSTER, write_roster
from tests.paging_servers import Sms, SmsGateway
from tests.test_pages import CHROMIUM_ARGS, PHYSICIAN, USERS, add_user, log_in, open_flagged_case

PHONE: ViewportSize = {"width": 390, "height": 844}
LOCAL = ZoneInfo("Europe/Amsterdam")
SMS_ONLY = ROSTER.format(**NUMBERS).replace("[sms, email]", "[sms]")  # no SMTP server in this test


@pytest.fixture(scope="module")
def sms() -> Iterator[SmsGateway]:
    server = SmsGateway()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, sms: SmsGateway) -> Iterator[GatewayProcesses]:
    root = tmp_path_factory.mktemp("flow")
    processes = GatewayProcesses(
        root / "gw",
        env={
            "SPOEDPLEIN_ROSTER_FILE": str(write_roster(root, SMS_ONLY)),
            "SPOEDPLEIN_SMS_URL": sms.url,
            "SPOEDPLEIN_SMS_TOKEN": sms.token,
            "SPOEDPLEIN_ACK_DEADLINE_S": "86400",
        },
    )
    processes.env["SPOEDPLEIN_PUBLIC_BASE_URL"] = processes.http_url  # the links in the SMS point here
    add_user(processes, USERS[PHYSICIAN], PHYSICIAN)
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
def desk(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(locale="nl-NL")
    yield ctx
    ctx.close()


def phone(browser: Browser) -> BrowserContext:
    return browser.new_context(locale="nl-NL", viewport=PHONE, is_mobile=True, has_touch=True)


def page_link(gateway: GatewayProcesses, sms: SmsGateway, numbers: tuple[str, ...], seen: set[str]) -> Sms:
    """The next page SMS (with its link) to one of `numbers` (whoever is on call) not seen before."""
    found: list[Sms] = []

    def arrived() -> bool:
        found[:] = [
            m for number in numbers for m in sms.to(number) if "/p/" in m.text and m.reference not in seen
        ]
        return bool(found)

    gateway.wait_for(arrived, timeout_s=60, what=f"a page to {numbers}")
    seen.add(found[0].reference)
    return found[0]


def one_time_code(gateway: GatewayProcesses, sms: SmsGateway, number: str, seen: set[str]) -> str:
    codes: list[Sms] = []

    def arrived() -> bool:
        codes[:] = [m for m in sms.to(number) if "uw code is" in m.text and m.reference not in seen]
        return bool(codes)

    gateway.wait_for(arrived, timeout_s=30, what="the one-time code")
    seen.add(codes[0].reference)
    match = re.search(r"uw code is (\d{6})", codes[0].text)
    assert match
    return match.group(1)


def open_on_phone(
    ctx: BrowserContext, gateway: GatewayProcesses, sms: SmsGateway, text: Sms, seen: set[str]
) -> Page:
    """Follow the SMS's link on a phone, ask for the code and enter it."""
    link = text.text.split()[-1]
    assert link.startswith(gateway.http_url + "/p/")
    page = ctx.new_page()
    page.goto(link)
    assert page.url.endswith("/p")
    assert "SP-" not in page.inner_text("main")  # nothing of the case before the code
    page.click("#send-code")
    page.fill("#code", one_time_code(gateway, sms, text.to, seen))
    page.click("#verify-code")
    return page


def choose_party(page: Page, form: str, party: str) -> None:
    page.select_option(f"{form} select[name=party]", party)


def test_confirm_consent_page_acknowledge_agree_approve_discharge_close(
    gateway: GatewayProcesses, sms: SmsGateway, browser: Browser, desk: BrowserContext
) -> None:
    seen: set[str] = set()
    case_id = open_flagged_case(gateway)
    doctor = desk.new_page()
    log_in(doctor, gateway, case_id)
    doctor.click("button:has-text('Bevestigen')")
    expect(doctor.locator(".state")).to_have_text("bevestigd")

    # The patient is an infant: the WGBO box says the parents decide. Consent for the forensic physician
    # from the parents; Veilig Thuis on the meldrecht, with its justification.
    expect(doctor.locator("#wgbo")).to_contain_text("ouders of voogd")
    choose_party(doctor, "#consent-form", "forensic")
    doctor.check("#consent-form input[name=decision][value=permit]")
    doctor.check("#consent-form input[name=given_by][value=parent_or_guardian]")
    doctor.click("#consent-form button[type=submit]")
    expect(doctor.locator("tr[data-party=forensic] td").first).to_contain_text("toestemming gegeven")
    choose_party(doctor, "#basis-form", "veilig_thuis")
    doctor.check("#basis-form input[name=basis][value=meldrecht]")
    doctor.fill("#basis-justification", "Zuigeling met onverklaard letsel; meldcode stap 5")
    doctor.click("#basis-form button[type=submit]")
    expect(doctor.locator("tr[data-party=veilig_thuis]")).to_contain_text("meldrecht")

    doctor.click("button:has-text('Intake aanvragen')")
    expect(doctor.locator(".state")).to_have_text("intake aangevraagd")
    expect(doctor.locator("#live tr[data-party=forensic]")).to_contain_text("gevraagd")

    # The forensic physician, on a phone: link → code → the case as consent allows → "I come from …".
    forensic_sms = page_link(gateway, sms, (NUMBERS["jansen"], NUMBERS["pietersen"]), seen)
    handset = phone(browser)  # kept to the end: the agreed time comes to the same phone
    mobile = open_on_phone(handset, gateway, sms, forensic_sms, seen)
    expect(mobile.locator("#party-reference")).to_contain_text("SP-")
    expect(mobile.locator("#party-patient")).to_contain_text("Jürgen")  # consent: identity shared
    assert mobile.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scroll
    arrival = datetime.now(LOCAL).strftime("%H:%M")
    mobile.fill("#at", arrival)
    mobile.click("#ack")
    expect(mobile.locator("#party-answer")).to_contain_text("U komt, vanaf")
    expect(mobile.locator("#party-address")).to_contain_text("Doctor Deelenlaan")
    # The code also gave them a real login session as themselves (a roster user, by page link).
    assert any(c["name"] == auth.COOKIE_NAME for c in handset.cookies())
    # That session is the forensic physician's, not the ED's: the physician's case page is refused.
    refused = mobile.request.get(f"{gateway.http_url}/cases/{case_id}")
    assert refused.status == 403 and "Jürgen" not in refused.text() and "SP-" not in refused.text()
    live = mobile.request.get(f"{gateway.http_url}/cases/{case_id}/live")
    assert live.status == 403

    # Veilig Thuis answers by its own channel (the API here); the physician's open page shows both
    # answers without a reload.
    httpx.post(
        f"{gateway.http_url}/api/cases/{case_id}/intake/acknowledgements/veilig_thuis",
        json={"earliest_available_at": datetime.now(LOCAL).isoformat(), "acknowledged_by": "VT crisis"},
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        timeout=10,
    ).raise_for_status()
    expect(doctor.locator("#live tr[data-party=forensic]")).to_have_attribute(
        "data-status", "acknowledged", timeout=15000
    )
    expect(doctor.locator("#live .answer[data-answer=acknowledged]").first).to_be_visible()
    expect(doctor.locator("#proposed-at")).not_to_have_text("nog niet", timeout=15000)

    doctor.reload()
    doctor.click("#agree-form button[type=submit]")
    expect(doctor.locator(".state")).to_have_text("intake gepland")
    expect(doctor.locator("#agreed-at")).not_to_have_text("nog niet")
    # The agreed time goes by SMS to everyone coming; on the phone still logged in as that physician,
    # its link opens the page without another code.
    time_sms = page_link(gateway, sms, (forensic_sms.to,), seen)
    mobile.goto(time_sms.text.split()[-1])
    expect(mobile.locator("#party-intake")).not_to_have_text("nog niet afgesproken")
    assert mobile.locator("#send-code").count() == 0
    handset.close()
    doctor.fill("#complete_intake-reason", "Intake samen met de forensisch arts afgerond")
    doctor.click("button:has-text('Intake is gedaan')")
    expect(doctor.locator(".state")).to_have_text("intake gedaan")

    # Meldcode step 5 "melden" → prepare, edit, preview as PDF, approve.
    doctor.click("#step-5 summary")  # steps 1-4 are not recorded here, so step 5 starts folded
    doctor.fill("#s5-summary", "Afgewogen met Veilig Thuis")
    doctor.check("#step-5 input[name=decision][value=melden]")
    doctor.click("#step-5 button[type=submit]")
    expect(doctor.locator("#step-5")).to_contain_text("melden bij Veilig Thuis")
    doctor.click("button:has-text('Melding voorbereiden')")
    doctor.fill("#m-facts", "Blauwe plek achter het linker oor\nOuders hebben geen verklaring")
    doctor.click("#melding-form button[type=submit]")
    expect(doctor.locator(".melding-status")).to_have_text("concept")
    pdf = doctor.request.get(f"{gateway.http_url}/cases/{case_id}/melding.pdf")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf" and pdf.body().startswith(b"%PDF")
    assert doctor.get_attribute("#melding-pdf", "href") == f"/cases/{case_id}/melding.pdf"
    doctor.click("#approve-form button[type=submit]")
    expect(doctor.locator(".melding-status")).to_have_attribute(
        "data-status", re.compile("approved|sent|delivered")
    )

    # "Kunt u veilig naar huis?" → safe discharge → closed.
    doctor.check("input[name=safe_home_question_asked]")
    doctor.check("input[name=safe_home_answer][value=no]")
    doctor.select_option("#d-destination", "family_or_friends")
    doctor.check("input[name=safety_plan_agreed]")
    doctor.check("input[name=huisverbod_considered]")
    if doctor.locator("input[name=children_safety_arranged]").count():
        doctor.check("input[name=children_safety_arranged]")
    doctor.fill("#d-follow", "Huisarts over twee dagen")
    doctor.check("input[name=hand_over_to][value=veilig_thuis]")
    doctor.click("#discharge-form button[type=submit]")
    expect(doctor.locator("#discharge-title + .banner.ok")).to_be_visible()
    doctor.click("button:has-text('Veilig ontslag vaststellen')")
    expect(doctor.locator(".state")).to_have_text("veilig ontslag")
    doctor.click("button:has-text('Casus sluiten')")
    expect(doctor.locator(".state")).to_have_text("gesloten")
    timeline = doctor.inner_text(".timeline")
    for sentence in (
        "Toestemming voor forensisch arts: toestemming gegeven",
        "Forensisch arts bevestigt de oproep",
        "Melding Veilig Thuis: goedgekeurd door de arts",
        "Casus gesloten",
    ):
        assert sentence in timeline
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", timeline)  # no raw code anywhere

    # The same page in English, and the choice sticks.
    doctor.goto(f"{gateway.http_url}/cases/{case_id}?lang=en")
    assert doctor.get_attribute("html", "lang") == "en"
    expect(doctor.locator("h1")).to_contain_text("Case SP-")
    expect(doctor.locator(".state")).to_have_text("closed")
    assert "Consent for forensic physician: consent given" in doctor.inner_text(".timeline")
    doctor.goto(f"{gateway.http_url}/cases/{case_id}")
    assert doctor.get_attribute("html", "lang") == "en"


def test_a_party_that_cannot_come_says_why_and_the_physician_reads_it_on_the_timeline(
    gateway: GatewayProcesses, sms: SmsGateway, browser: Browser, desk: BrowserContext
) -> None:
    seen = set(sms.accepted)  # the module's earlier tests paged this same doctor: only new SMS count
    case_id = open_flagged_case(gateway)
    doctor = desk.new_page()
    log_in(doctor, gateway, case_id)
    doctor.click("button:has-text('Bevestigen')")
    choose_party(doctor, "#consent-form", "forensic")
    doctor.check("#consent-form input[name=decision][value=permit]")
    doctor.check("#consent-form input[name=given_by][value=parent_or_guardian]")
    doctor.click("#consent-form button[type=submit]")
    expect(doctor.locator("tr[data-party=forensic] td").first).to_contain_text("toestemming gegeven")
    doctor.click("button:has-text('Intake aanvragen')")
    expect(doctor.locator(".state")).to_have_text("intake aangevraagd")

    handset = phone(browser)
    try:
        text = page_link(gateway, sms, (NUMBERS["jansen"],), seen)
        mobile = open_on_phone(handset, gateway, sms, text, seen)
        mobile.fill("#reason", "Sta nu bij een sectie in Breda")
        mobile.click("#decline")
        expect(mobile.locator("#party-answer")).to_be_visible()
    finally:
        handset.close()

    doctor.reload()
    expect(doctor.locator("#timeline-title + table")).to_contain_text(
        "kan niet komen (reden: Sta nu bij een sectie in Breda)"
    )


def test_a_consent_error_is_shown_next_to_the_field_and_nothing_is_recorded(
    gateway: GatewayProcesses, desk: BrowserContext
) -> None:
    case_id = open_flagged_case(gateway)
    doctor = desk.new_page()
    log_in(doctor, gateway, case_id)
    doctor.click("button:has-text('Bevestigen')")
    # An infant cannot consent for itself (WGBO: under 12 the parents decide).
    choose_party(doctor, "#consent-form", "police")
    doctor.check("#consent-form input[name=decision][value=permit]")
    doctor.check("#consent-form input[name=given_by][value=patient]")
    doctor.click("#consent-form button[type=submit]")
    error = doctor.locator("#given_by-error")
    expect(error).to_contain_text("hangt af van de leeftijd")
    assert (
        doctor.get_attribute("#consent-form fieldset[aria-describedby=given_by-error]", "aria-invalid")
        == "true"
    )
    # What was typed stays; nothing was recorded.
    assert doctor.locator("#consent-party").input_value() == "police"
    consents = httpx.get(
        f"{gateway.http_url}/api/cases/{case_id}/consents",
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        timeout=10,
    ).json()
    assert consents["consents"] == []


def test_the_police_see_nothing_once_the_victim_refused_police(
    gateway: GatewayProcesses, sms: SmsGateway, browser: Browser, desk: BrowserContext
) -> None:
    seen = {m.reference for m in sms.accepted.values()}
    case_id = open_flagged_case(gateway)
    doctor = desk.new_page()
    log_in(doctor, gateway, case_id)
    doctor.click("button:has-text('Bevestigen')")
    # The parents first agree to the police, then refuse: the police page is stood down.
    choose_party(doctor, "#consent-form", "police")
    doctor.check("#consent-form input[name=decision][value=permit]")
    doctor.check("#consent-form input[name=given_by][value=parent_or_guardian]")
    doctor.click("#consent-form button[type=submit]")
    doctor.click("button:has-text('Intake aanvragen')")
    police_sms = page_link(gateway, sms, (NUMBERS["police1"],), seen)
    choose_party(doctor, "#consent-form", "police")
    doctor.check("#consent-form input[name=decision][value=deny]")
    doctor.check("#consent-form input[name=given_by][value=parent_or_guardian]")
    doctor.click("#consent-form button[type=submit]")
    expect(doctor.locator("tr[data-party=police] td").first).to_contain_text("geweigerd")

    handset = phone(browser)
    try:
        officer = open_on_phone(handset, gateway, sms, police_sms, seen)
        text = officer.inner_text("main")
        assert "SP-" not in text and "Jürgen" not in text and "Berg" not in text
        expect(officer.locator("#party-reference")).to_have_text("niet gedeeld")
        expect(officer.locator("#withheld")).to_contain_text("identiteit van de patiënt")
        assert officer.locator("#ack").count() == 0  # a stood-down page takes no answer
    finally:
        handset.close()
