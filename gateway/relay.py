"""The outbox relay: claims pending outbox rows and hands their ids to Celery, in batches.

Rows stay pending until the task that does the work marks them done; rows handed out but not done after
`relay_redeliver_after_s` are handed out again, so a lost broker message or a killed worker delays work
but never loses it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from datetime import timedelta

from celery import Celery

from core.runtime import Runtime
from gateway.heartbeat import Heartbeat
from gateway.worker import TASK_NAME
from store.outbox import claim_for_dispatch, release_dispatch
from store.periodic import registered_jobs

log = logging.getLogger(__name__)
TASK_BATCH = 100  # outbox ids per Celery task: one transaction and one broker round trip per 100 items


def relay_once(runtime: Runtime, celery: Celery) -> int:
    """Hand out one round of due rows; returns how many were published."""
    settings = runtime.settings
    claimed = claim_for_dispatch(
        runtime.db,
        limit=settings.relay_batch_size,
        redeliver_after=timedelta(seconds=settings.relay_redeliver_after_s),
    )
    by_topic: dict[str, list[int]] = defaultdict(list)
    for item_id, topic in claimed:
        by_topic[topic].append(item_id)
    published: set[int] = set()
    try:
        for ids in by_topic.values():
            for start in range(0, len(ids), TASK_BATCH):
                batch = ids[start : start + TASK_BATCH]
                celery.send_task(TASK_NAME, args=[batch])
                published.update(batch)
    except Exception:
        # The broker is away: what it did not take is due again next round, not after the redelivery wait.
        release_dispatch(runtime.db, [item_id for item_id, _ in claimed if item_id not in published])
        raise
    return len(claimed)


def run_periodic_jobs(runtime: Runtime, last_run: dict[str, float], now: float) -> None:
    """Run every registered periodic job whose interval has passed; one failing job never stops the rest."""
    for job in registered_jobs():
        if now - last_run.get(job.name, float("-inf")) < job.interval_s:
            continue
        last_run[job.name] = now
        try:
            job.run(runtime)
        except Exception:
            log.exception("periodic job %s failed; it runs again next interval", job.name)


def run_relay(
    runtime: Runtime, celery: Celery, stop: threading.Event, heartbeat: Heartbeat | None = None
) -> None:
    """Relay until `stop` is set; a full round goes again at once, an empty one waits an interval.

    Between rounds the periodic jobs (timer ticks) run when due, and the heartbeat is written (the
    beat's health check reads it: a loop that hangs stops writing).
    """
    import gateway.handlers  # noqa: F401  (registers outbox topics and periodic jobs)

    last_run: dict[str, float] = {}
    while not stop.is_set():
        try:
            published = relay_once(runtime, celery)
        except Exception:
            log.exception("relay round failed; retrying")
            published = 0
        run_periodic_jobs(runtime, last_run, time.monotonic())
        if heartbeat is not None:
            heartbeat.tick()
        if published < runtime.settings.relay_batch_size:
            stop.wait(runtime.settings.relay_interval_s)
