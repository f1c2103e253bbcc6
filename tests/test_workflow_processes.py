"""The workflow in the real processes (`serve`, `worker`, `beat`): an A04 over MLLP opens a case, the
physician confirms it over HTTP while the worker is SIGKILLed, and after the worker restarts every page
is requested exactly once, the beat's timer tick chases the unacknowledged parties, and an A03 before the
safe-discharge check alerts the coordinator. Embedded (SQLite) and production (PostgreSQL + Redis)."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import select

from adapters.hl7.ack import parse_ack
from adapters.hl7.client import MLLPClient
from notifications.models import Page
from store.audit import chain_key
from store.db import Database, make_engine
from tests.conftest import TEST_KEY, new_postgres_database
from tests.gateway_process import API_TOKEN, GatewayProcesses

pytestmark = pytest.mark.serial

MESSAGE = (
    "MSH|^~\\&|HIX|ETZ|SPOEDPLEIN|ETZ|20261123100000+0100||ADT^{event}^ADT_A01|{cid}|P|2.5\r"
    "PID|1||P-4711^^^ETZ^PI||Testpersoon^Kind||20260801|F\r"
    "PV1|1|E|SEH^K1^1^ETZ||||||||||||||||V-4711|||||||||||||||||||||||||20261123095500+0100\r"
    "PV2|||^blauwe plek op de wang\r"
)


@pytest.fixture(params=["embedded", "postgresql+redis"])
def gateway(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GatewayProcesses]:
    env = {
        "SPOEDPLEIN_ACK_DEADLINE_S": "1",
        "SPOEDPLEIN_ENCRYPTION_KEY": base64.b64encode(TEST_KEY).decode(),
    }
    if request.param == "postgresql+redis":
        env["SPOEDPLEIN_DATABASE_URL"] = new_postgres_database(request.getfixturevalue("postgres_server"))
        broker = request.getfixturevalue("redis_server").url
        redis.Redis.from_url(broker).flushdb()
        env["SPOEDPLEIN_BROKER_URL"] = broker
    processes = GatewayProcesses(tmp_path / "gw", env=env)
    yield processes
    processes.stop_all()


def send(gateway: GatewayProcesses, event: str, cid: str) -> None:
    client = MLLPClient("127.0.0.1", gateway.mllp_port, timeout_s=10)
    try:
        ack = parse_ack(client.send(MESSAGE.format(event=event, cid=cid).encode()))
    finally:
        client.close()
    assert ack.code == "AA", ack


def database(gateway: GatewayProcesses) -> Database:
    url = gateway.env.get("SPOEDPLEIN_DATABASE_URL") or f"sqlite:///{gateway.data_dir / 'spoedplein.sqlite'}"
    return Database(make_engine(url), audit_key=chain_key(TEST_KEY))


def requests_made(db: Database) -> Counter[tuple[str, str, str]]:
    with db.read() as session:
        rows = session.execute(select(Page)).scalars()
        return Counter((r.purpose, r.party, r.reason) for r in rows)


def test_pages_timers_and_the_discharge_guard_survive_a_killed_worker(gateway: GatewayProcesses) -> None:
    gateway.start("serve")
    gateway.start("beat")
    gateway.start("worker")
    send(gateway, "A04", "WF-1")
    gateway.wait_for(lambda: gateway.api("/api/cases"), what="a case opened by the worker")
    (case,) = gateway.api("/api/cases")
    gateway.kill("worker")  # from here on, work piles up in the outbox

    http = httpx.Client(
        base_url=gateway.http_url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30
    )
    url = f"/api/cases/{case['id']}"

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = http.post(url + path, json=body)
        assert response.status_code in (200, 201), response.text
        result: dict[str, Any] = response.json()
        return result

    state = post("/confirm", {"expected_version": case["version"], "melder": {"name": "Dr. P"}})
    assert state["state"] == "confirmed"
    post("/consents", {"party": "forensic", "decision": "permit", "given_by": ["parent_or_guardian"]})
    post(
        "/legal-bases",
        {"party": "veilig_thuis", "basis": "meldrecht", "justification": "zuigeling, blauwe plek"},
    )
    version = http.get(url + "/workflow").json()["version"]
    intake = post("/intake", {"expected_version": version})
    assert {p["party"] for p in intake["parties"]} == {"forensic", "veilig_thuis"}

    db = database(gateway)
    try:
        assert requests_made(db) == Counter()  # the worker is dead: nothing has been paged yet
        gateway.start("worker")
        expected = Counter(
            {
                ("intake", "forensic", "injuries"): 1,
                ("intake", "veilig_thuis", "child_involved"): 1,
                ("alert", "", "ack_overdue"): 2,  # nobody acknowledged within 1 s
            }
        )
        gateway.wait_for(lambda: requests_made(db) == expected, timeout_s=90, what="pages and ack alerts")

        send(gateway, "A03", "WF-2")  # the child leaves before the safe-discharge check
        expected[("alert", "", "discharged_without_check")] = 1
        gateway.wait_for(lambda: requests_made(db) == expected, timeout_s=60, what="the discharge alert")
        timeline = http.get(url + "/timeline").json()
        assert [e["severity"] for e in timeline if e["kind"] == "discharged_without_check"] == ["critical"]
    finally:
        db.dispose()
        http.close()


def test_under_run_pages_are_requested_once_though_worker_and_beat_are_killed_mid_work(
    gateway: GatewayProcesses,
) -> None:
    """`spoedplein run` as a user starts it: the intake is requested, then the worker and the beat are
    SIGKILLed while its pages are being requested; the supervisor restarts both and every page is
    requested exactly once, the ack-overdue alerts too."""
    gateway.run()
    send(gateway, "A04", "RUN-1")
    gateway.wait_for(lambda: gateway.api("/api/cases"), what="a case opened by the worker")
    (case,) = gateway.api("/api/cases")
    http = httpx.Client(
        base_url=gateway.http_url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=30
    )
    url = f"/api/cases/{case['id']}"

    def post(path: str, body: dict[str, Any]) -> None:
        response = http.post(url + path, json=body)
        assert response.status_code in (200, 201), response.text

    db = database(gateway)
    try:
        post("/confirm", {"expected_version": case["version"], "melder": {"name": "Dr. P"}})
        post("/consents", {"party": "forensic", "decision": "permit", "given_by": ["parent_or_guardian"]})
        post(
            "/legal-bases",
            {"party": "veilig_thuis", "basis": "meldrecht", "justification": "zuigeling, blauwe plek"},
        )
        post("/intake", {"expected_version": http.get(url + "/workflow").json()["version"]})
        for part in ("worker", "beat"):  # mid-work: the pages are being requested now
            gateway.wait_restarted(part, gateway.kill_supervised(part))
        expected = Counter(
            {
                ("intake", "forensic", "injuries"): 1,
                ("intake", "veilig_thuis", "child_involved"): 1,
                ("alert", "", "ack_overdue"): 2,
            }
        )
        gateway.wait_for(lambda: requests_made(db) == expected, timeout_s=120, what="pages and ack alerts")
        assert "worker exited with -9; restarting" in gateway.log("run")
    finally:
        db.dispose()
        http.close()
