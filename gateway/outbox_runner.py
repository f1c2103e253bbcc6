"""Runs outbox items: each handler in the transaction that marks its row done.

A batch is first tried in one transaction (one commit for many messages: the worker's throughput);
if anything in it fails, the batch is rolled back and each item is run on its own, so one bad item
never holds up the others and its failure is recorded against it alone.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.runtime import Runtime
from store.handlers import batch_handler_for
from store.outbox import OutboxItem, mark_done, record_failure

log = logging.getLogger(__name__)
MAX_BACKOFF = timedelta(minutes=10)


def _run_one(runtime: Runtime, session: Session, item_id: int) -> bool:
    return _run_batch(runtime, session, [item_id]) == 1


def _run_batch(runtime: Runtime, session: Session, item_ids: list[int]) -> int:
    """Run the not-yet-done items among `item_ids` in the session's transaction and mark them done.

    The rows are locked first (PostgreSQL), so a second worker holding the same ids waits and then finds
    them done; on SQLite the write transaction is already exclusive.
    """
    items = session.execute(
        select(OutboxItem.id, OutboxItem.topic, OutboxItem.payload)
        .where(OutboxItem.id.in_(item_ids), OutboxItem.done_at.is_(None))
        .order_by(OutboxItem.id)
        .with_for_update()
    ).all()
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_topic.setdefault(item.topic, []).append(dict(item.payload))
    for topic, payloads in by_topic.items():
        batch_handler_for(topic)(runtime, session, payloads)
    return mark_done(session, [item.id for item in items])


def run_items(runtime: Runtime, item_ids: list[int]) -> int:
    """Run the given outbox items; returns how many were done by this call."""
    if not item_ids:
        return 0
    if len(item_ids) > 1:
        try:
            with runtime.db.write() as session:
                return _run_batch(runtime, session, item_ids)
        except Exception:
            log.info("batch of %d failed; running its items one by one", len(item_ids))
    done = 0
    for item_id in item_ids:
        try:
            with runtime.db.write() as session:
                done += _run_one(runtime, session, item_id)
        except Exception as exc:
            attempts = _dispatch_count(runtime, item_id)
            backoff = min(MAX_BACKOFF, timedelta(seconds=2 ** min(attempts, 10)))
            log.warning("outbox item %s failed (%s); retry in %s", item_id, type(exc).__name__, backoff)
            record_failure(runtime.db, item_id, f"{type(exc).__name__}: {exc}", retry_in=backoff)
    return done


def _dispatch_count(runtime: Runtime, item_id: int) -> int:
    with runtime.db.read() as session:
        return int(session.scalar(select(OutboxItem.dispatch_count).where(OutboxItem.id == item_id)) or 0)
