"""Reusable MLLP load generator and a bare ACK-only server to measure against in the same run.

`run_load` opens N connections to host:port; each sends messages one at a time (send, wait for
the ACK, send the next), either as fast as possible (closed loop) or at a fixed offered rate
spread over all connections (open loop). It returns throughput and ACK latency percentiles.

With a fixed rate, latency is measured from the *scheduled* send time, so a server that falls
behind shows its queueing delay instead of hiding it (no coordinated omission). As fast as
possible, latency is measured from the actual send.

`start_bare_server` runs our `MLLPServer` with a handler that builds a minimal AA ACK from MSH by
hand and stores nothing: the transport's own cost, the baseline for bench/mllp_ingest.py.

Self-run (bare server in a child process, load from this one):
    .venv/bin/python -m bench._mllp_load [--connections 10] [--seconds 3] [--rate 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import ssl
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from adapters.hl7.client import AsyncMLLPClient
from adapters.hl7.server import MLLPServer, Peer

PayloadFactory = Callable[[int, int], bytes]  # (connection index, sequence number) -> payload

_ack_counter = itertools.count(1)


def sample_adt(control_id: str) -> bytes:
    """A small, valid-looking ADT^A04 (SEH registration) with the given MSH-10; no real person."""
    return (
        f"MSH|^~\\&|HIX|ETZ|SPOEDPLEIN|ETZ|20260101120000||ADT^A04^ADT_A01|{control_id}|P|2.5"
        "|||AL|NE|NLD|UNICODE UTF-8\r"
        "EVN|A04|20260101120000\r"
        "PID|1||900000001^^^ETZ^PI||Testpersoon^Bench||20150101|F\r"
        f"PV1|1|E|SEH^^^ETZ||||||||||||||||{control_id}\r"
    ).encode()


def default_payloads(run_id: str | None = None) -> PayloadFactory:
    """Unique MSH-10 per (run, connection, sequence), so repeated runs are not deduplicated."""
    prefix = run_id or f"L{os.getpid():x}{time.time_ns() % 10**9:x}"

    def make(connection: int, sequence: int) -> bytes:
        return sample_adt(f"{prefix}-{connection}-{sequence}")

    return make


def bare_ack(payload: bytes) -> bytes:
    """A minimal AA ACK for `payload`, built by hand from its MSH (AR if there is no MSH)."""
    first_segment = payload.split(b"\r", 1)[0].split(b"\n", 1)[0].lstrip(b"\xef\xbb\xbf")
    if not first_segment.startswith(b"MSH") or len(first_segment) < 8:
        return b"MSH|^~\\&|SPOEDPLEIN|ETZ|||" + _now() + b"||ACK|" + _next_id() + b"|P|2.5\rMSA|AR|"
    separator = first_segment[3:4]
    fields = first_segment.split(separator)
    fields += [b""] * (12 - len(fields))
    msh = lambda n: fields[n - 1]  # noqa: E731 - MSH-n sits at index n-1 (MSH-1 is the separator)
    trigger = msh(9).split(fields[1][:1] or b"^")[1:2]
    message_type = b"ACK" + (b"^" + trigger[0] + b"^ACK" if trigger else b"")
    header = separator.join(
        [
            b"MSH",
            fields[1],
            msh(5),
            msh(6),
            msh(3),
            msh(4),
            _now(),
            b"",
            message_type,
            _next_id(),
            msh(11) or b"P",
            msh(12) or b"2.5",
        ]
    )
    return header + b"\rMSA" + separator + b"AA" + separator + msh(10)


def _now() -> bytes:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime()).encode()


def _next_id() -> bytes:
    return f"BARE{next(_ack_counter)}".encode()


async def _bare_handler(payload: bytes, peer: Peer) -> bytes:
    return bare_ack(payload)


def bare_ack_server(host: str = "127.0.0.1", port: int = 0, **server_options: Any) -> MLLPServer:
    """An MLLPServer (not yet started) that ACKs every message and stores nothing."""
    return MLLPServer(_bare_handler, host=host, port=port, on_oversized=_bare_handler, **server_options)


async def start_bare_server(host: str = "127.0.0.1", port: int = 0, **server_options: Any) -> MLLPServer:
    """Start `bare_ack_server` and return it; read `.port`, later `close()` + `await wait_closed()`."""
    server = bare_ack_server(host, port, **server_options)
    await server.start()
    return server


@dataclass(frozen=True)
class LoadResult:
    connections: int
    messages: int
    errors: int
    seconds: float
    offered_rate_per_s: float | None
    latencies_ms: list[float] = field(repr=False)

    @property
    def messages_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")

    @property
    def p99_ms(self) -> float:
        return self.percentile_ms(99)

    @property
    def max_ms(self) -> float:
        return max(self.latencies_ms) if self.latencies_ms else float("nan")

    def summary(self) -> str:
        rate = f", offered {self.offered_rate_per_s:.0f}/s" if self.offered_rate_per_s else ""
        return (
            f"{self.messages} msgs over {self.connections} conns in {self.seconds:.2f}s{rate}: "
            f"{self.messages_per_s:.0f} msg/s, ACK latency p50 {self.p50_ms:.2f} ms, "
            f"p99 {self.p99_ms:.2f} ms, max {self.max_ms:.2f} ms, errors {self.errors}"
        )


async def run_load(
    host: str,
    port: int,
    *,
    connections: int = 10,
    duration_s: float | None = 3.0,
    messages_per_connection: int | None = None,
    rate_per_s: float | None = None,
    payloads: PayloadFactory | None = None,
    ssl_context: ssl.SSLContext | None = None,
    timeout_s: float = 30.0,
    ack_check: Callable[[bytes], bool] | None = None,
) -> LoadResult:
    """Drive host:port with `connections` sequential senders until `duration_s` has passed or each
    has sent `messages_per_connection` (whichever is set; both: whichever comes first).

    `rate_per_s`: total offered rate over all connections (None: as fast as possible).
    `ack_check(ack) -> bool`: count an ACK as an error when it returns False (e.g. not AA).
    A send that raises counts as an error; that connection reconnects and carries on.
    """
    if duration_s is None and messages_per_connection is None:
        raise ValueError("give duration_s or messages_per_connection")
    make_payload = payloads or default_payloads()
    per_connection_interval = connections / rate_per_s if rate_per_s else 0.0
    latencies: list[float] = []
    errors = 0
    sent = 0
    start = time.perf_counter()
    deadline = start + duration_s if duration_s is not None else float("inf")

    async def sender(index: int) -> None:
        nonlocal errors, sent
        # Spread the connections' schedules evenly over one interval.
        next_at = start + per_connection_interval * index / connections
        async with AsyncMLLPClient(host, port, ssl_context=ssl_context, timeout_s=timeout_s) as client:
            for sequence in itertools.count():
                if messages_per_connection is not None and sequence >= messages_per_connection:
                    return
                if per_connection_interval:
                    delay = next_at - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    began = next_at
                    next_at += per_connection_interval
                else:
                    began = time.perf_counter()
                if began >= deadline:
                    return
                payload = make_payload(index, sequence)
                try:
                    ack = await client.send(payload)
                except Exception:
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - began) * 1000)
                sent += 1
                if ack_check is not None and not ack_check(ack):
                    errors += 1

    await asyncio.gather(*(sender(i) for i in range(connections)))
    elapsed = time.perf_counter() - start
    return LoadResult(connections, sent, errors, elapsed, rate_per_s, latencies)


def is_aa(ack: bytes) -> bool:
    """True if the ACK's MSA-1 is AA or CA."""
    for segment in ack.replace(b"\n", b"\r").split(b"\r"):
        if segment.startswith(b"MSA"):
            return segment[4:6] in (b"AA", b"CA")
    return False


async def _serve(port: int) -> None:
    server = await start_bare_server("127.0.0.1", port)
    print(server.port, flush=True)
    await server.serve_forever()


def _spawn_bare_server() -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench._mllp_load", "--serve"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    )
    assert process.stdout is not None
    return process, int(process.stdout.readline())


async def _self_run(args: argparse.Namespace) -> None:
    process, port = _spawn_bare_server()
    try:
        await run_load("127.0.0.1", port, connections=args.connections, duration_s=2.0)  # warm-up
        for label in ("bare server, run A", "bare server, run B"):
            result = await run_load(
                "127.0.0.1", port, connections=args.connections, duration_s=args.seconds, ack_check=is_aa
            )
            print(f"{label:28} {result.summary()}")
            if label.endswith("A"):
                first = result.messages_per_s
        print(f"{'ratio B/A (noise)':28} {result.messages_per_s / first:.2f}")
        if args.rate:
            result = await run_load(
                "127.0.0.1",
                port,
                connections=args.connections,
                duration_s=args.seconds,
                rate_per_s=args.rate,
                ack_check=is_aa,
            )
            print(f"{'bare server, fixed rate':28} {result.summary()}")
    finally:
        process.terminate()
        process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--serve", action="store_true", help="only run the bare server, print its port")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rate", type=float, default=None, help="also run at this offered rate (msg/s)")
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.port))
    else:
        asyncio.run(_self_run(args))


if __name__ == "__main__":
    main()
