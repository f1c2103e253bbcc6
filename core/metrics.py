"""Process metrics (prometheus-client): what only the process that did the work knows — messages received,
refused and resent per channel, ACK latency, CDS latency. Gauges of state (lag, outbox depth, cases,
pages, timers) are read from the database when `/metrics` is scraped (`gateway/metrics.py`).

The parts of a deployment are separate processes (`run` supervises http, mllp, worker and beat), so the
counters use prometheus-client's multiprocess mode: each process writes its values to memory-mapped
files in one directory (`SPOEDPLEIN_METRICS_DIR`, default `<data dir>/metrics`), and `/metrics` sums
them. `configure` must run in each process before its first observation (the CLI does it); without it
(tests, a library use) the values live in the process, and `/metrics` of that process shows them.

Labels never carry patient data: channel, outcome, ACK code, CDS service id.
"""

from __future__ import annotations

import os
import shutil
import socket
from bisect import bisect_left
from pathlib import Path

from prometheus_client import Counter, Histogram, values

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds. The ACK path is sub-millisecond to tens of milliseconds (a group commit's fsync); a slow
# disk or a locked store shows in the upper buckets.
ACK_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CDS_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

MESSAGES = Counter(
    "spoedplein_messages",
    "Messages received per channel and outcome: accepted (stored, new), resent (a duplicate, answered "
    "with the stored ACK), reused_id (a reused control id with other content, stored as its own "
    "message), rejected (refused, nothing stored)",
    ["channel", "outcome"],
)
ACK_LATENCY = Histogram(
    "spoedplein_ack_latency_seconds",
    "From a complete message to its acknowledgement being ready (stored first), per channel",
    ["channel"],
    buckets=ACK_BUCKETS,
)
CDS_LATENCY = Histogram(
    "spoedplein_cds_latency_seconds",
    "CDS Hooks service calls, from request to cards, per service",
    ["service"],
    buckets=CDS_BUCKETS,
)


OUTCOMES = ("accepted", "resent", "reused_id", "rejected")


class ChannelStats:
    """The counts and ACK latencies of one channel's hot path, kept in plain Python and added to the
    Prometheus values by `flush` (once a second, from the same event loop).

    Why: in multiprocess mode each observation takes a lock and writes a memory-mapped file (2.6 µs on an
    idle core for a counter, 3 µs for a histogram, ten times that on a busy one); on the MLLP ACK path
    that cost would come with every message. Here a message costs a dictionary increment and a bisect.
    """

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self._counts = dict.fromkeys(OUTCOMES, 0)
        self._buckets = [0] * (len(ACK_BUCKETS) + 1)  # the last one is +Inf
        self._sum = 0.0

    def count(self, outcome: str) -> None:
        self._counts[outcome] += 1

    def observe(self, seconds: float) -> None:
        # Prometheus buckets hold observations <= their bound: the first bound >= seconds.
        self._buckets[bisect_left(ACK_BUCKETS, seconds)] += 1
        self._sum += seconds

    def flush(self) -> None:
        for outcome, count in self._counts.items():
            if count:
                MESSAGES.labels(self.channel, outcome).inc(count)
                self._counts[outcome] = 0
        if any(self._buckets):
            histogram = ACK_LATENCY.labels(self.channel)
            # prometheus-client has no public "observe n times"; its histogram child keeps one value per
            # bucket (`_buckets`, non-cumulative, the last +Inf) and `_sum`, which `observe` increments.
            for index, count in enumerate(self._buckets):
                if count:
                    histogram._buckets[index].inc(count)
                    self._buckets[index] = 0
            histogram._sum.inc(self._sum)
            self._sum = 0.0


def metrics_dir(data_dir: Path, configured: Path | None) -> Path:
    return configured if configured is not None else data_dir / "metrics"


def configure(directory: Path, *, clean: bool = False) -> None:
    """Write this process's metrics to `directory` (multiprocess mode). `clean` empties it first: only
    the one process that starts all others may (`spoedplein run`), before it starts them."""
    if clean and directory.exists():
        shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory.resolve())
    # prometheus-client picks its value class when it is imported; children created from now on
    # (labels are created on first use) write to the directory. Files are named by host and pid, not pid
    # alone: containers sharing one metrics volume all run as pid 1.
    host = socket.gethostname().replace("_", "-")
    values.ValueClass = values.MultiProcessValue(lambda: f"{host}-{os.getpid()}")


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None
