"""MLLP server over real sockets on 127.0.0.1: ordering, concurrency, timeouts, bad input, failures."""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import socket
from collections.abc import Awaitable, Callable

import pytest

from adapters.hl7.client import AsyncMLLPClient, ConnectionClosedBeforeAck, MLLPClient, MLLPClientError
from adapters.hl7.framing import Event, Framer, Message, frame
from adapters.hl7.server import MLLPServer, Peer


def expected_ack(payload: bytes) -> bytes:
    return b"ACK:" + hashlib.sha256(payload).hexdigest().encode()


class RecordingHandler:
    """Test handler: records what it got (in order) and answers with a hash of the payload."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.received: list[tuple[bytes, Peer]] = []
        self.delay_s = delay_s

    async def __call__(self, payload: bytes, peer: Peer) -> bytes:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.received.append((payload, peer))
        if payload.startswith(b"BOOM"):
            raise RuntimeError("handler failure quoting " + payload.decode(errors="replace"))
        return expected_ack(payload)


async def reject_oversized(prefix: bytes, peer: Peer) -> bytes:
    return b"REJECT:" + prefix[:10]


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), timeout=60))


def message(n: int) -> bytes:
    return f"MSH|^~\\&|EHR|ETZ|SPOEDPLEIN|ETZ|20260101||ADT^A04|CTRL{n:05d}|P|2.5\rPID|||{n}".encode()


def test_many_messages_on_one_connection_are_handled_in_order_and_each_acked():
    async def scenario() -> None:
        handler = RecordingHandler()
        async with MLLPServer(handler, host="127.0.0.1", port=0, idle_timeout_s=10) as server:
            payloads = [message(i) for i in range(50)]
            async with AsyncMLLPClient("127.0.0.1", server.port) as client:
                acks = [await client.send(p) for p in payloads]
                # pipelined: all 50 written before the first ACK is read
                pipelined_acks = await client.send_many(payloads, window=50)
            assert acks == [expected_ack(p) for p in payloads]
            assert pipelined_acks == acks
            assert [p for p, _ in handler.received] == payloads + payloads
            assert len({peer.connection_id for _, peer in handler.received}) == 1
            assert server.counters.messages_received == 100
            assert server.counters.acks_sent == 100
            assert server.counters.connections_opened == 1

    run(scenario)


def test_pipelined_messages_wait_for_the_previous_handler_call_to_finish():
    async def scenario() -> None:
        active = 0
        peak = 0

        async def slow_handler(payload: bytes, peer: Peer) -> bytes:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.01)
            active -= 1
            return expected_ack(payload)

        server = MLLPServer(slow_handler, host="127.0.0.1", port=0)
        async with server, AsyncMLLPClient("127.0.0.1", server.port) as client:
            payloads = [message(i) for i in range(10)]
            acks = await client.send_many(payloads, window=10)
        assert acks == [expected_ack(p) for p in payloads]
        assert peak == 1

    run(scenario)


def test_twenty_concurrent_connections_are_served_at_once_and_answers_do_not_cross():
    async def scenario() -> None:
        handler = RecordingHandler(delay_s=0.005)
        async with MLLPServer(handler, host="127.0.0.1", port=0) as server:

            async def one_sender(sender: int) -> list[bytes]:
                async with AsyncMLLPClient("127.0.0.1", server.port) as client:
                    return [await client.send(message(sender * 1000 + i)) for i in range(10)]

            results = await asyncio.gather(*(one_sender(s) for s in range(20)))
            for sender, acks in enumerate(results):
                assert acks == [expected_ack(message(sender * 1000 + i)) for i in range(10)]
            assert server.counters.connections_opened == 20
            assert len(handler.received) == 200
            # per connection, the order the handler saw equals the order sent
            by_connection: dict[int, list[bytes]] = {}
            for payload, peer in handler.received:
                by_connection.setdefault(peer.connection_id, []).append(payload)
            assert len(by_connection) == 20
            for payloads in by_connection.values():
                assert payloads == sorted(payloads)

    run(scenario)


def test_quiet_connection_is_closed_after_the_idle_timeout():
    async def scenario() -> None:
        async with MLLPServer(RecordingHandler(), host="127.0.0.1", port=0, idle_timeout_s=0.3) as server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            data = await asyncio.wait_for(reader.read(100), timeout=5)
            assert data == b""  # server closed the connection
            assert server.counters.idle_closes == 1
            assert server.counters.connections_active == 0
            writer.close()

    run(scenario)


def test_oversized_message_gets_the_reject_answer_and_the_connection_stays_usable():
    async def scenario() -> None:
        handler = RecordingHandler()
        async with MLLPServer(
            handler,
            host="127.0.0.1",
            port=0,
            max_message_bytes=1000,
            on_oversized=reject_oversized,
        ) as server:
            big = b"MSH|^~\\&|" + b"X" * 5000
            async with AsyncMLLPClient("127.0.0.1", server.port) as client:
                assert await client.send(big) == b"REJECT:" + big[:10]
                assert await client.send(message(1)) == expected_ack(message(1))
                assert client.connected
            assert [p for p, _ in handler.received] == [message(1)]
            assert server.counters.oversized_messages == 1

    run(scenario)


def test_oversized_message_without_a_reject_callback_closes_the_connection():
    async def scenario() -> None:
        handler = RecordingHandler()
        async with MLLPServer(handler, host="127.0.0.1", port=0, max_message_bytes=100) as server:
            async with AsyncMLLPClient("127.0.0.1", server.port) as client:
                with pytest.raises(ConnectionClosedBeforeAck):
                    await client.send(b"Y" * 500)
            assert handler.received == []

    run(scenario)


def test_random_bytes_from_a_client_never_crash_the_server_and_a_good_message_still_gets_its_ack():
    async def scenario() -> None:
        handler = RecordingHandler()
        rng = random.Random(2575)
        async with MLLPServer(handler, host="127.0.0.1", port=0, max_message_bytes=4096) as server:
            for _ in range(20):
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 5000))))
                await writer.drain()
                writer.close()
                await writer.wait_closed()
            # garbage followed by a good frame on the same connection: the frame is still found
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"\x00\xff garbage \r\n" + frame(message(7)))
            await writer.drain()
            framer = Framer()
            events: list[Event] = []
            while not events:
                events = framer.feed(await asyncio.wait_for(reader.read(1000), timeout=5))
            assert events == [Message(expected_ack(message(7)))]
            writer.close()
            async with AsyncMLLPClient("127.0.0.1", server.port) as client:
                assert await client.send(message(8)) == expected_ack(message(8))
            assert server.counters.junk_bytes_skipped >= len(b"\x00\xff garbage \r\n")

    run(scenario)


def test_handler_exception_closes_that_connection_without_ack_but_others_keep_being_served(caplog):
    async def scenario() -> None:
        handler = RecordingHandler()
        async with MLLPServer(handler, host="127.0.0.1", port=0) as server:
            async with (
                AsyncMLLPClient("127.0.0.1", server.port) as bystander,
                AsyncMLLPClient("127.0.0.1", server.port) as victim,
            ):
                assert await bystander.send(message(1)) == expected_ack(message(1))
                with pytest.raises(ConnectionClosedBeforeAck):
                    await victim.send(b"BOOM patient Jansen")
                assert not victim.connected
                assert await bystander.send(message(2)) == expected_ack(message(2))
                # the victim reconnects and resends; a fresh connection works
                assert await victim.send(message(3)) == expected_ack(message(3))
            assert server.counters.handler_errors == 1

    run(scenario)
    assert "RuntimeError" in caplog.text
    assert "Jansen" not in caplog.text


def test_graceful_stop_finishes_the_in_flight_handler_call_and_delivers_its_ack():
    async def scenario() -> None:
        started = asyncio.Event()
        release = asyncio.Event()

        async def slow_handler(payload: bytes, peer: Peer) -> bytes:
            started.set()
            await release.wait()
            return expected_ack(payload)

        server = MLLPServer(slow_handler, host="127.0.0.1", port=0)
        await server.start()
        port = server.port
        busy_client = AsyncMLLPClient("127.0.0.1", port)
        idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)
        send_task = asyncio.create_task(busy_client.send(message(1)))
        await started.wait()
        server.close()
        # stop accepting: a new connection is refused
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)
        # the idle connection is closed right away
        assert await asyncio.wait_for(idle_reader.read(10), timeout=5) == b""
        idle_writer.close()
        assert not send_task.done()
        release.set()
        assert await send_task == expected_ack(message(1))
        await asyncio.wait_for(server.wait_closed(), timeout=5)
        assert server.counters.connections_active == 0
        await busy_client.close()

    run(scenario)


def test_blocking_client_reuses_one_connection_for_many_messages():
    async def scenario() -> None:
        handler = RecordingHandler()
        async with MLLPServer(handler, host="127.0.0.1", port=0) as server:

            def use_sync_client() -> list[bytes]:
                with MLLPClient("127.0.0.1", server.port, timeout_s=5) as client:
                    acks = [client.send(message(i)) for i in range(5)]
                    return acks + client.send_many([message(i) for i in range(5, 10)], window=5)

            acks = await asyncio.to_thread(use_sync_client)
            assert acks == [expected_ack(message(i)) for i in range(10)]
            assert server.counters.connections_opened == 1

    run(scenario)


def test_blocking_client_times_out_when_no_ack_comes():
    # a listening socket that accepts (kernel backlog) but never answers
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        client = MLLPClient("127.0.0.1", silent.getsockname()[1], timeout_s=0.3)
        with pytest.raises(TimeoutError):
            client.send(message(1))
        assert not client.connected


def test_external_hl7_package_client_gets_its_reply_from_our_server():
    hl7_client = pytest.importorskip("hl7.client")

    async def scenario() -> None:
        handler = RecordingHandler()
        async with MLLPServer(handler, host="127.0.0.1", port=0) as server:
            text = message(42).decode()

            def use_hl7_package() -> bytes:
                with hl7_client.MLLPClient("127.0.0.1", server.port) as client:
                    reply: bytes = client.send_message(text)
                    return reply

            reply = await asyncio.to_thread(use_hl7_package)
            assert reply == frame(expected_ack(message(42)))
            assert [p for p, _ in handler.received] == [message(42)]

    run(scenario)


def test_peer_reports_the_loopback_address_and_no_tls():
    async def scenario() -> None:
        handler = RecordingHandler()
        async with MLLPServer(handler, host="127.0.0.1", port=0) as server:
            async with AsyncMLLPClient("127.0.0.1", server.port) as client:
                await client.send(os.urandom(8).hex().encode())
            peer = handler.received[0][1]
            assert peer.host == "127.0.0.1"
            assert peer.tls is False
            assert peer.client_cert_subject is None

    run(scenario)


def test_frame_cut_off_by_the_client_closing_is_counted_and_never_handled():
    async def scenario() -> None:
        handler = RecordingHandler()
        async with MLLPServer(handler, host="127.0.0.1", port=0) as server:
            _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b"\x0bMSH|half a message")
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            while server.counters.connections_active:
                await asyncio.sleep(0.01)
            assert server.counters.incomplete_frames == 1
            assert handler.received == []

    run(scenario)


def test_client_drops_the_connection_when_an_ack_exceeds_its_limit():
    async def huge_ack(payload: bytes, peer: Peer) -> bytes:
        return b"A" * 5000

    async def scenario() -> None:
        async with MLLPServer(huge_ack, host="127.0.0.1", port=0) as server:
            client = AsyncMLLPClient("127.0.0.1", server.port, max_ack_bytes=1000)
            with pytest.raises(MLLPClientError):
                await client.send(message(1))
            assert not client.connected

    run(scenario)


def test_client_refuses_to_send_a_payload_containing_block_characters():
    async def scenario() -> None:
        handler = RecordingHandler()
        async with MLLPServer(handler, host="127.0.0.1", port=0) as server:
            async with AsyncMLLPClient("127.0.0.1", server.port) as client:
                with pytest.raises(ValueError):
                    await client.send(b"MSH|\x0b|x")
                assert await client.send(message(1)) == expected_ack(message(1))
            assert [p for p, _ in handler.received] == [message(1)]

    run(scenario)


def test_client_reports_a_refused_connection_as_oserror():
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        free_port = placeholder.getsockname()[1]
    with pytest.raises(OSError):
        MLLPClient("127.0.0.1", free_port, timeout_s=2).send(message(1))
