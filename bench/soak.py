"""Soak: `spoedplein run` as shipped, fed at a fixed rate for minutes through the whole pipeline.

`spoedplein run` (the embedded default: SQLite and the server-less broker; `--postgres`: PostgreSQL and
Redis started here from Debian's packages) with the shipped settings, except a roster whose parties are
paged by SMS to a recording CM.com-compatible server in this process (tests/paging_servers.py) and a short
"case open too long" limit, so that cases page while the soak runs. The feed (bench/_pipeline.py) is an ED
shift at Dutch prevalence plus one newly flagged visit per 100 messages: detection, cases, their timers
and pages all run. MLLP load is open-loop at `--rate` over `--connections` (ACK latency from the scheduled
send time: no coordinated omission).

Every `--sample-s` seconds: the RSS of every process of the run (supervisor and each part, by /proc) and
the processing lag (`spoedplein_processing_lag_seconds` on /metrics: the age of the oldest message not
yet processed). At the end: start and end RSS per process (and any restart), lag p50/p99/max over the
samples, ACK latency, cases and pages, and whether the backlog drained within `--drain-s` after the feed.

    .venv/bin/python bench/soak.py [--minutes 10] [--rate 200] [--postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from bench._mllp_load import is_aa, run_load  # noqa: E402
from bench._pipeline import as_shipped, feed  # noqa: E402
from tests.gateway_process import API_TOKEN, GatewayProcesses, children_of, command_line  # noqa: E402
from tests.pager_fixtures import NUMBERS, ROSTER  # noqa: E402
from tests.paging_servers import SmsGateway  # noqa: E402

CASE_OPEN_LIMIT_S = 30


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def process_tree(root: int) -> dict[str, int]:
    """Every process under `root` by name: `run`, its parts (`http`, `mllp`, `worker`, `beat`) and their
    own children (`worker/<pid>`)."""
    found = {"run": root}
    for pid in children_of(root):
        args = command_line(pid)
        name = args[3] if len(args) >= 4 and args[1:3] == ["-m", "gateway"] else f"pid {pid}"
        found[name] = pid
        for grandchild in children_of(pid):
            found[f"{name}/{grandchild}"] = grandchild
    return found


@dataclass
class Samples:
    rss: dict[str, list[tuple[float, int, float]]] = field(default_factory=dict)  # name -> (t, pid, MB)
    lag: list[float] = field(default_factory=list)
    lag_errors: int = 0


def metric(text: str, name: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    return None


def scrape(gateway: GatewayProcesses) -> str:
    response = httpx.get(
        f"{gateway.http_url}/metrics", headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=10
    )
    response.raise_for_status()
    return response.text


def sample(gateway: GatewayProcesses, samples: Samples, started: float) -> float | None:
    now = time.monotonic() - started
    for name, pid in process_tree(gateway.procs["run"].pid).items():
        mb = rss_mb(pid)
        if mb is not None:
            samples.rss.setdefault(name, []).append((now, pid, mb))
    try:
        lag = metric(scrape(gateway), "spoedplein_processing_lag_seconds")
    except (httpx.HTTPError, ValueError):
        samples.lag_errors += 1
        return None
    if lag is not None:
        samples.lag.append(lag)
    return lag


def wait_for_pages(gateway: GatewayProcesses, sms: SmsGateway) -> float:
    """Every case pages the coordinator once its "open too long" timer fires: wait for the last ones (at
    most the limit and a minute). Returns the number of cases."""
    deadline = time.monotonic() + CASE_OPEN_LIMIT_S + 60
    cases = 0.0
    while time.monotonic() < deadline:
        try:
            families = text_string_to_metric_families(scrape(gateway))
            cases = sum(s.value for f in families for s in f.samples if s.name == "spoedplein_cases")
        except (httpx.HTTPError, ValueError):
            pass
        if cases and len(sms.accepted) >= cases:
            break
        time.sleep(2)
    return cases


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(samples: Samples) -> None:
    print("RSS per process (MB): start -> end, max")
    for name, points in sorted(samples.rss.items()):
        pids = list(dict.fromkeys(pid for _, pid, _ in points))
        restarted = f"  RESTARTED ({len(pids) - 1}x)" if len(pids) > 1 else ""
        print(
            f"  {name:<14} {points[0][2]:7.1f} -> {points[-1][2]:7.1f}, max {max(p[2] for p in points):7.1f}"
            f"  ({len(points)} samples){restarted}"
        )
    if samples.lag:
        print(
            f"processing lag over {len(samples.lag)} samples: p50 {statistics.median(samples.lag):.2f} s, "
            f"p99 {percentile(samples.lag, 0.99):.2f} s, max {max(samples.lag):.2f} s"
            + (f" ({samples.lag_errors} scrapes failed)" if samples.lag_errors else "")
        )


def soak(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="spoedplein-soak-"))
    sms = SmsGateway()
    servers: list[object] = []
    roster = work / "roster.yaml"
    roster.write_text(ROSTER.format(**NUMBERS).replace("[sms, email]", "[sms]"))
    env = {
        "SPOEDPLEIN_ROSTER_FILE": str(roster),
        "SPOEDPLEIN_SMS_URL": sms.url,
        "SPOEDPLEIN_SMS_TOKEN": sms.token,
        "SPOEDPLEIN_CASE_OPEN_LIMIT_S": str(CASE_OPEN_LIMIT_S),
        "SPOEDPLEIN_LOG_LEVEL": "WARNING",
    }
    if args.postgres:
        from tests.servers import PostgresServer, RedisServer

        pg, redis = PostgresServer(), RedisServer()
        servers += [pg, redis]
        pg.execute("CREATE DATABASE soak")
        env["SPOEDPLEIN_DATABASE_URL"] = pg.url("soak")
        env["SPOEDPLEIN_BROKER_URL"] = redis.url
    gateway = GatewayProcesses(work / "gw", env=env)
    as_shipped(gateway)
    samples = Samples()
    stop = threading.Event()
    try:
        gateway.run()
        store = "PostgreSQL + Redis" if args.postgres else "embedded (SQLite, server-less broker)"
        print(
            f"soak: spoedplein run, {store}; {args.rate:.0f} msg/s over {args.connections} connections "
            f"for {args.minutes:g} min; one new flagged visit per 100 messages; cores: {os.cpu_count()}, "
            f"load average at start {os.getloadavg()[0]:.1f}",
            flush=True,
        )
        started = time.monotonic()

        def sampler() -> None:
            while not stop.wait(args.sample_s):
                lag = sample(gateway, samples, started)
                if args.verbose:
                    print(f"  t={time.monotonic() - started:6.0f}s lag={lag}", flush=True)

        thread = threading.Thread(target=sampler, daemon=True)
        sample(gateway, samples, started)
        thread.start()
        result = asyncio.run(
            run_load(
                "127.0.0.1",
                gateway.mllp_port,
                connections=args.connections,
                duration_s=args.minutes * 60,
                rate_per_s=args.rate,
                payloads=feed(f"SOAK{int(time.time())}"),
                ack_check=is_aa,
            )
        )
        fed_at = time.monotonic()
        print(f"feed: {result.summary()}", flush=True)
        drained_after: float | None = None
        while time.monotonic() - fed_at < args.drain_s:
            time.sleep(1)
            try:
                lag = metric(scrape(gateway), "spoedplein_processing_lag_seconds")
            except (httpx.HTTPError, ValueError):
                continue
            if lag == 0:
                drained_after = time.monotonic() - fed_at
                break
        stop.set()
        thread.join(timeout=30)
        sample(gateway, samples, started)
        report(samples)
        if drained_after is not None:
            print(f"backlog drained {drained_after:.0f} s after the feed stopped")
        else:
            print(f"backlog NOT drained {args.drain_s:.0f} s after the feed stopped")
        stored: dict[str, float] = {}
        for family in text_string_to_metric_families(scrape(gateway)):
            for point in family.samples:
                if point.name == "spoedplein_inbox_messages":
                    status = point.labels["status"]
                    stored[status] = stored.get(status, 0) + point.value
        print(
            f"stored {sum(stored.values()):.0f} of {result.messages} acknowledged; by status "
            + ", ".join(f"{status} {count:.0f}" for status, count in sorted(stored.items()))
        )
        cases = wait_for_pages(gateway, sms)
        print(
            f"cases open or closed: {cases:.0f}; SMS pages accepted by the test server: {len(sms.accepted)} "
            f"(requests {len(sms.posts)}); load average at end {os.getloadavg()[0]:.1f}"
        )
    finally:
        stop.set()
        gateway.stop_all()
        sms.stop()
        for server in servers:
            server.stop()  # type: ignore[attr-defined]
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0, help="offered MLLP messages per second")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--sample-s", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--drain-s", type=float, default=900.0, help="how long to wait for the backlog")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL + Redis instead of embedded")
    parser.add_argument("--verbose", action="store_true", help="print every sample's lag")
    soak(parser.parse_args())


if __name__ == "__main__":
    main()
