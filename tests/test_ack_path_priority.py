"""The ACK path comes first: the MLLP writer takes SQLite's write lock as soon as it is free instead of
sleeping in SQLite's busy handler, and never checkpoints the WAL inside an ACK's commit. (That the worker
holds the lock only for its writes is tested with processing, tests/test_fhir_writeback.py and the rest.)

Measured before (issue 10 §1): with the worker draining a burst, p99 ACK latency was 235–539 ms at
500 msg/s, because the worker parsed, mapped and ran detection on 100 messages inside one write
transaction, and the ACK path waited for it in SQLite's sleeping busy handler.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import gateway.handlers  # noqa: F401  (registers every outbox topic)
from adapters.hl7.ack import build_ack
from adapters.hl7.msh import read_header
from adapters.hl7.receiver import content_fingerprint
from store.checkpoint import checkpoint_wal
from store.crypto import FieldCipher
from store.db import Database, make_engine
from store.group_commit import GroupCommitWriter
from store.inbox import Channel, NewMessage, dedupe_key
from store.periodic import registered_jobs
from tests.conftest import TEST_KEY, new_sqlite_database

ADT = (
    "MSH|^~\\&|HIX|ETZ|SPOEDPLEIN|ETZ|20261123100000+0100||ADT^A04^ADT_A01|{cid}|P|2.5\r"
    "PID|1||{cid}^^^ETZ^PI||Testpersoon^Kind||20260801|F\r"
    "PV1|1|E|SEH^K1^1^ETZ||||||||||||||||V{cid}|||||||||||||||||||||||||20261123095500+0100\r"
    "PV2|||^blauwe plek op de wang\r"
)


def new_message(cid: str) -> NewMessage:
    raw = ADT.format(cid=cid).encode()
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
