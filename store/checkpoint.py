"""SQLite's WAL is copied into the database by the beat, once a second, not by the hot paths' commits.

By default SQLite checkpoints inside whichever COMMIT takes the write-ahead log past 1,000 pages: that one
commit then copies the log into the database file and fsyncs both, tens of milliseconds on a busy disk.
The connections of the latency-critical paths (the MLLP group-commit writer that ACKs depend on, the CDS
Hooks jti ledger) turn that off (`make_engine(..., sqlite_checkpoints=False)`); this periodic job, in the
beat process, checkpoints in PASSIVE mode instead (it never blocks a reader or a writer), so the log
stays small. Other connections (worker, HTTP) keep SQLite's default. PostgreSQL: nothing to do.
"""

from __future__ import annotations

from typing import Any

from store.periodic import every

CHECKPOINT_INTERVAL_S = 1.0


def checkpoint_wal(db: Any) -> tuple[int, int, int] | None:
    """One PASSIVE checkpoint: (busy, frames in the log, frames checkpointed), or None off SQLite."""
    if not db.is_sqlite:
        return None
    with db.engine.connect() as connection:
        busy, logged, copied = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    return int(busy), int(logged), int(copied)


@every(CHECKPOINT_INTERVAL_S, name="store.wal_checkpoint")
def checkpoint_job(runtime: Any) -> None:
    checkpoint_wal(runtime.db)
