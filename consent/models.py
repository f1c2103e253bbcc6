"""Consent and legal basis per party and per data subject of a case, as recorded (append-only).

A consent row says who decided (the patient, the parents or guardian, or both, per the WGBO ages) and
what (permit / deny). A legal basis row records a ground to disclose *without* consent (meldrecht for
Veilig Thuis, acute danger) with its justification: it is never stored or exported as a consent.
The latest row per (case, party, subject) is the one in force; older rows are the history.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from store.db import Base, BigIntPK, UTCDateTime, utcnow
from store.encrypted import Encrypted


class Party(StrEnum):
    """Who may receive a disclosure from a case."""

    FORENSIC = "forensic"  # GGD forensisch arts / kinder-forensisch
    VEILIG_THUIS = "veilig_thuis"
    POLICE = "police"
    CSG = "csg"  # Centrum Seksueel Geweld


class ConsentDecision(StrEnum):
    PERMIT = "permit"
    DENY = "deny"
    NOT_ASKED = "not_asked"


class Consenter(StrEnum):
    PATIENT = "patient"
    PARENT_OR_GUARDIAN = "parent_or_guardian"


class LegalBasisKind(StrEnum):
    MELDRECHT = "meldrecht"  # Wmo 2015 / Jeugdwet, KNMG-meldcode: Veilig Thuis only
    ACUTE_DANGER = "acute_danger"


PATIENT_SUBJECT = "patient"


CONSENT_NOTE_AAD = b"consent_record:note"


class ConsentRecord(Base):
    __tablename__ = "consent_record"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    party: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(32), default=PATIENT_SUBJECT)  # "patient" or "child:<n>"
    subject_age_years: Mapped[int | None] = mapped_column(Integer, nullable=True)
    decision: Mapped[str] = mapped_column(String(16))
    given_by: Mapped[str] = mapped_column(String(64), default="")  # comma-joined Consenter values
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[bytes | None] = mapped_column(
        Encrypted(CONSENT_NOTE_AAD), nullable=True
    )  # encrypted free text


LEGAL_BASIS_AAD = b"legal_basis_record:justification"


class LegalBasisRecord(Base):
    __tablename__ = "legal_basis_record"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    party: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(32), default=PATIENT_SUBJECT)
    basis: Mapped[str] = mapped_column(String(32))
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    justification: Mapped[bytes] = mapped_column(Encrypted(LEGAL_BASIS_AAD))  # encrypted free text
