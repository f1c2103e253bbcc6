"""Asyncio MLLP server: sockets around the pure `Framer`, one handler call per received message.

The server knows nothing about HL7 content. For every complete frame it awaits
`handler(payload, peer)` and writes the returned bytes back as one MLLP frame. The handler is
where the message is durably stored; only after it returns is anything acknowledged.

Guarantees:
* Per connection, messages are handled strictly one at a time, in arrival order. Pipelined
  frames wait in the framer's output (and the socket buffer) until the previous ACK is written.
* A handler exception never reaches the sender as an ACK: the connection is closed, so the sender
  resends (the handler's duplicate check makes the resend harmless). The server keeps serving.
  The log line names the exception type and the peer, never the payload.
* An oversized frame is answered with `on_oversized(prefix, peer)` and the connection stays open;
  without `on_oversized` the connection is closed instead.
* A connection with no traffic for `idle_timeout_s` is closed (also while a write is stuck
  because the peer does not read).
* A frame that is not complete `frame_deadline_s` after its first byte arrived (one byte a minute
  would otherwise keep it open forever) is given up: it is answered with
  `on_unfinished(prefix, peer)` when given (a reject ACK when its MSH can be read), and the
  connection is closed. Nothing of it was stored.
* At most `max_connections` connections are served at once; one more is closed at once, without
  reading from it, and logged (with its address only). Together with the message size limit this
  bounds the memory that partial frames can take: about `max_connections * max_message_bytes`.
* `close()` stops accepting, lets in-flight handler calls finish and write their ACK, then
  closes every connection; `wait_closed()` returns when all of that is done. Frames that were
  received but not yet handled are not acknowledged; the sender resends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from adapters.hl7.framing import DEFAULT_MAX_MESSAGE_BYTES, Framer, Incomplete, Message, Oversized, frame

log = logging.getLogger(__name__)

_READ_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Peer:
    """Who sent a message: enough for audit and logs, nothing from the message itself."""

    connection_id: int
    host: str
    port: int
    tls: bool
    # With mutual TLS: the client certificate's subject as "commonName=...,organizationName=...".
    client_cert_subject: str | None = None


Handler = Callable[[bytes, Peer], Awaitable[bytes]]


@dataclass(slots=True)
class ServerCounters:
    """Monotonic counters (except `connections_active`) for /metrics."""

    connections_opened: int = 0
    connections_active: int = 0
    messages_received: int = 0
    acks_sent: int = 0
    junk_bytes_skipped: int = 0
    oversized_messages: int = 0
    incomplete_frames: int = 0
    idle_closes: int = 0
    handler_errors: int = 0
    connections_refused: int = 0
    frames_past_deadline: int = 0


class _HandlerFailed(Exception):
    """The handler (or its answer) failed; the connection must close without an ACK."""


DEFAULT_MAX_CONNECTIONS = 64
DEFAULT_FRAME_DEADLINE_S = 60.0
_REFUSAL_LOG_EVERY = 100  # a flood of refused connections logs one line per this many, not one each


class _Connection:
    """Bookkeeping for one accepted connection, so that `close()` can tell idle from busy."""

    __slots__ = ("busy", "task", "writer")

    def __init__(self, task: asyncio.Task[None], writer: asyncio.StreamWriter) -> None:
        self.task = task
        self.writer = writer
        self.busy = False


class MLLPServer:
    """Accepts MLLP connections and feeds every complete message to `handler`.

    Use `await start()`, read `port`, later `close()` + `await wait_closed()`; or
    `async with MLLPServer(...) as server:`. `serve_forever()` starts (if needed) and blocks.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 2575,
        sock: socket.socket | None = None,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        idle_timeout_s: float = 300.0,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        frame_deadline_s: float = DEFAULT_FRAME_DEADLINE_S,
        ssl_context: ssl.SSLContext | None = None,
        on_oversized: Handler | None = None,
        on_unfinished: Handler | None = None,
        tls_handshake_timeout_s: float = 30.0,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if frame_deadline_s <= 0:
            raise ValueError("frame_deadline_s must be positive")
        self._handler = handler
        self._on_oversized = on_oversized
        self._on_unfinished = on_unfinished
        self._host = host
        self._requested_port = port
        self._sock = sock  # an already listening socket (e.g. bound by the supervisor): host/port unused
        self._max_message_bytes = max_message_bytes
        self._idle_timeout_s = idle_timeout_s
        self._max_connections = max_connections
        self._frame_deadline_s = frame_deadline_s
        self._ssl_context = ssl_context
        self._tls_handshake_timeout_s = tls_handshake_timeout_s
        self._server: asyncio.Server | None = None
        self._connections: dict[int, _Connection] = {}
        self._next_connection_id = 0
        self._closing = False
        self._closed = asyncio.Event()
        self.counters = ServerCounters()

    @property
    def port(self) -> int:
        """The bound TCP port (useful with port=0). Only valid after `start()`."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("server is not started")
        return int(self._server.sockets[0].getsockname()[1])

    @property
    def host(self) -> str:
        return self._host

    async def start(self) -> None:
        """Bind (unless given a listening socket) and start accepting. Raises OSError if the address
        cannot be bound."""
        if self._server is not None:
            return
        bound = self._sock is not None
        self._server = await asyncio.start_server(
            self._accept,
            host=None if bound else self._host,
            port=None if bound else self._requested_port,
            sock=self._sock,
            ssl=self._ssl_context,
            ssl_handshake_timeout=self._tls_handshake_timeout_s if self._ssl_context else None,
            limit=_READ_CHUNK,
        )
        log.info("mllp server listening on %s:%d tls=%s", self._host, self.port, bool(self._ssl_context))

    async def serve_forever(self) -> None:
        """Start if needed and run until `close()` is called (or the task is cancelled)."""
        await self.start()
        try:
            await self._closed.wait()
        finally:
            if not self._closing:
                self.close()
            await self.wait_closed()

    def close(self) -> None:
        """Stop accepting; idle connections close now, busy ones after their current ACK."""
        if self._closing:
            return
        self._closing = True
        if self._server is not None:
            self._server.close()
        for conn in self._connections.values():
            if not conn.busy:
                conn.task.cancel()
        self._closed.set()

    async def wait_closed(self) -> None:
        """Wait until every connection has finished after `close()`."""
        tasks = [conn.task for conn in self._connections.values()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> MLLPServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._next_connection_id += 1
        connection_id = self._next_connection_id
        if self._closing:
            writer.close()
            return
        if len(self._connections) >= self._max_connections:
            self._refuse(writer)
            return
        conn = _Connection(task, writer)
        self._connections[connection_id] = conn
        self.counters.connections_opened += 1
        self.counters.connections_active += 1
        peer = _peer_of(connection_id, writer)
        try:
            await self._serve_connection(reader, writer, conn, peer)
        except asyncio.CancelledError:
            pass  # close() cancels idle connections; that is a normal end
        except (ConnectionError, ssl.SSLError, OSError) as exc:
            log.info("mllp connection %d ended: %s", connection_id, type(exc).__name__)
        finally:
            del self._connections[connection_id]
            self.counters.connections_active -= 1
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(writer.wait_closed(), timeout=5.0)

    def _refuse(self, writer: asyncio.StreamWriter) -> None:
        self.counters.connections_refused += 1
        if self.counters.connections_refused % _REFUSAL_LOG_EVERY == 1:
            address = writer.get_extra_info("peername")
            log.warning(
                "mllp: %d connections open, the limit; refused one from %s (%d refused so far)",
                len(self._connections),
                address[0] if isinstance(address, tuple) else "?",
                self.counters.connections_refused,
            )
        writer.transport.abort()  # no lingering: this connection must cost nothing

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: _Connection, peer: Peer
    ) -> None:
        framer = Framer(self._max_message_bytes)
        junk_reported = 0
        loop = asyncio.get_running_loop()
        frame_due: float | None = None  # when the frame in progress must be complete
        while not self._closing:
            wait_s = self._idle_timeout_s
            if frame_due is not None:
                wait_s = min(wait_s, max(0.0, frame_due - loop.time()))
            try:
                async with asyncio.timeout(wait_s):
                    data = await reader.read(_READ_CHUNK)
            except TimeoutError:
                if frame_due is not None and loop.time() >= frame_due:
                    await self._give_up_frame(framer, writer, peer)
                    return
                self.counters.idle_closes += 1
                log.info(
                    "mllp connection %d idle for %.0fs, closing", peer.connection_id, self._idle_timeout_s
                )
                return
            events = framer.feed(data) if data else framer.close()
            self.counters.junk_bytes_skipped += framer.junk_bytes_skipped - junk_reported
            junk_reported = framer.junk_bytes_skipped
            for event in events:
                if self._closing and not isinstance(event, Incomplete):
                    return  # stopping: leave the rest unacknowledged, the sender resends
                # Busy until the ACK is written: close() must not cut a stored message's ACK.
                conn.busy = True
                try:
                    answer = await self._answer(event, peer)
                    if answer is None:
                        continue
                    writer.write(answer)
                    async with asyncio.timeout(self._idle_timeout_s):
                        await writer.drain()
                except _HandlerFailed:
                    return
                except TimeoutError:
                    self.counters.idle_closes += 1
                    log.info("mllp connection %d not reading its ACKs, closing", peer.connection_id)
                    return
                finally:
                    conn.busy = False
                self.counters.acks_sent += 1
            if not data:
                return
            # The deadline runs from the read that began the frame (after the ACKs before it went out:
            # time spent storing is ours, not the sender's).
            if not framer.in_frame:
                frame_due = None
            elif frame_due is None or events:
                frame_due = loop.time() + self._frame_deadline_s

    async def _give_up_frame(self, framer: Framer, writer: asyncio.StreamWriter, peer: Peer) -> None:
        """The frame in progress missed its deadline: drop it, answer it if we can, then hang up."""
        self.counters.frames_past_deadline += 1
        event = framer.abandon()
        if event is None:
            return
        log.warning(
            "mllp connection %d: frame not complete within %.0fs (%d bytes), closing",
            peer.connection_id,
            self._frame_deadline_s,
            event.size_seen,
        )
        if self._on_unfinished is None:
            return
        try:
            writer.write(frame(await self._on_unfinished(event.prefix, peer)))
            async with asyncio.timeout(min(5.0, self._idle_timeout_s)):
                await writer.drain()
        except (TimeoutError, ConnectionError, OSError, ValueError):
            pass  # the NAK is a courtesy: the connection closes either way

    async def _answer(self, event: Message | Oversized | Incomplete, peer: Peer) -> bytes | None:
        """Return the framed reply for `event`, None for no reply; raise _HandlerFailed to hang up."""
        if isinstance(event, Incomplete):
            self.counters.incomplete_frames += 1
            log.warning(
                "mllp connection %d: incomplete frame given up (%s, %d bytes)",
                peer.connection_id,
                event.reason.value,
                event.size_seen,
            )
            return None
        if isinstance(event, Oversized):
            self.counters.oversized_messages += 1
            log.warning(
                "mllp connection %d: message of %d bytes exceeds limit %d",
                peer.connection_id,
                event.size_seen,
                self._max_message_bytes,
            )
            if self._on_oversized is None:
                raise _HandlerFailed
            callback, payload = self._on_oversized, event.prefix
        else:
            self.counters.messages_received += 1
            callback, payload = self._handler, event.payload
        try:
            reply = await callback(payload, peer)
            return frame(reply)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Only the type: an exception's message may quote the payload (patient data).
            self.counters.handler_errors += 1
            log.error(
                "mllp connection %d: handler failed with %s; closing without ACK",
                peer.connection_id,
                type(exc).__name__,
            )
            raise _HandlerFailed from None


def _peer_of(connection_id: int, writer: asyncio.StreamWriter) -> Peer:
    address = writer.get_extra_info("peername")
    host, port = (str(address[0]), int(address[1])) if isinstance(address, tuple) else ("?", 0)
    ssl_object = writer.get_extra_info("ssl_object")
    subject: str | None = None
    if ssl_object is not None:
        cert = ssl_object.getpeercert()
        if cert:
            subject = ",".join(f"{key}={value}" for rdn in cert.get("subject", ()) for key, value in rdn)
    return Peer(connection_id, host, port, tls=ssl_object is not None, client_cert_subject=subject)
