"""The ACK path comes first: on SQLite the MLLP writer commits to a journal file of its own, so a write
transaction of the worker (or anyone else) on the database never delays an ACK; the journal's rows move
into the database behind it, with resends and reused control ids told apart exactly as before. Where
the writer does write the database (no journal), it takes SQLite's write lock as soon as it is free
instead of sleeping in SQLite's busy handler, and never checkpoints the WAL inside an ACK's commit.
(That the worker holds the lock only for its writes is tested with processing,
tests/test_fhir_writeback.py and the rest.)

Measured before (issue 10 §1): with the worker draining a burst, p99 ACK latency was 235–539 ms at
500 msg/s, because the worker parsed, mapped and ran detection on 100 messages inside one write
transaction, and the ACK path waited for it in SQLite's sleeping busy handler. With those transactions
short, it still waited for each of them and their fsyncs (p99 106–933 ms on a busy machine); with the
journal it waits for none.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

import gateway.handlers  # noqa: F401  (registers every outbox topic)
from adapters.hl7.ack import build_ack
from adapters.hl7.msh import read_header
from adapters.hl7.receiver import content_fingerprint
from store.backup import backup
from store.checkpoint import checkpoint_wal
from store.crypto import FieldCipher
from store.db import Database, make_engine
from store.group_commit import GroupCommitWriter
from store.inbox import Channel, NewMessage, dedupe_key
from store.journal import journal_engine, journal_path, move_once
from store.periodic import registered_jobs
from tests.conftest import TEST_KEY, new_sqlite_database

ADT = (
    "MSH|^~\\&|HIX|ETZ|SPOEDPLEIN|ETZ|20261123100000+0100||ADT^A04^ADT_A01|{cid}|P|2.5\r"
    "PID|1||{cid}^^^ETZ^PI||Testpersoon^Kind||20260801|F\r"
    "PV1|1|E|SEH^K1^1^ETZ||||||||||||||||V{cid}|||||||||||||||||||||||||20261123095500+0100\r"
    "PV2|||^blauwe plek op de wang\r"
)


def new_message(cid: str, complaint: str = "blauwe plek op de wang") -> NewMessage:
    raw = ADT.format(cid=cid).replace("blauwe plek op de wang", complaint).encode()
    header = read_header(raw, default_charset="UNICODE UTF-8")
    return NewMessage(
        channel=Channel.HL7V2,
        dedupe_key=dedupe_key(Channel.HL7V2, "HIX", "ETZ", cid),
        sender=header.sender,
        control_id=cid,
        message_type="ADT^A04",
        raw=raw,
        ack_code="AA",
        ack=build_ack(header, zone="Europe/Amsterdam"),
        content_hash=content_fingerprint(header),
    )


@pytest.mark.serial  # asserts a 50 ms bound: a busy parallel worker would fail it
def test_an_ack_waiting_for_the_write_lock_is_stored_as_soon_as_the_lock_is_free(tmp_path: Path) -> None:
    """Another process holds the write lock for 430 ms. SQLite's own busy handler would wake the waiter
    at 328, 428 and 528 ms (its sleeps grow to 100 ms), 98 ms after the release; ours tries every
    fraction of a millisecond."""
    url = new_sqlite_database(tmp_path)
    db = Database(make_engine(url))
    writer = GroupCommitWriter(db, FieldCipher(TEST_KEY))
    holder = sqlite3.connect(tmp_path / "spoedplein.sqlite", isolation_level=None, check_same_thread=False)
    try:
        holder.execute("BEGIN IMMEDIATE")
        released_at: list[float] = []

        def release_later() -> None:
            time.sleep(0.43)
            holder.execute("COMMIT")
            released_at.append(time.monotonic())

        releaser = threading.Thread(target=release_later)
        releaser.start()
        answer = asyncio.run(writer.submit(new_message("WAITED-1")))
        stored_at = time.monotonic()
        releaser.join()
        assert not answer.duplicate and answer.ack_code == "AA"
        assert stored_at - released_at[0] < 0.05, f"stored {1000 * (stored_at - released_at[0]):.0f} ms late"
    finally:
        holder.close()
        writer.close()
        db.dispose()


def test_acks_never_wait_for_a_wal_checkpoint_the_beat_copies_the_log(tmp_path: Path) -> None:
    """SQLite would checkpoint inside the COMMIT that takes the log past 1,000 pages (two fsyncs added to
    one ACK); the group-commit writer leaves that to the beat's periodic PASSIVE checkpoint."""
    url = new_sqlite_database(tmp_path)
    db = Database(make_engine(url))
    writer = GroupCommitWriter(db, FieldCipher(TEST_KEY))

    async def store_one_by_one() -> None:
        for n in range(400):  # one commit each: several pages of the log per commit
            await writer.submit(new_message(f"LOG-{n}"))

    try:
        asyncio.run(store_one_by_one())
        outcome = checkpoint_wal(db)
        assert outcome is not None
        _, logged, copied = outcome
        assert logged > 1000, "the writer's commits checkpointed the log themselves"
        assert copied == logged  # the beat's checkpoint copied all of it
        assert [job.name for job in registered_jobs() if job.name == "store.wal_checkpoint"]
    finally:
        writer.close()
        db.dispose()


def _inbox(url: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
        return connection.execute(
            "SELECT m.control_id, m.resend_count, m.control_id_reused, o.topic FROM inbox_message m"
            " JOIN outbox_item o ON o.key = 'inbox.process:' || m.id ORDER BY m.id"
        ).fetchall()


def pending(journal: Path) -> int:
    with sqlite3.connect(journal) as connection:
        return int(connection.execute("SELECT count(*) FROM journal_message").fetchone()[0])


def _beat_moves(url: str, db: Database) -> None:
    """One round of the beat's periodic job that moves the journal into the database."""
    settings = SimpleNamespace(mllp_journal=True, resolved_database_url=url, sqlite_synchronous="FULL")
    [job] = [job for job in registered_jobs() if job.name == "store.mllp_journal"]
    job.run(SimpleNamespace(db=db, settings=settings))


def test_acks_are_given_while_the_worker_holds_the_databases_write_lock(tmp_path: Path) -> None:
    """The worker (here: another connection) holds the database's write lock until the ACKs have come;
    they come, because the writer commits to its journal. Without the journal they could not: the
    writer would wait for that lock (the first test), and this one would fail on its deadline."""
    url = new_sqlite_database(tmp_path)
    db = Database(make_engine(url))
    journal = journal_path(url)
    assert journal is not None and journal.parent == tmp_path
    writer = GroupCommitWriter(db, FieldCipher(TEST_KEY), journal=journal)
    holder = sqlite3.connect(tmp_path / "spoedplein.sqlite", isolation_level=None, check_same_thread=False)

    async def send_while_locked() -> list[bool]:
        answers = await asyncio.wait_for(
            asyncio.gather(*(writer.submit(new_message(f"LOCKED-{n}")) for n in range(20))), timeout=20
        )
        return [a.ack_code == "AA" and not a.duplicate for a in answers]

    try:
        holder.execute("BEGIN IMMEDIATE")
        assert asyncio.run(send_while_locked()) == [True] * 20
        assert _inbox(url) == []  # still in the journal: the database was locked throughout
        holder.execute("COMMIT")
        _beat_moves(url, db)
        assert _inbox(url) == [(f"LOCKED-{n}", 0, 0, "inbox.process") for n in range(20)]
    finally:
        holder.close()
        writer.close()
        db.dispose()


def test_resends_and_reused_control_ids_are_told_apart_across_journal_and_database(tmp_path: Path) -> None:
    """A resend gets the stored ACK byte for byte whether its first copy is still in the journal or
    already in the database; the same control id with other content is stored as its own message."""
    url = new_sqlite_database(tmp_path)
    db = Database(make_engine(url))
    writer = GroupCommitWriter(db, FieldCipher(TEST_KEY), journal=journal_path(url))
    first = new_message("R-1")

    async def send(message: NewMessage) -> tuple[bytes, bool, bool]:
        answer = await writer.submit(message)
        return answer.ack, answer.duplicate, answer.control_id_reused

    try:
        ack, duplicate, _ = asyncio.run(send(first))
        assert not duplicate
        _beat_moves(url, db)
        # The first copy is in the database now: a resend (MSH-7 may differ) gets the same bytes.
        resend = new_message("R-1")
        resend = dataclasses.replace(resend, raw=resend.raw.replace(b"20261123100000", b"20261123100500"))
        assert asyncio.run(send(resend)) == (ack, True, False)
        _, duplicate, reused = asyncio.run(send(new_message("R-1", complaint="val van de trap")))
        assert (duplicate, reused) == (False, True)
        _beat_moves(url, db)
        assert [row[:3] for row in _inbox(url)] == [("R-1", 1, 0), ("R-1", 0, 1)]
        assert asyncio.run(send(new_message("R-1", complaint="val van de trap")))[1:] == (True, False)
        _beat_moves(url, db)
        assert [row[1] for row in _inbox(url)] == [1, 1]
    finally:
        writer.close()
        db.dispose()


def test_rows_moved_before_a_crash_are_not_stored_twice(tmp_path: Path) -> None:
    """The mover commits to the database and then deletes from the journal; killed in between, the rows
    are in both, and the next round only deletes them."""
    url = new_sqlite_database(tmp_path)
    db = Database(make_engine(url))
    path = journal_path(url)
    assert path is not None
    writer = GroupCommitWriter(db, FieldCipher(TEST_KEY), journal=path)
    try:
        asyncio.run(writer.submit(new_message("CRASH-1")))
        _beat_moves(url, db)
    finally:
        writer.close()
    engine = journal_engine(path, sqlite_synchronous="FULL", busy_timeout_ms=1000)
    assert pending(path) == 0
    # The state a kill between the mover's two commits leaves: the row back in the journal.
    with sqlite3.connect(path) as journal, sqlite3.connect(tmp_path / "spoedplein.sqlite") as main:
        columns = "channel, dedupe_key, content_hash, sender, control_id, message_type, received_at, raw,"
        columns += " ack_code, ack, control_id_reused"
        row = main.execute(f"SELECT {columns} FROM inbox_message").fetchone()
        journal.execute(f"INSERT INTO journal_message ({columns}) VALUES ({', '.join('?' * 11)})", row)
    try:
        assert pending(path) == 1
        assert move_once(engine, db) == 1
        assert pending(path) == 0
        assert [row[0] for row in _inbox(url)] == ["CRASH-1"]
    finally:
        engine.dispose()
        db.dispose()


def test_a_backup_holds_the_messages_still_in_the_journal(tmp_path: Path) -> None:
    """Acknowledged but not yet moved (the worker holds the database's lock): `spoedplein backup`'s copy
    has them as inbox rows waiting for the worker, and the live journal still moves them afterwards."""
    url = new_sqlite_database(tmp_path)
    db = Database(make_engine(url))
    writer = GroupCommitWriter(db, FieldCipher(TEST_KEY), journal=journal_path(url))
    holder = sqlite3.connect(tmp_path / "spoedplein.sqlite", isolation_level=None, check_same_thread=False)
    out = tmp_path / "backups" / "spoedplein.db"
    try:
        holder.execute("BEGIN IMMEDIATE")
        answer = asyncio.run(asyncio.wait_for(writer.submit(new_message("BACKED-1")), timeout=20))
        assert answer.ack_code == "AA"
        backup(url, out)
        holder.execute("COMMIT")
        assert _inbox(f"sqlite:///{out}") == [("BACKED-1", 0, 0, "inbox.process")]
        _beat_moves(url, db)
        assert len(_inbox(url)) == 1
    finally:
        holder.close()
        writer.close()
        db.dispose()
