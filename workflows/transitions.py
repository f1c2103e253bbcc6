"""The case state machine as data: which action leads from which state to which, and what it needs.

Anything not in `TRANSITIONS` is refused with `IllegalTransition`; guards (the checks a transition
needs, such as a completed safe-discharge checklist) live in the service functions that call
`apply_transition`. Every state that is not final has a way forward a physician can take whatever the
parties do (tests/test_workflow_no_dead_ends.py walks them); a way that departs from the normal route
needs a reason. Every applied transition becomes a timeline event, and the case's version goes up,
so two people acting on the same version cannot both win.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from store.crypto import FieldCipher
from workflows.errors import IllegalTransition, StaleCase, WorkflowError
from workflows.models import Case, CaseEvent, CaseState, EventKind
from workflows.timeline import add_event


class Action(StrEnum):
    CONFIRM = "confirm"
    DISMISS = "dismiss"
    REOPEN = "reopen"
    REQUEST_INTAKE = "request_intake"
    SCHEDULE_INTAKE = "schedule_intake"
    COMPLETE_INTAKE = "complete_intake"
    CANCEL_INTAKE = "cancel_intake"
    COMPLETE_DISCHARGE_CHECK = "complete_discharge_check"
    CLOSE = "close"


@dataclass(frozen=True)
class Transition:
    action: Action
    source: CaseState
    target: CaseState
    needs_reason: bool = False
    guard: str = ""  # what the service checks before applying it, for the diagram and the docs


S = CaseState
TRANSITIONS: tuple[Transition, ...] = (
    Transition(Action.CONFIRM, S.FLAGGED, S.CONFIRMED),
    Transition(Action.DISMISS, S.FLAGGED, S.DISMISSED, needs_reason=True),
    Transition(Action.REOPEN, S.DISMISSED, S.FLAGGED, needs_reason=True),
    Transition(Action.REQUEST_INTAKE, S.CONFIRMED, S.INTAKE_REQUESTED, guard="a party is required"),
    Transition(
        Action.SCHEDULE_INTAKE, S.INTAKE_REQUESTED, S.INTAKE_SCHEDULED, guard="all parties acknowledged"
    ),
    Transition(Action.SCHEDULE_INTAKE, S.INTAKE_SCHEDULED, S.INTAKE_SCHEDULED, guard="a changed time"),
    Transition(
        Action.COMPLETE_INTAKE, S.INTAKE_SCHEDULED, S.INTAKE_DONE, guard="before the agreed time: a reason"
    ),
    # The way back when the intake cannot go ahead (a party never answers, the only ground is gone, the
    # patient left): every party is stood down; from `confirmed` a new intake or the discharge check.
    Transition(Action.CANCEL_INTAKE, S.INTAKE_REQUESTED, S.CONFIRMED, needs_reason=True),
    Transition(Action.CANCEL_INTAKE, S.INTAKE_SCHEDULED, S.CONFIRMED, needs_reason=True),
    Transition(Action.COMPLETE_DISCHARGE_CHECK, S.INTAKE_DONE, S.SAFE_DISCHARGE, guard="checklist complete"),
    Transition(
        Action.COMPLETE_DISCHARGE_CHECK,
        S.CONFIRMED,
        S.SAFE_DISCHARGE,
        guard="checklist complete, no intake under way",
    ),
    Transition(Action.CLOSE, S.SAFE_DISCHARGE, S.CLOSED),
)
_BY_KEY = {(t.action, t.source): t for t in TRANSITIONS}


def find_transition(action: Action, source: CaseState) -> Transition:
    transition = _BY_KEY.get((action, source))
    if transition is None:
        allowed = sorted(t.source.value for t in TRANSITIONS if t.action is action)
        raise IllegalTransition(
            f"cannot {action.value} a case in state {source.value}; "
            f"{action.value} is allowed from: {', '.join(allowed)}",
            field="action",
        )
    return transition


def allowed_actions(state: CaseState) -> list[Action]:
    return [t.action for t in TRANSITIONS if t.source is state]


def check_version(case: Case, expected_version: int | None) -> None:
    """Refuse a change made on an outdated view of the case."""
    if expected_version is not None and expected_version != case.version:
        raise StaleCase(
            f"case {case.id} is at version {case.version}, the request was made on version "
            f"{expected_version}; reload and try again",
            field="expected_version",
        )


def apply_transition(
    session: Session,
    cipher: FieldCipher,
    case: Case,
    action: Action,
    *,
    actor: str,
    expected_version: int | None,
    reason: str = "",
    reason_code: str = "",
    detail: dict[str, object] | None = None,
) -> CaseEvent:
    """Move the case along the table, or raise; the caller has checked the transition's guard."""
    check_version(case, expected_version)
    transition = find_transition(action, CaseState(case.state))
    if transition.needs_reason and not (reason.strip() or reason_code):
        raise WorkflowError(f"{action.value} needs a reason", field="reason")
    source = case.state
    case.state = transition.target.value
    session.flush()  # bumps Case.version; a concurrent writer on PostgreSQL fails here (StaleDataError)
    body: dict[str, object] = dict(detail or {})
    if reason:
        body["reason"] = reason
    return add_event(
        session,
        cipher,
        case,
        kind=EventKind.TRANSITION,
        actor=actor,
        action=action.value,
        from_state=source,
        to_state=transition.target.value,
        code=reason_code,
        detail=body or None,
    )


def mermaid_diagram() -> str:
    """The transition table drawn as a Mermaid state diagram."""
    lines = ["stateDiagram-v2", f"    [*] --> {CaseState.FLAGGED.value}"]
    for t in TRANSITIONS:
        label = t.action.value + (" (reason)" if t.needs_reason else "")
        if t.guard:
            label += f" [{t.guard}]"
        lines.append(f"    {t.source.value} --> {t.target.value}: {label}")
    lines.append(f"    {CaseState.CLOSED.value} --> [*]")
    lines.append(f"    {CaseState.DISMISSED.value} --> [*]")
    return "\n".join(lines) + "\n"
