"""The Veilig Thuis melding of a case: pre-filled from the case, edited and approved by the physician,
then queued for delivery and tracked (approved → sent → delivered, or failed and sent again).

The melding exists once the meldcode decision is "melden". Approval needs a disclosure ground for
Veilig Thuis (meldrecht or consent) — the same `decide_disclosure` every page and view uses.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import Party
from consent.service import DisclosureField, decide_disclosure
from notifications.melding import (
    MelderDetails,
    MeldingContent,
    MeldingPatch,
    OpenMelden,
    Person,
    StepTaken,
    problems,
)
from notifications.models import MELDING_AAD, Melding, MeldingStatus
from notifications.topics import request_melding_delivery
from presentations import service as presentations
from store.crypto import FieldCipher
from store.db import utcnow
from workflows.cases import read_findings
from workflows.errors import GuardFailed, WorkflowError
from workflows.intake import facts_of, melden_decided
from workflows.models import Case, EventKind
from workflows.schemas import MeldcodeStep
from workflows.service import kindcheck_children, meldcode_steps, read_melder
from workflows.timeline import add_event

STEP_TITLES = {
    MeldcodeStep.SIGNALS_MAPPED: "signalen in kaart gebracht (incl. Kindcheck)",
    MeldcodeStep.CONSULTED: "collegiale consultatie en/of Veilig Thuis geraadpleegd",
    MeldcodeStep.CONVERSATION: "gesprek met patiënt/ouders",
    MeldcodeStep.WEIGHING: "geweld of kindermishandeling gewogen",
    MeldcodeStep.DECISION: "besluit met het afwegingskader",
}


class DeliveryStatus(StrEnum):
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"


_DELIVERY_FROM = {
    DeliveryStatus.SENT: {MeldingStatus.APPROVED, MeldingStatus.FAILED},
    DeliveryStatus.DELIVERED: {MeldingStatus.SENT, MeldingStatus.APPROVED},
    DeliveryStatus.FAILED: {MeldingStatus.APPROVED, MeldingStatus.SENT},
}


def _person(name: Any, relationship: str, birth_date: Any = None) -> Person:
    display = (name.family and " ".join([*name.given, name.family])) or " ".join(name.given)
    return Person(name=display, relationship=relationship, birth_date=birth_date)


def prefill(session: Session, cipher: FieldCipher, case: Case) -> MeldingContent:
    """A first draft from what the case already holds; the physician completes it."""
    facts = facts_of(session, case)
    steps = meldcode_steps(session, cipher, case.id)
    record = presentations.latest_for_encounter(session, case.encounter_ref)
    presentation = presentations.load(cipher, record) if record is not None else None
    patient = Person(relationship="patient")
    related: list[Person] = []
    if presentation is not None:
        patient = _person(presentation.patient.name, "patient", presentation.patient.birth_date)
        related = [
            _person(rp.name, rp.relationship_display or rp.relationship, rp.birth_date)
            for rp in presentation.related_persons
        ]
    _answer, children = kindcheck_children(session, cipher, case.id)
    observed: list[str] = []
    for finding in read_findings(cipher, case):
        for evidence in finding.evidence:
            if evidence.text:
                observed.append(f"In het dossier ({evidence.field}): \u201c{evidence.text}\u201d")
    step1 = steps.get(MeldcodeStep.SIGNALS_MAPPED)
    step3 = steps.get(MeldcodeStep.CONVERSATION)
    step4 = steps.get(MeldcodeStep.WEIGHING)
    if step1:
        observed = [*step1.observed_facts, *observed]
    signals = "; ".join(f"{f.rule_id}: {f.explanation_nl}" for f in read_findings(cipher, case))
    interpretation = "\n".join(
        part
        for part in ((step4.assessment or step4.summary) if step4 else "", f"Signaalregels: {signals}")
        if part
    )
    melder = read_melder(cipher, facts)
    return MeldingContent(
        steps_taken=[
            StepTaken(
                step=int(s),
                title=STEP_TITLES[s],
                done=s in steps,
                summary=steps[s].summary if s in steps else "",
            )
            for s in MeldcodeStep
        ],
        melder=MelderDetails(**melder.model_dump()),
        patient=patient,
        related_persons=related,
        children=[
            Person(
                name=c.name, birth_date=c.birth_date, relationship="kind", address=c.address, school=c.school
            )
            for c in children
        ],
        facts=observed,
        interpretation=interpretation,
        support_network=step3.support_network if step3 else "",
        discussed_with_family=step3.discussed_with_family if step3 else None,
        family_reaction=step3.family_reaction if step3 else "",
        open_melden=OpenMelden(),
    )


def get_melding(session: Session, case_id: int) -> Melding | None:
    return session.execute(select(Melding).where(Melding.case_id == case_id)).scalar_one_or_none()


def read_content(cipher: FieldCipher, melding: Melding) -> MeldingContent:
    return MeldingContent.model_validate_json(cipher.decrypt(melding.content, MELDING_AAD))


def _store(cipher: FieldCipher, melding: Melding, content: MeldingContent) -> None:
    melding.content = cipher.encrypt(content.model_dump_json().encode(), MELDING_AAD)
    melding.updated_at = utcnow()


def create_draft(session: Session, cipher: FieldCipher, case: Case, *, actor: str) -> Melding:
    """Pre-fill the melding; only after the meldcode decision "melden". A second call returns the first."""
    if not melden_decided(session, case.id):
        raise GuardFailed("the meldcode decision (step 5) is not \u201cmelden\u201d", field="meldcode")
    existing = get_melding(session, case.id)
    if existing is not None:
        return existing
    melding = Melding(case_id=case.id, status=MeldingStatus.DRAFT.value, created_by=actor, revision=1)
    _store(cipher, melding, prefill(session, cipher, case))
    session.add(melding)
    session.flush()
    add_event(session, cipher, case, kind=EventKind.MELDING, actor=actor, code="draft")
    return melding


def edit(
    session: Session,
    cipher: FieldCipher,
    case: Case,
    patch: MeldingPatch,
    *,
    actor: str,
    revision: int | None,
) -> Melding:
    melding = _require(session, case)
    if melding.status != MeldingStatus.DRAFT:
        raise GuardFailed(f"the melding is {melding.status}; only a draft can be edited", field="status")
    if revision is not None and revision != melding.revision:
        raise WorkflowError(f"the melding is at revision {melding.revision}", field="revision")
    _store(cipher, melding, patch.apply(read_content(cipher, melding)))
    melding.revision += 1
    add_event(session, cipher, case, kind=EventKind.MELDING, actor=actor, code=f"edited:{melding.revision}")
    return melding


def approve(
    session: Session, cipher: FieldCipher, case: Case, *, actor: str, revision: int | None
) -> Melding:
    """The physician approves this revision; it is queued for delivery to Veilig Thuis."""
    melding = _require(session, case)
    if melding.status != MeldingStatus.DRAFT:
        raise GuardFailed(f"the melding is already {melding.status}", field="status")
    if revision is not None and revision != melding.revision:
        raise WorkflowError(f"the melding is at revision {melding.revision}", field="revision")
    missing = problems(read_content(cipher, melding))
    if missing:
        raise WorkflowError(f"complete the melding first: {', '.join(missing)}", field=missing[0])
    decision = decide_disclosure(
        session, case_id=case.id, party=Party.VEILIG_THUIS, field=DisclosureField.MELDING
    )
    if not decision.allowed:
        raise GuardFailed(
            f"no ground to disclose to Veilig Thuis ({decision.reason}): record meldrecht or consent",
            field="legal_basis",
        )
    melding.status = MeldingStatus.APPROVED.value
    melding.approved_at, melding.approved_by = utcnow(), actor
    request_melding_delivery(
        session,
        case_id=case.id,
        case_reference=case.reference,
        melding_id=melding.id,
        revision=melding.revision,
    )
    add_event(
        session,
        cipher,
        case,
        kind=EventKind.MELDING,
        actor=actor,
        code="approved",
        detail={"revision": melding.revision, "ground": decision.ground.value if decision.ground else ""},
    )
    return melding


def record_delivery(
    session: Session,
    cipher: FieldCipher,
    case: Case,
    status: DeliveryStatus,
    *,
    actor: str,
    reference: str = "",
) -> Melding:
    melding = _require(session, case)
    if MeldingStatus(melding.status) not in _DELIVERY_FROM[status]:
        raise GuardFailed(f"a melding that is {melding.status} cannot become {status.value}", field="status")
    melding.status = status.value
    now = utcnow()
    if status is DeliveryStatus.SENT:
        melding.sent_at = now
    elif status is DeliveryStatus.DELIVERED:
        melding.delivered_at = now
    if reference:
        melding.delivery_reference = reference
    add_event(session, cipher, case, kind=EventKind.MELDING, actor=actor, code=status.value)
    return melding


def delivered_by_email(session: Session, cipher: FieldCipher, *, case_id: int, reference: str) -> None:
    """The pager handed the melding to the SMTP server: approved → sent (once; a later state stays)."""
    case = session.get(Case, case_id)
    melding = get_melding(session, case_id)
    if (
        case is None
        or melding is None
        or MeldingStatus(melding.status) not in _DELIVERY_FROM[DeliveryStatus.SENT]
    ):
        return
    record_delivery(session, cipher, case, DeliveryStatus.SENT, actor="spoedplein-pager", reference=reference)


def metadata(case: Case, melding: Melding) -> dict[str, Any]:
    return {
        "case_reference": case.reference,
        "status": melding.status,
        "revision": melding.revision,
        "created_by": melding.created_by,
        "approved_by": melding.approved_by,
        "approved_at": melding.approved_at.isoformat() if melding.approved_at else None,
        "sent_at": melding.sent_at.isoformat() if melding.sent_at else None,
        "delivered_at": melding.delivered_at.isoformat() if melding.delivered_at else None,
        "delivery_reference": melding.delivery_reference,
    }


def _require(session: Session, case: Case) -> Melding:
    melding = get_melding(session, case.id)
    if melding is None:
        raise GuardFailed("no melding has been prepared for this case", field="melding")
    return melding
