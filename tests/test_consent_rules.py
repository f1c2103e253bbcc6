"""Consent and legal basis: WGBO ages, grounds that fit their party, and the disclosure decision."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from consent.errors import ConsentError
from consent.models import ConsentDecision, Consenter, ConsentRecord, LegalBasisKind, LegalBasisRecord, Party
from consent.rules import basis_fits_party, required_consenters
from consent.service import (
    DisclosureField,
    DisclosureGround,
    decide_disclosure,
    record_consent,
    record_legal_basis,
    revoke_legal_basis,
)
from store.crypto import FieldCipher, Pseudonymizer
from store.db import Database
from tests.workflow_fixtures import finding, flagged_case, presentation, years_ago

PATIENT = frozenset({Consenter.PATIENT})
PARENTS = frozenset({Consenter.PARENT_OR_GUARDIAN})
BOTH = PATIENT | PARENTS


@pytest.mark.parametrize(
    ("age", "who"),
    [(0, PARENTS), (11, PARENTS), (12, BOTH), (15, BOTH), (16, PATIENT), (17, PATIENT), (80, PATIENT)],
)
def test_wgbo_ages_decide_who_consents(age: int, who: frozenset[Consenter]) -> None:
    assert required_consenters(age) == who


def test_meldrecht_is_a_ground_for_veilig_thuis_only() -> None:
    assert [p for p in Party if basis_fits_party(LegalBasisKind.MELDRECHT, p)] == [Party.VEILIG_THUIS]
    assert all(basis_fits_party(LegalBasisKind.ACUTE_DANGER, p) for p in Party)


@pytest.fixture
def case_id(db: Database, cipher: FieldCipher, pseudonyms: Pseudonymizer) -> int:
    return flagged_case(
        db,
        cipher,
        pseudonyms,
        presentation(visit="V-CONS", birth_date=years_ago(14)),
        [finding("R-BR-T", "R-BR", "blauwe plek rug")],
    )


@pytest.mark.parametrize(
    ("age", "given_by", "ok"),
    [
        (10, PARENTS, True),
        (10, PATIENT, False),
        (10, BOTH, False),
        (13, PARENTS, False),
        (13, PATIENT, False),
        (13, BOTH, True),
        (16, PATIENT, True),
        (16, PARENTS, False),
        (16, BOTH, False),
    ],
)
def test_a_permit_is_accepted_only_from_the_right_people(
    db: Database, cipher: FieldCipher, case_id: int, age: int, given_by: frozenset[Consenter], ok: bool
) -> None:
    def attempt() -> None:
        with db.write() as session:
            record_consent(
                session,
                cipher,
                case_id=case_id,
                party=Party.FORENSIC,
                decision=ConsentDecision.PERMIT,
                given_by=given_by,
                subject_age_years=age,
                recorded_by="dr",
            )

    if ok:
        attempt()
    else:
        with pytest.raises(ConsentError) as refused:
            attempt()
        assert refused.value.field == "given_by"
    with db.read() as session:
        assert session.scalar(select(text("count(*)")).select_from(ConsentRecord)) == (1 if ok else 0)


def test_a_thirteen_year_old_can_refuse_on_her_own(db: Database, cipher: FieldCipher, case_id: int) -> None:
    with db.write() as session:
        record_consent(
            session,
            cipher,
            case_id=case_id,
            party=Party.POLICE,
            decision=ConsentDecision.DENY,
            given_by=PATIENT,
            subject_age_years=13,
            recorded_by="dr",
        )
        decision = decide_disclosure(
            session, case_id=case_id, party=Party.POLICE, field=DisclosureField.FINDINGS
        )
    assert not decision.allowed and decision.reason == "consent refused for patient"


def test_consent_needs_the_age_and_who_decided(db: Database, cipher: FieldCipher, case_id: int) -> None:
    with pytest.raises(ConsentError) as no_age, db.write() as session:
        record_consent(
            session,
            cipher,
            case_id=case_id,
            party=Party.FORENSIC,
            decision=ConsentDecision.PERMIT,
            given_by=PATIENT,
            subject_age_years=None,
            recorded_by="dr",
        )
    assert no_age.value.field == "subject_age_years"
    with pytest.raises(ConsentError) as nobody, db.write() as session:
        record_consent(
            session,
            cipher,
            case_id=case_id,
            party=Party.FORENSIC,
            decision=ConsentDecision.DENY,
            given_by=frozenset(),
            subject_age_years=30,
            recorded_by="dr",
        )
    assert nobody.value.field == "given_by"


def test_the_latest_decision_is_in_force(db: Database, cipher: FieldCipher, case_id: int) -> None:
    with db.write() as session:
        for decision in (ConsentDecision.PERMIT, ConsentDecision.DENY, ConsentDecision.PERMIT):
            record_consent(
                session,
                cipher,
                case_id=case_id,
                party=Party.POLICE,
                decision=decision,
                given_by=PATIENT,
                subject_age_years=30,
                recorded_by="dr",
            )
        assert (
            decide_disclosure(
                session, case_id=case_id, party=Party.POLICE, field=DisclosureField.FINDINGS
            ).ground
            is DisclosureGround.CONSENT
        )


def test_nothing_is_disclosed_without_a_ground(db: Database, case_id: int) -> None:
    with db.read() as session:
        for party in Party:
            for field in DisclosureField:
                assert not decide_disclosure(session, case_id=case_id, party=party, field=field).allowed


def test_meldrecht_opens_the_melding_to_veilig_thuis_and_nothing_to_anyone_else(
    db: Database, cipher: FieldCipher, case_id: int
) -> None:
    with db.write() as session:
        record_legal_basis(
            session,
            cipher,
            case_id=case_id,
            party=Party.VEILIG_THUIS,
            basis=LegalBasisKind.MELDRECHT,
            justification="vermoeden kindermishandeling",
            recorded_by="dr",
        )
        for field in DisclosureField:
            vt = decide_disclosure(session, case_id=case_id, party=Party.VEILIG_THUIS, field=field)
            assert vt.allowed and vt.ground is DisclosureGround.MELDRECHT, field
            for other in (Party.POLICE, Party.FORENSIC, Party.CSG):
                assert not decide_disclosure(session, case_id=case_id, party=other, field=field).allowed
        # Recorded as a legal basis; there is no consent row pretending the parents agreed.
        assert session.execute(select(ConsentRecord)).first() is None


def test_acute_danger_lets_police_act_but_not_read_the_notes_or_the_melding(
    db: Database, cipher: FieldCipher, case_id: int
) -> None:
    with db.write() as session:
        basis = record_legal_basis(
            session,
            cipher,
            case_id=case_id,
            party=Party.POLICE,
            basis=LegalBasisKind.ACUTE_DANGER,
            justification="dader staat in de wachtkamer met een mes",
            recorded_by="dr",
        )
        allowed = {
            f
            for f in DisclosureField
            if decide_disclosure(session, case_id=case_id, party=Party.POLICE, field=f).allowed
        }
        assert allowed == set(DisclosureField) - {DisclosureField.PHYSICIAN_NOTES, DisclosureField.MELDING}
        revoke_legal_basis(session, case_id=case_id, basis_id=basis.id)
        assert not decide_disclosure(
            session, case_id=case_id, party=Party.POLICE, field=DisclosureField.CASE_REFERENCE
        ).allowed


def test_a_legal_basis_needs_a_justification_and_it_is_stored_encrypted(
    db: Database, cipher: FieldCipher, case_id: int
) -> None:
    with pytest.raises(ConsentError) as empty, db.write() as session:
        record_legal_basis(
            session,
            cipher,
            case_id=case_id,
            party=Party.POLICE,
            basis=LegalBasisKind.ACUTE_DANGER,
            justification="  ",
            recorded_by="dr",
        )
    assert empty.value.field == "justification"
    with db.write() as session:
        record_legal_basis(
            session,
            cipher,
            case_id=case_id,
            party=Party.POLICE,
            basis=LegalBasisKind.ACUTE_DANGER,
            justification="dreiging met wapen",
            recorded_by="dr",
        )
    with db.read() as session:
        stored = session.execute(select(LegalBasisRecord.justification)).scalar_one()
        assert b"wapen" not in bytes(stored)


def test_children_are_another_data_subject(db: Database, cipher: FieldCipher, case_id: int) -> None:
    """The mother's consent to tell the police about her does not cover her children's details."""
    with db.write() as session:
        record_consent(
            session,
            cipher,
            case_id=case_id,
            party=Party.POLICE,
            decision=ConsentDecision.PERMIT,
            given_by=PATIENT,
            subject_age_years=30,
            recorded_by="dr",
        )
        assert decide_disclosure(
            session, case_id=case_id, party=Party.POLICE, field=DisclosureField.FINDINGS
        ).allowed
        assert not decide_disclosure(
            session, case_id=case_id, party=Party.POLICE, field=DisclosureField.CHILDREN
        ).allowed
