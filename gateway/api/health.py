"""Liveness and readiness: `/healthz` says the process runs; `/readyz` that the gateway can do its job.

Ready means: the store can take a write now (on SQLite the database-wide write lock can be had within a
second; on PostgreSQL the server is not read-only and the inbox's write lock can be had within a
second), the broker answers, and processing is not lagging: the oldest message still waiting for the
worker is younger than `SPOEDPLEIN_READY_MAX_LAG_S`. Each check is bounded in time, so `/readyz`
answers within a few seconds even when the store is stuck.
"""

from __future__ import annotations

import asyncio
import sqlite3

from fastapi import APIRouter, Response, status
from sqlalchemy import func, select, text

from core.deps import RuntimeDep
from core.runtime import Runtime
from store.inbox import InboxMessage, MessageStatus

router = APIRouter(tags=["health"])
WRITE_CHECK_TIMEOUT_S = 1.0


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(runtime: RuntimeDep, response: Response) -> dict[str, str]:
    store, broker, processing = await asyncio.gather(
        asyncio.to_thread(_store_ok, runtime),
        asyncio.to_thread(_broker_ok, runtime),
        asyncio.to_thread(_processing_ok, runtime),
    )
    checks = {"store": store, "broker": broker, "processing": processing}
    ready = all(v == "ok" for v in checks.values())
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {"status": "ready" if ready else "not ready", **checks}


def _store_ok(runtime: Runtime) -> str:
    """Can the store take a write right now? Takes the lock a write needs and lets go, writing nothing."""
    try:
        if runtime.db.is_sqlite:
            _sqlite_write_lock(runtime.db.engine.url.database or "")
            return "ok"
        with runtime.db.engine.connect() as connection, connection.begin() as transaction:
            if connection.execute(text("SHOW transaction_read_only")).scalar() == "on":
                return "cannot take a write (read-only)"
            timeout_ms = int(WRITE_CHECK_TIMEOUT_S * 1000)
            connection.execute(text(f"SET LOCAL lock_timeout = {timeout_ms}"))
            connection.execute(text(f"SET LOCAL statement_timeout = {timeout_ms}"))
            connection.execute(text("LOCK TABLE inbox_message IN ROW EXCLUSIVE MODE"))
            transaction.rollback()
        return "ok"
    except Exception as exc:
        return f"cannot take a write ({type(exc).__name__})"


def _sqlite_write_lock(path: str) -> None:
    """Take SQLite's write lock (what the inbox's group commit takes) within the timeout, then let go."""
    connection = sqlite3.connect(path, timeout=WRITE_CHECK_TIMEOUT_S, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def _processing_ok(runtime: Runtime) -> str:
    """Is the worker keeping up? The oldest message waiting for it must be younger than the limit."""
    try:
        with runtime.db.read() as session:
            oldest = session.scalar(
                select(func.min(InboxMessage.received_at)).where(
                    InboxMessage.status == MessageStatus.RECEIVED.value
                )
            )
    except Exception as exc:
        return f"unknown ({type(exc).__name__})"
    if oldest is None:
        return "ok"
    lag = (runtime.clock.now() - oldest).total_seconds()
    if lag > runtime.settings.ready_max_lag_s:
        return f"lagging ({int(lag)} s behind, limit {int(runtime.settings.ready_max_lag_s)} s)"
    return "ok"


def _broker_ok(runtime: Runtime) -> str:
    from kombu import Connection

    try:
        with Connection(runtime.settings.resolved_broker_url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"
