"""The pager's rows and the Veilig Thuis melding.

A `Page` is one request to reach a role (a party for the joint intake, the coordinator for an alert) with
its escalation policy frozen on it; `PageStep` rows are its durable escalation timers (due time + token);
`PageRecipient` holds each person's reply code and answer; `PageAttempt` is one message over one channel
with its delivery state; `DeliveryReport` and `InboundReply` record what providers told us. Everything is
ids, codes, staff contact details and the case's opaque reference: never patient data.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.db import Base, BigIntPK, UTCDateTime, utcnow
from store.encrypted import Encrypted


class PagePurpose(StrEnum):
    INTAKE = "intake"  # a party is asked to the joint intake
    ALERT = "alert"  # the coordinator is alerted (discharge without check, overdue …)
    INTAKE_TIME = "intake_time"  # the proposed or agreed intake time, to everyone who acknowledged
    MELDING = "melding"  # the Veilig Thuis melding, by secure e-mail
    WATCHDOG = "watchdog"  # the pager itself stalled


class Urgency(StrEnum):
    EMERGENCY = "emergency"  # never rate-limited, never batched
    NORMAL = "normal"


class PageState(StrEnum):
    ACTIVE = "active"  # escalating
    ACKNOWLEDGED = "acknowledged"
    DECLINED = "declined"  # everyone asked said no, and the policy has no one left
    EXHAUSTED = "exhausted"  # the policy ran out without an answer
    DONE = "done"  # an informational page (intake time, melding) whose messages all went out
    CANCELLED = "cancelled"  # the case no longer needs it (party stood down, case closed)
    SUPPRESSED = "suppressed"  # no disclosure ground when the work ran: nothing sent
    EXPIRED = "expired"  # migrated from the never-sent requests of before the pager existed


class Page(Base):
    """One page: what it is for, the escalation policy frozen when it started, and where it stands.

    Holds ids, codes and the case's opaque reference: never patient data.
    """

    __tablename__ = "page"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # the outbox key: one page per request
    purpose: Mapped[str] = mapped_column(String(16), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True, nullable=True)
    case_reference: Mapped[str] = mapped_column(String(32), default="")
    party: Mapped[str] = mapped_column(String(32), default="")
    role: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(String(64), default="")
    urgency: Mapped[str] = mapped_column(String(16), default=Urgency.EMERGENCY)
    state: Mapped[str] = mapped_column(String(16), default=PageState.ACTIVE, index=True)
    state_reason: Mapped[str] = mapped_column(String(200), default="")
    policy: Mapped[dict[str, Any]] = mapped_column(JSON)  # frozen: {"acknowledge", "steps": [...]}
    info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # e.g. the intake time announced
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StepState(StrEnum):
    PENDING = "pending"
    FIRED = "fired"
    CANCELLED = "cancelled"


class PageStep(Base):
    """A durable escalation timer: step `step_index` of the frozen policy, its `round`-th time (repeat),
    due at `due_at`. The tick fires it once (token-guarded UPDATE); firing schedules the next one."""

    __tablename__ = "page_step"
    __table_args__ = (UniqueConstraint("page_id", "step_index", "round"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("page.id"), index=True)
    step_index: Mapped[int] = mapped_column(Integer)
    round: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=StepState.PENDING, index=True)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    why: Mapped[str] = mapped_column(String(32), default="")  # start, wait, undelivered, declined


class Answer(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    DECLINED = "declined"


class PageRecipient(Base):
    """A person a page reached (or tried to), for which role, with the reply code and their answer."""

    __tablename__ = "page_recipient"
    __table_args__ = (UniqueConstraint("page_id", "person"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("page.id"), index=True)
    person: Mapped[str] = mapped_column(String(200), index=True)
    role: Mapped[str] = mapped_column(String(64))
    reply_code: Mapped[str] = mapped_column(String(8))
    first_step_id: Mapped[int] = mapped_column(ForeignKey("page_step.id"))
    answer: Mapped[str] = mapped_column(String(16), default="")
    earliest_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    answered_via: Mapped[str] = mapped_column(String(16), default="")


class AttemptState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a worker; a crash leaves it here until the auditor re-drives it
    RETRY = "retry"  # a transient failure; `next_try_at` says when
    ACCEPTED = "accepted"  # the provider took it; its delivery report is awaited
    DELIVERED = "delivered"  # the delivery report says so
    SENT = "sent"  # handed over for good on a channel without delivery reports
    FAILED = "failed"  # permanently, or out of tries: the next channel was tried at once
    UNDELIVERED = "undelivered"  # the delivery report says so: the next channel was tried at once
    CANCELLED = "cancelled"  # the page was answered or closed before this went out


ATTEMPT_FINAL = frozenset(
    {
        AttemptState.DELIVERED,
        AttemptState.SENT,
        AttemptState.FAILED,
        AttemptState.UNDELIVERED,
        AttemptState.CANCELLED,
    }
)
ATTEMPT_REACHED = frozenset({AttemptState.ACCEPTED, AttemptState.DELIVERED, AttemptState.SENT})


class PageAttempt(Base):
    """One message to one person over one channel: the delivery state machine, with `reference` as the
    idempotency key the provider sees (a resend after a crash carries the same one)."""

    __tablename__ = "page_attempt"
    __table_args__ = (UniqueConstraint("step_id", "person", "channel"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("page.id"), index=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("page_step.id"), index=True)
    person: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))
    channel_index: Mapped[int] = mapped_column(Integer, default=0)  # place in the step's channel list
    address: Mapped[str] = mapped_column(String(320))  # staff contact from the roster, not patient data
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    state: Mapped[str] = mapped_column(String(16), default=AttemptState.QUEUED, index=True)
    tries: Mapped[int] = mapped_column(Integer, default=0)
    claim_token: Mapped[str] = mapped_column(String(64), default="")
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    next_try_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    final_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    detail: Mapped[str] = mapped_column(String(200), default="")


class DeliveryReport(Base):
    """A delivery report as received (kept even when it changes nothing: late, duplicate, unknown)."""

    __tablename__ = "delivery_report"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    provider: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str] = mapped_column(String(64), index=True)
    attempt_id: Mapped[int | None] = mapped_column(ForeignKey("page_attempt.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    provider_status: Mapped[str] = mapped_column(String(16), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    effect: Mapped[str] = mapped_column(String(32), default="")  # applied, late, unknown_reference


class InboundReply(Base):
    """An SMS reply as received: who (a roster person, or nobody known), the keyword and code, and what it
    did. The free text is not kept (a reply could contain anything)."""

    __tablename__ = "inbound_reply"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    provider: Mapped[str] = mapped_column(String(16))
    person: Mapped[str] = mapped_column(String(200), default="")
    keyword: Mapped[str] = mapped_column(String(16), default="")
    reply_code: Mapped[str] = mapped_column(String(8), default="")
    page_id: Mapped[int | None] = mapped_column(ForeignKey("page.id"), nullable=True)
    effect: Mapped[str] = mapped_column(String(32), default="")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PageLink(Base):
    """A signed link's single use: the nonce is the key; `used_at` is set once, when it is exchanged."""

    __tablename__ = "page_link"

    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("page.id"), index=True)
    person: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OneTimeCode(Base):
    """A one-time code sent to a paged person's registered number (hash only; few tries; short-lived)."""

    __tablename__ = "one_time_code"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("page.id"), index=True)
    person: Mapped[str] = mapped_column(String(200), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    tries: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RosterChange(Base):
    """An override or absence entered through the API (the YAML file holds the planned ones)."""

    __tablename__ = "roster_change"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # override | absence
    role: Mapped[str] = mapped_column(String(64), default="")
    person: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PagerHeartbeat(Base):
    """When the pager's tick last ran (one row per tick name): the watchdog reads it."""

    __tablename__ = "pager_heartbeat"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_tick_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MeldingStatus(StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"  # approved by the physician; queued for delivery
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"


MELDING_AAD = b"melding:content"


class Melding(Base):
    """The Veilig Thuis melding of a case: encrypted content, who approved which version, delivery."""

    __tablename__ = "melding"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=MeldingStatus.DRAFT)
    content: Mapped[bytes] = mapped_column(Encrypted(MELDING_AAD))  # encrypted MeldingContent JSON
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    approved_by: Mapped[str] = mapped_column(String(200), default="")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    delivery_reference: Mapped[str] = mapped_column(String(200), default="")  # e.g. Veilig Thuis' number
