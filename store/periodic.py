"""The registry of periodic jobs the beat process runs (timer ticks, auditors).

A job claims its own due rows (durable timers are rows with a due time and a token), so running it in
two beat processes at once, or twice in a row, is safe. Register with `@every(seconds)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# A job gets the gateway's runtime (typed loosely to keep store/ at the bottom of the dependency graph).
Job = Callable[[Any], None]


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    interval_s: float
    run: Job


_JOBS: dict[str, PeriodicJob] = {}


def every(seconds: float, *, name: str | None = None) -> Callable[[Job], Job]:
    def register(fn: Job) -> Job:
        job_name = name or f"{fn.__module__}.{fn.__qualname__}"
        _JOBS[job_name] = PeriodicJob(job_name, seconds, fn)
        return fn

    return register


def registered_jobs() -> list[PeriodicJob]:
    return sorted(_JOBS.values(), key=lambda job: job.name)
