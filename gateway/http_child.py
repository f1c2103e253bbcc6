"""One HTTP-only process of the gateway: `python -m gateway.http_child <ready-fd> <parent-pid> <slot> <n>`.

Started by `gateway.http_processes.HttpProcessPool` when SPOEDPLEIN_HTTP_PROCESSES > 1. It serves the same
app as the gateway process on its own SO_REUSEPORT socket, with no MLLP listener and no HL7 writer. It
writes one byte to <ready-fd> once it accepts connections, publishes its connection count in slot <slot>
of the <n> shared ones (`gateway.connection_balance`), and stops gracefully on SIGTERM, which it also
gets when the gateway process dies.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import uvicorn

from core.runtime import Runtime
from core.settings import get_settings
from gateway.app import create_app
from gateway.cli import configure_logging, run_event_loop
from gateway.connection_balance import shed_excess_connections
from gateway.http_processes import READY, shared_listening_socket, uvicorn_config
from gateway.supervisor import _die_with_parent
from gateway.warmup import prepare_to_serve


async def serve_http(runtime: Runtime, ready_fd: int, *, slot: int, processes: int) -> None:
    settings = runtime.settings
    app = create_app(runtime)
    prepare_to_serve()
    # Bound only now, when everything is built: connections the kernel hands to this socket wait in its
    # backlog until uvicorn accepts them, so that wait stays as short as possible.
    sock = shared_listening_socket(settings.http_host, settings.http_port)
    http = uvicorn.Server(uvicorn_config(app, settings))
    shed_excess_connections(app, http, settings.data_dir, processes=processes, slot=slot)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # uvicorn captures these itself while serving and re-raises them afterwards; this handler takes
        # the re-raised one, so the process returns normally and closes its database pool.
        loop.add_signal_handler(sig, lambda: setattr(http, "should_exit", True))
    http_task = asyncio.create_task(http.serve(sockets=[sock]))
    while not http.started and not http_task.done():
        await asyncio.sleep(0.02)
    if http_task.done():
        os.close(ready_fd)  # EOF without the ready byte: the gateway sees that this process failed
        await http_task
        raise RuntimeError("HTTP process could not start")
    os.write(ready_fd, READY)
    os.close(ready_fd)
    await http_task


def main(argv: list[str]) -> None:
    ready_fd, parent_pid, slot, processes = (int(arg) for arg in argv[:4])
    _die_with_parent()
    if os.getppid() != parent_pid:
        return  # the gateway died before the parent-death signal was armed: nobody to serve for
    configure_logging()
    runtime = Runtime.start(get_settings(), migrate=False)
    try:
        run_event_loop(serve_http(runtime, ready_fd, slot=slot, processes=processes))
    finally:
        runtime.close()


if __name__ == "__main__":
    main(sys.argv[1:])
