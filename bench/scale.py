"""Scale-out benchmark: whole-pipeline throughput against the number of workers (1, 2, 3), with two gateway
replicas (`spoedplein http` + `spoedplein mllp` each, own ports) and one beat on one PostgreSQL + Redis
(started here from Debian's packages), all on this machine (tests/gateway_process.py's `ScaledOut`).

Each round sends `--messages` (bench/_pipeline.py's ED shift plus one new flagged visit per 100) as fast as
the replicas acknowledge them, half to each replica over `--connections` connections in all, and times
from the first send until the last message is processed (stored, ACKed, relayed, parsed, detected, cases
opened): messages per second through the whole pipeline. Baseline in the same run, each round: the same
feed with no worker running (store and ACK only: the ceiling the workers can approach); its backlog is
drained, untimed, before the next measurement. The configurations alternate within each round, so a busy
machine's drift spreads over all of them; the table shows the median of the rounds.

    .venv/bin/python bench/scale.py [--rounds 3] [--messages 1500] [--connections 8]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._mllp_load import LoadResult, PayloadFactory, is_aa, run_load  # noqa: E402
from bench._pipeline import as_shipped, feed, processed  # noqa: E402
from store.db import Database, make_engine  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from tests.conftest import TEST_KEY  # noqa: E402
from tests.gateway_process import ScaledOut  # noqa: E402
from tests.servers import PostgresServer, RedisServer  # noqa: E402

WORKERS = (1, 2, 3)


def numbered_apart(make: PayloadFactory, offset: int) -> PayloadFactory:
    return lambda connection, sequence: make(connection + offset, sequence)


async def send(ports: list[int], run_id: str, messages: int, connections: int) -> list[LoadResult]:
    """`messages` in all, split over the replicas; control ids unique per run (connections numbered apart)."""
    make = feed(run_id)
    per_replica = max(1, connections // len(ports))
    per_connection = messages // (per_replica * len(ports))
    return await asyncio.gather(
        *(
            run_load(
                "127.0.0.1",
                port,
                connections=per_replica,
                duration_s=None,
                messages_per_connection=per_connection,
                payloads=numbered_apart(make, 100 * n),
                ack_check=is_aa,
            )
            for n, port in enumerate(ports)
        )
    )


def wait_processed(db: Database, run_id: str, count: int, timeout_s: float = 900) -> float:
    deadline = time.monotonic() + timeout_s
    while processed(db, run_id) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{run_id}: not all {count} messages processed in {timeout_s:.0f} s")
        time.sleep(0.05)
    return time.perf_counter()


def measure(
    cluster: ScaledOut, db: Database, run_id: str, args: argparse.Namespace, *, wait: bool
) -> tuple[float, int]:
    """One round of one configuration: messages per second ACKed (`wait` False) or processed; how many."""
    started = time.perf_counter()
    results = asyncio.run(send(cluster.mllp_ports, run_id, args.messages, args.connections))
    acked = sum(r.messages for r in results)
    if any(r.errors for r in results) or not acked:
        raise RuntimeError(f"{run_id}: {[r.summary() for r in results]}")
    if not wait:
        return acked / (time.perf_counter() - started), acked
    return acked / (wait_processed(db, run_id, acked) - started), acked


def set_workers(cluster: ScaledOut, count: int, settle_s: float) -> None:
    """Start or stop workers (spread over the replicas' machines) until `count` run; let new ones connect."""
    running = [(r, name) for r in cluster.replicas for name in r.procs if name.startswith("worker-")]
    for replica, name in running[count:]:
        replica.stop(name)
    for n in range(len(running), count):
        cluster.replicas[n % len(cluster.replicas)].start("worker", name=f"worker-{n + 1}")
    if count > len(running):
        time.sleep(settle_s)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--messages", type=int, default=1500, help="per round and configuration")
    parser.add_argument("--connections", type=int, default=8, help="MLLP connections, over both replicas")
    parser.add_argument("--settle-s", type=float, default=15.0, help="for a started worker to connect")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="spoedplein-scale-bench-"))
    pg, redis = PostgresServer(), RedisServer()
    pg.execute("CREATE DATABASE scale")
    url = pg.url("scale")
    upgrade(url)  # what `spoedplein migrate` does, once, before the parts start
    env = {
        "SPOEDPLEIN_DATABASE_URL": url,
        "SPOEDPLEIN_BROKER_URL": redis.url,
        "SPOEDPLEIN_ENCRYPTION_KEY": base64.b64encode(TEST_KEY).decode(),  # one key for both replicas
        "SPOEDPLEIN_LOG_LEVEL": "WARNING",
    }
    cluster = ScaledOut(work, env)
    for replica in cluster.replicas:
        as_shipped(replica)
    db = Database(make_engine(url))
    rates: dict[str, list[float]] = {}
    try:
        cluster.start(workers=0)
        print(
            f"scale: 2 replicas (http + mllp each), 1 beat, PostgreSQL + Redis; {args.messages} messages per "
            f"round over {args.connections} connections; {args.rounds} rounds; cores: {os.cpu_count()}, "
            f"load average at start {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        set_workers(cluster, 1, args.settle_s)
        measure(
            cluster, db, "warmup", argparse.Namespace(messages=200, connections=args.connections), wait=True
        )
        for round_ in range(args.rounds):
            for workers in WORKERS:
                set_workers(cluster, workers, args.settle_s)
                run_id = f"R{round_}W{workers}"
                rate, _ = measure(cluster, db, run_id, args, wait=True)
                rates.setdefault(f"{workers} worker{'s' if workers > 1 else ''}", []).append(rate)
                print(f"  round {round_ + 1}, {workers} worker(s): {rate:7.0f} msg/s processed", flush=True)
            set_workers(cluster, 0, 0)
            run_id = f"R{round_}I"
            rate, acked = measure(cluster, db, run_id, args, wait=False)
            rates.setdefault("baseline: no worker", []).append(rate)
            print(
                f"  round {round_ + 1}, baseline (store + ACK only): {rate:7.0f} msg/s acknowledged",
                flush=True,
            )
            set_workers(cluster, max(WORKERS), args.settle_s)
            wait_processed(db, run_id, acked)  # untimed: the next round starts on an empty backlog
        one = statistics.median(rates["1 worker"])
        ceiling = statistics.median(rates["baseline: no worker"])
        print(
            f"\n{'configuration':<22} {'median msg/s':>12} {'vs 1 worker':>12} {'vs baseline':>12}   rounds"
        )
        for name, values in rates.items():
            median = statistics.median(values)
            print(
                f"{name:<22} {median:12.0f} {median / one:12.2f} {median / ceiling:12.2f}   "
                + ", ".join(f"{v:.0f}" for v in values)
            )
        print(f"load average at end {os.getloadavg()[0]:.1f} (the machine is shared: figures are indicative)")
    finally:
        cluster.stop_all()
        db.dispose()
        pg.stop()
        redis.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
