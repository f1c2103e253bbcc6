"""Cases and their findings: what the detector flagged for one ED encounter, and where it stands.

A case belongs to one encounter (pseudonymous `encounter_ref`): A08 updates and resends add findings to
the open case of that encounter instead of opening a second one. Findings hold evidence words taken from
the record, so they are stored encrypted; rule id, family and severity stay in clear for statistics.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from store.db import Base, UTCDateTime, utcnow

PK = BigInteger().with_variant(Integer(), "sqlite")


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


class Case(Base):
    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
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


class CaseFinding(Base):
    __tablename__ = "case_finding"
    __table_args__ = (UniqueConstraint("case_id", "rule_id", "fingerprint"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    presentation_id: Mapped[int] = mapped_column(ForeignKey("presentation.id"))
    rule_id: Mapped[str] = mapped_column(String(64))
    family: Mapped[str] = mapped_column(String(16), index=True)
    severity: Mapped[str] = mapped_column(String(16))
    fingerprint: Mapped[str] = mapped_column(String(64))  # same rule + same evidence = same finding
    data: Mapped[bytes] = mapped_column(LargeBinary)  # encrypted Finding JSON
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="findings")


FINDING_AAD = b"case_finding:data"
