"""`spoedplein http`: API, pages, FHIR and CDS Hooks under uvicorn, in one process or uvicorn's workers.

One process by default. With `--workers N` (or SPOEDPLEIN_HTTP_WORKERS) uvicorn's own worker model runs
N processes on the one listening socket and restarts any that dies; each builds the app from the
environment (`app_from_environment`). Several gateways on several machines are balanced by the
hospital's reverse proxy, not by us (docs/operations.md).
"""

from __future__ import annotations

import atexit
import socket

import uvicorn
from fastapi import FastAPI

from core.runtime import Runtime
from core.settings import Settings, get_settings
from gateway.app import create_app
from gateway.warmup import prepare_to_serve
from notifications.pager import start_watchdog


def uvicorn_config(app: FastAPI | str, *, workers: int = 1, factory: bool = False) -> uvicorn.Config:
    """The one uvicorn configuration for every process that answers HTTP."""
    return uvicorn.Config(
        app,
        log_level="warning",
        log_config=None,  # uvicorn's lines go through the process's JSON logging (core/logs.py)
        access_log=False,  # paths can carry ids; keep access logs out of the patient-data question
        lifespan="on",
        workers=workers,
        factory=factory,
    )


def app_from_environment() -> FastAPI:
    """The app of one HTTP process, its runtime built from the environment (never migrating: the
    supervisor, `serve` or `spoedplein migrate` did that).

    Each HTTP process also runs the pager's watchdog: not the beat it watches (a stalled beat cannot
    report itself), and not the MLLP part (the ACK path stays lean). Several watchdogs are safe: one
    stall is taken by one of them (a unique row)."""
    runtime = Runtime.start(get_settings(), migrate=False)
    atexit.register(runtime.close)
    app = create_app(runtime)
    atexit.register(start_watchdog(runtime).set)
    prepare_to_serve()
    return app


def run_http(settings: Settings, sock: socket.socket) -> None:
    """Serve HTTP on `sock` until SIGTERM/SIGINT: in this process, or in uvicorn's worker processes."""
    if settings.http_workers <= 1:
        uvicorn.Server(uvicorn_config(app_from_environment())).run(sockets=[sock])
        return
    from uvicorn.supervisors import Multiprocess

    config = uvicorn_config(f"{__name__}:app_from_environment", workers=settings.http_workers, factory=True)
    Multiprocess(config, sockets=[sock]).run()
