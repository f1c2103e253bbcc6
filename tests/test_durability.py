"""Nothing lost, nothing doubled: processes are SIGKILLed mid-work and restarted (by the test, or under
`spoedplein run` by its supervisor).

The senders (tests/gateway_load.py) behave like a real interface engine: a message without a positive
ACK is sent again, on a new connection, until it gets one. tests/test_faults.py does the same with the
store and the broker taken away under load.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import new_postgres_database
from tests.gateway_load import Sender, answered, assert_each_stored_and_processed_once, processed_everything
from tests.gateway_process import GatewayProcesses

pytestmark = pytest.mark.serial


@pytest.fixture(params=["embedded", "postgresql+redis"])
def gateway(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GatewayProcesses]:
    """The embedded default (SQLite, server-less broker) and production (PostgreSQL, Redis)."""
    env: dict[str, str] = {}
    if request.param == "postgresql+redis":
        env["SPOEDPLEIN_DATABASE_URL"] = new_postgres_database(request.getfixturevalue("postgres_server"))
        broker = request.getfixturevalue("redis_server").url
        redis.Redis.from_url(broker).flushdb()  # no task of an earlier test's database
        env["SPOEDPLEIN_BROKER_URL"] = broker
    processes = GatewayProcesses(tmp_path / "gw", env=env)
    yield processes
    processes.stop_all()


def test_gateway_killed_while_streaming_loses_no_acked_message_and_doubles_none(
    gateway: GatewayProcesses,
) -> None:
    gateway.start("serve")
    gateway.start("worker")
    gateway.start("beat")
    senders = [Sender(gateway.mllp_port, [f"K{s}-{n}" for n in range(60)]) for s in range(4)]
    for sender in senders:
        sender.start()
    gateway.wait_for(lambda: sum(len(s.acked) for s in senders) >= 40, what="some messages acknowledged")
    gateway.kill("serve")  # SIGKILL mid-stream: some messages are in flight
    acked_before_restart = sum(len(s.acked) for s in senders)
    time.sleep(0.5)
    gateway.start("serve")
    for sender in senders:
        sender.join(timeout=150)
    acked = [cid for s in senders for cid in s.acked]
    assert len(acked) == 240 and acked_before_restart < 240
    assert sum(s.failures for s in senders) > 0, "the kill did not interrupt the stream"
    gateway.wait_for(lambda: processed_everything(gateway, 240), timeout_s=120, what="processing")
    assert_each_stored_and_processed_once(gateway, acked)


def test_worker_killed_mid_processing_processes_every_message_exactly_once(
    gateway: GatewayProcesses,
) -> None:
    gateway.start("serve")
    sender = Sender(gateway.mllp_port, [f"W-{n}" for n in range(300)])
    sender.run()
    assert len(sender.acked) == 300
    gateway.start("beat")
    gateway.start("worker")

    def some_processed() -> bool:
        rows = gateway.api("/api/messages", status="processed", limit=1000)
        return isinstance(rows, list) and len(rows) >= 30

    gateway.wait_for(some_processed, what="the worker to start processing")
    gateway.kill("worker")  # SIGKILL mid-batch: its broker message and transaction die with it
    remaining = gateway.api("/api/messages", status="received", limit=1000)
    assert isinstance(remaining, list) and remaining, "the worker finished before it was killed"
    gateway.start("worker")
    gateway.wait_for(
        lambda: processed_everything(gateway, 300), timeout_s=120, what="processing after restart"
    )
    assert_each_stored_and_processed_once(gateway, sender.acked)


def test_under_run_every_part_killed_in_turn_loses_no_acked_message_and_doubles_none(
    gateway: GatewayProcesses,
) -> None:
    """`spoedplein run` as a user starts it; while four senders stream, the supervisor's children are
    SIGKILLed one after another (mllp, worker, beat, http), each restarted by the supervisor."""
    gateway.run()
    senders = [Sender(gateway.mllp_port, [f"R{s}-{n}" for n in range(60)]) for s in range(4)]
    for sender in senders:
        sender.start()

    def acked(at_least: int) -> Callable[[], bool]:
        return lambda: sum(len(s.acked) for s in senders) >= at_least

    killed: dict[str, int] = {}
    for part, after in (("mllp", 30), ("worker", 80), ("beat", 120), ("http", 160)):
        gateway.wait_for(acked(after), timeout_s=120, what=f"{after} messages acknowledged")
        killed[part] = gateway.kill_supervised(part)
        gateway.wait_restarted(part, killed[part])
    for sender in senders:
        sender.join(timeout=150)
    acked_ids = [cid for s in senders for cid in s.acked]
    assert len(acked_ids) == 240
    assert sum(s.failures for s in senders) > 0, "killing mllp did not interrupt the stream"
    gateway.wait_for(
        answered(gateway, lambda: processed_everything(gateway, 240)), timeout_s=180, what="processing"
    )
    assert_each_stored_and_processed_once(gateway, acked_ids)
    for part in killed:
        assert f"{part} exited with -9; restarting" in gateway.log("run")
