"""Even out keep-alive connections over the HTTP processes that share one port.

SO_REUSEPORT gives each new connection to a process by a hash of its addresses, so a handful of
long-lived keep-alive connections (an EHR's CDS client pool, a proxy's upstream pool) can land 15 on
one process and 5 on the other: one process queues calls while the other idles. Each process publishes
how many connections it holds in a small shared file; a process holding more than its share answers
its next response with `Connection: close`, the client opens a new connection for its next call, and
the kernel places that one afresh. At most one connection per process is let go per `SHED_INTERVAL_S`,
so the shares settle instead of churning. No request is refused or cut: only the connection after the
answer is closed, which every HTTP/1.1 client handles.
"""

from __future__ import annotations

import asyncio
import math
import mmap
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SHED_INTERVAL_S = 0.25
_SLOT = struct.Struct("<I")

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Any]
Send = Callable[[Message], Any]


def counts_file(data_dir: Path) -> Path:
    return data_dir / "run" / "http-connections"


def shed_excess_connections(app: Any, server: Any, data_dir: Path, *, processes: int, slot: int) -> None:
    """Add the middleware to `app` (before it starts), counting the connections of uvicorn `server`.

    Slot 0, the gateway process, creates the shared file; it exists before any other process starts."""
    counts = ConnectionCounts(counts_file(data_dir), processes=processes, slot=slot, create=slot == 0)
    app.add_middleware(
        ShedExcessConnections, counts=counts, connections=lambda: len(server.server_state.connections)
    )


class ConnectionCounts:
    """How many connections each HTTP process holds: one 4-byte slot per process in a shared file.

    The gateway process creates (and zeroes) the file; each process writes only its own slot, on every
    answer and every `SHED_INTERVAL_S`. A slot of a process that died keeps its last count until its
    successor starts; that only makes the others' share look larger for a moment, so they shed less,
    never more.
    """

    def __init__(self, path: Path, *, processes: int, slot: int, create: bool = False) -> None:
        if not 0 <= slot < processes:
            raise ValueError(f"slot {slot} is not one of {processes} processes")
        self.processes = processes
        self._offset = slot * _SLOT.size
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(bytes(processes * _SLOT.size))
        with path.open("r+b") as file:
            self._map = mmap.mmap(file.fileno(), processes * _SLOT.size)

    def publish(self, count: int) -> None:
        _SLOT.pack_into(self._map, self._offset, max(0, count))

    def total(self) -> int:
        return sum(value for (value,) in _SLOT.iter_unpack(self._map))


class ShedExcessConnections:
    """ASGI middleware: `Connection: close` on a response while this process holds more than its share."""

    def __init__(self, app: Any, *, counts: ConnectionCounts, connections: Callable[[], int]) -> None:
        self.app = app
        self._counts = counts
        self._connections = connections
        self._last_shed = 0.0
        self._publisher: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and self._publisher is None:
            # Also publish while no request comes in, so a process whose clients left does not keep
            # its old count (which would make the others' share look larger than it is).
            self._publisher = asyncio.create_task(self._publish_every_interval())
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_maybe_closing(message: Message) -> None:
            if message["type"] == "http.response.start" and self._should_shed():
                headers = [*message.get("headers", []), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_maybe_closing)

    async def _publish_every_interval(self) -> None:
        while True:
            self._counts.publish(self._connections())
            await asyncio.sleep(SHED_INTERVAL_S)

    def _should_shed(self) -> bool:
        mine = self._connections()
        self._counts.publish(mine)
        share = math.ceil(self._counts.total() / self._counts.processes)
        now = time.monotonic()
        if mine > share and now - self._last_shed >= SHED_INTERVAL_S:
            self._last_shed = now
            return True
        return False
