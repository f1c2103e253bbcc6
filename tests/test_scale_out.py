"""Scaled out on one machine (issue 15 §7): two gateway replicas (`http` + `mllp` each, separate processes,
own ports and data directory) and three workers plus one beat against one PostgreSQL + Redis.

While four senders stream (two to each replica), every message is stored once and processed once, each
acknowledged message sent again to the *other* replica gets the same ACK byte for byte and no new row,
two replicas racing on one control id answer alike and store it once, every case's timer fires once,
and every alert is paged once (counted by the recording SMS server).
"""

from __future__ import annotations

import base64
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from adapters.hl7.ack import parse_ack
from adapters.hl7.client import MLLPClient
from notifications.models import Page
from store.audit import chain_key
from store.db import Database, make_engine
from tests.conftest import TEST_KEY, new_postgres_database
from tests.gateway_load import MESSAGE, assert_each_stored_and_processed_once, processed_everything
from tests.gateway_process import ScaledOut
from tests.pager_fixtures import NUMBERS, ROSTER
from tests.paging_servers import SmsGateway
from workflows.models import CaseEvent, CaseTimer, EventKind

pytestmark = pytest.mark.slow

PER_SENDER = 40
RACES = 20


@pytest.fixture
def sms() -> Iterator[SmsGateway]:
    server = SmsGateway()
    yield server
    server.stop()


@pytest.fixture
def cluster(request: pytest.FixtureRequest, tmp_path: Path, sms: SmsGateway) -> Iterator[ScaledOut]:
    broker = request.getfixturevalue("redis_server").url
    redis.Redis.from_url(broker).flushdb()  # no task of an earlier test's database
    roster = tmp_path / "roster.yaml"
    # SMS only: what is counted is what the SMS server received.
    roster.write_text(ROSTER.format(**NUMBERS).replace("[sms, email]", "[sms]"))
    env = {
        "SPOEDPLEIN_DATABASE_URL": new_postgres_database(request.getfixturevalue("postgres_server")),
        "SPOEDPLEIN_BROKER_URL": broker,
        # Replicas share the key (and the token): each would otherwise make its own in its data directory.
        "SPOEDPLEIN_ENCRYPTION_KEY": base64.b64encode(TEST_KEY).decode(),
        "SPOEDPLEIN_ROSTER_FILE": str(roster),
        "SPOEDPLEIN_SMS_URL": sms.url,
        "SPOEDPLEIN_SMS_TOKEN": sms.token,
        # Every case's "open too long" timer falls due within the test: it fires, and pages the coordinator.
        "SPOEDPLEIN_CASE_OPEN_LIMIT_S": "2",
        "SPOEDPLEIN_LOG_LEVEL": "INFO",
    }
    scaled = ScaledOut(tmp_path / "cluster", env)
    yield scaled
    scaled.stop_all()


class Sender(threading.Thread):
    """Streams its messages in order to one port, resending until each has a positive ACK; keeps the ACKs."""

    def __init__(self, port: int, control_ids: list[str]) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.pending = list(control_ids)
        self.acks: dict[str, bytes] = {}
        self.deadline = time.monotonic() + 180

    def run(self) -> None:
        client: MLLPClient | None = None
        while self.pending and time.monotonic() < self.deadline:
            cid = self.pending[0]
            try:
                client = client or MLLPClient("127.0.0.1", self.port, timeout_s=10)
                ack = client.send(MESSAGE.format(cid=cid).encode())
            except OSError:
                if client is not None:
                    client.close()
                client = None
                time.sleep(0.05)
                continue
            parsed = parse_ack(ack)
            if parsed.code == "AA" and parsed.acked_control_id == cid:
                self.acks[cid] = ack
                self.pending.pop(0)
        if client is not None:
            client.close()


def race(ports: list[int], cid: str) -> list[bytes]:
    """The same message to every replica at once (one connection each, released together)."""
    clients = [MLLPClient("127.0.0.1", port, timeout_s=10) for port in ports]
    start = threading.Barrier(len(clients))
    acks: list[bytes] = [b""] * len(clients)

    def send(n: int) -> None:
        clients[n].connect()
        start.wait()
        acks[n] = clients[n].send(MESSAGE.format(cid=cid).encode())

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for client in clients:
        client.close()
    return acks


def test_two_replicas_three_workers_lose_nothing_and_double_nothing(
    cluster: ScaledOut, sms: SmsGateway
) -> None:
    cluster.start(workers=3)
    first, second = cluster.replicas
    ports = cluster.mllp_ports
    senders = [Sender(ports[s % 2], [f"S{s}-{n}" for n in range(PER_SENDER)]) for s in range(4)]
    for sender in senders:
        sender.start()
    raced = {f"RACE-{n}": race(ports, f"RACE-{n}") for n in range(RACES)}  # while the senders stream
    for sender in senders:
        sender.join(timeout=200)
    assert all(not s.pending for s in senders), "a sender gave up before every message was acknowledged"

    for cid, acks in raced.items():
        assert parse_ack(acks[0]).code == "AA" and acks[0] == acks[1], f"the replicas answered {cid} apart"
    # A resend to the other replica (the sender failed over) gets the first ACK again, byte for byte.
    for sender in senders:
        other = ports[1 - ports.index(sender.port)]
        client = MLLPClient("127.0.0.1", other, timeout_s=10)
        try:
            for cid, ack in sender.acks.items():
                assert client.send(MESSAGE.format(cid=cid).encode()) == ack, f"{cid} answered differently"
        finally:
            client.close()

    acked = [cid for s in senders for cid in s.acks] + list(raced)
    total = len(acked)
    first.wait_for(lambda: processed_everything(first, total), timeout_s=240, what="processing")
    assert_each_stored_and_processed_once(first, acked)  # one case per visit, too
    resent = second.api("/api/messages", limit=1000)
    assert sorted(r["control_id"] for r in resent) == sorted(acked), "the replicas disagree on the store"

    db = Database(make_engine(first.env["SPOEDPLEIN_DATABASE_URL"]), audit_key=chain_key(TEST_KEY))
    try:

        def alerts_paged() -> bool:
            with db.read() as session:
                pages = session.scalar(select(func.count()).select_from(Page).where(Page.purpose == "alert"))
            return pages == total and len(sms.to(NUMBERS["coord"])) >= total

        first.wait_for(alerts_paged, timeout_s=240, what="every case's timer to fire and page")
        time.sleep(3)  # a doubled timer or page would show within a few beat ticks
        with db.read() as session:
            fired = Counter(
                session.scalars(select(CaseTimer.case_id).where(CaseTimer.fired_at.is_not(None))).all()
            )
            fired_events = Counter(
                session.scalars(
                    select(CaseEvent.case_id).where(CaseEvent.kind == EventKind.TIMER_FIRED)
                ).all()
            )
            alerts = Counter(
                session.execute(select(Page.case_reference, Page.reason).where(Page.purpose == "alert")).all()
            )
    finally:
        db.dispose()
    assert len(fired) == total and set(fired.values()) == {1}, "a timer fired twice or not at all"
    assert fired_events == fired, "a timer's event was written twice"
    assert len(alerts) == total and set(alerts.values()) == {1}
    assert {reason for _, reason in alerts} == {"case_open_too_long"}
    coordinator = sms.to(NUMBERS["coord"])
    assert len(coordinator) == total and len(sms.posts) == len(sms.accepted), "a page was sent twice"
    for reference, _ in alerts:
        assert sum(reference in m.text for m in coordinator) == 1, f"case {reference} not paged exactly once"
    assert len(cluster.running()) == 2 * 2 + 3 + 1, "a process died during the run"
