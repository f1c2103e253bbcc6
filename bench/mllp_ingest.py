"""MLLP ingest benchmark: `spoedplein run` as shipped (HTTP, MLLP, worker, beat) against a bare ACK server.

The product is started exactly as `make run` starts it (embedded default: SQLite in a temporary data
directory and the server-less broker; or, with `--postgres`, PostgreSQL and Redis started on loopback the
way tests/servers.py starts them), with its worker and beat running. The baseline, measured in the same
run, is a bare ACK server (our `MLLPServer` with a handler that stores nothing) in its own process.

Each round, for each of the two servers, from one external load generator with 10 connections, each
sending one message at a time and waiting for its ACK:
1. burst: as fast as possible for `--seconds` (sustained msg/s). On the gateway this leaves a backlog of
   thousands of stored, unprocessed messages for the worker.
2. right after it, 500 msg/s offered for `--seconds` (open loop: latency counts from each message's
   scheduled send time), *while the worker drains the burst's backlog*: ACK latency p50/p99/max.
3. then the time until the worker has processed everything (counted from the end of the burst).

Printed: the median and the worst of the rounds (never the best), and the ratio against the bare server.
Targets (2-core machine): >= 2,000 msg/s sustained; p99 <= 20 ms at 500 msg/s during the drain.

On SQLite, `--without-journal` also runs a second gateway with `SPOEDPLEIN_MLLP_JOURNAL=false` (the MLLP
writer commits to the database itself, competing with the worker for its write lock), its rounds
alternating with the others, so the journal's effect is measured under the same load.

    .venv/bin/python bench/mllp_ingest.py [--rounds 3] [--seconds 5] [--postgres] [--synchronous FULL]
        [--without-journal]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

from bench._mllp_load import LoadResult, _spawn_bare_server, is_aa, run_load  # noqa: E402
from store.db import make_engine  # noqa: E402
from store.journal import journal_path  # noqa: E402
from tests.servers import PostgresServer, RedisServer, free_port  # noqa: E402

RATE_PER_S = 500


@dataclass
class Round:
    sustained: LoadResult
    at_rate: LoadResult
    drain_s: float | None  # None for the bare server, which keeps no backlog


class RunningGateway:
    """`spoedplein run` in its own session (so the whole process tree can be stopped), output to a file."""

    def __init__(self, work: Path, env: dict[str, str]) -> None:
        self.mllp_port, self.http_port = free_port(), free_port()
        work.mkdir(parents=True, exist_ok=True)
        self.log_path = work / "run.log"
        data_dir = work / "var"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SPOEDPLEIN_")}
        self.env.update(
            SPOEDPLEIN_DATA_DIR=str(data_dir),
            SPOEDPLEIN_MLLP_PORT=str(self.mllp_port),
            SPOEDPLEIN_HTTP_PORT=str(self.http_port),
            SPOEDPLEIN_LOG_LEVEL="WARNING",
            **env,
        )
        self.database_url = (
            env.get("SPOEDPLEIN_DATABASE_URL") or f"sqlite:///{data_dir / 'spoedplein.sqlite'}"
        )
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gateway", "run"],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_listening()
        self.engine = make_engine(self.database_url)

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"spoedplein run exited: {self.log_path.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.mllp_port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("spoedplein run did not start listening")

    def backlog(self) -> int:
        """Messages the worker has not processed yet (in the database, or still in the MLLP journal)."""
        with self.engine.connect() as conn:
            waiting = int(
                conn.scalar(text("SELECT count(*) FROM inbox_message WHERE status = 'received'")) or 0
            )
        journal = journal_path(self.database_url)
        if journal is not None and journal.exists():
            with sqlite3.connect(journal) as connection:
                waiting += int(connection.execute("SELECT count(*) FROM journal_message").fetchone()[0])
        return waiting

    def stop(self) -> None:
        self.engine.dispose()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


async def one_round(
    port: int, args: argparse.Namespace, backlog: Callable[[], int] | None, drain_limit_s: float
) -> Round:
    burst = await run_load(
        "127.0.0.1", port, connections=args.connections, duration_s=args.seconds, ack_check=is_aa
    )
    burst_end = time.monotonic()
    paced = await run_load(
        "127.0.0.1",
        port,
        connections=args.connections,
        duration_s=args.seconds,
        rate_per_s=RATE_PER_S,
        ack_check=is_aa,
    )
    drain_s: float | None = None
    if backlog is not None:
        while backlog() > 0 and time.monotonic() - burst_end < drain_limit_s:
            await asyncio.sleep(0.25)
        drain_s = time.monotonic() - burst_end if backlog() == 0 else float("inf")
    return Round(burst, paced, drain_s)


def _median_worst(values: list[float], *, worst: Callable[[list[float]], float]) -> str:
    return f"median {statistics.median(values):8.1f}, worst {worst(values):8.1f}"


def report(label: str, rounds: list[Round]) -> None:
    print(f"  {label}")
    print(
        f"    sustained msg/s        {_median_worst([r.sustained.messages_per_s for r in rounds], worst=min)}"
    )
    print(
        f"    at {RATE_PER_S}/s: p50 ms       {_median_worst([r.at_rate.p50_ms for r in rounds], worst=max)}"
    )
    print(
        f"    at {RATE_PER_S}/s: p99 ms       {_median_worst([r.at_rate.p99_ms for r in rounds], worst=max)}"
    )
    print(
        f"    at {RATE_PER_S}/s: max ms       {_median_worst([r.at_rate.max_ms for r in rounds], worst=max)}"
    )
    errors = sum(r.sustained.errors + r.at_rate.errors for r in rounds)
    print(f"    errors (not AA, or no ACK) over all rounds: {errors}")
    drains = [r.drain_s for r in rounds if r.drain_s is not None]
    if drains:
        backlog = [r.sustained.messages for r in rounds]
        print(
            f"    backlog drained in s   {_median_worst(drains, worst=max)}"
            f"  (burst of {statistics.median(backlog):.0f} messages + the paced ones)"
        )


async def main(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="spoedplein-bench-mllp-"))
    engines: list[PostgresServer | RedisServer] = []
    env = {"SPOEDPLEIN_SQLITE_SYNCHRONOUS": args.synchronous}
    store = f"SQLite synchronous={args.synchronous}, server-less broker"
    if args.postgres:
        postgres, redis_server = PostgresServer(), RedisServer()
        engines += [postgres, redis_server]
        postgres.execute("CREATE DATABASE spoedplein_bench")
        env = {
            "SPOEDPLEIN_DATABASE_URL": postgres.url("spoedplein_bench"),
            "SPOEDPLEIN_BROKER_URL": redis_server.url,
        }
        store = "PostgreSQL + Redis"
    bare, bare_port = _spawn_bare_server()
    gateways: dict[str, RunningGateway] = {}
    try:
        gateways["spoedplein run"] = RunningGateway(work / "run", env)
        if args.without_journal and not args.postgres:
            no_journal = {**env, "SPOEDPLEIN_MLLP_JOURNAL": "false"}
            gateways["spoedplein run, no MLLP journal"] = RunningGateway(work / "no-journal", no_journal)
        # Warm-up: imports, connections and caches of every process, then let the worker catch up.
        for gateway in gateways.values():
            await run_load("127.0.0.1", gateway.mllp_port, connections=args.connections, duration_s=1.5)
        await run_load("127.0.0.1", bare_port, connections=args.connections, duration_s=1.5)
        for gateway in gateways.values():
            while gateway.backlog() > 0:
                await asyncio.sleep(0.25)
        results: dict[str, list[Round]] = {"bare": [], **{label: [] for label in gateways}}
        for number in range(1, args.rounds + 1):  # alternate, so drift on a noisy machine hits all alike
            results["bare"].append(await one_round(bare_port, args, None, args.drain_limit))
            for label, gateway in gateways.items():
                results[label].append(
                    await one_round(gateway.mllp_port, args, gateway.backlog, args.drain_limit)
                )
                latest = results[label][-1]
                print(
                    f"round {number}: {label}: {latest.sustained.messages_per_s:.0f} msg/s, at"
                    f" {RATE_PER_S}/s p99 {latest.at_rate.p99_ms:.1f} ms, drained in {latest.drain_s:.1f} s",
                    flush=True,
                )
    finally:
        for gateway in gateways.values():
            gateway.stop()
        bare.terminate()
        bare.wait(timeout=30)
        for server in engines:
            server.stop()
        shutil.rmtree(work, ignore_errors=True)

    load = os.getloadavg()[0]
    print(
        f"MLLP ingest against `spoedplein run` as shipped ({store}; worker and beat running),"
        f" {args.connections} connections, {args.rounds} rounds of {args.seconds:.0f} s burst +"
        f" {args.seconds:.0f} s at {RATE_PER_S}/s; load average at the end {load:.1f}"
    )
    report("bare ACK server (stores nothing)", results["bare"])
    for label in gateways:
        report(label, results[label])
    gw, bare_rounds = results["spoedplein run"], results["bare"]
    worst_rate = min(r.sustained.messages_per_s for r in gw)
    worst_p99 = max(r.at_rate.p99_ms for r in gw)

    def median_of(rounds: list[Round], pick: Callable[[Round], float]) -> float:
        return statistics.median(pick(r) for r in rounds)

    throughput = median_of(gw, lambda r: r.sustained.messages_per_s) / median_of(
        bare_rounds, lambda r: r.sustained.messages_per_s
    )
    p99 = median_of(gw, lambda r: r.at_rate.p99_ms) / max(
        median_of(bare_rounds, lambda r: r.at_rate.p99_ms), 1e-9
    )
    print(f"  ratio run/bare (medians): throughput {throughput:.2f}, p99 at {RATE_PER_S}/s {p99:.1f}x")
    verdict = "met" if worst_rate >= 2000 and worst_p99 <= 20 else "NOT met"
    print(f"  targets in the worst round (>= 2000 msg/s, p99 <= 20 ms during the drain): {verdict}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the burst and of the paced run")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--synchronous", default="FULL", choices=["NORMAL", "FULL"])
    parser.add_argument(
        "--postgres", action="store_true", help="PostgreSQL + Redis instead of the embedded store"
    )
    parser.add_argument(
        "--without-journal",
        action="store_true",
        help="SQLite: also measure a gateway whose MLLP writer commits to the database itself",
    )
    parser.add_argument(
        "--drain-limit", type=float, default=300.0, help="give up waiting for the drain after s"
    )
    raise SystemExit(asyncio.run(main(parser.parse_args())))
