"""Liveness and readiness: `/healthz` says the process runs, `/readyz` that store and broker answer."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response, status
from sqlalchemy import text

from core.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(runtime: RuntimeDep, response: Response) -> dict[str, str]:
    checks = {
        "store": await asyncio.to_thread(_store_ok, runtime),
        "broker": await asyncio.to_thread(_broker_ok, runtime),
    }
    ready = all(v == "ok" for v in checks.values())
    if not ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return {"status": "ready" if ready else "not ready", **checks}


def _store_ok(runtime: RuntimeDep) -> str:
    try:
        with runtime.db.read() as session:
            session.execute(text("SELECT 1"))
        return "ok"
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"


def _broker_ok(runtime: RuntimeDep) -> str:
    from kombu import Connection

    try:
        with Connection(runtime.settings.resolved_broker_url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:
        return f"unreachable ({type(exc).__name__})"
