"""The inbox: every accepted message, its raw bytes encrypted, its ACK, and where its processing stands.

A message is inserted together with its outbox row in one transaction; only after that commit is the
ACK sent. A resend with the same dedupe key (HL7: MSH-3, MSH-4, MSH-10) finds the stored row and gets
the stored answer again, and nothing new is written for processing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Integer, LargeBinary, String, Text, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.crypto import FieldCipher
from store.db import Base, BigIntPK, DriverSQL, UTCDateTime, utcnow


class MessageStatus(StrEnum):
    RECEIVED = "received"  # stored and acknowledged, waiting for the worker
    PROCESSED = "processed"  # mapped (and run through detection)
    IGNORED = "ignored"  # valid, but not a message type the ED workflow uses (e.g. VXU)
    FAILED = "failed"  # the worker could not map it; status_reason says why


class Channel(StrEnum):
    HL7V2 = "hl7v2"
    FHIR = "fhir"


class InboxMessage(Base):
    __tablename__ = "inbox_message"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    content_hash: Mapped[str] = mapped_column(String(64), default="")  # tells a resend from a reused id
    sender: Mapped[str] = mapped_column(String(400), default="")
    control_id: Mapped[str] = mapped_column(String(200), default="")
    message_type: Mapped[str] = mapped_column(String(40), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    raw: Mapped[bytes] = mapped_column(LargeBinary)  # encrypted, associated data b"inbox:raw"
    ack_code: Mapped[str] = mapped_column(String(2), default="")
    ack: Mapped[bytes] = mapped_column(LargeBinary, default=b"")  # carries no patient data
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.RECEIVED, index=True)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resend_count: Mapped[int] = mapped_column(Integer, default=0)


RAW_AAD = b"inbox:raw"
PROCESS_TOPIC = "inbox.process"


def dedupe_key(channel: str, *parts: str) -> str:
    """A fixed-length key for the unique index; parts are joined unambiguously."""
    joined = "\x1f".join((channel, *parts))
    return hashlib.sha256(joined.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True, slots=True)
class NewMessage:
    channel: str
    dedupe_key: str
    sender: str
    control_id: str
    message_type: str
    raw: bytes
    ack_code: str
    ack: bytes
    content_hash: str = ""


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    message_id: int
    ack_code: str
    ack: bytes
    duplicate: bool
    conflict: bool = False  # same dedupe key, different content: a reused id, not a resend; not stored


def store_messages(session: Session, cipher: FieldCipher, batch: list[NewMessage]) -> list[StoredAnswer]:
    """Insert a batch of accepted messages with their outbox rows, inside the caller's transaction.

    Duplicates (already stored, or twice in this batch, with the same content hash) are answered with the
    first answer and get no new outbox row. The same key with other content is a conflict: a sender that
    reuses control ids would otherwise lose the second message without anyone knowing.
    The caller commits; nothing may be acknowledged before that commit returns.
    """
    connection = session.connection()  # joins the session's transaction
    sql = DriverSQL(connection.dialect, connection.connection)
    unique_keys = list(dict.fromkeys(m.dedupe_key for m in batch))
    existing = {
        row[1]: (StoredAnswer(row[0], row[2], bytes(row[3]), duplicate=True), row[4])
        for row in sql.rows(
            "SELECT id, dedupe_key, ack_code, ack, content_hash FROM inbox_message"
            f" WHERE dedupe_key IN ({sql.marks(len(unique_keys))})",
            unique_keys,
        )
    }
    if any(_is_resend(existing, m) for m in batch):
        ids = [existing[m.dedupe_key][0].message_id for m in batch if _is_resend(existing, m)]
        sql.rows(
            "UPDATE inbox_message SET resend_count = resend_count + 1 "
            f"WHERE id IN ({sql.marks(len(ids))}) RETURNING id",
            ids,
        )
    fresh: dict[str, NewMessage] = {}
    for message in batch:
        if message.dedupe_key not in existing:
            fresh.setdefault(message.dedupe_key, message)
    new_ids: dict[str, int] = {}
    if fresh:
        now = sql.timestamp(utcnow())
        values: list[object] = []
        for m in fresh.values():
            values += [m.channel, m.dedupe_key, m.content_hash, m.sender, m.control_id, m.message_type, now]
            values += [cipher.encrypt(m.raw, RAW_AAD), m.ack_code, m.ack, MessageStatus.RECEIVED.value, "", 0]
        row_marks = ", ".join(f"({sql.marks(13)})" for _ in fresh)
        new_ids = {
            key: message_id
            for message_id, key in sql.rows(
                "INSERT INTO inbox_message (channel, dedupe_key, content_hash, sender, control_id,"
                " message_type, received_at, raw, ack_code, ack, status, status_reason, resend_count)"
                f" VALUES {row_marks}"
                " RETURNING id, dedupe_key",
                values,
            )
        }
        outbox_values: list[object] = []
        for message_id in new_ids.values():
            payload = json.dumps({"message_id": message_id})
            outbox_values += [PROCESS_TOPIC, f"{PROCESS_TOPIC}:{message_id}", payload, now, now, 0, ""]
        sql.rows(
            "INSERT INTO outbox_item (topic, key, payload, created_at, available_at, dispatch_count,"
            f" last_error) VALUES {', '.join(f'({sql.marks(7)})' for _ in new_ids)} RETURNING id",
            outbox_values,
        )
    answers: list[StoredAnswer] = []
    answered: set[str] = set()
    for message in batch:
        key = message.dedupe_key
        if key in existing:
            known = existing[key][0]
            answers.append(known if _is_resend(existing, message) else _conflict(known.message_id))
            continue
        first = fresh[key]
        if first.content_hash != message.content_hash:
            answers.append(_conflict(new_ids[key]))
            continue
        answers.append(StoredAnswer(new_ids[key], first.ack_code, first.ack, duplicate=key in answered))
        answered.add(key)
    return answers


def _is_resend(existing: dict[str, tuple[StoredAnswer, str]], message: NewMessage) -> bool:
    known = existing.get(message.dedupe_key)
    return known is not None and known[1] == message.content_hash


def _conflict(message_id: int) -> StoredAnswer:
    return StoredAnswer(message_id, "", b"", duplicate=False, conflict=True)


def store_one(session: Session, cipher: FieldCipher, message: NewMessage) -> StoredAnswer:
    """`store_messages` for one message, retrying as a duplicate if a concurrent writer won the insert."""
    try:
        with session.begin_nested():
            return store_messages(session, cipher, [message])[0]
    except IntegrityError:
        return store_messages(session, cipher, [message])[0]


def read_raw(cipher: FieldCipher, row: InboxMessage) -> bytes:
    return cipher.decrypt(row.raw, RAW_AAD)


def count_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(InboxMessage.status, func.count()).group_by(InboxMessage.status))
    return {status: count for status, count in rows}
