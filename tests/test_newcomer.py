"""What a newcomer meets first: the API token file holds the token the API accepts (generated, or chosen
with SPOEDPLEIN_API_TOKEN), and `/docs` works without internet (headless Chromium, every request that
leaves the machine refused)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from core.runtime import Runtime
from core.settings import Settings
from tests.conftest import new_sqlite_database
from tests.fhir_helpers import GatewayServer, make_runtime

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def start(tmp_path: Path, **settings: object) -> Runtime:
    return Runtime.start(Settings(data_dir=tmp_path, **settings))  # type: ignore[arg-type]


def test_the_token_file_holds_the_generated_token_the_api_accepts(tmp_path: Path) -> None:
    runtime = start(tmp_path)
    try:
        assert (tmp_path / "secrets" / "api-token").read_text().strip() == runtime.api_token
        assert (tmp_path / "secrets" / "api-token").stat().st_mode & 0o777 == 0o600
    finally:
        runtime.close()
    again = start(tmp_path)
    try:
        assert again.api_token == runtime.api_token  # generated once
    finally:
        again.close()


def test_a_token_chosen_in_the_environment_is_the_one_in_the_file(tmp_path: Path) -> None:
    start(tmp_path).close()  # a generated token first…
    chosen = start(tmp_path, api_token="chosen-token-123")  # …then the operator chooses one
    try:
        assert chosen.api_token == "chosen-token-123"
        assert (tmp_path / "secrets" / "api-token").read_text().strip() == "chosen-token-123"
    finally:
        chosen.close()


def test_a_token_file_of_the_old_format_is_read_as_the_token_it_stood_for(tmp_path: Path) -> None:
    raw = bytes(range(250, 256)) + bytes(18)  # base64 of these has '+' and '/'
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "api-token").write_text(base64.b64encode(raw).decode() + "\n")
    runtime = start(tmp_path)
    try:
        assert runtime.api_token == base64.urlsafe_b64encode(raw).decode().rstrip("=")
        assert (tmp_path / "secrets" / "api-token").read_text().strip() == runtime.api_token
    finally:
        runtime.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayServer]:
    runtime = make_runtime(new_sqlite_database(tmp_path), tmp_path)
    with GatewayServer(runtime) as server:
        yield server
    runtime.close()


def test_the_api_docs_render_without_internet(browser: Browser, gateway: GatewayServer) -> None:
    rendered = ".swagger-ui .info .title"
    page = browser.new_page()
    outside: list[str] = []

    def only_the_gateway(route: object) -> None:
        url = route.request.url  # type: ignore[attr-defined]
        if url.startswith(gateway.url):
            route.continue_()  # type: ignore[attr-defined]
        else:
            outside.append(url)
            route.abort()  # type: ignore[attr-defined]

    page.route("**/*", only_the_gateway)
    page.goto(f"{gateway.url}/docs")
    page.wait_for_selector(rendered, timeout=20_000)
    assert "Spoedplein gateway" in page.inner_text(rendered)
    assert outside == []  # nothing was even asked of the internet
    page.wait_for_selector(".opblock-tag", timeout=20_000)  # the operations are listed too
    page.close()
