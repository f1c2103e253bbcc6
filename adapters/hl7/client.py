"""MLLP clients: a blocking one (CLI `send`/`replay`) and an asyncio one (benchmarks, outbound v2).

Both keep one connection open and reuse it for every `send`; they reconnect lazily after a
failure. Neither retries on its own: whether resending is safe is the caller's decision (our
server deduplicates on MSH-10, other receivers may not).

Failure modes of `send` / `send_many` (both clients):
* connect refused / unreachable: `OSError` (e.g. ConnectionRefusedError);
* no complete ACK within `timeout_s`: `TimeoutError`; the connection is dropped, because a late
  ACK would otherwise be read as the answer to the next message;
* the server closes the connection before the ACK is complete: `ConnectionClosedBeforeAck`
  (the message may or may not have been stored; resend, the receiver deduplicates);
* an ACK frame larger than `max_ack_bytes`: `MLLPClientError`, connection dropped;
* TLS failures (untrusted server, client certificate refused): `ssl.SSLError` or `OSError`;
* a payload containing 0x0B or 0x1C: `ValueError` from `frame`, nothing is sent.
Junk bytes between ACK frames are ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections import deque
from collections.abc import Iterable

from adapters.hl7.framing import Framer, Incomplete, Message, Oversized, frame

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_MAX_ACK_BYTES = 1024 * 1024
_READ_CHUNK = 64 * 1024


class MLLPClientError(Exception):
    """The peer broke the MLLP exchange; the connection has been dropped."""


class ConnectionClosedBeforeAck(MLLPClientError):
    """The server closed the connection before answering every message sent."""


class _AckReader:
    """Turns received bytes into ACK payloads, queued in order."""

    def __init__(self, max_ack_bytes: int) -> None:
        self.framer = Framer(max_ack_bytes)
        self.acks: deque[bytes] = deque()

    def feed(self, data: bytes) -> None:
        for event in self.framer.feed(data) if data else self.framer.close():
            if isinstance(event, Message):
                self.acks.append(event.payload)
            elif isinstance(event, Oversized):
                raise MLLPClientError(f"ACK of {event.size_seen} bytes exceeds the limit")
            elif isinstance(event, Incomplete):
                raise ConnectionClosedBeforeAck("connection closed inside an ACK frame")
        if not data:
            raise ConnectionClosedBeforeAck("server closed the connection before the ACK")


class MLLPClient:
    """Blocking MLLP client over one reusable TCP (optionally TLS) connection.

    `with MLLPClient("127.0.0.1", 2575) as client: ack = client.send(payload)`
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        max_ack_bytes: int = DEFAULT_MAX_ACK_BYTES,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname or host
        self.max_ack_bytes = max_ack_bytes
        self._sock: socket.socket | None = None
        self._reader = _AckReader(max_ack_bytes)

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def connect(self) -> None:
        """Open the connection now (otherwise the first `send` does). Idempotent."""
        if self._sock is not None:
            return
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        try:
            if self.ssl_context is not None:
                sock = self.ssl_context.wrap_socket(sock, server_hostname=self.server_hostname)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._reader = _AckReader(self.max_ack_bytes)

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None

    def __enter__(self) -> MLLPClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, payload: bytes) -> bytes:
        """Send one message and return its ACK payload (see module docstring for failures)."""
        return self.send_many([payload], window=1)[0]

    def send_many(self, payloads: Iterable[bytes], *, window: int = 16) -> list[bytes]:
        """Send messages with up to `window` unacknowledged at a time; return ACKs in order.

        The server still handles them one by one; pipelining only hides the round trip.
        `timeout_s` applies to each wait for the next ACK.
        """
        if window < 1:
            raise ValueError("window must be at least 1")
        frames = [frame(p) for p in payloads]
        self.connect()
        assert self._sock is not None
        sock = self._sock
        acks: list[bytes] = []
        try:
            sent = 0
            while len(acks) < len(frames):
                while sent < len(frames) and sent - len(acks) < window:
                    sock.settimeout(self.timeout_s)
                    sock.sendall(frames[sent])
                    sent += 1
                acks.append(self._next_ack(sock))
        except BaseException:
            self.close()
            raise
        return acks

    def _next_ack(self, sock: socket.socket) -> bytes:
        deadline = time.monotonic() + self.timeout_s
        while not self._reader.acks:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no ACK within timeout")
            sock.settimeout(remaining)
            self._reader.feed(sock.recv(_READ_CHUNK))
        return self._reader.acks.popleft()


class AsyncMLLPClient:
    """Asyncio MLLP client over one reusable connection. Not safe for concurrent `send` calls on the
    same instance (ACKs are matched by order); use one client per task."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        max_ack_bytes: int = DEFAULT_MAX_ACK_BYTES,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname or host
        self.max_ack_bytes = max_ack_bytes
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._acks = _AckReader(max_ack_bytes)

    @property
    def connected(self) -> bool:
        return self._writer is not None

    async def connect(self) -> None:
        """Open the connection now (otherwise the first `send` does). Idempotent."""
        if self._writer is not None:
            return
        async with asyncio.timeout(self.timeout_s):
            self._reader, self._writer = await asyncio.open_connection(
                self.host,
                self.port,
                ssl=self.ssl_context,
                server_hostname=self.server_hostname if self.ssl_context else None,
                limit=_READ_CHUNK,
            )
        self._acks = _AckReader(self.max_ack_bytes)

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), timeout=5.0)

    async def __aenter__(self) -> AsyncMLLPClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def send(self, payload: bytes) -> bytes:
        """Send one message and return its ACK payload (see module docstring for failures)."""
        return (await self.send_many([payload], window=1))[0]

    async def send_many(self, payloads: Iterable[bytes], *, window: int = 16) -> list[bytes]:
        """Pipelined send: up to `window` messages unacknowledged at a time; ACKs in order."""
        if window < 1:
            raise ValueError("window must be at least 1")
        frames = [frame(p) for p in payloads]
        await self.connect()
        assert self._reader is not None and self._writer is not None
        reader, writer = self._reader, self._writer
        acks: list[bytes] = []
        try:
            sent = 0
            while len(acks) < len(frames):
                while sent < len(frames) and sent - len(acks) < window:
                    writer.write(frames[sent])
                    sent += 1
                async with asyncio.timeout(self.timeout_s):
                    await writer.drain()
                    while not self._acks.acks:
                        self._acks.feed(await reader.read(_READ_CHUNK))
                acks.append(self._acks.acks.popleft())
        except BaseException:
            await self.close()
            raise
        return acks
