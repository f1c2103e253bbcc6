"""`/api/cases/{id}/…`: confirm, dismiss, reopen, the other transitions, timeline, meldcode, Kindcheck."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from core.deps import RuntimeDep, WriteSession
from identity.deps import CurrentPrincipalDep
from workflows import service, timers
from workflows.api_support import VersionedBody, domain_errors, limits
from workflows.deps import CurrentCase
from workflows.discharge import complete_discharge_check, discharge_check_status
from workflows.intake import cancel_intake, complete_intake
from workflows.models import Case, CaseFacts, CaseState
from workflows.schemas import ConfirmFacts, DismissReason, KindcheckInput, MeldcodeStep, MeldcodeStepInput
from workflows.timeline import events, read_detail
from workflows.transitions import Action, allowed_actions

router = APIRouter(tags=["case workflow"])  # mounted under /api/cases by workflows.views


class WorkflowState(BaseModel):
    id: int
    reference: str
    state: CaseState
    version: int
    allowed_actions: list[Action]
    confirmed: bool
    discharge_check_complete: bool
    discharge_check_missing: list[str]
    pending_timers: list[dict[str, Any]]


class ConfirmBody(VersionedBody, ConfirmFacts):
    reason: str = Field(default="", max_length=4000, description="why the concern is confirmed")


class DismissBody(VersionedBody):
    reason_code: DismissReason
    note: str = Field(default="", max_length=4000)


class ReopenBody(VersionedBody):
    reason: str = Field(min_length=1, max_length=4000)


class TransitionBody(VersionedBody):
    action: Literal["complete_intake", "cancel_intake", "complete_discharge_check", "close"]
    reason: str = Field(
        default="",
        max_length=4000,
        description="why; required to cancel an intake and to complete one before the agreed time",
    )


class MeldcodeBody(MeldcodeStepInput):
    expected_version: int | None = Field(default=None, ge=1)


class KindcheckBody(KindcheckInput):
    expected_version: int | None = Field(default=None, ge=1)


class TimelineEntry(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    at: datetime
    actor: str
    kind: str
    action: str
    from_state: str
    to_state: str
    severity: str
    code: str
    detail: dict[str, Any]


def _state(session: Any, runtime: Any, case: Case) -> WorkflowState:
    status = discharge_check_status(session, case, runtime.cipher)
    return WorkflowState(
        id=case.id,
        reference=case.reference,
        state=CaseState(case.state),
        version=case.version,
        allowed_actions=allowed_actions(CaseState(case.state)),
        confirmed=session.get(CaseFacts, case.id) is not None,
        discharge_check_complete=status.completed,
        discharge_check_missing=status.missing,
        pending_timers=[
            {"kind": t.kind, "party": t.party, "due_at": t.due_at.isoformat()}
            for t in timers.pending(session, case.id)
        ],
    )


@router.get(
    "/statistics/dismissals",
    response_model=list[dict[str, Any]],
    summary="Dismissed flags per rule and reason",
)
def get_dismissal_statistics(session: WriteSession, _caller: CurrentPrincipalDep) -> list[dict[str, Any]]:
    from workflows.statistics import dismissals_by_rule

    counts = dismissals_by_rule(session)
    return [{"rule_id": r, "reason": why, "dismissed": n} for (r, why), n in sorted(counts.items())]


@router.get("/{case_id}/workflow", response_model=WorkflowState, summary="Where the case stands")
def get_workflow(
    case: CurrentCase, session: WriteSession, _caller: CurrentPrincipalDep, runtime: RuntimeDep
) -> WorkflowState:
    with domain_errors():
        return _state(session, runtime, case)


@router.post(
    "/{case_id}/confirm", response_model=WorkflowState, summary="Confirm the concern (flagged → confirmed)"
)
def confirm_case(
    case: CurrentCase,
    body: ConfirmBody,
    session: WriteSession,
    caller: CurrentPrincipalDep,
    runtime: RuntimeDep,
) -> WorkflowState:
    with domain_errors():
        facts = ConfirmFacts.model_validate(body.model_dump(include=set(ConfirmFacts.model_fields)))
        service.confirm(
            session,
            runtime.cipher,
            case,
            facts,
            actor=caller.actor,
            expected_version=body.expected_version,
            reason=body.reason,
        )
        return _state(session, runtime, case)


@router.post("/{case_id}/dismiss", response_model=WorkflowState, summary="Dismiss the flag with a reason")
def dismiss_case(
    case: CurrentCase,
    body: DismissBody,
    session: WriteSession,
    caller: CurrentPrincipalDep,
    runtime: RuntimeDep,
) -> WorkflowState:
    with domain_errors():
        service.dismiss(
            session,
            runtime.cipher,
            case,
            reason_code=body.reason_code,
            note=body.note,
            actor=caller.actor,
            expected_version=body.expected_version,
        )
        return _state(session, runtime, case)


@router.post("/{case_id}/reopen", response_model=WorkflowState, summary="Re-open a dismissed flag")
def reopen_case(
    case: CurrentCase,
    body: ReopenBody,
    session: WriteSession,
    caller: CurrentPrincipalDep,
    runtime: RuntimeDep,
) -> WorkflowState:
    with domain_errors():
        service.reopen(
            session,
            runtime.cipher,
            case,
            reason=body.reason,
            actor=caller.actor,
            expected_version=body.expected_version,
            limits=limits(runtime),
        )
        return _state(session, runtime, case)


@router.post(
    "/{case_id}/transitions",
    response_model=WorkflowState,
    summary="Intake done or cancelled, safe discharge, close",
)
def transition_case(
    case: CurrentCase,
    body: TransitionBody,
    session: WriteSession,
    caller: CurrentPrincipalDep,
    runtime: RuntimeDep,
) -> WorkflowState:
    with domain_errors():
        action = Action(body.action)
        if action is Action.COMPLETE_INTAKE:
            complete_intake(
                session,
                runtime.cipher,
                case,
                actor=caller.actor,
                expected_version=body.expected_version,
                reason=body.reason,
            )
        elif action is Action.CANCEL_INTAKE:
            cancel_intake(
                session,
                runtime.cipher,
                case,
                reason=body.reason,
                actor=caller.actor,
                expected_version=body.expected_version,
            )
        elif action is Action.COMPLETE_DISCHARGE_CHECK:
            complete_discharge_check(
                session, runtime.cipher, case, actor=caller.actor, expected_version=body.expected_version
            )
        else:
            service.close(
                session,
                runtime.cipher,
                case,
                actor=caller.actor,
                expected_version=body.expected_version,
                reason=body.reason,
            )
        return _state(session, runtime, case)


@router.get(
    "/{case_id}/timeline", response_model=list[TimelineEntry], summary="Every event: who, when, what, why"
)
def get_timeline(
    case: CurrentCase, session: WriteSession, caller: CurrentPrincipalDep, runtime: RuntimeDep
) -> list[TimelineEntry]:
    return [
        TimelineEntry(
            id=e.id,
            at=e.at,
            actor=e.actor,
            kind=e.kind,
            action=e.action,
            from_state=e.from_state,
            to_state=e.to_state,
            severity=e.severity,
            code=e.code,
            detail=read_detail(runtime.cipher, e),
        )
        for e in events(session, case.id)
    ]


@router.put(
    "/{case_id}/meldcode/{step}", response_model=WorkflowState, summary="Record a meldcode step (1–5)"
)
def put_meldcode_step(
    case: CurrentCase,
    step: MeldcodeStep,
    body: MeldcodeBody,
    session: WriteSession,
    caller: CurrentPrincipalDep,
    runtime: RuntimeDep,
) -> WorkflowState:
    with domain_errors():
        data = MeldcodeStepInput.model_validate(body.model_dump(exclude={"expected_version"}))
        service.record_meldcode_step(
            session,
            runtime.cipher,
            case,
            step,
            data,
            actor=caller.actor,
            expected_version=body.expected_version,
            limits=limits(runtime),
        )
        return _state(session, runtime, case)


@router.get(
    "/{case_id}/meldcode", response_model=dict[int, MeldcodeStepInput], summary="The meldcode steps so far"
)
def get_meldcode(
    case: CurrentCase, session: WriteSession, caller: CurrentPrincipalDep, runtime: RuntimeDep
) -> dict[int, MeldcodeStepInput]:
    return service.meldcode_steps(session, runtime.cipher, case.id)


@router.put(
    "/{case_id}/kindcheck", response_model=WorkflowState, summary='"Zorgt u voor minderjarige kinderen?"'
)
def put_kindcheck(
    case: CurrentCase,
    body: KindcheckBody,
    session: WriteSession,
    caller: CurrentPrincipalDep,
    runtime: RuntimeDep,
) -> WorkflowState:
    with domain_errors():
        data = KindcheckInput.model_validate(body.model_dump(exclude={"expected_version"}))
        service.record_kindcheck(
            session,
            runtime.cipher,
            case,
            data,
            actor=caller.actor,
            expected_version=body.expected_version,
            limits=limits(runtime),
        )
        return _state(session, runtime, case)
