"""The TOTP second factor of a local login: enrolled with the CLI (the secret shown once, stored
encrypted), asked after the password in headless Chromium against the real gateway process, refused
when wrong or used twice, counted toward the lockout, and required for outside parties when the setting
says so.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from identity import service, totp
from identity.models import Role
from identity.service import LoginRefused
from store import encrypted
from store.audit import AuditEntry
from store.crypto import FieldCipher
from store.db import Database
from tests.conftest import TEST_KEY
from tests.gateway_process import GatewayProcesses
from tests.test_pages import CHROMIUM_ARGS, PASSWORD, add_user

SPOEDPLEIN = str(Path(sys.executable).with_name("spoedplein"))


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcesses]:
    processes = GatewayProcesses(
        tmp_path_factory.mktemp("totp") / "gw",
        env={"SPOEDPLEIN_TOTP_REQUIRED_FOR_PARTIES": "true", "SPOEDPLEIN_LOGIN_MAX_FAILURES": "3"},
    )
    try:
        processes.start("serve")
        yield processes
    finally:
        processes.stop_all()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def enrol(gateway: GatewayProcesses, username: str) -> str:
    """`spoedplein user totp NAME`, as an operator runs it; returns the secret it printed."""
    done = subprocess.run(
        [SPOEDPLEIN, "user", "totp", username, "--data-dir", str(gateway.data_dir)],
        env=gateway.env,
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    uri = done.stdout.splitlines()[0]
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp" and username in parts.path
    secret = parse_qs(parts.query)["secret"][0]
    assert f"secret: {secret}" in done.stdout and parse_qs(parts.query)["issuer"] == ["Spoedplein"]
    return secret


def form_token(page: httpx.Response) -> dict[str, str]:
    """The login form's CSRF field (its cookie stays in the client): posts with cookies need it."""
    found = re.search(r'name="csrftoken" value="([^"]+)"', page.text)
    assert found is not None
    return {"csrftoken": found.group(1)}


def entries(gateway: GatewayProcesses, **where: str) -> list[AuditEntry]:
    with Session(create_engine(f"sqlite:///{gateway.data_dir / 'spoedplein.sqlite'}")) as db:
        query = select(AuditEntry)
        for column, value in where.items():
            query = query.where(getattr(AuditEntry, column) == value)
        return list(db.execute(query.order_by(AuditEntry.seq)).scalars())


def test_a_physician_enrolled_with_the_cli_logs_in_with_password_and_code_in_chromium(
    gateway: GatewayProcesses, browser: Browser
) -> None:
    add_user(gateway, "arts.totp", "Dr. T. Otp")
    secret = enrol(gateway, "arts.totp")
    # Stored encrypted: the secret is nowhere in the database file in clear.
    assert secret.encode() not in (gateway.data_dir / "spoedplein.sqlite").read_bytes()

    context = browser.new_context(locale="nl-NL")
    page = context.new_page()
    page.goto(f"{gateway.http_url}/login")
    page.fill("#username", "arts.totp")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#code")
    assert "Code uit uw authenticator-app" in page.inner_text("h1")
    assert not any(c["name"] == "spoedplein_sessie" for c in context.cookies())  # no session yet
    code = pyotp.TOTP(secret).now()
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    page.fill("#code", wrong)
    page.click("button[type=submit]")
    page.wait_for_selector("#code-error")
    assert "klopt niet" in page.inner_text("#code-error")
    page.fill("#code", pyotp.TOTP(secret).now())
    page.click("button[type=submit]")
    page.wait_for_selector("text=U bent ingelogd als Dr. T. Otp")
    assert any(c["name"] == "spoedplein_sessie" for c in context.cookies())
    context.close()
    logins = entries(gateway, actor_name="Dr. T. Otp", source="password+totp")
    assert [(e.action, e.reason) for e in logins] == [("login_failed", "wrong_code"), ("login", "")]


def test_wrong_codes_count_toward_the_lockout(gateway: GatewayProcesses) -> None:
    add_user(gateway, "arts.gokker", "Dr. G. Okker")
    secret = enrol(gateway, "arts.gokker")
    with httpx.Client(base_url=gateway.http_url, timeout=30, follow_redirects=False) as client:
        csrf = form_token(client.get("/login"))

        def password_then(code: str) -> httpx.Response:
            asked = client.post("/login", data={**csrf, "username": "arts.gokker", "password": PASSWORD})
            assert asked.status_code == 200 and 'name="code"' in asked.text
            return client.post("/login/code", data={**csrf, "code": code})

        current = pyotp.TOTP(secret).now()
        wrong = f"{(int(current) + 7) % 1_000_000:06d}"
        # Two wrong codes, each after a right password: the password does not reset the count.
        assert password_then(wrong).status_code == 401
        assert password_then(wrong).status_code == 401
        locked = password_then(wrong)
        assert locked.status_code == 401 and "tijdelijk geblokkeerd" in locked.text
        # Locked: even the right password is refused now, so no code is asked.
        again = client.post("/login", data={**csrf, "username": "arts.gokker", "password": PASSWORD})
        assert again.status_code == 401 and 'name="code"' not in again.text
        assert "spoedplein_sessie" not in client.cookies


def test_the_code_form_without_a_password_first_says_start_again(gateway: GatewayProcesses) -> None:
    answer = httpx.post(f"{gateway.http_url}/login/code", data={"code": "123456"}, timeout=30)
    assert answer.status_code == 400 and "duurde te lang" in answer.text and "Traceback" not in answer.text


def test_an_outside_party_without_a_second_factor_is_refused_when_the_setting_requires_one(
    gateway: GatewayProcesses,
) -> None:
    add_user(gateway, "politie.zonder", "Agent Z. Onder", role="police")
    refused = httpx.post(
        f"{gateway.http_url}/login", data={"username": "politie.zonder", "password": PASSWORD}, timeout=30
    )
    assert refused.status_code == 401 and "verplicht" in refused.text
    assert "spoedplein_sessie" not in refused.cookies
    assert [e.reason for e in entries(gateway, actor_name="Agent Z. Onder")] == ["no_second_factor"]
    # Enrolled, the same person logs in with the code.
    secret = enrol(gateway, "politie.zonder")
    with httpx.Client(base_url=gateway.http_url, timeout=30, follow_redirects=False) as client:
        csrf = form_token(client.get("/login"))
        client.post("/login", data={**csrf, "username": "politie.zonder", "password": PASSWORD})
        done = client.post("/login/code", data={**csrf, "code": pyotp.TOTP(secret).now()})
        assert done.status_code == 303 and "spoedplein_sessie" in client.cookies


def test_a_code_is_good_once_and_only_near_now(db: Database) -> None:
    now = datetime(2026, 12, 2, 12, 0, 10, tzinfo=UTC)
    encrypted.install(FieldCipher(TEST_KEY), db.engine)  # the secret's column encrypts with it
    with db.write() as session:
        service.create_user(session, username="once", role=Role.PHYSICIAN, password=PASSWORD)
        secret, _ = totp.enrol(session, username="once")
        user = service.get_by_username(session, "once")
        assert user is not None
        code = pyotp.TOTP(secret)

        def check(value: str) -> LoginRefused | None:
            assert user is not None
            return totp.check_code(
                session, user=user, code=value, now=now, max_failures=5, lockout=timedelta(minutes=15)
            )

        assert check(code.at(now)) is None
        # The same code again (a replay) and a code of two minutes ago are refused.
        assert check(code.at(now)) == LoginRefused.WRONG_CODE
        old = code.at(now - timedelta(minutes=2))
        assert check(old) == LoginRefused.WRONG_CODE
        # The next step's code (a phone clock a little ahead) is accepted once.
        ahead = code.at(now + timedelta(seconds=30))
        assert check(ahead) is None
        assert user.failed_logins == 0
