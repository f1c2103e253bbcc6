"""The transactional outbox: work a state change implies, written in the same transaction as the change.

A relay hands pending rows to Celery; the task that does the work marks the row done in the same
transaction as the work itself, so a crash between the two re-runs the work at most once more, and an
idempotent handler turns that into exactly once. Rows that were handed out but not finished within
`redeliver_after` are handed out again: Celery is never the only place where work lives.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Integer, String, Text, or_, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.db import Base, BigIntPK, Database, UTCDateTime, claim_rows, utcnow


class OutboxItem(Base):
    __tablename__ = "outbox_item"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(64), index=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # idempotency key of the work
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # ids only, never patient data
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    dispatch_count: Mapped[int] = mapped_column(Integer, default=0)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    last_error: Mapped[str] = mapped_column(Text, default="")


# A session whose owner runs the work it enqueues itself, right after its commit (the worker's outbox
# runner sets this): `enqueue(..., eager=True)` then saves the relay's round trip.
EAGER = "spoedplein.outbox.eager"


def enqueue(
    session: Session,
    *,
    topic: str,
    key: str,
    payload: dict[str, Any],
    eager: bool = False,
    available_at: datetime | None = None,
) -> None:
    """Add work inside the caller's transaction; a second call with the same key adds nothing.

    `eager`: when the session belongs to a runner that runs follow-up work itself after the commit, the
    row is handed to that runner (and marked dispatched, so the relay only redelivers it if the runner
    dies first); elsewhere the relay hands it out as usual. `available_at` delays the work.
    """
    enqueue_many(session, topic=topic, items=[(key, payload)], eager=eager, available_at=available_at)


def enqueue_many(
    session: Session,
    *,
    topic: str,
    items: Sequence[tuple[str, dict[str, Any]]],
    eager: bool = False,
    available_at: datetime | None = None,
) -> None:
    """`enqueue` for many (key, payload) pairs of one topic: one read of the keys for all of them."""
    if not items:
        return
    keys = [key for key, _ in items]
    taken = set(session.execute(select(OutboxItem.key).where(OutboxItem.key.in_(keys))).scalars())
    eager_items = session.info.get(EAGER)
    rows = []
    for key, payload in items:
        if key in taken:
            continue
        taken.add(key)
        item = OutboxItem(topic=topic, key=key, payload=payload)
        if available_at is not None:
            item.available_at = available_at
        if eager and eager_items is not None and available_at is None:
            item.dispatched_at = utcnow()
            item.dispatch_count = 1
            eager_items.append(item)
        rows.append(item)
    session.add_all(rows)


def claim_for_dispatch(
    db: Database, *, limit: int, redeliver_after: timedelta, now: datetime | None = None
) -> list[tuple[int, str]]:
    """Mark up to `limit` due rows as dispatched and return (id, topic) for the relay to publish."""
    now = now or utcnow()
    with db.write() as session:
        query = claim_rows(
            select(OutboxItem.id, OutboxItem.topic)
            .where(
                OutboxItem.done_at.is_(None),
                OutboxItem.available_at <= now,
                or_(
                    OutboxItem.dispatched_at.is_(None),
                    OutboxItem.dispatched_at < now - redeliver_after,
                ),
            )
            .order_by(OutboxItem.id)
            .limit(limit),
            db,
        )
        rows = [(row.id, row.topic) for row in session.execute(query)]
        if rows:
            session.execute(
                update(OutboxItem)
                .where(OutboxItem.id.in_([r[0] for r in rows]))
                .values(dispatched_at=now, dispatch_count=OutboxItem.dispatch_count + 1)
            )
        return rows


def release_dispatch(db: Database, item_ids: list[int]) -> None:
    """Make claimed rows due again at once: the broker did not take them (it is down), so waiting out
    `redeliver_after` would only delay the catch-up once it is back."""
    if not item_ids:
        return
    with db.write() as session:
        session.execute(
            update(OutboxItem)
            .where(OutboxItem.id.in_(item_ids), OutboxItem.done_at.is_(None))
            .values(dispatched_at=None)
        )


def mark_done(session: Session, item_ids: int | list[int]) -> int:
    """Mark done inside the work's transaction; returns how many were not already done."""
    ids = [item_ids] if isinstance(item_ids, int) else item_ids
    if not ids:
        return 0
    result = session.execute(
        update(OutboxItem)
        .where(OutboxItem.id.in_(ids), OutboxItem.done_at.is_(None))
        .values(done_at=utcnow(), last_error="")
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def record_failure(db: Database, item_id: int, error: str, *, retry_in: timedelta) -> None:
    """Keep the row pending, back it off, and note why (no patient data in `error`)."""
    with db.write() as session:
        session.execute(
            update(OutboxItem)
            .where(OutboxItem.id == item_id, OutboxItem.done_at.is_(None))
            .values(last_error=error[:2000], available_at=utcnow() + retry_in, dispatched_at=None)
        )
