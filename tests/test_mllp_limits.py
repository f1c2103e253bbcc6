"""MLLP limits over real sockets: at most N connections at once, and a deadline for a whole frame.

One byte a minute used to keep a frame open forever, and 1,000 connections with a 1 MiB partial frame each
took about 1 GB. Now a frame must be complete within the deadline (else it is answered with a reject ACK
where its MSH can be read, and the connection is closed), and connections beyond the limit are closed at
once, so partial frames can hold at most about `max_connections * max_message_bytes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from adapters.hl7.ack import parse_ack
from adapters.hl7.client import AsyncMLLPClient
from adapters.hl7.framing import Framer, Incomplete, IncompleteReason, Message, frame
from adapters.hl7.receiver import HL7Receiver
from adapters.hl7.server import MLLPServer, Peer
from tests.gateway_process import ROOT, mllp_probe
from tests.servers import free_port

MSH = b"MSH|^~\\&|EHR|ETZ|SPOEDPLEIN|ETZ|20260101120000||ADT^A04^ADT_A01|SLOW-1|P|2.5\r"


def rejecting_receiver() -> HL7Receiver:
    """The real receiver; its store is never reached by the reject of an unfinished frame."""
    return HL7Receiver(
        None,  # type: ignore[arg-type]
        default_charset="UNICODE UTF-8",
        timezone="Europe/Amsterdam",
        max_message_bytes=1 << 20,
    )


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=60))


async def echo(payload: bytes, peer: Peer) -> bytes:
    return b"ACK:" + payload[:20]


async def read_frame(reader: asyncio.StreamReader, timeout_s: float = 10) -> bytes:
    """One MLLP frame's payload, or b"" when the server closed the connection first."""
    framer = Framer()
    while True:
        data = await asyncio.wait_for(reader.read(4096), timeout=timeout_s)
        if not data:
            return b""
        for event in framer.feed(data):
            if isinstance(event, Message):
                return event.payload


@pytest.mark.serial  # asserts how long it took: a busy parallel worker would fail it
def test_a_frame_trickling_in_past_the_deadline_is_refused_with_its_msh_and_the_connection_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = rejecting_receiver()

    async def scenario() -> None:
        server = MLLPServer(
            echo, host="127.0.0.1", port=0, frame_deadline_s=0.5, on_unfinished=receiver.handle_unfinished
        )
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"\x0b" + MSH)
            started = time.monotonic()

            async def trickle() -> None:  # a byte every 0.1 s: never idle, never complete
                with contextlib.suppress(OSError):
                    for _ in range(50):
                        writer.write(b"P")
                        await writer.drain()
                        await asyncio.sleep(0.1)

            trickling = asyncio.create_task(trickle())
            answer = await read_frame(reader)
            assert await asyncio.wait_for(reader.read(), timeout=5) == b""  # then closed
            assert 0.4 < time.monotonic() - started < 3
            trickling.cancel()
            writer.close()
        ack = parse_ack(answer)
        assert ack.code == "AR" and ack.acked_control_id == "SLOW-1"
        assert server.counters.frames_past_deadline == 1
        assert server.counters.messages_received == 0

    with caplog.at_level(logging.WARNING, logger="adapters.hl7.server"):
        run(scenario)
    assert any("not complete within" in r.getMessage() for r in caplog.records)
    assert all("SLOW-1" not in r.getMessage() for r in caplog.records)  # no message content in logs


def test_a_frame_without_a_readable_msh_past_the_deadline_still_gets_a_reject() -> None:
    receiver = rejecting_receiver()

    async def scenario() -> None:
        server = MLLPServer(
            echo, host="127.0.0.1", port=0, frame_deadline_s=0.3, on_unfinished=receiver.handle_unfinished
        )
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"\x0bMS")
            answer = await read_frame(reader)
            writer.close()
        assert parse_ack(answer).code == "AR"

    run(scenario)


def test_the_deadline_is_per_frame_so_a_steady_sender_of_whole_messages_is_never_cut_off() -> None:
    async def scenario() -> None:
        async with MLLPServer(echo, host="127.0.0.1", port=0, frame_deadline_s=0.3) as server:
            async with AsyncMLLPClient("127.0.0.1", server.port) as client:
                for n in range(8):  # 8 × 0.1 s: longer than the deadline, each frame quick
                    assert await client.send(MSH + f"PID|{n}".encode()) == b"ACK:" + MSH[:20]
                    await asyncio.sleep(0.1)
            assert server.counters.frames_past_deadline == 0

    run(scenario)


def test_the_framer_gives_up_an_open_frame_on_request_and_reads_on_after_it() -> None:
    framer = Framer()
    assert framer.abandon() is None
    assert framer.feed(b"\x0bMSH|partial") == []
    given_up = framer.abandon()
    assert isinstance(given_up, Incomplete)
    assert given_up.reason is IncompleteReason.DEADLINE and given_up.prefix == b"MSH|partial"
    assert framer.feed(frame(b"MSH|next")) == [Message(b"MSH|next")]


def test_connections_beyond_the_limit_are_closed_at_once_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> None:
        async with MLLPServer(echo, host="127.0.0.1", port=0, max_connections=3) as server:
            kept = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(3)]
            await asyncio.sleep(0.1)
            extra_reader, extra_writer = await asyncio.open_connection("127.0.0.1", server.port)
            try:
                closed = await asyncio.wait_for(extra_reader.read(10), timeout=5)
            except ConnectionResetError:
                closed = b""
            assert closed == b""
            assert server.counters.connections_refused == 1
            # The three within the limit are served as usual.
            for reader, writer in kept:
                writer.write(frame(MSH))
                assert await read_frame(reader) == b"ACK:" + MSH[:20]
            for _, writer in [*kept, (extra_reader, extra_writer)]:
                writer.close()
            # Once one leaves, a new connection is served again.
            await asyncio.sleep(0.2)
            async with AsyncMLLPClient("127.0.0.1", server.port) as client:
                assert await client.send(MSH) == b"ACK:" + MSH[:20]

    with caplog.at_level(logging.WARNING, logger="adapters.hl7.server"):
        run(scenario)
    assert any("refused one from 127.0.0.1" in r.getMessage() for r in caplog.records)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.serial
def test_many_slow_partial_frames_do_not_take_unbounded_memory_in_the_mllp_process(tmp_path: Path) -> None:
    """300 connections each push 512 KiB of a frame that never ends into `spoedplein mllp` (limit 20
    connections, deadline 3 s): its memory grows by at most the limit's worth, and every partial frame
    is given up."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOEDPLEIN_")}
    env.update(
        SPOEDPLEIN_DATA_DIR=str(tmp_path),
        SPOEDPLEIN_MLLP_PORT=str(port),
        SPOEDPLEIN_MLLP_MAX_CONNECTIONS="20",
        SPOEDPLEIN_MLLP_FRAME_DEADLINE_S="3",
    )
    subprocess.run(
        [sys.executable, "-m", "gateway", "migrate"], env=env, cwd=ROOT, check=True, capture_output=True
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "mllp"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if mllp_probe(port):
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "mllp did not start"
            time.sleep(0.1)
        before = rss_bytes(proc.pid)
        chunk = b"\x0b" + MSH + b"X" * (512 * 1024)
        peak = before
        sockets: list[socket.socket] = []
        for _ in range(300):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(("127.0.0.1", port))
            sockets.append(sock)
        time.sleep(0.5)
        for sock in sockets:
            # As much as the socket takes now (the rest is never sent); refused ones fail: that is the point.
            with contextlib.suppress(OSError):
                sock.send(chunk)
        for _ in range(20):
            peak = max(peak, rss_bytes(proc.pid))
            time.sleep(0.1)
        time.sleep(3)  # past the deadline: every partial frame is given up
        answered = 0
        for sock in sockets:
            sock.setblocking(True)
            sock.settimeout(2)
            try:
                data = sock.recv(4096)
                answered += b"MSA|AR|SLOW-1" in data
            except OSError:
                pass
            sock.close()
        assert proc.poll() is None
        assert mllp_probe(port)  # still serving
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=30)
    assert peak - before < 64 * 1024 * 1024, f"grew by {(peak - before) >> 20} MiB"
    assert 1 <= answered <= 20  # only the connections within the limit held a frame, and each got its reject
    assert b"connections open, the limit" in stderr
