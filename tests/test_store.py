"""The store on SQLite and PostgreSQL: encrypted inbox, dedupe, outbox claims, tamper-evident audit log."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import IntegrityError

from store import audit
from store.crypto import DecryptionError, FieldCipher
from store.db import Database, driver_transaction, make_engine, utcnow
from store.group_commit import GroupCommitWriter
from store.inbox import InboxMessage, NewMessage, dedupe_key, read_raw, store_messages
from store.outbox import OutboxItem, claim_for_dispatch, mark_done
from tests.conftest import new_postgres_database
from tests.servers import PostgresServer

RAW = "MSH|^~\\&|EPIC|ETZ|SPOED|ETZ|20261123||ADT^A01|C1|P|2.5\rPID|||123||Müller^Jan".encode()


def new_message(control_id: str, raw: bytes = RAW) -> NewMessage:
    return NewMessage(
        channel="hl7v2",
        dedupe_key=dedupe_key("hl7v2", "EPIC", "ETZ", control_id),
        sender="EPIC|ETZ",
        control_id=control_id,
        message_type="ADT^A01",
        raw=raw,
        ack_code="AA",
        ack=f"ACK for {control_id}".encode(),
    )


def test_raw_message_is_encrypted_at_rest_and_decrypts_back(db: Database, cipher: FieldCipher) -> None:
    with db.write() as session:
        (answer,) = store_messages(session, cipher, [new_message("C1")])
    with db.read() as session:
        stored = session.execute(text("SELECT raw FROM inbox_message")).scalar_one()
        row = session.get(InboxMessage, answer.message_id)
        assert row is not None
        assert b"M\xc3\xbcller" not in bytes(stored) and b"PID" not in bytes(stored)
        assert read_raw(cipher, row) == RAW


def test_ciphertext_moved_to_another_purpose_does_not_decrypt(cipher: FieldCipher) -> None:
    stored = cipher.encrypt(b"secret", b"inbox:raw")
    with pytest.raises(DecryptionError):
        cipher.decrypt(stored, b"presentation:data")
    with pytest.raises(DecryptionError):
        FieldCipher(bytes(32)).decrypt(stored, b"inbox:raw")


def test_duplicate_control_id_gets_first_answer_and_one_outbox_row(db: Database, cipher: FieldCipher) -> None:
    with db.write() as session:
        first = store_messages(session, cipher, [new_message("C1"), new_message("C1")])
    with db.write() as session:
        (again,) = store_messages(session, cipher, [new_message("C1", raw=RAW + b"changed")])
    assert [a.duplicate for a in first] == [False, True]
    assert again.duplicate and again.message_id == first[0].message_id and again.ack == b"ACK for C1"
    with db.read() as session:
        assert session.scalar(select(text("count(*)")).select_from(InboxMessage)) == 1
        assert session.scalar(select(text("count(*)")).select_from(OutboxItem)) == 1
        row = session.get(InboxMessage, first[0].message_id)
        assert row is not None and row.resend_count == 2  # once in the first batch, once later


def test_reused_control_id_with_other_content_is_stored_as_its_own_message_and_its_resend_is_a_resend(
    db: Database, cipher: FieldCipher
) -> None:
    first, other = replace(new_message("C1"), content_hash="a"), replace(new_message("C1"), content_hash="b")
    with db.write() as session:
        in_one_batch = store_messages(session, cipher, [first, other, first, other])
    with db.write() as session:
        later = store_messages(session, cipher, [other, replace(new_message("C1"), content_hash="c")])
    assert [a.duplicate for a in in_one_batch] == [False, False, True, True]
    assert [a.control_id_reused for a in in_one_batch] == [False, True, False, True]
    assert in_one_batch[0].message_id != in_one_batch[1].message_id
    assert later[0].duplicate and later[0].message_id == in_one_batch[1].message_id
    assert not later[1].duplicate and later[1].control_id_reused
    with db.read() as session:
        rows = session.execute(select(InboxMessage).order_by(InboxMessage.id)).scalars().all()
        assert [(r.content_hash, r.control_id_reused, r.resend_count) for r in rows] == [
            ("a", False, 1),
            ("b", True, 2),
            ("c", True, 0),
        ]
        assert session.scalar(select(text("count(*)")).select_from(OutboxItem)) == 3


def test_outbox_claim_redelivers_only_after_the_timeout_and_never_after_done(
    db: Database, cipher: FieldCipher
) -> None:
    with db.write() as session:
        store_messages(session, cipher, [new_message("A"), new_message("B")])
    now = utcnow()
    first = claim_for_dispatch(db, limit=10, redeliver_after=timedelta(seconds=60), now=now)
    assert len(first) == 2
    assert claim_for_dispatch(db, limit=10, redeliver_after=timedelta(seconds=60), now=now) == []
    with db.write() as session:
        assert mark_done(session, first[0][0]) == 1
        assert mark_done(session, first[0][0]) == 0
    later = now + timedelta(seconds=61)
    again = claim_for_dispatch(db, limit=10, redeliver_after=timedelta(seconds=60), now=later)
    assert again == [first[1]]


def test_audit_chain_detects_an_edited_entry(db: Database) -> None:
    with db.write() as session:
        for n in range(3):
            audit.record(
                session,
                actor="arts:1",
                action=audit.AuditAction.READ,
                resource_type="Case",
                resource_id=n,
                patient_ref="bsn:abc",
                client="127.0.0.1",
            )
    with db.read() as session:
        assert audit.verify_chain(session) is None
        second = session.execute(select(audit.AuditEntry.id).order_by(audit.AuditEntry.id)).all()[1][0]
    with db.write() as session:
        session.execute(update(audit.AuditEntry).where(audit.AuditEntry.id == second).values(actor="someone"))
    with db.read() as session:
        assert audit.verify_chain(session) == second


def test_audit_chain_detects_removed_newest_entry(db: Database) -> None:
    with db.write() as session:
        for n in range(2):
            audit.record(
                session, actor="a", action=audit.AuditAction.READ, resource_type="Case", resource_id=n
            )
    with db.write() as session:
        last = session.scalar(select(audit.AuditEntry.id).order_by(audit.AuditEntry.id.desc()).limit(1))
        session.execute(delete(audit.AuditEntry).where(audit.AuditEntry.id == last))
    with db.read() as session:
        assert audit.verify_chain(session) == -1


def test_two_gateways_racing_on_one_control_id_store_it_once_and_answer_alike(
    postgres_server: PostgresServer, cipher: FieldCipher
) -> None:
    """Two gateway processes behind a balancer get the same resend at once: one insert wins, the other
    waits on the unique index, loses, and answers with the winner's stored ACK instead of an error."""
    database = Database(make_engine(new_postgres_database(postgres_server)))
    writer = GroupCommitWriter(database, cipher)
    try:
        with database.write() as first:
            store_messages(first, cipher, [new_message("RACE")])  # holds the key, not committed yet
            racing = ThreadPoolExecutor(1).submit(
                asyncio.run, writer.submit(replace(new_message("RACE"), ack=b"other ACK"))
            )
            time.sleep(0.5)
            assert not racing.done()  # blocked on the unique index until the first commits
        answer = racing.result(timeout=10)
        assert answer.duplicate and answer.ack == b"ACK for RACE"
        with database.read() as session:
            assert session.scalar(select(text("count(*)")).select_from(InboxMessage)) == 1
    finally:
        writer.close()
        database.dispose()


def test_a_driver_transaction_commits_on_success_and_leaves_nothing_on_an_error(db: Database) -> None:
    with driver_transaction(db.engine, write=True) as sql:
        sql.rows(
            f"INSERT INTO cds_jwt_id (issuer, jti, expires_at) VALUES ({sql.marks(3)})",
            ("i", "kept", sql.timestamp(utcnow())),
        )
    with pytest.raises(IntegrityError), driver_transaction(db.engine, write=True) as sql:
        sql.rows(
            f"INSERT INTO cds_jwt_id (issuer, jti, expires_at) VALUES ({sql.marks(3)})",
            ("i", "dropped", sql.timestamp(utcnow())),
        )
        sql.rows(
            f"INSERT INTO cds_jwt_id (issuer, jti, expires_at) VALUES ({sql.marks(3)})",
            ("i", "kept", sql.timestamp(utcnow())),
        )  # violates the unique index

    with driver_transaction(db.engine, write=False) as sql:
        assert sql.rows("SELECT jti FROM cds_jwt_id ORDER BY jti", ()) == [("kept",)]
