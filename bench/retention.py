"""Retention and backup on SQLite: how long one retention batch holds the write lock (the MLLP ACK path
waits for it), rows per second, and the time of an online backup; each against a baseline in the same run.

Per round, a fresh SQLite database gets N processed raw messages, half of them with a presentation (so
the foreign-key walk has something to clear), all received 31 days ago. Then:
- retention: `workflows.retention` batches (default 200 rows) until none is due; baseline: plain
  `DELETE ... WHERE id IN (SELECT ... LIMIT 200)` batches on an identical copy (no foreign-key walk);
- backup: `store.backup.backup` (SQLite's online backup API); baseline: copying the file.
Medians over the rounds. The machine is shared: compare the two columns, not the absolute figures.

    .venv/bin/python -m bench.retention [--messages 20000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from store import backup
from store.audit import chain_key
from store.crypto import FieldCipher
from store.db import Database, driver_transaction, make_engine, utcnow
from store.inbox import NewMessage, dedupe_key, write_messages
from store.migrate import upgrade
from workflows import retention

KEY = bytes(range(32))
CLEAR_LINK = "UPDATE presentation SET inbox_message_id = NULL WHERE inbox_message_id IN ({chosen})"
RAW = (
    "MSH|^~\\&|EPIC|ETZ|SPOED|ETZ|20261123||ADT^A04|{cid}|P|2.5\r"
    "PID|1||{cid}^^^ETZ^PI||Testpersoon^Kind||20260801|F\r"
    "PV1|1|E|SEH^K1^1^ETZ||||||||||||||||V{cid}\r"
    "PV2|||^blauwe plek op de wang\r"
)


def build(path: Path, messages: int) -> Database:
    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database(make_engine(url), audit_key=chain_key(KEY))
    cipher = FieldCipher(KEY)
    for start in range(0, messages, 500):
        batch = [
            NewMessage(
                channel="hl7v2",
                dedupe_key=dedupe_key("hl7v2", "EPIC", "ETZ", f"C{n}"),
                sender="EPIC|ETZ",
                control_id=f"C{n}",
                message_type="ADT^A04",
                raw=RAW.format(cid=n).encode(),
                ack_code="AA",
                ack=b"MSA|AA",
                content_hash=str(n),
            )
            for n in range(start, min(start + 500, messages))
        ]
        with driver_transaction(db.engine, write=True) as sql:
            write_messages(sql, cipher, batch)
    old = (utcnow() - timedelta(days=31)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with db.engine.begin() as connection:
        connection.execute(
            text("UPDATE inbox_message SET status='processed', received_at=:old"), {"old": old}
        )
        connection.execute(
            text(
                "INSERT INTO presentation (inbox_message_id, channel, event, patient_ref, encounter_ref,"
                " created_at, data) SELECT id, 'hl7v2', 'admit', 'p' || id, 'e' || id, received_at, raw"
                " FROM inbox_message WHERE id % 2 = 0"
            )
        )
    return db


def timed_retention(db: Database, size: int) -> tuple[float, list[float]]:
    cipher = FieldCipher(KEY)
    cutoff = utcnow() - timedelta(days=30)
    batches = []
    started = time.perf_counter()
    for category in (retention.Category.RAW_MESSAGES, retention.Category.UNLINKED_PRESENTATIONS):
        while True:
            begin = time.perf_counter()
            with db.write() as session:
                chosen, _done = retention._batch(session, cipher, category, cutoff, size)
            batches.append(time.perf_counter() - begin)
            if chosen < size:
                break
    return time.perf_counter() - started, batches


def timed_plain_delete(db: Database, size: int) -> tuple[float, list[float]]:
    cutoff = (utcnow() - timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S.%f")
    batches = []
    started = time.perf_counter()
    for table, column in (("inbox_message", "received_at"), ("presentation", "created_at")):
        while True:
            begin = time.perf_counter()
            chosen = f"SELECT id FROM {table} WHERE {column} < :cutoff ORDER BY id LIMIT :n"
            values = {"n": size, "cutoff": cutoff}
            with db.write() as session:
                if table == "inbox_message":  # the one reference the product clears, written out by hand
                    session.execute(
                        text(CLEAR_LINK.format(chosen=chosen)),
                        values,
                    )
                result = session.execute(text(f"DELETE FROM {table} WHERE id IN ({chosen})"), values)
            batches.append(time.perf_counter() - begin)
            if result.rowcount < size:  # type: ignore[attr-defined]
                break
    return time.perf_counter() - started, batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=retention.Policy().batch_size)
    args = parser.parse_args()
    rows = {"retention": [], "plain delete": [], "backup": [], "file copy": []}  # type: ignore[var-annotated]
    lock = {"retention": [], "plain delete": []}  # type: ignore[var-annotated]
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp) / "base.sqlite"
            build(base, args.messages).dispose()
            for name, run in (("retention", timed_retention), ("plain delete", timed_plain_delete)):
                path = Path(tmp) / f"{name}.sqlite"
                shutil.copyfile(base, path)
                db = Database(make_engine(f"sqlite:///{path}"), audit_key=chain_key(KEY))
                total, batches = run(db, args.batch)
                db.dispose()
                rows[name].append(total)
                lock[name].append(statistics.median(batches))
            begin = time.perf_counter()
            backup.backup(f"sqlite:///{base}", Path(tmp) / "out.backup")
            rows["backup"].append(time.perf_counter() - begin)
            begin = time.perf_counter()
            shutil.copyfile(base, Path(tmp) / "copy.sqlite")
            rows["file copy"].append(time.perf_counter() - begin)
    setup = f"{args.messages} raw messages (half with a presentation), batches of {args.batch}"
    print(f"{setup}, {args.rounds} rounds")
    for name in ("retention", "plain delete"):
        total = statistics.median(rows[name])
        print(
            f"{name:13} {total:7.2f} s total, {args.messages / total:9.0f} messages/s, "
            f"median batch (write lock held) {statistics.median(lock[name]) * 1000:6.1f} ms"
        )
    for name in ("backup", "file copy"):
        print(
            f"{name:13} {statistics.median(rows[name]):7.3f} s for the database of {args.messages} messages"
        )


if __name__ == "__main__":
    main()
