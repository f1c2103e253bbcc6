"""The `presentation` table: clear columns hold only pseudonymous references, the event, channel and times,
so the API can list and link presentations without decrypting patient data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from store.db import Base, BigIntPK, UTCDateTime, utcnow
from store.encrypted import Encrypted

DATA_AAD = b"presentation:data"


class PresentationRecord(Base):
    __tablename__ = "presentation"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    inbox_message_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbox_message.id"), unique=True, nullable=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    event: Mapped[str] = mapped_column(String(16))
    patient_ref: Mapped[str] = mapped_column(String(64), index=True)
    encounter_ref: Mapped[str] = mapped_column(String(64), index=True)
    arrival_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    data: Mapped[bytes] = mapped_column(Encrypted(DATA_AAD))  # encrypted Presentation JSON
