"""`/readyz` says not ready when the store cannot take a write, or when processing lags behind the
limit — the attack run saw it answer 200 for 150 s while every MLLP message got AR 207. SQLite and
PostgreSQL, over real HTTP."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import update

from core.runtime import Runtime
from store.db import utcnow
from store.inbox import InboxMessage, NewMessage, dedupe_key, store_messages
from tests.fhir_helpers import GatewayServer, make_runtime


@pytest.fixture
def runtime(database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    rt = make_runtime(database_url, tmp_path, ready_max_lag_s=120)
    yield rt
    rt.close()


@pytest.fixture
def gateway(runtime: Runtime) -> Iterator[GatewayServer]:
    with GatewayServer(runtime) as server:
        yield server


def ready(gateway: GatewayServer) -> httpx.Response:
    return httpx.get(f"{gateway.url}/readyz", timeout=30)


def test_ready_when_the_store_takes_writes_and_nothing_waits(gateway: GatewayServer) -> None:
    reply = ready(gateway)
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"status": "ready", "store": "ok", "broker": "ok", "processing": "ok"}


@contextmanager
def write_lock_held_elsewhere(runtime: Runtime) -> Iterator[None]:
    """Another connection holds the lock every write needs (a long write transaction, a stuck worker)."""
    url = runtime.db.engine.url
    if runtime.db.is_sqlite:
        holder = sqlite3.connect(url.database or "", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.rollback()
            holder.close()
        return
    with psycopg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False)) as pg:
        pg.execute("LOCK TABLE inbox_message IN EXCLUSIVE MODE")
        yield
        pg.rollback()


@pytest.mark.serial  # asserts how long it took: a busy parallel worker would fail it
def test_not_ready_while_something_else_holds_the_stores_write_lock(
    gateway: GatewayServer, runtime: Runtime
) -> None:
    with write_lock_held_elsewhere(runtime):
        started = time.monotonic()
        reply = ready(gateway)
        assert time.monotonic() - started < 10  # answered, not stuck behind the lock
        assert reply.status_code == 503
        assert reply.json()["store"].startswith("cannot take a write")
    assert ready(gateway).status_code == 200


def test_not_ready_when_a_message_has_waited_for_the_worker_longer_than_the_limit(
    gateway: GatewayServer, runtime: Runtime
) -> None:
    with runtime.db.write() as session:
        (answer,) = store_messages(
            session,
            runtime.cipher,
            [
                NewMessage(
                    channel="hl7v2",
                    dedupe_key=dedupe_key("hl7v2", "HIX", "ETZ", "LAG-1"),
                    sender="HIX|ETZ",
                    control_id="LAG-1",
                    message_type="ADT^A04",
                    raw=b"MSH|^~\\\\&|HIX|ETZ",
                    ack_code="AA",
                    ack=b"",
                )
            ],
        )
    assert ready(gateway).status_code == 200  # just arrived: no lag
    with runtime.db.write() as session:
        session.execute(
            update(InboxMessage)
            .where(InboxMessage.id == answer.message_id)
            .values(received_at=utcnow() - timedelta(minutes=10))
        )
    reply = ready(gateway)
    assert reply.status_code == 503
    assert re.fullmatch(r"lagging \(6\d\d s behind, limit 120 s\)", reply.json()["processing"])
