"""`/api/cases`: flagged cases and their findings. Reading one case decrypts its findings (evidence quotes
the record), so that read is audited in the same transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy import select

from core.deps import RuntimeDep, WriteSession, audit_read
from core.paging import Before, Limit, page
from detection.models import Finding
from identity.deps import CurrentPrincipalDep
from workflows.cases import read_findings
from workflows.deps import CurrentCase
from workflows.models import Case, CaseState

router = APIRouter(prefix="/api/cases", tags=["cases"])


class CaseSummary(BaseModel):
    id: int
    reference: str
    state: CaseState
    highest_severity: str
    rule_ids: list[str]
    opened_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, case: Case) -> CaseSummary:
        return cls(
            id=case.id,
            reference=case.reference,
            state=CaseState(case.state),
            highest_severity=case.highest_severity,
            rule_ids=[f.rule_id for f in case.findings],
            opened_at=case.opened_at,
            updated_at=case.updated_at,
            version=case.version,
        )


class CaseRead(CaseSummary):
    findings: list[Finding]


@router.get("", response_model=list[CaseSummary], summary="Cases, newest first (paged: see `Link`)")
def list_cases(
    request: Request,
    response: Response,
    session: WriteSession,
    caller: CurrentPrincipalDep,
    state: CaseState | None = None,
    limit: Limit = 100,
    before: Before = None,
) -> list[CaseSummary]:
    query = select(Case)
    if state is not None:
        query = query.where(Case.state == state.value)
    rows: Sequence[Case] = page(
        session, query, Case.id, limit=limit, before=before, request=request, response=response
    )
    for case in rows:  # a listed case is a read of that patient's case (NEN 7513): one entry each
        audit_read(
            session,
            caller,
            resource_type="Case/list",
            resource_id=case.id,
            patient_ref=case.patient_ref,
            case_id=case.id,
        )
    return [CaseSummary.of(case) for case in rows]


@router.get("/{case_id}", response_model=CaseRead)
def get_case(
    case: CurrentCase, session: WriteSession, caller: CurrentPrincipalDep, runtime: RuntimeDep
) -> CaseRead:
    return CaseRead(**CaseSummary.of(case).model_dump(), findings=read_findings(runtime.cipher, case))


def _include_workflow_routers() -> None:
    """The case-scoped routers of the workflow ride on this router, so the app mounts one router."""
    from workflows import views_consent, views_intake, views_melding, views_workflow

    for sub in (views_workflow.router, views_consent.router, views_intake.router, views_melding.router):
        router.include_router(sub)


_include_workflow_routers()
