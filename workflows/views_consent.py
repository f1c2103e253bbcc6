"""`/api/cases/{id}/consents`, `/legal-bases`, `/disclosure`, `/shared-view/{party}`: consent and legal
basis per party, and what a party may see — the shared view goes through `decide_disclosure` per field."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from consent import service as consent_service
from consent.models import (
    CONSENT_NOTE_AAD,
    LEGAL_BASIS_AAD,
    PATIENT_SUBJECT,
    ConsentDecision,
    Consenter,
    LegalBasisKind,
    Party,
)
from consent.service import DisclosureField, DisclosureGround, decide_disclosure
from core.deps import RuntimeDep, WriteSession
from identity.deps import CurrentPrincipalDep
from store import audit
from workflows import service
from workflows.api_support import domain_errors, limits
from workflows.cases import read_findings
from workflows.deps import CurrentCase
from workflows.intake import parties
from workflows.models import Case, Intake

router = APIRouter(tags=["consent and disclosure"])  # mounted under /api/cases by workflows.views


class ConsentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    party: Party
    decision: ConsentDecision
    given_by: list[Consenter] = Field(default_factory=list, description="patient and/or parent_or_guardian")
    subject: str = Field(default=PATIENT_SUBJECT, pattern=r"^(patient|children)$")
    subject_age_years: int | None = Field(
        default=None, ge=0, le=130, description="default: the patient's age"
    )
    decided_at: AwareDatetime | None = Field(default=None, description="when it was given; default: now")
    note: str = Field(default="", max_length=4000)
    expected_version: int | None = Field(default=None, ge=1)


class LegalBasisBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    party: Party
    basis: LegalBasisKind
    justification: str = Field(min_length=1, max_length=4000)
    subject: str = Field(default=PATIENT_SUBJECT, pattern=r"^(patient|children)$")
    expected_version: int | None = Field(default=None, ge=1)


class ConsentRead(BaseModel):
    id: int
    party: Party
    subject: str
    subject_age_years: int | None
    decision: ConsentDecision
    given_by: list[Consenter]
    decided_at: datetime
    recorded_by: str
    note: str


class LegalBasisRead(BaseModel):
    id: int
    party: Party
    subject: str
    basis: LegalBasisKind
    recorded_by: str
    recorded_at: datetime
    revoked_at: datetime | None
    justification: str


class ConsentOverview(BaseModel):
    consents: list[ConsentRead]
    legal_bases: list[LegalBasisRead]


class DisclosureRead(BaseModel):
    party: Party
    field: DisclosureField
    allowed: bool
    ground: DisclosureGround | None
    reason: str


class SharedView(BaseModel):
    """What one party may see of a case: fields without a ground are absent, and listed as withheld."""

    party: Party
    case_reference: str | None = None
    intake_time: datetime | None = None
    patient_identity: dict[str, Any] | None = None
    findings: list[dict[str, Any]] | None = None
    withheld: list[DisclosureField]


def _overview(session: Any, runtime: Any, case: Case) -> ConsentOverview:
    cipher = runtime.cipher
    return ConsentOverview(
        consents=[
            ConsentRead(
                id=row.id,
                party=Party(row.party),
                subject=row.subject,
                subject_age_years=row.subject_age_years,
                decision=ConsentDecision(row.decision),
                given_by=[Consenter(v) for v in row.given_by.split(",") if v],
                decided_at=row.decided_at,
                recorded_by=row.recorded_by,
                note=cipher.decrypt(row.note, CONSENT_NOTE_AAD).decode() if row.note else "",
            )
            for row in consent_service.consent_history(session, case.id)
        ],
        legal_bases=[
            LegalBasisRead(
                id=row.id,
                party=Party(row.party),
                subject=row.subject,
                basis=LegalBasisKind(row.basis),
                recorded_by=row.recorded_by,
                recorded_at=row.recorded_at,
                revoked_at=row.revoked_at,
                justification=cipher.decrypt(row.justification, LEGAL_BASIS_AAD).decode(),
            )
            for row in consent_service.active_legal_bases(session, case.id)
        ],
    )


@router.post("/{case_id}/consents", response_model=ConsentOverview, status_code=201, summary="Record consent")
def post_consent(
    case: CurrentCase,
    body: ConsentBody,
    session: WriteSession,
    caller: CurrentPrincipalDep,
    runtime: RuntimeDep,
) -> ConsentOverview:
    with domain_errors():
        service.record_consent(
            session,
            runtime.cipher,
            case,
            party=body.party,
            decision=body.decision,
            given_by=frozenset(body.given_by),
            actor=caller.actor,
            subject=body.subject,
            subject_age_years=body.subject_age_years,
            note=body.note,
            expected_version=body.expected_version,
            decided_at=body.decided_at,
            limits=limits(runtime),
        )
        return _overview(session, runtime, case)


@router.post(
    "/{case_id}/legal-bases",
    response_model=ConsentOverview,
    status_code=201,
    summary="Record a legal basis without consent (meldrecht, acute danger)",
)
def post_legal_basis(
    case: CurrentCase,
    body: LegalBasisBody,
    session: WriteSession,
    caller: CurrentPrincipalDep,
    runtime: RuntimeDep,
) -> ConsentOverview:
    with domain_errors():
        service.record_legal_basis(
            session,
            runtime.cipher,
            case,
            party=body.party,
            basis=body.basis,
            justification=body.justification,
            actor=caller.actor,
            subject=body.subject,
            expected_version=body.expected_version,
            limits=limits(runtime),
        )
        return _overview(session, runtime, case)


@router.post(
    "/{case_id}/legal-bases/{basis_id}/revoke", response_model=ConsentOverview, summary="Revoke a legal basis"
)
def revoke_legal_basis(
    case: CurrentCase, basis_id: int, session: WriteSession, caller: CurrentPrincipalDep, runtime: RuntimeDep
) -> ConsentOverview:
    with domain_errors():
        service.revoke_legal_basis(
            session, runtime.cipher, case, basis_id=basis_id, actor=caller.actor, limits=limits(runtime)
        )
        return _overview(session, runtime, case)


@router.get("/{case_id}/consents", response_model=ConsentOverview, summary="Consents and legal bases")
def get_consents(
    case: CurrentCase, session: WriteSession, caller: CurrentPrincipalDep, runtime: RuntimeDep
) -> ConsentOverview:
    return _overview(session, runtime, case)


@router.get("/{case_id}/disclosure", response_model=DisclosureRead, summary="May party X see field Y?")
def get_disclosure(
    case: CurrentCase,
    party: Party,
    field: DisclosureField,
    session: WriteSession,
    _caller: CurrentPrincipalDep,
) -> DisclosureRead:
    d = decide_disclosure(session, case_id=case.id, party=party, field=field)
    return DisclosureRead(party=d.party, field=d.field, allowed=d.allowed, ground=d.ground, reason=d.reason)


@router.get(
    "/{case_id}/shared-view/{party}", response_model=SharedView, summary="The case as a party sees it"
)
def get_shared_view(
    case: CurrentCase, party: Party, session: WriteSession, caller: CurrentPrincipalDep, runtime: RuntimeDep
) -> SharedView:
    allowed = {
        f: decide_disclosure(session, case_id=case.id, party=party, field=f).allowed
        for f in (
            DisclosureField.CASE_REFERENCE,
            DisclosureField.INTAKE_TIME,
            DisclosureField.PATIENT_IDENTITY,
            DisclosureField.FINDINGS,
        )
    }
    asked = any(row.party == party.value and row.status != "cancelled" for row in parties(session, case.id))
    view = SharedView(party=party, withheld=[f for f, ok in allowed.items() if not ok])
    if allowed[DisclosureField.CASE_REFERENCE]:
        view.case_reference = case.reference
    if allowed[DisclosureField.INTAKE_TIME] and asked:
        intake = session.get(Intake, case.id)
        view.intake_time = intake.agreed_at if intake else None
    if allowed[DisclosureField.PATIENT_IDENTITY]:
        from presentations import service as presentations

        record = presentations.latest_for_encounter(session, case.encounter_ref)
        if record is not None:
            patient = presentations.load(runtime.cipher, record).patient
            view.patient_identity = {
                "name": patient.name.model_dump(),
                "birth_date": patient.birth_date,
                "bsn": patient.bsn,
            }
    if allowed[DisclosureField.FINDINGS]:
        view.findings = [
            {
                "rule_id": f.rule_id,
                "explanation_nl": f.explanation_nl,
                "evidence": [e.text for e in f.evidence],
            }
            for f in read_findings(runtime.cipher, case)
        ]
    if any(allowed.values()):
        audit.record(
            session,
            actor=caller.actor,
            action=audit.AuditAction.DISCLOSE,
            resource_type="Case",
            resource_id=case.id,
            patient_ref=case.patient_ref,
            client=caller.client,
            purpose=f"shared view for {party.value}",
        )
    return view
