"""The NEN 7513 access log: who did what to which patient's data, when and from where, hash-chained.

Every entry's hash covers its fields and the previous entry's hash, so deleting or editing a row breaks
the chain at that row (`verify_chain`). Writers serialise on the single `audit_head` row (FOR UPDATE on
PostgreSQL; SQLite write transactions are already exclusive), so the chain never forks.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.db import Base, BigIntPK, UTCDateTime, utcnow

GENESIS = "0" * 64


class AuditAction(StrEnum):
    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    EXPORT = "export"
    DISCLOSE = "disclose"


class AuditEntry(Base):
    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(16))
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(200))
    patient_ref: Mapped[str] = mapped_column(String(64), default="", index=True)  # pseudonym, not the BSN
    client: Mapped[str] = mapped_column(String(200), default="")
    purpose: Mapped[str] = mapped_column(String(200), default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_hash: Mapped[str] = mapped_column(String(64))


def _entry_digest(prev_hash: str, entry: AuditEntry) -> str:
    body = json.dumps(
        [
            prev_hash,
            entry.at.isoformat(),
            entry.actor,
            entry.action,
            entry.resource_type,
            entry.resource_id,
            entry.patient_ref,
            entry.client,
            entry.purpose,
        ],
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


def record(
    session: Session,
    *,
    actor: str,
    action: AuditAction,
    resource_type: str,
    resource_id: str | int,
    patient_ref: str = "",
    client: str = "",
    purpose: str = "",
) -> AuditEntry:
    """Append one entry inside the caller's transaction (the read it logs and the log commit together)."""
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=1, last_hash=GENESIS)
        session.add(head)
    entry = AuditEntry(
        at=utcnow(),
        actor=actor,
        action=action.value,
        resource_type=resource_type,
        resource_id=str(resource_id),
        patient_ref=patient_ref,
        client=client,
        purpose=purpose,
        prev_hash=head.last_hash,
    )
    entry.entry_hash = _entry_digest(head.last_hash, entry)
    head.last_hash = entry.entry_hash
    session.add(entry)
    session.flush()
    return entry


def verify_chain(session: Session) -> int | None:
    """The id of the first entry whose hash does not follow from its predecessor, or None if intact."""
    prev = GENESIS
    for entry in session.execute(select(AuditEntry).order_by(AuditEntry.id)).scalars():
        if entry.prev_hash != prev or _entry_digest(prev, entry) != entry.entry_hash:
            return entry.id
        prev = entry.entry_hash
    head = session.get(AuditHead, 1)
    if head is not None and head.last_hash != prev:
        return -1  # the newest entries were removed
    return None
