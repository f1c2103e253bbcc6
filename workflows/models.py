"""Cases and their findings: what the detector flagged for one ED encounter, and where it stands.

A case belongs to one encounter (pseudonymous `encounter_ref`): A08 updates and resends add findings to
the open case of that encounter instead of opening a second one. Findings hold evidence words taken from
the record, so they are stored encrypted; rule id, family and severity stay in clear for statistics.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from store.db import Base, BigIntPK, UTCDateTime, utcnow
from store.encrypted import Encrypted


class CaseState(StrEnum):
    FLAGGED = "flagged"
    DISMISSED = "dismissed"
    CONFIRMED = "confirmed"
    INTAKE_REQUESTED = "intake_requested"
    INTAKE_SCHEDULED = "intake_scheduled"
    INTAKE_DONE = "intake_done"
    SAFE_DISCHARGE = "safe_discharge"
    CLOSED = "closed"


OPEN_STATES = frozenset(CaseState) - {CaseState.DISMISSED, CaseState.CLOSED}

# A dismissed case pseudonymised by retention (workflows/retention.py) has references starting with this
# (never the start of a HMAC reference): it no longer leads to a patient, and cannot be reopened.
PSEUDONYM_PREFIX = "pseudonymised-"


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    reference: Mapped[str] = mapped_column(String(32), unique=True)  # opaque, safe on a pager
    state: Mapped[str] = mapped_column(String(32), default=CaseState.FLAGGED, index=True)
    encounter_ref: Mapped[str] = mapped_column(String(64), index=True)
    patient_ref: Mapped[str] = mapped_column(String(64), index=True)
    highest_severity: Mapped[str] = mapped_column(String(16))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)

    findings: Mapped[list[CaseFinding]] = relationship(
        back_populates="case", order_by="CaseFinding.id", cascade="all, delete-orphan"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


FINDING_AAD = b"case_finding:data"


class CaseFinding(Base):
    __tablename__ = "case_finding"
    __table_args__ = (UniqueConstraint("case_id", "rule_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    presentation_id: Mapped[int] = mapped_column(ForeignKey("presentation.id"))
    rule_id: Mapped[str] = mapped_column(String(64))
    family: Mapped[str] = mapped_column(String(16), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    fingerprint: Mapped[str] = mapped_column(String(64))  # same rule + same evidence = same finding
    data: Mapped[bytes] = mapped_column(Encrypted(FINDING_AAD))  # encrypted Finding JSON
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="findings")


# --- the one-stop-shop workflow around a case -------------------------------------------------------


class EventKind(StrEnum):
    """What a timeline entry records; transitions carry their action and the two states."""

    TRANSITION = "transition"
    FACTS = "facts"
    MELDCODE_STEP = "meldcode_step"
    KINDCHECK = "kindcheck"
    CONSENT = "consent"
    LEGAL_BASIS = "legal_basis"
    INTAKE_PARTY_ADDED = "intake_party_added"
    INTAKE_PARTY_CANCELLED = "intake_party_cancelled"
    INTAKE_ACKNOWLEDGED = "intake_acknowledged"
    INTAKE_TIME_PROPOSED = "intake_time_proposed"
    DISCHARGE_CHECK = "discharge_check"
    DISCHARGED_WITHOUT_CHECK = "discharged_without_check"
    TIMER_FIRED = "timer_fired"
    MELDING = "melding"
    # written by the pager (notifications.hooks.PageEventKind has the same values)
    PAGE_SENT = "page_sent"
    PAGE_DELIVERED = "page_delivered"
    PAGE_FAILED = "page_failed"
    PAGE_ACKNOWLEDGED = "page_acknowledged"
    PAGE_DECLINED = "page_declined"
    PAGE_ESCALATED = "page_escalated"
    PAGE_EXHAUSTED = "page_exhausted"
    PAGE_SUPPRESSED = "page_suppressed"
    MELDING_DELIVERY = "melding_delivery"


class EventSeverity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


EVENT_AAD = b"case_event:detail"


class CaseEvent(Base):
    """One entry of the case timeline: who, when, what, why. Free text (the why) is encrypted."""

    __tablename__ = "case_event"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32), default="")
    from_state: Mapped[str] = mapped_column(String(32), default="")
    to_state: Mapped[str] = mapped_column(String(32), default="")
    severity: Mapped[str] = mapped_column(String(16), default=EventSeverity.INFO)
    code: Mapped[str] = mapped_column(String(64), default="", index=True)  # e.g. a dismiss reason, a party
    detail: Mapped[bytes | None] = mapped_column(Encrypted(EVENT_AAD), nullable=True)  # encrypted JSON
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True, nullable=True)


FACTS_MELDER_AAD = b"case_facts:melder"


class CaseFacts(Base):
    """What the confirming physician established: it decides the route and the required parties."""

    __tablename__ = "case_facts"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    confirmed_by: Mapped[str] = mapped_column(String(200))
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    injuries: Mapped[bool] = mapped_column(default=False)
    child_involved: Mapped[bool] = mapped_column(default=False)
    patient_age_years: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sexual_violence_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    melder: Mapped[bytes] = mapped_column(
        Encrypted(FACTS_MELDER_AAD)
    )  # encrypted JSON: the physician as melder


MELDCODE_AAD = b"meldcode_step:data"


class MeldcodeStepRecord(Base):
    __tablename__ = "meldcode_step"
    __table_args__ = (UniqueConstraint("case_id", "step"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(32), default="")  # step 5 only
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    data: Mapped[bytes] = mapped_column(Encrypted(MELDCODE_AAD))  # encrypted JSON: the physician's notes


KINDCHECK_AAD = b"kindcheck:children"


class KindcheckRecord(Base):
    __tablename__ = "kindcheck"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    cares_for_minors: Mapped[str] = mapped_column(String(16))
    asked_by: Mapped[str] = mapped_column(String(200))
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    children: Mapped[bytes] = mapped_column(Encrypted(KINDCHECK_AAD))  # encrypted JSON list of children


class IntakeParty(Base):
    """One party asked to the joint intake, and its acknowledgement with its earliest available time."""

    __tablename__ = "intake_party"
    __table_args__ = (UniqueConstraint("case_id", "party"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    party: Mapped[str] = mapped_column(String(32))
    required_because: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    request_round: Mapped[int] = mapped_column(Integer, default=1)  # a re-added party is paged again
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acknowledged_by: Mapped[str] = mapped_column(String(200), default="")
    earliest_available_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Intake(Base):
    """The joint intake of a case: the one proposed time, the agreed time, and when it was done."""

    __tablename__ = "intake"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    route: Mapped[str] = mapped_column(String(32))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    proposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    agreed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    agreed_by: Mapped[str] = mapped_column(String(200), default="")
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CaseTimer(Base):
    """A durable timer: a row with a due time and a token, fired once by the periodic tick."""

    __tablename__ = "case_timer"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    party: Mapped[str] = mapped_column(String(32), default="")
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


DISCHARGE_AAD = b"discharge_check:answers"


class DischargeCheckRecord(Base):
    __tablename__ = "discharge_check"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    completed: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(200))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    answers: Mapped[bytes] = mapped_column(Encrypted(DISCHARGE_AAD))  # encrypted JSON checklist


class SilentFlag(Base):
    """A flag detection raised while silent mode was on: no card shown, no case opened, only counted.

    One row per encounter, rule and evidence fingerprint, so a resend or an A08 update counts once. Holds
    the pseudonymous encounter reference, codes and a time: never patient data.
    """

    __tablename__ = "silent_flag"
    __table_args__ = (UniqueConstraint("encounter_ref", "rule_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    encounter_ref: Mapped[str] = mapped_column(String(64), index=True)
    rule_id: Mapped[str] = mapped_column(String(64))
    family: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    fingerprint: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))  # hl7, fhir, cds
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class BreakGlassGrant(Base):
    """A page login's access to a case outside its scope, for a bounded time, with the reason given
    (workflows/access.py). API users send the reason with each request instead: no grant is kept."""

    __tablename__ = "break_glass_grant"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(String(64), index=True)  # identity's user_sessions.id
    user_id: Mapped[int] = mapped_column(BigIntPK)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"))
    reason: Mapped[str] = mapped_column(String(500))  # as in the audit entry (audit_entry.reason)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
