"""`/api/cases/{id}/melding…`: the Veilig Thuis melding — prepare, edit, approve, JSON/PDF, delivery."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from core.deps import RuntimeDep, WriteSession
from identity.deps import CurrentPrincipalDep
from notifications.melding import MeldingPatch, as_document, render_pdf
from workflows import melding
from workflows.api_support import domain_errors, problem
from workflows.deps import CurrentCase

router = APIRouter(tags=["Veilig Thuis melding"])  # mounted under /api/cases by workflows.views


class MeldingEdit(MeldingPatch):
    revision: int = Field(ge=1, description="the revision the edit was made on")


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    revision: int = Field(ge=1, description="the revision the physician read and approves")


class DeliveryBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: melding.DeliveryStatus
    reference: str = Field(default="", max_length=200, description="e.g. Veilig Thuis' registration number")


def _document(session: Any, runtime: Any, case: CurrentCase, caller: Any) -> dict[str, Any]:
    row = melding.get_melding(session, case.id)
    if row is None:
        raise problem(404, "melding", "no melding has been prepared for this case")
    return as_document(melding.read_content(runtime.cipher, row), melding.metadata(case, row))


@router.post("/{case_id}/melding", status_code=201, summary="Prepare the melding, pre-filled from the case")
def post_melding(
    case: CurrentCase, session: WriteSession, caller: CurrentPrincipalDep, runtime: RuntimeDep
) -> dict[str, Any]:
    with domain_errors():
        melding.create_draft(session, runtime.cipher, case, actor=caller.actor)
        return _document(session, runtime, case, caller)


@router.get("/{case_id}/melding", summary="The melding as structured JSON")
def get_melding(
    case: CurrentCase, session: WriteSession, caller: CurrentPrincipalDep, runtime: RuntimeDep
) -> dict[str, Any]:
    with domain_errors():
        return _document(session, runtime, case, caller)


@router.patch("/{case_id}/melding", summary="Edit the draft melding")
def patch_melding(
    case: CurrentCase,
    body: MeldingEdit,
    session: WriteSession,
    caller: CurrentPrincipalDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    with domain_errors():
        patch = MeldingPatch.model_validate(body.model_dump(exclude={"revision"}, exclude_unset=True))
        melding.edit(session, runtime.cipher, case, patch, actor=caller.actor, revision=body.revision)
        return _document(session, runtime, case, caller)


@router.post(
    "/{case_id}/melding/approve", summary="The physician approves the melding; it is queued for delivery"
)
def approve_melding(
    case: CurrentCase,
    body: ApproveBody,
    session: WriteSession,
    caller: CurrentPrincipalDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    with domain_errors():
        melding.approve(session, runtime.cipher, case, actor=caller.actor, revision=body.revision)
        return _document(session, runtime, case, caller)


@router.post("/{case_id}/melding/delivery", summary="Record sent / delivered / failed")
def post_delivery(
    case: CurrentCase,
    body: DeliveryBody,
    session: WriteSession,
    caller: CurrentPrincipalDep,
    runtime: RuntimeDep,
) -> dict[str, Any]:
    with domain_errors():
        melding.record_delivery(
            session, runtime.cipher, case, body.status, actor=caller.actor, reference=body.reference
        )
        return _document(session, runtime, case, caller)


@router.get(
    "/{case_id}/melding.pdf",
    summary="The melding as PDF",
    responses={200: {"content": {"application/pdf": {}}}},
)
def get_melding_pdf(
    case: CurrentCase, session: WriteSession, caller: CurrentPrincipalDep, runtime: RuntimeDep
) -> Response:
    with domain_errors():
        row = melding.get_melding(session, case.id)
        if row is None:
            raise problem(404, "melding", "no melding has been prepared for this case")
    pdf = render_pdf(melding.read_content(runtime.cipher, row), melding.metadata(case, row))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="melding-{case.reference}.pdf"'},
    )
