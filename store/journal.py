"""The MLLP journal: on SQLite, the ACK path's own database file, so its write lock is never the worker's.

SQLite has one write lock per database file. With the inbox in the main file, every ACK's commit waited
for whatever write transaction the worker (or relay, beat, HTTP) had open, plus its fsync: with the worker
draining a burst, p99 ACK latency at 500 msg/s was 100-900 ms on a busy 2-core machine (issue 10 §1).
So the MLLP writer commits each group of messages (encrypted raw bytes, the ACK, the dedupe keys) to a
file of its own, next to the database (`<database>.mllp-journal`), and acknowledges after that commit;
the only other writer of that file is the mover below, in short transactions.

The **mover** (a periodic job of the beat, run every relay round) copies journal rows into the main
database as ordinary `inbox_message` rows with their `inbox.process` outbox rows, in one main-database
transaction per 500 rows (it waits for the worker there, off the ACK path), and then deletes them from
the journal. A crash between the two leaves rows in both: the next round finds their keys already
stored and only deletes them, so nothing is lost or stored twice. Messages appear in `/api/messages`
once moved (within a relay round, 0.2 s; the journal is empty whenever the feed is quiet). It runs in
the beat, not in the MLLP part, because copying costs about as much CPU as storing did: on two cores the
MLLP part's CPU is what limits the ACK rate, and the beat runs at a lower priority.

Dedupe stays exact across both files: the writer looks a key up in the journal first (inside its journal
write transaction, so the mover cannot delete meanwhile) and then in the main database; a row the mover
has already deleted from the journal was committed to the main database before, so the second lookup
finds it. Resends are counted in `journal_resend` and added to `inbox_message.resend_count` by the mover
(a crash between its two commits may count a resend twice; the count is for people, not for dedupe).

PostgreSQL has row locks and needs none of this: there the writer writes the inbox directly.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

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
from store.periodic import every

JOURNAL_SUFFIX = ".mllp-journal"
MOVE_BATCH = 500  # journal rows per main-database transaction of the mover
CHECKPOINT_EVERY_S = 1.0  # the beat copies the journal's WAL back this often (never inside an ACK)
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


JournalRows = tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]  # messages, resend counts


def _read(journal: Engine, limit: int) -> JournalRows:
    with driver_transaction(journal, write=False) as sql:
        rows = sql.rows(f"SELECT id, {_JOURNAL_COLUMNS} FROM journal_message ORDER BY id LIMIT ?", (limit,))
        resends = sql.rows("SELECT dedupe_key, count FROM journal_resend", ())
    return rows, resends


def _store(
    sql: DriverSQL, rows: list[tuple[Any, ...]], resends: list[tuple[Any, ...]]
) -> list[tuple[str, int]]:
    """Store journal rows in the inbox (in `sql`'s transaction) unless their key is there already (moved
    before a crash), and add the resends whose message is there; returns the resends added."""
    keys = [row[2] for row in rows]
    stored = set(lookup_stored(sql, "inbox_message", keys))
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
    applied: list[tuple[str, int]] = []
    for key, count in resends:
        if sql.rows(
            "UPDATE inbox_message SET resend_count = resend_count + ? WHERE dedupe_key = ? RETURNING id",
            (count, key),
        ):
            applied.append((key, count))  # the others' messages are still in the journal
    return applied


def move_once(journal: Engine, db: Database, *, limit: int = MOVE_BATCH) -> int:
    """Move up to `limit` journal rows (and the resends counted so far) into the main database; returns
    how many rows left the journal."""
    rows, resends = _read(journal, limit)
    if not rows and not resends:
        return 0
    with driver_transaction(db.engine, write=True) as sql:
        applied = _store(sql, rows, resends)
    with driver_transaction(journal, write=True) as sql:
        if rows:
            ids = [row[0] for row in rows]
            sql.rows(f"DELETE FROM journal_message WHERE id IN ({sql.marks(len(ids))})", ids)
        for key, count in applied:
            sql.rows("UPDATE journal_resend SET count = count - ? WHERE dedupe_key = ?", (count, key))
        if applied:
            sql.rows("DELETE FROM journal_resend WHERE count <= 0", ())
    return len(rows)


def copy_pending(database: Path, target: Path) -> int:
    """Copy what the journal of the SQLite `database` holds into the SQLite file `target` (a backup of
    it), leaving the journal as it is: a backup then holds every message acknowledged before it."""
    path = journal_path(f"sqlite:///{database}")
    if path is None or not path.exists():
        return 0
    journal = make_engine(f"sqlite:///{path}", pool_size=1)
    backup = make_engine(f"sqlite:///{target}", pool_size=1)
    try:
        rows, resends = _read(journal, -1)  # LIMIT -1: all of them
        if rows or resends:
            with driver_transaction(backup, write=True) as sql:
                _store(sql, rows, resends)
        return len(rows)
    finally:
        journal.dispose()
        backup.dispose()


_engines: dict[Path, Engine] = {}  # the beat's engine per journal file, kept between rounds
_checkpointed_at: dict[Path, float] = {}
ROUNDS_PER_RELAY_ROUND = 8  # at most 4,000 rows a relay round, then the relay and the other jobs go


@every(0.0, name="store.mllp_journal")
def move_journal_job(runtime: Any) -> None:
    """The beat's mover: every relay round (0.2 s apart while idle), what the MLLP part acknowledged is
    moved into the database; the relay hands it to the worker next round."""
    settings = runtime.settings
    if not runtime.db.is_sqlite or not settings.mllp_journal:
        return
    path = journal_path(settings.resolved_database_url)
    if path is None or not path.exists():
        return
    engine = _engines.get(path)
    if engine is None:
        engine = _engines[path] = journal_engine(
            path, sqlite_synchronous=settings.sqlite_synchronous, busy_timeout_ms=30_000
        )
    for _ in range(ROUNDS_PER_RELAY_ROUND):
        if move_once(engine, runtime.db) < MOVE_BATCH:
            break
    now = time.monotonic()
    if now - _checkpointed_at.get(path, 0.0) >= CHECKPOINT_EVERY_S:
        _checkpointed_at[path] = now
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
