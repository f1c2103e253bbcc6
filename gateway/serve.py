"""The listening processes: MLLP alone (`spoedplein mllp`), or HTTP and MLLP in one loop (`spoedplein serve`).

The MLLP listener is the HL7 v2 server, its receiver (read MSH, build the ACK) and the group-commit
writer that stores each message before its ACK goes out. `spoedplein run` gives it a process of its own,
so HTTP load never delays an ACK; `serve` keeps both in one process for a small deployment or a test.

Both stop gracefully on SIGTERM/SIGINT: the MLLP server stops accepting and finishes the messages it is
storing (their ACKs still go out), the group-commit writer drains, then HTTP (if any) shuts down.
Listening sockets may be handed in (bound by the supervisor); otherwise they are bound here, and a taken
port raises `PortInUse` before anything starts.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn

from adapters.hl7.receiver import HL7Receiver
from adapters.hl7.server import MLLPServer
from core.runtime import Runtime
from gateway.app import create_app
from gateway.http_server import uvicorn_config
from gateway.supervisor import listen
from gateway.warmup import prepare_to_serve
from notifications.pager import start_watchdog
from store.group_commit import GroupCommitWriter
from store.journal import journal_path

log = logging.getLogger(__name__)


def mllp_ssl_context(runtime: Runtime) -> ssl.SSLContext | None:
    """The MLLP TLS context from the settings; ValueError or OSError names what is wrong."""
    settings = runtime.settings
    if settings.mllp_tls_cert is None:
        return None
    from adapters.hl7.tls import server_context

    if settings.mllp_tls_key is None:
        raise ValueError("--mllp-tls-cert needs --mllp-tls-key")
    return server_context(settings.mllp_tls_cert, settings.mllp_tls_key, ca=settings.mllp_tls_ca)


METRICS_FLUSH_S = 1.0


@asynccontextmanager
async def mllp_listener(
    runtime: Runtime, sock: socket.socket | None, *, journal: bool
) -> AsyncIterator[MLLPServer]:
    """The MLLP server with its receiver and writer, accepting until the block ends, then drained.

    `journal`: on SQLite, commit to the MLLP journal, which the beat moves into the database
    (`store.journal`); else the database itself."""
    settings = runtime.settings
    writer = GroupCommitWriter(
        runtime.db,
        runtime.cipher,
        sqlite_synchronous=settings.sqlite_synchronous,
        journal=journal_path(settings.resolved_database_url) if journal else None,
    )
    receiver = HL7Receiver(
        writer,
        default_charset=settings.hl7_default_charset,
        timezone=settings.timezone,
        max_message_bytes=settings.mllp_max_message_bytes,
    )
    mllp = MLLPServer(
        receiver.handle,
        host=settings.mllp_host,
        port=settings.mllp_port,
        sock=sock or listen(settings.mllp_host, settings.mllp_port, what="MLLP"),
        max_message_bytes=settings.mllp_max_message_bytes,
        idle_timeout_s=settings.mllp_idle_timeout_s,
        max_connections=settings.mllp_max_connections,
        frame_deadline_s=settings.mllp_frame_deadline_s,
        ssl_context=mllp_ssl_context(runtime),
        on_oversized=receiver.handle_oversized,
        on_unfinished=receiver.handle_unfinished,
    )
    flusher = asyncio.create_task(_flush_every_second(receiver))
    try:
        await mllp.start()
        yield mllp
    finally:
        mllp.close()
        await mllp.wait_closed()
        flusher.cancel()
        receiver.stats.flush()
        await asyncio.to_thread(writer.close)


async def _flush_every_second(receiver: HL7Receiver) -> None:
    """The receiver's counts and ACK latencies to /metrics, off the ACK path (core/metrics.py)."""
    while True:
        await asyncio.sleep(METRICS_FLUSH_S)
        receiver.stats.flush()


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def serve_mllp(runtime: Runtime, sock: socket.socket | None = None) -> None:
    """MLLP only, until SIGTERM/SIGINT (`spoedplein mllp`)."""
    stop = _stop_on_signals()
    async with mllp_listener(runtime, sock, journal=runtime.settings.mllp_journal) as mllp:
        # What the process built at start is out of the collector's reach (as hot_path.tune_gc does for
        # HTTP): a full collection walking it would stall the ACKs of that moment.
        gc.collect()
        gc.freeze()
        log.info("mllp listening on %s:%d", runtime.settings.mllp_host, mllp.port)
        await stop.wait()


async def serve(
    runtime: Runtime,
    *,
    http_socket: socket.socket | None = None,
    mllp_socket: socket.socket | None = None,
    on_ready: asyncio.Event | None = None,
) -> None:
    """HTTP and MLLP in this one process, until SIGTERM/SIGINT (`spoedplein serve`)."""
    settings = runtime.settings
    http_socket = http_socket or listen(settings.http_host, settings.http_port, what="HTTP")
    app = create_app(runtime)
    http = uvicorn.Server(uvicorn_config(app))
    stop = _stop_on_signals()
    # The pager's watchdog lives here, not in the beat it watches: a stalled beat cannot report itself.
    watchdog = start_watchdog(runtime)
    # No journal here: `serve` is HTTP and MLLP of a small deployment, and an ACK from it means the message
    # is in the database (what /api/messages shows), whether or not a beat runs beside it.
    async with mllp_listener(runtime, mllp_socket, journal=False) as mllp:
        prepare_to_serve()
        http_task = asyncio.create_task(http.serve(sockets=[http_socket]))
        while not http.started and not http_task.done():
            await asyncio.sleep(0.02)
        if http_task.done():
            await http_task
            raise RuntimeError("HTTP server could not start")
        log.info(
            "gateway listening: http %s:%d, mllp %s:%d",
            settings.http_host,
            http_socket.getsockname()[1],
            settings.mllp_host,
            mllp.port,
        )
        if on_ready is not None:
            on_ready.set()
        stop_task = asyncio.create_task(stop.wait())
        await asyncio.wait({http_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        stop_task.cancel()
    # MLLP has stopped and its writer drained; requests in flight finish while uvicorn shuts down.
    watchdog.set()
    http.should_exit = True
    await http_task
