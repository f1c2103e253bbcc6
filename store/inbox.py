"""The inbox: every accepted message, its raw bytes encrypted, its ACK, and where its processing stands.

A message is inserted together with its outbox row in one transaction; only after that commit is the
ACK sent. A resend with the same dedupe key (HL7: MSH-3, MSH-4, MSH-10) finds the stored row and gets
the stored answer again, and nothing new is written for processing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, Integer, LargeBinary, String, Text, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.crypto import FieldCipher
from store.db import Base, UTCDateTime, utcnow
from store.outbox import OutboxItem

PK = BigInteger().with_variant(Integer(), "sqlite")


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

    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
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


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    message_id: int
    ack_code: str
    ack: bytes
    duplicate: bool


def store_messages(session: Session, cipher: FieldCipher, batch: list[NewMessage]) -> list[StoredAnswer]:
    """Insert a batch of accepted messages with their outbox rows, inside the caller's transaction.

    Duplicates (already stored, or twice in this batch) are answered with the first answer and get no
    new outbox row. The caller commits; nothing may be acknowledged before that commit returns.
    """
    keys = [m.dedupe_key for m in batch]
    existing = {
        row.dedupe_key: row
        for row in session.execute(
            select(InboxMessage.id, InboxMessage.dedupe_key, InboxMessage.ack_code, InboxMessage.ack).where(
                InboxMessage.dedupe_key.in_(keys)
            )
        )
    }
    answers: list[StoredAnswer] = []
    fresh: dict[str, InboxMessage] = {}
    for message in batch:
        known = existing.get(message.dedupe_key)
        if known is not None:
            answers.append(StoredAnswer(known.id, known.ack_code, known.ack, duplicate=True))
            session.execute(
                update(InboxMessage)
                .where(InboxMessage.id == known.id)
                .values(resend_count=InboxMessage.resend_count + 1)
            )
            continue
        if message.dedupe_key in fresh:
            row = fresh[message.dedupe_key]
            answers.append(StoredAnswer(-1, row.ack_code, row.ack, duplicate=True))
            continue
        row = InboxMessage(
            channel=message.channel,
            dedupe_key=message.dedupe_key,
            sender=message.sender,
            control_id=message.control_id,
            message_type=message.message_type,
            raw=cipher.encrypt(message.raw, RAW_AAD),
            ack_code=message.ack_code,
            ack=message.ack,
        )
        fresh[message.dedupe_key] = row
        answers.append(StoredAnswer(-1, message.ack_code, message.ack, duplicate=False))
    if fresh:
        session.add_all(fresh.values())
        session.flush()
        session.add_all(
            OutboxItem(topic=PROCESS_TOPIC, key=f"{PROCESS_TOPIC}:{row.id}", payload={"message_id": row.id})
            for row in fresh.values()
        )
        session.flush()
    by_key = {key: row.id for key, row in fresh.items()}
    return [
        a if a.message_id != -1 else StoredAnswer(by_key[key], a.ack_code, a.ack, a.duplicate)
        for a, key in zip(answers, keys, strict=True)
    ]


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
