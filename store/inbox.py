"""The inbox: every accepted message, its raw bytes encrypted, its ACK, and where its processing stands.

A message is inserted together with its outbox row in one transaction; only after that commit is the
ACK sent. A resend with the same dedupe key (HL7: MSH-3, MSH-4, MSH-10) finds the stored row and gets
the stored answer again, and nothing new is written for processing.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, Integer, LargeBinary, String, Text, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.crypto import FieldCipher
from store.db import Base, BigIntPK, DriverSQL, UTCDateTime, utcnow
from store.encrypted import Encrypted


class MessageStatus(StrEnum):
    RECEIVED = "received"  # stored and acknowledged, waiting for the worker
    PROCESSED = "processed"  # mapped (and run through detection)
    IGNORED = "ignored"  # valid, but not a message type the ED workflow uses (e.g. VXU)
    FAILED = "failed"  # the worker could not map it; status_reason says why


class Channel(StrEnum):
    HL7V2 = "hl7v2"
    FHIR = "fhir"


RAW_AAD = b"inbox:raw"


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
    raw: Mapped[bytes] = mapped_column(Encrypted(RAW_AAD))  # encrypted
    ack_code: Mapped[str] = mapped_column(String(2), default="")
    ack: Mapped[bytes] = mapped_column(LargeBinary, default=b"")  # carries no patient data
    status: Mapped[str] = mapped_column(String(16), default=MessageStatus.RECEIVED, index=True)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resend_count: Mapped[int] = mapped_column(Integer, default=0)
    # The sender had used this MSH-10 before for other content; stored and processed as its own message.
    control_id_reused: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    # A person should look at it: processed without its free text (over the limit), or given up on.
    needs_review: Mapped[bool] = mapped_column(Boolean, default=False, index=True)


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
    control_id_reused: bool = False  # stored as its own message under a key that includes its content


def reuse_key(message: NewMessage) -> str:
    """The key of a message whose control id its sender already used for other content: the control id's
    key with the content in it, so a resend of *this* message is still recognised as a resend."""
    return dedupe_key(message.channel, message.dedupe_key, message.content_hash)


def store_messages(session: Session, cipher: FieldCipher, batch: list[NewMessage]) -> list[StoredAnswer]:
    """`write_messages` inside the session's transaction."""
    connection = session.connection()  # joins the session's transaction
    return write_messages(DriverSQL(connection.dialect, connection.connection), cipher, batch)


def write_messages(sql: DriverSQL, cipher: FieldCipher, batch: list[NewMessage]) -> list[StoredAnswer]:
    """Insert a batch of accepted messages with their outbox rows, inside the caller's transaction
    (plain driver SQL: this is the ACK path, where SQLAlchemy's layers cost more than the statements).

    A resend (the same key and content hash as a stored message, or as one earlier in this batch) gets
    the first answer and no new row. The same key with other content is a reused control id (counters
    reset on fail-over or reinstall): it is stored as its own message under `reuse_key`, marked
    `control_id_reused`, and processed like any other. The caller commits; nothing may be acknowledged
    before that commit returns.
    """
    plan = plan_batch(batch, lookup_stored(sql, "inbox_message", wanted_keys(batch)))
    resent = [plan.known[key][0].message_id for key in plan.resent if key in plan.known]
    if resent:
        ids = list(dict.fromkeys(resent))
        sql.rows(
            "UPDATE inbox_message SET resend_count = resend_count + 1 "
            f"WHERE id IN ({sql.marks(len(ids))}) RETURNING id",
            ids,
        )
    new_ids: dict[str, int] = {}
    if plan.fresh:
        resent_in_batch = Counter(key for key in plan.resent if key not in plan.known)
        now = sql.timestamp(utcnow())
        rows = [
            (key, m, reused, cipher.encrypt(m.raw, RAW_AAD), now, resent_in_batch[key])
            for key, (m, reused) in plan.fresh.items()
        ]
        new_ids = insert_inbox_rows(sql, rows)
    return plan.answers(new_ids)


# What `insert_inbox_rows` takes per message: key, message, reused, encrypted raw, received at, resends.
InboxRow = tuple[str, NewMessage, bool, bytes, object, int]


def insert_inbox_rows(sql: DriverSQL, rows: list[InboxRow]) -> dict[str, int]:
    """Insert inbox rows (status received) and their `inbox.process` outbox rows; key -> new id."""
    if not rows:
        return {}
    values: list[object] = []
    for key, m, reused, raw, received_at, resends in rows:
        values += [m.channel, key, m.content_hash, m.sender, m.control_id, m.message_type, received_at]
        values += [raw, m.ack_code, m.ack, MessageStatus.RECEIVED.value, "", resends, reused, False]
    row_marks = ", ".join(f"({sql.marks(15)})" for _ in rows)
    new_ids = {
        key: message_id
        for message_id, key in sql.rows(
            "INSERT INTO inbox_message (channel, dedupe_key, content_hash, sender, control_id,"
            " message_type, received_at, raw, ack_code, ack, status, status_reason, resend_count,"
            f" control_id_reused, needs_review) VALUES {row_marks}"
            " RETURNING id, dedupe_key",
            values,
        )
    }
    now = sql.timestamp(utcnow())
    outbox_values: list[object] = []
    for message_id in new_ids.values():
        payload = json.dumps({"message_id": message_id})
        outbox_values += [PROCESS_TOPIC, f"{PROCESS_TOPIC}:{message_id}", payload, now, now, 0, ""]
    sql.rows(
        "INSERT INTO outbox_item (topic, key, payload, created_at, available_at, dispatch_count,"
        f" last_error) VALUES {', '.join(f'({sql.marks(7)})' for _ in new_ids)} RETURNING id",
        outbox_values,
    )
    return new_ids


def wanted_keys(batch: list[NewMessage]) -> list[str]:
    """Every stored key a message of the batch could repeat: its control id's key and its reuse key."""
    return list(dict.fromkeys(key for m in batch for key in (m.dedupe_key, reuse_key(m))))


Known = dict[str, tuple[StoredAnswer, str]]  # key -> (the stored answer, its content hash)


def lookup_stored(sql: DriverSQL, table: str, keys: list[str]) -> Known:
    """The stored messages (in `table`: the inbox, or the MLLP journal) under any of `keys`."""
    if not keys:
        return {}
    return {
        row[1]: (StoredAnswer(row[0], row[2], bytes(row[3]), duplicate=True), row[4])
        for row in sql.rows(
            f"SELECT id, dedupe_key, ack_code, ack, content_hash FROM {table}"
            f" WHERE dedupe_key IN ({sql.marks(len(keys))})",
            keys,
        )
    }


@dataclass
class BatchPlan:
    """What to do with each message of a batch, given what is stored: resend, or new (and under which key)."""

    known: Known
    resent: list[str] = field(default_factory=list)  # per resend in the batch: the key it repeats
    fresh: dict[str, tuple[NewMessage, bool]] = field(default_factory=dict)  # key -> (message, reused)
    decided: list[tuple[str, bool]] = field(default_factory=list)  # per message: its key, and if new

    def answers(self, new_ids: dict[str, int]) -> list[StoredAnswer]:
        """Each message's answer, in batch order, once the fresh ones have their ids."""
        answers: list[StoredAnswer] = []
        for key, new in self.decided:
            if key in self.known:
                answers.append(self.known[key][0])
                continue
            first, reused = self.fresh[key]
            answers.append(
                StoredAnswer(
                    new_ids[key], first.ack_code, first.ack, duplicate=not new, control_id_reused=reused
                )
            )
        return answers


def plan_batch(batch: list[NewMessage], known: Known) -> BatchPlan:
    plan = BatchPlan(known)
    for message in batch:
        key = _resend_of(known, plan.fresh, message)
        if key is not None:
            plan.resent.append(key)
            plan.decided.append((key, False))
            continue
        taken = message.dedupe_key in known or message.dedupe_key in plan.fresh
        key = reuse_key(message) if taken else message.dedupe_key
        plan.fresh[key] = (message, taken)
        plan.decided.append((key, True))
    return plan


def _resend_of(known: Known, fresh: dict[str, tuple[NewMessage, bool]], message: NewMessage) -> str | None:
    """The key of the stored (or earlier in the batch) message this one repeats, or None if it is new."""
    for key in (message.dedupe_key, reuse_key(message)):
        if key in known and known[key][1] == message.content_hash:
            return key
        if key in fresh and fresh[key][0].content_hash == message.content_hash:
            return key
    return None


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
