"""MLLP ingest benchmark: the embedded gateway (store + ACK) against a bare ACK-only server, same run.

Both servers run as their own processes on loopback; the same load generator drives 10 connections,
each sending one message at a time and waiting for its ACK. Printed per server: sustained messages/s
(as fast as possible) and ACK latency p50/p99 at 500 messages/s offered; then the ratios.
Targets (2-core machine): >= 2,000 messages/s sustained, p99 <= 20 ms at 500 messages/s.

    .venv/bin/python bench/mllp_ingest.py [--seconds 5] [--connections 10] [--synchronous FULL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._mllp_load import LoadResult, _spawn_bare_server, is_aa, run_load  # noqa: E402
from tests.servers import free_port  # noqa: E402


def start_gateway(data_dir: Path, synchronous: str) -> tuple[subprocess.Popen[bytes], int]:
    mllp_port, http_port = free_port(), free_port()
    env = dict(os.environ)
    env.update(
        SPOEDPLEIN_DATA_DIR=str(data_dir),
        SPOEDPLEIN_MLLP_PORT=str(mllp_port),
        SPOEDPLEIN_HTTP_PORT=str(http_port),
        SPOEDPLEIN_SQLITE_SYNCHRONOUS=synchronous,
        SPOEDPLEIN_LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve"], env=env, cwd=ROOT)
    import socket

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", mllp_port), timeout=0.2):
                return proc, mllp_port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("gateway did not start")


async def measure(port: int, args: argparse.Namespace) -> tuple[LoadResult, LoadResult]:
    await run_load("127.0.0.1", port, connections=args.connections, duration_s=1.5)  # warm-up
    flat_out = await run_load(
        "127.0.0.1", port, connections=args.connections, duration_s=args.seconds, ack_check=is_aa
    )
    at_rate = await run_load(
        "127.0.0.1",
        port,
        connections=args.connections,
        duration_s=args.seconds,
        rate_per_s=500,
        ack_check=is_aa,
    )
    return flat_out, at_rate


async def main(args: argparse.Namespace) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="spoedplein-bench-"))
    bare, bare_port = _spawn_bare_server()
    gateway, gateway_port = start_gateway(data_dir, args.synchronous)
    try:
        results: dict[str, list[tuple[LoadResult, LoadResult]]] = {"bare": [], "gateway": []}
        for _ in range(args.rounds):  # alternate, so drift on a noisy machine hits both alike
            results["bare"].append(await measure(bare_port, args))
            results["gateway"].append(await measure(gateway_port, args))
    finally:
        for proc in (bare, gateway):
            proc.terminate()
            proc.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)

    def best(kind: str) -> tuple[LoadResult, LoadResult]:
        flat = max((r[0] for r in results[kind]), key=lambda r: r.messages_per_s)
        rate = min((r[1] for r in results[kind]), key=lambda r: r.p99_ms)
        return flat, rate

    print(
        f"MLLP ingest, {args.connections} connections, SQLite synchronous={args.synchronous}, "
        f"{args.rounds} alternating rounds of {args.seconds}s (best round shown)"
    )
    for kind, label in (("bare", "bare ACK server (no store)"), ("gateway", "gateway, embedded default")):
        flat, rate = best(kind)
        print(
            f"  {label:30} sustained {flat.messages_per_s:8.0f} msg/s (errors {flat.errors}); "
            f"at 500 msg/s: p50 {rate.p50_ms:6.2f} ms, p99 {rate.p99_ms:6.2f} ms (errors {rate.errors})"
        )
    g_flat, g_rate = best("gateway")
    b_flat, b_rate = best("bare")
    print(
        f"  ratio gateway/bare: throughput {g_flat.messages_per_s / b_flat.messages_per_s:.2f}, "
        f"p99 at 500 msg/s {g_rate.p99_ms / max(b_rate.p99_ms, 1e-9):.1f}x"
    )
    ok = g_flat.messages_per_s >= 2000 and g_rate.p99_ms <= 20
    print(f"  targets (>= 2000 msg/s, p99 <= 20 ms): {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--synchronous", default="FULL", choices=["NORMAL", "FULL"])
    asyncio.run(main(parser.parse_args()))
