"""Group commit for audit entries that have no transaction of their own to ride in.

Most reads are logged inside the transaction that reads (`store.audit.record`). A read that only looks
(a repeated CDS card whose case is already known: plain driver SQL, no write transaction) still needs its
entry, and opening a write transaction per such call would make each one wait for its own commit (and,
on SQLite, its own fsync). `append` hands the entry to one writer thread per database, which chains
every entry waiting at that moment in one transaction, and returns only after that transaction
committed: no answer goes out before its audit entry is durable, and concurrent callers share one
commit. If the commit fails the callers get `AuditUnavailable` (the caller answers an error: no log, no
data). The thread ends after a few idle seconds and starts again with the next entry.
"""

from __future__ import annotations

import queue
import threading
import weakref
from concurrent.futures import Future

from store import audit
from store.audit import Entry
from store.db import Database

MAX_BATCH = 256
IDLE_S = 5.0


class AuditUnavailable(Exception):
    """The entry could not be committed; the read it logs must not be answered."""


Pending = tuple[Entry, "Future[None]"]


class AuditAppender:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: queue.SimpleQueue[Pending] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running = False
        self.batches = 0  # how many transactions carried how many entries (tests and the bench read them)
        self.entries = 0

    def append(self, entry: Entry, *, timeout: float = 30.0) -> None:
        """Chain and commit `entry`; returns once the transaction holding it committed."""
        done: Future[None] = Future()
        self._queue.put((entry, done))
        with self._lock:
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="audit-group-commit", daemon=True).start()
        try:
            done.result(timeout=timeout)
        except AuditUnavailable:
            raise
        except Exception as exc:  # a timeout or the writer's own error: the entry may not be there
            raise AuditUnavailable(type(exc).__name__) from None

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_S)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():  # an `append` after this sees `_running` False and starts one
                        self._running = False
                        return
                continue
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._commit(batch)

    def _commit(self, batch: list[Pending]) -> None:
        try:
            with self._db.write() as session:
                audit.record_many(session, [entry for entry, _ in batch])
        except Exception as exc:
            for _, done in batch:
                done.set_exception(AuditUnavailable(type(exc).__name__))
            return
        self.batches += 1
        self.entries += len(batch)
        for _, done in batch:
            done.set_result(None)


_appenders: weakref.WeakKeyDictionary[Database, AuditAppender] = weakref.WeakKeyDictionary()
_appenders_lock = threading.Lock()


def appender(db: Database) -> AuditAppender:
    """The one appender of this database in this process."""
    with _appenders_lock:
        found = _appenders.get(db)
        if found is None:
            found = _appenders[db] = AuditAppender(db)
        return found
