"""Group commit for the inbox: many concurrent senders, one transaction (and one fsync) per batch.

Each caller still gets its answer only after the transaction holding its message has committed, so an
ACK never runs ahead of the durable write; batching only shares the cost of the commit among the
messages that arrived while the previous commit was in flight.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading

from sqlalchemy.exc import IntegrityError

from store.crypto import FieldCipher
from store.db import Database
from store.inbox import NewMessage, StoredAnswer, store_messages

log = logging.getLogger(__name__)
Pending = tuple[NewMessage, "asyncio.Future[StoredAnswer]", asyncio.AbstractEventLoop]
_STOP = object()


class StoreUnavailable(Exception):
    """The batch could not be committed; none of its messages may be acknowledged positively."""


class GroupCommitWriter:
    def __init__(self, db: Database, cipher: FieldCipher, *, max_batch: int = 128) -> None:
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
                with self._db.write() as session:
                    answers = store_messages(session, self._cipher, messages)
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


def _deliver(results: list[tuple[asyncio.Future[StoredAnswer], StoredAnswer | None]]) -> None:
    for future, answer in results:
        if future.done():  # the sender hung up and its handler was cancelled
            continue
        if answer is None:
            future.set_exception(StoreUnavailable("the message store could not commit"))
        else:
            future.set_result(answer)
