"""The MLLP journal: on SQLite, the ACK path's own database file, so its write lock is never the worker's.

SQLite has one write lock per database file. With the inbox in the main file, every ACK's commit waited
for whatever write transaction the worker (or relay, beat, HTTP) had open, plus its fsync: with the worker
draining a burst, p99 ACK latency at 500 msg/s was 100-900 ms on a busy 2-core machine (issue 10 §1).
So the MLLP writer commits each group of messages (encrypted raw bytes, the ACK, the dedupe keys) to a
file of its own, next to the database (`<database>.mllp-journal`), and acknowledges after that commit;
the only other writer of that file is the mover below, in short transactions.

The **mover** (a thread in the MLLP process, started with the writer) copies journal rows into the main
database as ordinary `inbox_message` rows with their `inbox.process` outbox rows, in one main-database
transaction per batch (it waits for the worker there, off the ACK path), and then deletes them from the
journal. A crash between the two leaves rows in both: the next round finds their keys already stored and
only deletes them, so nothing is lost or stored twice. Messages appear in `/api/messages` once moved
(milliseconds; the journal is empty whenever the feed is quiet).

Dedupe stays exact across both files: the writer looks a key up in the journal first (inside its journal
write transaction, so the mover cannot delete meanwhile) and then in the main database; a row the mover
has already deleted from the journal was committed to the main database before, so the second lookup
finds it. Resends are counted in `journal_resend` and added to `inbox_message.resend_count` by the mover
(a crash between its two commits may count a resend twice; the count is for people, not for dedupe).

PostgreSQL has row locks and needs none of this: there the writer writes the inbox directly.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from store.crypto import FieldCipher
from store.db import Database, DriverSQL, driver_transaction, make_engine, utcnow
from store.inbox import (
    RAW_AAD,
    Known,
    NewMessage,
    StoredAnswer,
    insert_inbox_rows,
    lookup_stored,
    plan_batch,
    wanted_keys,
)

log = logging.getLogger(__name__)
JOURNAL_SUFFIX = ".mllp-journal"
MOVE_BATCH = 500  # journal rows per main-database transaction of the mover
CHECKPOINT_EVERY_S = 1.0  # the mover copies the journal's WAL back this often (never inside an ACK)
_JOURNAL_COLUMNS = (
    "channel, dedupe_key, content_hash, sender, control_id, message_type, received_at, raw, ack_code,"
    " ack, control_id_reused"
)
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS journal_message (id INTEGER PRIMARY KEY, channel TEXT NOT NULL,"
    " dedupe_key TEXT NOT NULL UNIQUE, content_hash TEXT NOT NULL, sender TEXT NOT NULL,"
    " control_id TEXT NOT NULL, message_type TEXT NOT NULL, received_at TEXT NOT NULL, raw BLOB NOT NULL,"
    " ack_code TEXT NOT NULL, ack BLOB NOT NULL, control_id_reused INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS journal_resend (dedupe_key TEXT PRIMARY KEY, count INTEGER NOT NULL)",
)


def journal_path(database_url: str) -> Path | None:
    """Where the journal of a SQLite database file lives (next to it); None for PostgreSQL or memory."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    database = Path(url.database)
    return database.with_name(database.name + JOURNAL_SUFFIX)


def journal_engine(path: Path, *, sqlite_synchronous: str, busy_timeout_ms: int) -> Engine:
    """An engine on the journal file, its tables created; SQLite checkpoints are the mover's job."""
    engine = make_engine(
        f"sqlite:///{path}",
        sqlite_synchronous=sqlite_synchronous,
        pool_size=1,
        sqlite_busy_timeout_ms=busy_timeout_ms,
        sqlite_checkpoints=False,
    )
    with driver_transaction(engine, write=True) as sql:
        for statement in SCHEMA:
            sql.rows(statement, ())
    return engine


def write_journal(
    journal: DriverSQL, main: Engine, cipher: FieldCipher, batch: list[NewMessage]
) -> list[StoredAnswer]:
    """`inbox.write_messages` for the journal, inside the caller's journal write transaction: the same
    answers (resend, reused control id, new), looked up in the journal and then in the main database."""
    keys = wanted_keys(batch)
    known: Known = lookup_stored(journal, "journal_message", keys)
    missing = [key for key in keys if key not in known]
    if missing:
        # A read on the main file: WAL readers take no lock a writer waits for.
        with driver_transaction(main, write=False) as sql:
            known.update(lookup_stored(sql, "inbox_message", missing))
    plan = plan_batch(batch, known)
    if plan.resent:
        resends = Counter(plan.resent)
        journal.rows(
            "INSERT INTO journal_resend (dedupe_key, count) VALUES"
            f" {', '.join(f'({journal.marks(2)})' for _ in resends)}"
            " ON CONFLICT (dedupe_key) DO UPDATE SET count = count + excluded.count",
            [value for key, count in resends.items() for value in (key, count)],
        )
    new_ids: dict[str, int] = {}
    if plan.fresh:
        now = journal.timestamp(utcnow())
        values: list[object] = []
        for key, (m, reused) in plan.fresh.items():
            values += [m.channel, key, m.content_hash, m.sender, m.control_id, m.message_type, now]
            values += [cipher.encrypt(m.raw, RAW_AAD), m.ack_code, m.ack, reused]
        new_ids = {
            key: journal_id
            for journal_id, key in journal.rows(
                f"INSERT INTO journal_message ({_JOURNAL_COLUMNS}) VALUES"
                f" {', '.join(f'({journal.marks(11)})' for _ in plan.fresh)} RETURNING id, dedupe_key",
                values,
            )
        }
    return plan.answers(new_ids)


def move_once(journal: Engine, db: Database, *, limit: int = MOVE_BATCH) -> int:
    """Move up to `limit` journal rows (and the resends counted so far) into the main database; returns
    how many rows left the journal."""
    with driver_transaction(journal, write=False) as sql:
        rows = sql.rows(f"SELECT id, {_JOURNAL_COLUMNS} FROM journal_message ORDER BY id LIMIT ?", (limit,))
        resends = sql.rows("SELECT dedupe_key, count FROM journal_resend", ())
    if not rows and not resends:
        return 0
    applied: list[tuple[str, int]] = []
    with driver_transaction(db.engine, write=True) as sql:
        keys = [row[2] for row in rows]
        stored = set(lookup_stored(sql, "inbox_message", keys)) if keys else set()  # moved before a crash
        inbox_rows = [
            (
                row[2],
                NewMessage(row[1], row[2], row[4], row[5], row[6], b"", row[9], bytes(row[10]), row[3]),
                bool(row[11]),
                bytes(row[8]),
                row[7],
                0,
            )
            for row in rows
            if row[2] not in stored
        ]
        insert_inbox_rows(sql, inbox_rows)
        for key, count in resends:
            if sql.rows(
                "UPDATE inbox_message SET resend_count = resend_count + ? WHERE dedupe_key = ? RETURNING id",
                (count, key),
            ):
                applied.append((key, count))  # the others' messages are still in the journal
    with driver_transaction(journal, write=True) as sql:
        if rows:
            ids = [row[0] for row in rows]
            sql.rows(f"DELETE FROM journal_message WHERE id IN ({sql.marks(len(ids))})", ids)
        for key, count in applied:
            sql.rows("UPDATE journal_resend SET count = count - ? WHERE dedupe_key = ?", (count, key))
        if applied:
            sql.rows("DELETE FROM journal_resend WHERE count <= 0", ())
    return len(rows)


def pending(journal: Engine) -> int:
    """Journal rows not yet in the main database."""
    with driver_transaction(journal, write=False) as sql:
        return int(sql.rows("SELECT count(*) FROM journal_message", ())[0][0])


class JournalMover:
    """The thread that moves journal rows into the main database as soon as the writer committed them."""

    def __init__(self, path: Path, db: Database, *, sqlite_synchronous: str) -> None:
        url = db.engine.url.render_as_string(hide_password=False)
        # The mover's own connections: it waits for the worker's write lock (SQLite's busy handler), the
        # ACK path does not.
        self._db = Database(make_engine(url, sqlite_synchronous=sqlite_synchronous, pool_size=1))
        self._journal = journal_engine(path, sqlite_synchronous=sqlite_synchronous, busy_timeout_ms=30_000)
        self._wake = threading.Event()
        self._stopping = False
        self._checkpointed_at = 0.0
        self._wake.set()  # what an earlier run left in the journal goes first
        self._thread = threading.Thread(target=self._run, name="inbox-journal-mover", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """Called after each journal commit."""
        self._wake.set()

    def close(self) -> None:
        """Move what is left, then stop."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=60)
        self._journal.dispose()
        self._db.dispose()

    def _run(self) -> None:
        while True:
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            stopping = self._stopping
            try:
                while move_once(self._journal, self._db) == MOVE_BATCH:
                    pass
                self._checkpoint()
            except Exception:
                # The rows stay in the journal; the next round (or the next start) moves them.
                log.exception("moving the MLLP journal into the database failed; trying again")
                time.sleep(1.0)
                continue
            if stopping:
                return

    def _checkpoint(self) -> None:
        now = time.monotonic()
        if now - self._checkpointed_at >= CHECKPOINT_EVERY_S:
            self._checkpointed_at = now
            with self._journal.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
