"""One message never stops the feed: the worker maps and detects with no write transaction open, a
message with too much free text is processed without it and marked for a person, and a message whose
processing keeps failing is given up (marked for a person), never retried for ever."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

import adapters.processing as processing
from adapters.hl7.msh import read_header
from adapters.hl7.receiver import content_fingerprint
from core.runtime import Runtime
from presentations import service as presentations
from presentations.models import PresentationRecord
from store.db import Database
from store.handlers import MAX_ATTEMPTS
from store.inbox import Channel, InboxMessage, MessageStatus, NewMessage, dedupe_key, store_messages
from store.outbox import OutboxItem
from tests.workflow_fixtures import drain_outbox, runtime_for

A04 = (
    "MSH|^~\\&|HIX|ETZ|SPOEDPLEIN|ETZ|20261123100000+0100||ADT^A04^ADT_A01|{cid}|P|2.5\r"
    "PID|1||{cid}^^^ETZ^PI||Testpersoon^Kind||20260801|F\r"
    "PV1|1|E|SEH^K1^1^ETZ||||||||||||||||V{cid}|||||||||||||||||||||||||20261123095500+0100\r"
    "PV2|||^{complaint}\r"
)


@pytest.fixture
def runtime(db: Database, database_url: str, tmp_path: Path) -> Runtime:
    return runtime_for(db, database_url, tmp_path)


def receive(runtime: Runtime, cid: str, complaint: str) -> int:
    raw = A04.format(cid=cid, complaint=complaint).encode()
    header = read_header(raw, default_charset="UNICODE UTF-8")
    with runtime.db.write() as session:
        (answer,) = store_messages(
            session,
            runtime.cipher,
            [
                NewMessage(
                    channel=Channel.HL7V2,
                    dedupe_key=dedupe_key(Channel.HL7V2, "HIX", "ETZ", cid),
                    sender="HIX|ETZ",
                    control_id=cid,
                    message_type="ADT^A04",
                    raw=raw,
                    ack_code="AA",
                    ack=b"",
                    content_hash=content_fingerprint(header),
                )
            ],
        )
    return answer.message_id


def message(runtime: Runtime, message_id: int) -> InboxMessage:
    with runtime.db.read() as session:
        row = session.get(InboxMessage, message_id)
        assert row is not None
        return row


def test_mapping_and_detection_run_with_no_write_transaction_open(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not runtime.db.is_sqlite:
        pytest.skip("the one database-wide write lock is SQLite's")
    path = runtime.db.engine.url.database
    assert path is not None
    lock_free: list[bool] = []
    real_detect = processing.detect

    def detect_and_try_the_write_lock(presentation: Any) -> Any:
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # what the MLLP receiver's group commit needs
            other.execute("ROLLBACK")
            lock_free.append(True)
        except sqlite3.OperationalError:
            lock_free.append(False)
        finally:
            other.close()
        return real_detect(presentation)

    monkeypatch.setattr(processing, "detect", detect_and_try_the_write_lock)
    receive(runtime, "LOCK-1", "blauwe plek achter het oor")
    drain_outbox(runtime)
    assert lock_free == [True]


def test_a_message_with_too_much_free_text_is_processed_without_it_and_marked_for_a_person(
    runtime: Runtime,
) -> None:
    runtime.settings.max_free_text_bytes = 4096
    long_note = "blauwe plek achter het oor " * 400  # ~10 KB of free text
    message_id = receive(runtime, "LONG-1", long_note)
    normal_id = receive(runtime, "SHORT-1", "blauwe plek achter het oor")
    drain_outbox(runtime)
    row = message(runtime, message_id)
    assert row.status == MessageStatus.PROCESSED and row.needs_review
    assert "free text" in row.status_reason and "4096" in row.status_reason
    assert not message(runtime, normal_id).needs_review
    with runtime.db.read() as session:
        record = session.execute(
            select(PresentationRecord).where(PresentationRecord.inbox_message_id == message_id)
        ).scalar_one()
        stored = presentations.load(runtime.cipher, record)
    assert stored.chief_complaint == "" and stored.notes == []  # structured part kept, free text not
    assert stored.patient.birth_date is not None


def test_a_message_that_fails_every_time_is_given_up_and_marked_not_retried_for_ever(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def always_fails(_runtime: Runtime, _row: InboxMessage, _batch: Any = None) -> Any:
        raise RuntimeError("a bug in a mapper")

    monkeypatch.setattr(processing, "prepare_one", always_fails)
    message_id = receive(runtime, "POISON-1", "enkel verzwikt")
    with runtime.db.read() as session:
        item_id = session.execute(select(OutboxItem.id)).scalar_one()
    from gateway.outbox_runner import run_items

    for attempt in range(1, MAX_ATTEMPTS + 1):
        with runtime.db.write() as session:  # the relay hands it out again after each back-off
            session.execute(update(OutboxItem).where(OutboxItem.id == item_id).values(dispatch_count=attempt))
        done = run_items(runtime, [item_id])
        assert done == (1 if attempt == MAX_ATTEMPTS else 0)
    row = message(runtime, message_id)
    assert row.status == MessageStatus.FAILED and row.needs_review
    assert "RuntimeError" in row.status_reason and "a bug" not in row.status_reason
    with runtime.db.read() as session:
        item = session.get(OutboxItem, item_id)
        assert item is not None and item.done_at is not None and "gave up" in item.last_error
