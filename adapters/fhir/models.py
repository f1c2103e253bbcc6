"""Tables of the FHIR and CDS Hooks adapter: subscription state and gaps, issued cards, feedback, JWT ids.

None of these hold patient data in clear: cards point at a case by id, feedback comments are encrypted,
subscription rows hold the EHR's Subscription reference and counters only.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.db import Base, BigIntPK, UTCDateTime, utcnow
from store.encrypted import Encrypted


class SubscriptionStatus(StrEnum):
    """The backport IG's subscription status codes as last reported by the EHR."""

    REQUESTED = "requested"
    ACTIVE = "active"
    ERROR = "error"
    OFF = "off"
    ENTERED_IN_ERROR = "entered-in-error"


class GapSource(StrEnum):
    """Which notification revealed the missing events."""

    HEARTBEAT = "heartbeat"
    EVENT = "event-notification"
    HANDSHAKE = "handshake"


class FhirSubscription(Base):
    """One EHR Subscription we receive notifications for, and how far its event count has got."""

    __tablename__ = "fhir_subscription"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(400), unique=True)  # e.g. "Subscription/ed-adt"
    topic: Mapped[str] = mapped_column(String(400), default="")
    status: Mapped[str] = mapped_column(String(24), default=SubscriptionStatus.REQUESTED)
    # Highest event number we have received (or that the EHR reported while nothing was missing).
    events_seen: Mapped[int] = mapped_column(BigInteger, default=0)
    handshake_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_event_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FhirSubscriptionGap(Base):
    """Events the EHR counted but we never received: `first_missing`..`last_missing` inclusive."""

    __tablename__ = "fhir_subscription_gap"
    __table_args__ = (UniqueConstraint("subscription_id", "first_missing"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    subscription_id: Mapped[int] = mapped_column(ForeignKey("fhir_subscription.id"), index=True)
    first_missing: Mapped[int] = mapped_column(BigInteger)
    last_missing: Mapped[int] = mapped_column(BigInteger)
    detected_by: Mapped[str] = mapped_column(String(24))
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CdsCard(Base):
    """A card the CDS service returned: its uuid is stable per case, hook and rule set."""

    __tablename__ = "cds_card"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    rule_ids: Mapped[list[str]] = mapped_column(JSON)
    first_issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FeedbackOutcome(StrEnum):
    ACCEPTED = "accepted"
    OVERRIDDEN = "overridden"


FEEDBACK_COMMENT_AAD = b"cds_feedback:user_comment"


class CdsFeedback(Base):
    """What the physician did with a card; one row per card and outcome, so a resend changes nothing."""

    __tablename__ = "cds_feedback"
    __table_args__ = (UniqueConstraint("card_uuid", "outcome"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    card_uuid: Mapped[str] = mapped_column(ForeignKey("cds_card.uuid"), index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    override_reason: Mapped[str] = mapped_column(String(64), default="")  # a code from overrideReasons
    accepted_suggestions: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Encrypted and decrypted by the column type: the code reads and writes the plain comment.
    user_comment: Mapped[bytes | None] = mapped_column(
        Encrypted(FEEDBACK_COMMENT_AAD, transparent=True), nullable=True
    )
    outcome_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CdsJwtId(Base):
    """JWT ids already used by a CDS client, kept until the token expires: a replay is refused."""

    __tablename__ = "cds_jwt_id"
    __table_args__ = (UniqueConstraint("issuer", "jti"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    issuer: Mapped[str] = mapped_column(String(400))
    jti: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


def json_list(value: Any) -> list[str]:
    """A JSON column read back as a list of strings, whatever the driver returned."""
    return [str(v) for v in value] if isinstance(value, list) else []


class WritebackMark(Base):
    """The last case version queued for write-back, so the sweep finds cases changed since."""

    __tablename__ = "fhir_writeback_mark"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
