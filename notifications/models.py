"""What notifications has been asked to do (page a party, alert the coordinator, send a melding), and the
Veilig Thuis melding itself.

A `NotificationRequest` is the durable record of one request, written by the outbox handler; sending it
over a channel (pager, SMS, e-mail) is the paging issue's job and updates `status`. Requests carry ids,
a party and a reason code only: never patient data.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from store.db import Base, BigIntPK, UTCDateTime, utcnow


class NotificationKind(StrEnum):
    PAGE_PARTY = "page_party"
    ALERT_COORDINATOR = "alert_coordinator"
    SEND_MELDING = "send_melding"


class RequestStatus(StrEnum):
    REQUESTED = "requested"  # waiting for a channel to send it
    SUPPRESSED = "suppressed"  # the disclosure decision said no when the work ran
    SENT = "sent"
    FAILED = "failed"


class NotificationRequest(Base):
    __tablename__ = "notification_request"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # the outbox key: one request per key
    kind: Mapped[str] = mapped_column(String(32), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    party: Mapped[str] = mapped_column(String(32), default="")
    reason: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default=RequestStatus.REQUESTED, index=True)
    status_reason: Mapped[str] = mapped_column(String(200), default="")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MeldingStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"  # approved by the physician; queued for delivery
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"


class Melding(Base):
    """The Veilig Thuis melding of a case: encrypted content, who approved which version, delivery."""

    __tablename__ = "melding"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=MeldingStatus.DRAFT)
    content: Mapped[bytes] = mapped_column(LargeBinary)  # encrypted MeldingContent JSON
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    approved_by: Mapped[str] = mapped_column(String(200), default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivery_reference: Mapped[str] = mapped_column(String(200), default="")  # e.g. Veilig Thuis' number


MELDING_AAD = b"melding:content"
