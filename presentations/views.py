"""`/api/presentations`: the normalised presentations. The list holds no patient data; reading one
decrypts it, and that read is written to the audit log in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel
from sqlalchemy import select

from core.deps import RuntimeDep, WriteSession, audit_read
from core.paging import Before, Limit, page
from detection.models import Presentation
from identity.deps import CurrentPrincipalDep
from presentations import service as presentations
from presentations.models import PresentationRecord
from store.db import get_by_id

router = APIRouter(prefix="/api/presentations", tags=["presentations"])


class PresentationSummary(BaseModel):
    id: int
    channel: str
    event: str
    inbox_message_id: int | None
    arrival_at: datetime | None
    created_at: datetime
    patient_ref: str
    encounter_ref: str

    @classmethod
    def of(cls, row: PresentationRecord) -> PresentationSummary:
        return cls(
            id=row.id,
            channel=row.channel,
            event=row.event,
            inbox_message_id=row.inbox_message_id,
            arrival_at=row.arrival_at,
            created_at=row.created_at,
            patient_ref=row.patient_ref,
            encounter_ref=row.encounter_ref,
        )


class PresentationRead(PresentationSummary):
    presentation: Presentation


@router.get("", response_model=list[PresentationSummary], summary="Newest first (paged: see `Link`)")
def list_presentations(
    request: Request,
    response: Response,
    session: WriteSession,
    caller: CurrentPrincipalDep,
    limit: Limit = 100,
    before: Before = None,
) -> list[PresentationSummary]:
    query = select(PresentationRecord)
    rows: Sequence[PresentationRecord] = page(
        session, query, PresentationRecord.id, limit=limit, before=before, request=request, response=response
    )
    for row in rows:  # a listed presentation is a read of that patient's data (NEN 7513): one entry each
        audit_read(
            session,
            caller,
            resource_type="Presentation/list",
            resource_id=row.id,
            patient_ref=row.patient_ref,
        )
    return [PresentationSummary.of(row) for row in rows]


@router.get("/{presentation_id}", response_model=PresentationRead)
def get_presentation(
    presentation_id: int, session: WriteSession, caller: CurrentPrincipalDep, runtime: RuntimeDep
) -> PresentationRead:
    row = get_by_id(session, PresentationRecord, presentation_id)
    if row is None:
        raise HTTPException(404, detail=f"no presentation {presentation_id}")
    audit_read(session, caller, resource_type="Presentation", resource_id=row.id, patient_ref=row.patient_ref)
    summary = PresentationSummary.of(row)
    return PresentationRead(**summary.model_dump(), presentation=presentations.load(runtime.cipher, row))
