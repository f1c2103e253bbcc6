"""Screenshots of every page, desktop and phone (390×844), into docs/screenshots/ (`make screenshots`).

Starts the gateway as shipped (`spoedplein run`) on free ports in a fresh data directory with the sample
roster (its SMS go to a file, so nobody real is paged), adds a coordinator, seeds it the way the ED
would (fictional HL7 A04 messages over MLLP, a discharge without a check, then the workflow through the
API), and photographs each page in Debian's Chromium (Playwright, never a downloaded browser). Every
patient in it is made up.

    .venv/bin/python tools/screenshots.py [--out docs/screenshots]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, ViewportSize, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.hl7.client import MLLPClient  # noqa: E402

TOKEN = "screenshots-token"
USER, PASSWORD = "coordinator", "screenshots only"
DESKTOP: ViewportSize = {"width": 1366, "height": 900}
PHONE: ViewportSize = {"width": 390, "height": 844}
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]

# Fictional patients. Dates are in the past week so the board's default period shows them.
A04 = (
    "MSH|^~\\&|HIX|ETZ|SPOEDPLEIN|ETZ|{at}+0100||ADT^A04^ADT_A01|{cid}|P|2.5\r"
    "EVN|A04|{at}+0100\r"
    "PID|1||{mrn}^^^ETZ^PI||{family}^{given}||{birth}|{sex}\r"
    "PV1|1|E|SEH^K1^1^ETZ||||01234^Arts^A||||||||||||{visit}|||||||||||||||||||||||||{at}+0100\r"
    "PV2|||^{complaint}\r"
)
A03 = (
    "MSH|^~\\&|HIX|ETZ|SPOEDPLEIN|ETZ|{at}+0100||ADT^A03^ADT_A03|{cid}|P|2.5\r"
    "EVN|A03|{at}+0100\r"
    "PID|1||{mrn}^^^ETZ^PI||{family}^{given}||{birth}|{sex}\r"
    "PV1|1|E|SEH^K1^1^ETZ||||01234^Arts^A||||||||||||{visit}|||||||||||||||||||||||||{at}+0100\r"
)
PATIENTS = [
    {"family": "Voorbeeld", "given": "Sem", "birth": "{infant}", "sex": "M",
     "complaint": "Blauwe plek achter het linker oor, ouders weten niet hoe"},
    {"family": "Proef", "given": "Lotte", "birth": "{infant}", "sex": "F",
     "complaint": "Blauwe plekken op de buik en de rug, geen verklaring"},
    {"family": "Test", "given": "Anna", "birth": "19900304", "sex": "F",
     "complaint": "Door partner gewurgd, kort buiten bewustzijn, petechien in het gezicht"},
    {"family": "Demo", "given": "Noah", "birth": "{infant}", "sex": "M",
     "complaint": "Blauwe plek op de wang en het oor, val van de bank volgens vader"},
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], bool], what: str, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.3)
    raise SystemExit(f"timed out waiting for {what}")


class Gateway:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.http_port, self.mllp_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.env = {
            **os.environ,
            "SPOEDPLEIN_DATA_DIR": str(data_dir),
            "SPOEDPLEIN_HTTP_PORT": str(self.http_port),
            "SPOEDPLEIN_MLLP_PORT": str(self.mllp_port),
            "SPOEDPLEIN_API_TOKEN": TOKEN,
            "SPOEDPLEIN_PUBLIC_BASE_URL": self.url,
            "SPOEDPLEIN_ACK_DEADLINE_S": "60",  # an overdue acknowledgement shows on the board
        }
        self.binary = str(Path(sys.executable).with_name("spoedplein"))
        self.process: subprocess.Popen[bytes] | None = None

    def add_user(self, username: str, role: str, display_name: str) -> None:
        subprocess.run(
            [self.binary, "user", "add", username, "--role", role, "--display-name", display_name],
            input=PASSWORD + "\n",
            text=True,
            env=self.env,
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        log = (self.data_dir / "run.log").open("wb")
        self.process = subprocess.Popen(
            [self.binary, "run"], env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_for(lambda: httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200, "the gateway", 240)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        answer = httpx.request(
            method, f"{self.url}{path}", json=body, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        )
        if answer.status_code >= 300:
            raise SystemExit(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
        return answer.json()

    def send(self, message: str) -> None:
        with MLLPClient("127.0.0.1", self.mllp_port) as client:
            client.send(message.encode("utf-8"))

    def sms(self) -> list[dict[str, str]]:
        path = self.data_dir / "outgoing" / "sms.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def seed(gateway: Gateway) -> dict[str, int]:
    """Four flagged visits; one confirmed with its intake requested and one party acknowledged, one
    dismissed, one discharged without a safe-discharge check. Returns the case ids by role."""
    infant = time.strftime("%Y%m%d", time.localtime(time.time() - 150 * 86400))
    for n, patient in enumerate(PATIENTS, start=1):
        at = time.strftime("%Y%m%d%H%M%S", time.localtime(time.time() - (5 - n) * 3600))
        fields = {**patient, "birth": patient["birth"].format(infant=infant)}
        gateway.send(A04.format(at=at, cid=f"SHOT-{n}", mrn=f"90{n:03d}", visit=f"VS{n}", **fields))

    def cases() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = gateway.api("GET", "/api/cases?limit=100")
        return found

    wait_for(lambda: len(cases()) >= len(PATIENTS), "the cases to open", timeout_s=120)
    ids = sorted(c["id"] for c in cases())
    paged, dismissed, discharged = ids[0], ids[1], ids[3]

    version = gateway.api("GET", f"/api/cases/{paged}/workflow")["version"]
    gateway.api(
        "POST", f"/api/cases/{paged}/confirm", {"expected_version": version, "melder": {"name": "Dr. Arts"}}
    )
    gateway.api(
        "POST",
        f"/api/cases/{paged}/consents",
        {"party": "forensic", "decision": "permit", "given_by": ["parent_or_guardian"]},
    )
    gateway.api(
        "POST",
        f"/api/cases/{paged}/legal-bases",
        {"party": "veilig_thuis", "basis": "meldrecht", "justification": "Zuigeling met onverklaard letsel"},
    )
    version = gateway.api("GET", f"/api/cases/{paged}/workflow")["version"]
    gateway.api("POST", f"/api/cases/{paged}/intake", {"expected_version": version})
    gateway.api(
        "POST",
        f"/api/cases/{paged}/intake/acknowledgements/veilig_thuis",
        {"earliest_available_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "acknowledged_by": "VT crisisdienst"},
    )

    version = gateway.api("GET", f"/api/cases/{dismissed}/workflow")["version"]
    gateway.api(
        "POST",
        f"/api/cases/{dismissed}/dismiss",
        {
            "expected_version": version,
            "reason_code": "accidental_mechanism_confirmed",
            "note": "Val van trap",
        },
    )

    patient = {**PATIENTS[3], "birth": PATIENTS[3]["birth"].format(infant=infant)}
    at = time.strftime("%Y%m%d%H%M%S")
    gateway.send(A03.format(at=at, cid="SHOT-A03", mrn="90004", visit="VS4", **patient))
    wait_for(lambda: any(m for m in gateway.sms() if "/p/" in m["text"]), "the first page SMS", timeout_s=60)
    return {"paged": paged, "discharged": discharged}


def shoot(browser: Browser, out: Path, name: str, prepare: Callable[[Page], None], *, phone: bool) -> None:
    viewport = PHONE if phone else DESKTOP
    context = browser.new_context(
        locale="nl-NL", viewport=viewport, is_mobile=phone, has_touch=phone, device_scale_factor=1
    )
    try:
        page = context.new_page()
        prepare(page)
        page.wait_for_load_state("networkidle")
        target = out / f"{name}-{'phone' if phone else 'desktop'}.png"
        page.screenshot(path=str(target), full_page=True)
        print(f"  {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    data_dir = Path(tempfile.mkdtemp(prefix="spoedplein-shots-"))
    gateway = Gateway(data_dir)
    try:
        gateway.add_user(USER, "coordinator", "C. Coördinator")
        gateway.start()
        ids = seed(gateway)

        def logged_in(path: str) -> Callable[[Page], None]:
            def go(page: Page) -> None:
                page.goto(f"{gateway.url}/login?next={path}")
                page.fill("#username", USER)
                page.fill("#password", PASSWORD)
                page.click("form[action='/login'] button[type=submit]")
                page.wait_for_url(f"**{path.split('?')[0]}*")

            return go

        def plain(path: str) -> Callable[[Page], None]:
            def go(page: Page) -> None:
                page.goto(f"{gateway.url}{path}")

            return go

        pages: dict[str, Callable[[Page], None]] = {
            "login": plain("/login"),
            "board": logged_in("/board"),
            "cases": logged_in("/cases?period=alle"),
            "figures": logged_in("/figures"),
            "case": logged_in(f"/cases/{ids['paged']}"),
            "case-discharged-without-check": logged_in(f"/cases/{ids['discharged']}"),
            "kindcheck": plain("/kindcheck"),
        }
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            for name, prepare in pages.items():
                for phone in (False, True):
                    shoot(browser, out, name, prepare, phone=phone)
            shoot_party(browser, gateway, out)
            browser.close()
    finally:
        gateway.stop()
        if os.environ.get("KEEP"):
            print("kept", data_dir)
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


def shoot_party(browser: Browser, gateway: Gateway, out: Path) -> None:
    """The paged forensic doctor's pages on a phone: the SMS's link (single use), the one-time code form,
    then the case as consent allows it; the case page again at desktop width."""
    message = next(m for m in gateway.sms() if "/p/" in m["text"])
    context = browser.new_context(locale="nl-NL", viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        page.goto(message["text"].split()[-1])
        page.screenshot(path=str(out / "party-code-phone.png"), full_page=True)
        before = len(gateway.sms())
        page.click("#send-code")
        wait_for(lambda: len(gateway.sms()) > before, "the one-time code")
        code = re.search(r"code is (\d{6})", gateway.sms()[-1]["text"])
        if code is None:
            raise SystemExit("no one-time code in the SMS")
        page.fill("#code", code.group(1))
        page.click("#verify-code")
        page.wait_for_selector("#party-reference")
        page.screenshot(path=str(out / "party-phone.png"), full_page=True)
        page.set_viewport_size(DESKTOP)
        page.screenshot(path=str(out / "party-desktop.png"), full_page=True)
        print("  party-code-phone.png, party-phone.png, party-desktop.png")
    finally:
        context.close()


if __name__ == "__main__":
    main()
