"""`/api/cases/{id}/intake…` and `/discharge-check`: the joint intake and the safe-discharge checklist."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy.orm import Session

from consent.models import Party
from consent.service import DisclosureGround
from core.deps import RuntimeDep, WriteSession
from identity.deps import CurrentPrincipalDep
from workflows import intake
from workflows.api_support import VersionedBody, domain_errors, limits
from workflows.deps import CurrentCase
from workflows.discharge import discharge_check_status, read_checklist, record_discharge_check
from workflows.models import Case, DischargeCheckRecord, Intake
from workflows.schemas import Acknowledgement, AgreedTime, DischargeChecklist

router = APIRouter(tags=["joint intake and safe discharge"])  # mounted under /api/cases by workflows.views


class PlannedParty(BaseModel):
    party: Party
    required_because: intake.RequiredBecause
    ground: DisclosureGround | None
    can_be_paged: bool


class AskedParty(BaseModel):
    party: Party
    status: intake.PartyStatus
    required_because: str
    requested_at: datetime
    acknowledged_at: datetime | None
    earliest_available_at: datetime | None


class IntakeRead(BaseModel):
    route: intake.Route | None
    plan: list[PlannedParty]
    parties: list[AskedParty]
    proposed_at: datetime | None
    agreed_at: datetime | None
    done_at: datetime | None
    case_version: int


class ScheduleBody(VersionedBody, AgreedTime):
    pass


class DischargeCheckRead(BaseModel):
    checklist: DischargeChecklist
    completed: bool
    missing: list[str]


def _intake(session: Session, case: Case) -> IntakeRead:
    row = session.get(Intake, case.id)
    plan = intake.intake_plan(session, case) if session.get(intake.CaseFacts, case.id) else []
    return IntakeRead(
        route=intake.Route(row.route) if row else None,
        plan=[
            PlannedParty(
                party=p.party,
                required_because=p.required_because,
                ground=p.ground,
                can_be_paged=p.can_be_paged,
            )
            for p in plan
        ],
        parties=[
            AskedParty(
                party=Party(r.party),
                status=intake.PartyStatus(r.status),
                required_because=r.required_because,
                requested_at=r.requested_at,
                acknowledged_at=r.acknowledged_at,
                earliest_available_at=r.earliest_available_at,
            )
            for r in intake.parties(session, case.id)
        ],
        proposed_at=row.proposed_at if row else None,
        agreed_at=row.agreed_at if row else None,
        done_at=row.done_at if row else None,
        case_version=case.version,
    )


@router.get(
    "/{case_id}/intake", response_model=IntakeRead, summary="Required parties, acknowledgements, times"
)
def get_intake(case: CurrentCase, session: WriteSession, _caller: CurrentPrincipalDep) -> IntakeRead:
    with domain_errors():
        return _intake(session, case)


@router.post(
    "/{case_id}/intake", response_model=IntakeRead, summary="Request the joint intake (pages the parties)"
)
def post_intake(
    case: CurrentCase,
    body: VersionedBody,
    session: WriteSession,
    caller: CurrentPrincipalDep,
    runtime: RuntimeDep,
) -> IntakeRead:
    with domain_errors():
        intake.request_intake(
            session,
            runtime.cipher,
            case,
            actor=caller.actor,
            expected_version=body.expected_version,
            limits=limits(runtime),
        )
        return _intake(session, case)


@router.post(
    "/{case_id}/intake/acknowledgements/{party}",
    response_model=IntakeRead,
    summary="A party acknowledges, with its earliest available time",
)
def post_acknowledgement(
    case: CurrentCase,
    party: Party,
    body: Acknowledgement,
    session: WriteSession,
    caller: CurrentPrincipalDep,
    runtime: RuntimeDep,
) -> IntakeRead:
    with domain_errors():
        intake.acknowledge(
            session,
            runtime.cipher,
            case,
            party,
            earliest_available_at=body.earliest_available_at,
            actor=body.acknowledged_by or caller.actor,
        )
        return _intake(session, case)


@router.post(
    "/{case_id}/intake/agreed-time", response_model=IntakeRead, summary="Record the agreed intake time"
)
def post_agreed_time(
    case: CurrentCase,
    body: ScheduleBody,
    session: WriteSession,
    caller: CurrentPrincipalDep,
    runtime: RuntimeDep,
) -> IntakeRead:
    with domain_errors():
        intake.agree_time(
            session,
            runtime.cipher,
            case,
            agreed_at=body.agreed_at,
            actor=caller.actor,
            expected_version=body.expected_version,
            limits=limits(runtime),
        )
        return _intake(session, case)


@router.put(
    "/{case_id}/discharge-check", response_model=DischargeCheckRead, summary="Save the safe-discharge check"
)
def put_discharge_check(
    case: CurrentCase,
    body: DischargeChecklist,
    session: WriteSession,
    caller: CurrentPrincipalDep,
    runtime: RuntimeDep,
) -> DischargeCheckRead:
    with domain_errors():
        status = record_discharge_check(session, runtime.cipher, case, body, actor=caller.actor)
    return DischargeCheckRead(checklist=body, completed=status.completed, missing=status.missing)


@router.get(
    "/{case_id}/discharge-check", response_model=DischargeCheckRead, summary="The safe-discharge check"
)
def get_discharge_check(
    case: CurrentCase, session: WriteSession, caller: CurrentPrincipalDep, runtime: RuntimeDep
) -> DischargeCheckRead:
    status = discharge_check_status(session, case, runtime.cipher)
    checklist = read_checklist(runtime.cipher, session.get(DischargeCheckRecord, case.id))
    return DischargeCheckRead(checklist=checklist, completed=status.completed, missing=status.missing)
