"""Dutch rules on who decides about consent (WGBO ages) and which legal bases fit which party.

WGBO (Burgerlijk Wetboek 7:447, 7:450): under 12 the parents or guardian decide; from 12 to 15 both the
child and the parents or guardian must agree; from 16 the patient decides alone. Pure functions.
"""

from __future__ import annotations

from consent.models import Consenter, LegalBasisKind, Party


def required_consenters(age_years: int) -> frozenset[Consenter]:
    """Whose agreement a permit needs for a subject of this age."""
    if age_years < 0:
        raise ValueError("age cannot be negative")
    if age_years < 12:
        return frozenset({Consenter.PARENT_OR_GUARDIAN})
    if age_years < 16:
        return frozenset({Consenter.PATIENT, Consenter.PARENT_OR_GUARDIAN})
    return frozenset({Consenter.PATIENT})


def allowed_deciders(age_years: int) -> frozenset[Consenter]:
    """Who can refuse: any of the people whose agreement a permit would need."""
    return required_consenters(age_years)


def basis_fits_party(basis: LegalBasisKind, party: Party) -> bool:
    """Meldrecht is a right to report to Veilig Thuis only; acute danger can justify any party."""
    if basis is LegalBasisKind.MELDRECHT:
        return party is Party.VEILIG_THUIS
    return True
