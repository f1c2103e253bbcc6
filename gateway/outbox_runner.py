"""Runs outbox items: each handler in the transaction that marks its row done.

A batch is first tried in one transaction (one commit for many messages: the worker's throughput);
if anything in it fails, the batch is rolled back and each item is run on its own, so one bad item
never holds up the others and its failure is recorded against it alone.

Nothing slow runs while a write transaction is open (on SQLite its lock is one for the whole database,
and the MLLP ACK path needs it): topics that talk to the outside world run as I/O handlers, outside any
transaction; a topic with CPU-heavy work (mapping and detection) has it done by its `prepares` function
before the write transaction opens, and the handler then only writes the results. A topic that
registered `gives_up` stops retrying an item after `MAX_ATTEMPTS` and lets a person know.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.runtime import Runtime
from store.handlers import (
    MAX_ATTEMPTS,
    PREPARED,
    batch_handler_for,
    give_up_for,
    io_handler_for,
    preparer_for,
)
from store.outbox import EAGER, OutboxItem, mark_done, record_failure

log = logging.getLogger(__name__)
MAX_BACKOFF = timedelta(minutes=10)
EAGER_DEPTH = 3  # follow-up work run at once (page → deliver → next channel); deeper goes via the relay


def _run_batch(
    runtime: Runtime, session: Session, item_ids: list[int], prepared: dict[int, Any] | None = None
) -> int:
    """Run the not-yet-done items among `item_ids` in the session's transaction and mark them done.

    The rows are locked first (PostgreSQL), so a second worker holding the same ids waits and then finds
    them done; on SQLite the write transaction is already exclusive. `prepared` holds what each item's
    `prepares` function made for it, outside this transaction.
    """
    prepared = prepared or {}
    items = session.execute(
        select(OutboxItem.id, OutboxItem.topic, OutboxItem.payload)
        .where(OutboxItem.id.in_(item_ids), OutboxItem.done_at.is_(None))
        .order_by(OutboxItem.id)
        .with_for_update()
    ).all()
    by_topic: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        payload = dict(item.payload)
        if item.id in prepared:
            payload[PREPARED] = prepared[item.id]
        by_topic.setdefault(item.topic, []).append(payload)
    for topic, payloads in by_topic.items():
        batch_handler_for(topic)(runtime, session, payloads)
    return mark_done(session, [item.id for item in items])


def _prepare(runtime: Runtime, item_ids: list[int]) -> dict[int, Any]:
    """What each pending item's topic prepares before its write transaction: the CPU-heavy part, with no
    write lock held. Items done meanwhile are left out (the transaction skips them too)."""
    with runtime.db.read() as session:
        items = session.execute(
            select(OutboxItem.id, OutboxItem.topic, OutboxItem.payload)
            .where(OutboxItem.id.in_(item_ids), OutboxItem.done_at.is_(None))
            .order_by(OutboxItem.id)
        ).all()
    by_topic: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for item in items:
        if preparer_for(item.topic) is not None:
            by_topic.setdefault(item.topic, []).append((item.id, dict(item.payload)))
    out: dict[int, Any] = {}
    for topic, pending in by_topic.items():
        prepare = preparer_for(topic)
        assert prepare is not None
        values = prepare(runtime, [payload for _, payload in pending])
        out.update((item_id, value) for (item_id, _), value in zip(pending, values, strict=True))
    return out


def _fail(runtime: Runtime, item_id: int, exc: Exception) -> bool:
    """Back the item off for a retry, or give it up (True) when its topic allows that by now."""
    error = f"{type(exc).__name__}: {exc}"
    attempts = _dispatch_count(runtime, item_id)
    if attempts >= MAX_ATTEMPTS and _give_up(runtime, item_id, error, attempts):
        return True
    backoff = min(MAX_BACKOFF, timedelta(seconds=2 ** min(attempts, 10)))
    log.warning(
        "outbox item %s failed (%s); retry in %s", item_id, type(exc).__name__, backoff, exc_info=True
    )
    record_failure(runtime.db, item_id, error, retry_in=backoff)
    return False


def _give_up(runtime: Runtime, item_id: int, error: str, attempts: int) -> bool:
    """Stop retrying an item whose topic allows it: its give-up function records the failure for a
    person, and the item is marked done in the same transaction. False when the topic retries for ever."""
    with runtime.db.write() as session:
        item = session.get(OutboxItem, item_id)
        if item is None or item.done_at is not None:
            return False
        give_up = give_up_for(item.topic)
        if give_up is None:
            return False
        give_up(runtime, session, dict(item.payload), error)
        mark_done(session, item_id)
        item.last_error = f"gave up after {attempts} attempts: {error}"[:2000]
    log.warning("outbox item %s given up after %d attempts", item_id, attempts)
    return True


@contextmanager
def _write(runtime: Runtime, eager: list[OutboxItem]) -> Iterator[Session]:
    """A write transaction whose `enqueue(eager=True)` calls hand their rows to this runner."""
    with runtime.db.write() as session:
        session.info[EAGER] = eager
        yield session


def _split_io(
    runtime: Runtime, item_ids: list[int]
) -> tuple[list[int], dict[str, list[tuple[int, dict[str, Any]]]]]:
    """Separate the items whose topic does I/O (run outside a transaction) from the others."""
    with runtime.db.read() as session:
        rows = session.execute(
            select(OutboxItem.id, OutboxItem.topic, OutboxItem.payload).where(
                OutboxItem.id.in_(item_ids), OutboxItem.done_at.is_(None)
            )
        ).all()
    io: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for row in rows:
        if io_handler_for(row.topic) is not None:
            io.setdefault(row.topic, []).append((row.id, dict(row.payload)))
    io_ids = {item_id for items in io.values() for item_id, _ in items}
    return [i for i in item_ids if i not in io_ids], io


def _run_io(runtime: Runtime, topic: str, items: list[tuple[int, dict[str, Any]]]) -> int:
    handler = io_handler_for(topic)
    assert handler is not None
    ids = [item_id for item_id, _ in items]
    try:
        handler(runtime, [payload for _, payload in items])
    except Exception as exc:
        for item_id in ids:
            _fail(runtime, item_id, exc)
        return 0
    with runtime.db.write() as session:
        return mark_done(session, ids)


def run_items(runtime: Runtime, item_ids: list[int], *, depth: int = 0) -> int:
    """Run the given outbox items; returns how many were done by this call.

    Work they enqueue eagerly (a page's first messages) runs right after their commit, in this process.
    """
    if not item_ids:
        return 0
    plain_ids, io = _split_io(runtime, item_ids)
    done = 0
    for topic, items in io.items():
        done += _run_io(runtime, topic, items)
    eager: list[OutboxItem] = []
    if len(plain_ids) > 1:
        try:
            prepared = _prepare(runtime, plain_ids)
            with _write(runtime, eager) as session:
                done += _run_batch(runtime, session, plain_ids, prepared)
            plain_ids = []
        except Exception:
            eager.clear()
            log.info("batch of %d failed; running its items one by one", len(plain_ids))
    for item_id in plain_ids:
        mine: list[OutboxItem] = []
        try:
            prepared = _prepare(runtime, [item_id])
            with _write(runtime, mine) as session:
                done += _run_batch(runtime, session, [item_id], prepared)
            eager.extend(mine)
        except Exception as exc:
            done += _fail(runtime, item_id, exc)  # given up: done, and a person told
    if eager and depth < EAGER_DEPTH:
        run_items(runtime, [item.id for item in eager], depth=depth + 1)
    return done


def _dispatch_count(runtime: Runtime, item_id: int) -> int:
    with runtime.db.read() as session:
        return int(session.scalar(select(OutboxItem.dispatch_count).where(OutboxItem.id == item_id)) or 0)
