"""Recording consent and legal bases, and the one disclosure decision every page, melding and view uses.

`decide_disclosure(session, case_id=, party=, field=)` answers "may party X see field Y of this case?".
The answer names its ground: a permit in force for the data subject, or a recorded legal basis without
consent (meldrecht for Veilig Thuis, acute danger). No ground, no disclosure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.errors import ConsentError
from consent.models import (
    CONSENT_NOTE_AAD,
    LEGAL_BASIS_AAD,
    PATIENT_SUBJECT,
    ConsentDecision,
    Consenter,
    ConsentRecord,
    LegalBasisKind,
    LegalBasisRecord,
    Party,
)
from consent.rules import allowed_deciders, basis_fits_party, required_consenters
from store.crypto import FieldCipher
from store.db import utcnow

CHILDREN_SUBJECT = "children"


class DisclosureField(StrEnum):
    """Parts of a case a party could be shown or sent."""

    CASE_REFERENCE = "case_reference"  # the opaque reference and urgency on a page
    INTAKE_TIME = "intake_time"
    PATIENT_IDENTITY = "patient_identity"
    FINDINGS = "findings"
    PHYSICIAN_NOTES = "physician_notes"
    CHILDREN = "children"  # the children named in the Kindcheck
    DISCHARGE_PLAN = "discharge_plan"
    MELDING = "melding"


class DisclosureGround(StrEnum):
    CONSENT = "consent"
    MELDRECHT = "meldrecht"
    ACUTE_DANGER = "acute_danger"


_ALL_FIELDS = frozenset(DisclosureField)
# What each ground covers: acute danger justifies what is needed to act now, not the physician's notes
# or the melding.
_COVERS: dict[DisclosureGround, frozenset[DisclosureField]] = {
    DisclosureGround.CONSENT: _ALL_FIELDS,
    DisclosureGround.MELDRECHT: _ALL_FIELDS,
    DisclosureGround.ACUTE_DANGER: _ALL_FIELDS - {DisclosureField.PHYSICIAN_NOTES, DisclosureField.MELDING},
}
# The melding goes to Veilig Thuis and nowhere else, whatever the ground.
_ONLY_FOR: dict[DisclosureField, frozenset[Party]] = {
    DisclosureField.MELDING: frozenset({Party.VEILIG_THUIS})
}


@dataclass(frozen=True)
class DisclosureDecision:
    party: Party
    field: DisclosureField
    allowed: bool
    ground: DisclosureGround | None
    reason: str


def subject_of(field: DisclosureField) -> str:
    return CHILDREN_SUBJECT if field is DisclosureField.CHILDREN else PATIENT_SUBJECT


def record_consent(
    session: Session,
    cipher: FieldCipher,
    *,
    case_id: int,
    party: Party,
    decision: ConsentDecision,
    given_by: frozenset[Consenter],
    subject_age_years: int | None,
    recorded_by: str,
    subject: str = PATIENT_SUBJECT,
    decided_at: datetime | None = None,
    note: str = "",
) -> ConsentRecord:
    """Append a consent decision, checked against the WGBO ages of the data subject."""
    if decision is not ConsentDecision.NOT_ASKED:
        if subject_age_years is None:
            raise ConsentError("subject_age_years", "the subject's age is needed to know who decides (WGBO)")
        if not given_by:
            raise ConsentError("given_by", "say who gave or refused consent")
        if decision is ConsentDecision.PERMIT:
            missing = required_consenters(subject_age_years) - given_by
            if missing:
                names = ", ".join(sorted(m.value for m in missing))
                raise ConsentError(
                    "given_by", f"at age {subject_age_years} a permit also needs: {names} (WGBO)"
                )
        extra = given_by - allowed_deciders(subject_age_years)
        if extra:
            names = ", ".join(sorted(m.value for m in extra))
            raise ConsentError("given_by", f"at age {subject_age_years} {names} does not decide (WGBO)")
    row = ConsentRecord(
        case_id=case_id,
        party=party.value,
        subject=subject,
        subject_age_years=subject_age_years,
        decision=decision.value,
        given_by=",".join(sorted(g.value for g in given_by)),
        decided_at=decided_at or utcnow(),
        recorded_by=recorded_by,
        note=cipher.encrypt(note.encode(), CONSENT_NOTE_AAD) if note else None,
    )
    session.add(row)
    session.flush()
    return row


def record_legal_basis(
    session: Session,
    cipher: FieldCipher,
    *,
    case_id: int,
    party: Party,
    basis: LegalBasisKind,
    justification: str,
    recorded_by: str,
    subject: str = PATIENT_SUBJECT,
) -> LegalBasisRecord:
    """Record a ground to disclose without consent; it needs a written justification."""
    if not basis_fits_party(basis, party):
        raise ConsentError("basis", f"{basis.value} is not a ground to disclose to {party.value}")
    if not justification.strip():
        raise ConsentError("justification", "a legal basis without consent needs its justification")
    row = LegalBasisRecord(
        case_id=case_id,
        party=party.value,
        subject=subject,
        basis=basis.value,
        recorded_by=recorded_by,
        justification=cipher.encrypt(justification.encode(), LEGAL_BASIS_AAD),
    )
    session.add(row)
    session.flush()
    return row


def revoke_legal_basis(session: Session, *, case_id: int, basis_id: int) -> LegalBasisRecord:
    row = session.get(LegalBasisRecord, basis_id)
    if row is None or row.case_id != case_id:
        raise ConsentError("basis_id", f"no legal basis {basis_id} on this case")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    return row


def consent_history(session: Session, case_id: int) -> list[ConsentRecord]:
    return list(
        session.execute(
            select(ConsentRecord).where(ConsentRecord.case_id == case_id).order_by(ConsentRecord.id)
        ).scalars()
    )


def current_consents(session: Session, case_id: int) -> dict[tuple[Party, str], ConsentRecord]:
    """The consent in force per (party, subject): the latest recorded decision."""
    current: dict[tuple[Party, str], ConsentRecord] = {}
    for row in consent_history(session, case_id):
        current[(Party(row.party), row.subject)] = row
    return current


def active_legal_bases(session: Session, case_id: int) -> list[LegalBasisRecord]:
    return list(
        session.execute(
            select(LegalBasisRecord)
            .where(LegalBasisRecord.case_id == case_id, LegalBasisRecord.revoked_at.is_(None))
            .order_by(LegalBasisRecord.id)
        ).scalars()
    )


def has_permit(session: Session, case_id: int, party: Party, subject: str = PATIENT_SUBJECT) -> bool:
    row = current_consents(session, case_id).get((party, subject))
    return row is not None and row.decision == ConsentDecision.PERMIT


def has_legal_basis(
    session: Session, case_id: int, party: Party, basis: LegalBasisKind | None = None
) -> bool:
    return any(
        row.party == party.value and (basis is None or row.basis == basis.value)
        for row in active_legal_bases(session, case_id)
    )


def decide_disclosure(
    session: Session, *, case_id: int, party: Party, field: DisclosureField
) -> DisclosureDecision:
    """May `party` see `field` of case `case_id`? Consent first, then a recorded legal basis; else no."""
    (decision,) = decide_disclosures(session, [(case_id, party, field)])
    return decision


def decide_disclosures(
    session: Session, asked: Sequence[tuple[int, Party, DisclosureField]]
) -> list[DisclosureDecision]:
    """`decide_disclosure` for many (case id, party, field) at once, in order: two reads for all of them
    (the pager decides a batch of hundreds of pages)."""
    case_ids = {case_id for case_id, _, _ in asked}
    consents: dict[int, dict[tuple[Party, str], ConsentRecord]] = {case_id: {} for case_id in case_ids}
    bases: dict[int, list[LegalBasisRecord]] = {case_id: [] for case_id in case_ids}
    if case_ids:
        for row in session.execute(
            select(ConsentRecord).where(ConsentRecord.case_id.in_(case_ids)).order_by(ConsentRecord.id)
        ).scalars():
            consents[row.case_id][(Party(row.party), row.subject)] = row  # the latest decision wins
        for basis in session.execute(
            select(LegalBasisRecord)
            .where(LegalBasisRecord.case_id.in_(case_ids), LegalBasisRecord.revoked_at.is_(None))
            .order_by(LegalBasisRecord.id)
        ).scalars():
            bases[basis.case_id].append(basis)
    return [_decide(party, field, consents[case_id], bases[case_id]) for case_id, party, field in asked]


def _decide(
    party: Party,
    field: DisclosureField,
    current: dict[tuple[Party, str], ConsentRecord],
    bases: list[LegalBasisRecord],
) -> DisclosureDecision:
    only = _ONLY_FOR.get(field)
    if only is not None and party not in only:
        return DisclosureDecision(party, field, False, None, f"{field.value} is only for {_names(only)}")
    subject = subject_of(field)
    consent = current.get((party, subject))
    if consent is not None and consent.decision == ConsentDecision.PERMIT:
        return DisclosureDecision(party, field, True, DisclosureGround.CONSENT, f"permit for {subject}")
    for row in bases:
        if row.party != party.value or row.subject not in (subject, PATIENT_SUBJECT):
            continue
        ground = DisclosureGround(row.basis)
        if field in _COVERS[ground]:
            return DisclosureDecision(party, field, True, ground, f"legal basis {ground.value} recorded")
    if consent is not None and consent.decision == ConsentDecision.DENY:
        return DisclosureDecision(party, field, False, None, f"consent refused for {subject}")
    return DisclosureDecision(party, field, False, None, "no consent and no legal basis recorded")


def _names(parties: frozenset[Party]) -> str:
    return ", ".join(sorted(p.value for p in parties))
