"""The benchmark load tool and its bare ACK server, over real loopback sockets."""

from __future__ import annotations

import asyncio

import hl7

from bench._mllp_load import bare_ack, is_aa, run_load, sample_adt, start_bare_server


def test_bare_ack_is_an_aa_ack_that_echoes_the_control_id_and_swaps_sender_and_receiver():
    ack = hl7.parse(bare_ack(sample_adt("CTRL-77")).decode())
    assert str(ack.segment("MSA")[1]) == "AA"
    assert str(ack.segment("MSA")[2]) == "CTRL-77"
    assert str(ack.segment("MSH")[3]) == "SPOEDPLEIN"
    assert str(ack.segment("MSH")[5]) == "HIX"
    assert str(ack.segment("MSH")[9]) == "ACK^A04^ACK"


def test_bare_ack_rejects_a_payload_without_msh():
    assert not is_aa(bare_ack(b"not hl7"))


def test_run_load_counts_every_acked_message_and_reports_latencies():
    async def scenario() -> None:
        server = await start_bare_server()
        try:
            result = await run_load(
                "127.0.0.1",
                server.port,
                connections=4,
                duration_s=None,
                messages_per_connection=25,
                ack_check=is_aa,
            )
        finally:
            server.close()
            await server.wait_closed()
        assert result.messages == 100
        assert result.errors == 0
        assert len(result.latencies_ms) == 100
        assert 0 < result.p50_ms <= result.p99_ms <= result.max_ms
        assert server.counters.messages_received == 100

    asyncio.run(asyncio.wait_for(scenario(), timeout=60))


def test_run_load_at_a_fixed_rate_sends_exactly_the_scheduled_messages():
    async def scenario() -> None:
        server = await start_bare_server()
        try:
            result = await run_load("127.0.0.1", server.port, connections=5, duration_s=0.995, rate_per_s=100)
        finally:
            server.close()
            await server.wait_closed()
        # 5 connections, each scheduled every 50 ms from offsets 0..40 ms: 20 sends each fall before
        # 0.995 s. Late sends still happen (latency counts from the schedule), so this is not timing.
        assert result.messages == 100
        assert result.offered_rate_per_s == 100

    asyncio.run(asyncio.wait_for(scenario(), timeout=60))
