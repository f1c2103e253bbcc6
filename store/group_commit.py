"""Group commit for the inbox: many concurrent senders, one transaction (and one fsync) per batch.

Each caller still gets its answer only after the transaction holding its message has committed, so an
ACK never runs ahead of the durable write; batching only shares the cost of the commit among the
messages that arrived while the previous commit was in flight.

On SQLite the writer competes for the database's one write lock with the worker, the relay and HTTP.
SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25… ms between tries, so an ACK waiting behind a
worker transaction of 3 ms could wait 8 ms or more, and the others wait the same way. This writer has its
own connection without a busy handler and tries `BEGIN IMMEDIATE` again every `BUSY_RETRY_S` instead (a
refused try costs microseconds: plain driver calls, no SQLAlchemy session): it takes the lock within a
fraction of a millisecond of its release, ahead of the others still asleep. The ACK path comes first;
processing may wait.

With a `journal` (what the MLLP part uses on SQLite) the writer commits to that file of its own instead
(`store.journal`), whose lock only the beat's mover takes, briefly: then it waits for nobody's write
transaction at all.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from pathlib import Path

from sqlalchemy.exc import IntegrityError, OperationalError

from store.crypto import FieldCipher
from store.db import Database, DriverSQL, driver_transaction, is_busy, make_engine
from store.inbox import NewMessage, StoredAnswer, write_messages
from store.journal import journal_engine, write_journal

log = logging.getLogger(__name__)
BUSY_RETRY_S = 0.0002  # how soon to try the write lock again while another process holds it
BUSY_DEADLINE_S = 20.0  # then the batch is refused (AR 207: the sender resends), never acknowledged
Pending = tuple[NewMessage, "asyncio.Future[StoredAnswer]", asyncio.AbstractEventLoop]
_STOP = object()


class StoreUnavailable(Exception):
    """The batch could not be committed; none of its messages may be acknowledged positively."""


class GroupCommitWriter:
    def __init__(
        self,
        db: Database,
        cipher: FieldCipher,
        *,
        max_batch: int = 128,
        sqlite_synchronous: str = "FULL",
        journal: Path | None = None,
    ) -> None:
        """`journal` (SQLite only): commit to that file of its own instead of the database; the beat
        moves the rows into the database (`store.journal`)."""
        self._journal = None
        if db.is_sqlite and journal is not None:
            self._journal = journal_engine(journal, sqlite_synchronous=sqlite_synchronous, busy_timeout_ms=0)
        if db.is_sqlite:
            url = db.engine.url.render_as_string(hide_password=False)
            # Its own connection, without SQLite's sleeping busy handler (see the module docstring).
            db = Database(
                make_engine(
                    url,
                    sqlite_synchronous=sqlite_synchronous,
                    pool_size=1,
                    sqlite_busy_timeout_ms=0,
                    sqlite_checkpoints=False,  # not inside an ACK's commit: the beat checkpoints
                )
            )
            self._own_db: Database | None = db
        else:
            self._own_db = None
        self._db = db
        self._cipher = cipher
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.batches = 0
        self.messages = 0
        self._thread = threading.Thread(target=self._run, name="inbox-group-commit", daemon=True)
        self._thread.start()

    async def submit(self, message: NewMessage) -> StoredAnswer:
        """Store one message; returns after its batch committed, or raises `StoreUnavailable`."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[StoredAnswer] = loop.create_future()
        self._queue.put((message, future, loop))
        return await future

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=30)
        if self._journal is not None:
            self._journal.dispose()
        if self._own_db is not None:
            self._own_db.dispose()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            batch = [item]
            stop_after = False
            while len(batch) < self._max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is _STOP:
                    stop_after = True
                    break
                batch.append(more)
            self._commit(batch)  # type: ignore[arg-type]  # _STOP was filtered above
            if stop_after:
                return

    def _commit(self, batch: list[Pending]) -> None:
        messages = [m for m, _, _ in batch]
        answers: list[StoredAnswer] | None = None
        for attempt in range(2):
            try:
                answers = self._store(messages)
                break
            except IntegrityError:
                # Another gateway process stored one of these keys first; the retry sees it as a duplicate.
                if attempt == 1:
                    log.exception("inbox batch of %d failed twice on a unique key", len(batch))
            except Exception:
                log.exception("inbox batch of %d could not be committed", len(batch))
                break
        self.batches += 1
        self.messages += len(batch)
        # One wake-up of each event loop per batch (not per message): cross-thread wake-ups are what
        # limits throughput on a small machine.
        by_loop: dict[
            asyncio.AbstractEventLoop, list[tuple[asyncio.Future[StoredAnswer], StoredAnswer | None]]
        ]
        by_loop = {}
        for index, (_, future, loop) in enumerate(batch):
            by_loop.setdefault(loop, []).append((future, answers[index] if answers is not None else None))
        for loop, results in by_loop.items():
            loop.call_soon_threadsafe(_deliver, results)

    def _store(self, messages: list[NewMessage]) -> list[StoredAnswer]:
        """One write transaction for the batch in plain driver SQL; on SQLite, the lock is tried again
        every `BUSY_RETRY_S` while another process holds it."""
        if not self._db.is_sqlite:
            with driver_transaction(self._db.engine, write=True) as sql:
                return write_messages(sql, self._cipher, messages)
        engine = self._journal if self._journal is not None else self._db.engine
        raw = engine.raw_connection()
        try:
            sql = DriverSQL(engine.dialect, raw.driver_connection)
            _begin_immediate(sql)
            try:
                if self._journal is not None:
                    answers = write_journal(sql, self._db.engine, self._cipher, messages)
                else:
                    answers = write_messages(sql, self._cipher, messages)
                sql.rows("COMMIT", ())
            except BaseException:
                raw.rollback()
                raise
        finally:
            raw.close()
        return answers


def _begin_immediate(sql: DriverSQL) -> None:
    deadline = time.monotonic() + BUSY_DEADLINE_S
    while True:
        try:
            sql.rows("BEGIN IMMEDIATE", ())
            return
        except OperationalError as exc:
            if not is_busy(exc) or time.monotonic() > deadline:
                raise
        time.sleep(BUSY_RETRY_S)


def _deliver(results: list[tuple[asyncio.Future[StoredAnswer], StoredAnswer | None]]) -> None:
    for future, answer in results:
        if future.done():  # the sender hung up and its handler was cancelled
            continue
        if answer is None:
            future.set_exception(StoreUnavailable("the message store could not commit"))
        else:
            future.set_result(answer)
