"""The gateway process: HTTP (uvicorn) and the MLLP listener in one asyncio loop, sharing one store.

Stops gracefully on SIGTERM/SIGINT: the MLLP server stops accepting and finishes the messages it is
storing (their ACKs still go out), the group-commit writer drains, then uvicorn shuts down.

With SPOEDPLEIN_HTTP_PROCESSES > 1 this process also starts HTTP-only children that share the HTTP port
(`gateway.http_processes`); they are stopped alongside.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl

import uvicorn

from adapters.hl7.receiver import HL7Receiver
from adapters.hl7.server import MLLPServer
from core.runtime import Runtime
from gateway.app import create_app
from gateway.connection_balance import shed_excess_connections
from gateway.http_processes import HttpProcessPool, claim_http_port, uvicorn_config
from gateway.warmup import prepare_to_serve
from notifications.pager import start_watchdog
from store.group_commit import GroupCommitWriter

log = logging.getLogger(__name__)
STARTUP_FAILURE = 3  # uvicorn's exit status when the server cannot start


def mllp_ssl_context(runtime: Runtime) -> ssl.SSLContext | None:
    settings = runtime.settings
    if settings.mllp_tls_cert is None:
        return None
    from adapters.hl7.tls import server_context

    if settings.mllp_tls_key is None:
        raise ValueError("--mllp-tls-cert needs --mllp-tls-key")
    return server_context(settings.mllp_tls_cert, settings.mllp_tls_key, ca=settings.mllp_tls_ca)


async def serve(runtime: Runtime, *, on_ready: asyncio.Event | None = None) -> None:
    settings = runtime.settings
    writer = GroupCommitWriter(runtime.db, runtime.cipher)
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
        max_message_bytes=settings.mllp_max_message_bytes,
        idle_timeout_s=settings.mllp_idle_timeout_s,
        ssl_context=mllp_ssl_context(runtime),
        on_oversized=receiver.handle_oversized,
    )
    app = create_app(runtime)
    prepare_to_serve()
    app.state.mllp = mllp
    app.state.receiver = receiver
    http = uvicorn.Server(uvicorn_config(app, settings))
    if settings.http_processes > 1:
        shed_excess_connections(app, http, settings.data_dir, processes=settings.http_processes, slot=0)
    # One HTTP process: uvicorn binds the port itself. More: this process binds a shared socket, and
    # each child binds its own on the same port (SO_REUSEPORT).
    http_socket = None
    if settings.http_processes > 1:
        try:
            http_socket = claim_http_port(settings.http_host, settings.http_port)
        except OSError as exc:
            log.error("HTTP: %s", exc)
            raise SystemExit(STARTUP_FAILURE) from None  # as uvicorn ends when it cannot bind
    http_port = http_socket.getsockname()[1] if http_socket is not None else settings.http_port
    await mllp.start()
    # The pager's watchdog lives here, not in the beat it watches: a stalled beat cannot report itself.
    watchdog = start_watchdog(runtime)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    http_task = asyncio.create_task(http.serve(sockets=None if http_socket is None else [http_socket]))
    while not http.started and not http_task.done():
        await asyncio.sleep(0.02)
    if http_task.done():
        mllp.close()
        await http_task
        raise RuntimeError("HTTP server could not start")
    children = HttpProcessPool(
        settings.http_processes - 1,
        host=settings.http_host,
        port=http_port,
        gateway_stopping=lambda: http.should_exit or stop.is_set(),
    )
    stop_task = asyncio.create_task(stop.wait())
    try:
        # on_ready is set once every HTTP process accepts, not just this one; a stop signal meanwhile wins
        starting = asyncio.create_task(children.start())
        await asyncio.wait({starting, http_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done():
            starting.result()  # RuntimeError when a child could not start
            log.info(
                "gateway listening: http %s:%d (processes: %d), mllp %s:%d",
                settings.http_host,
                http_port,
                settings.http_processes,
                settings.mllp_host,
                mllp.port,
            )
            if on_ready is not None:
                on_ready.set()
            await asyncio.wait({http_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        else:
            starting.cancel()
    finally:
        watchdog.set()
        stopping_children = asyncio.create_task(children.stop())  # in-flight requests finish meanwhile
        mllp.close()
        await mllp.wait_closed()
        await asyncio.to_thread(writer.close)
        http.should_exit = True
        await http_task
        await stopping_children
        stop_task.cancel()
