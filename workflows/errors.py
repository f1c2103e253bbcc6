"""Errors a workflow call raises: values the API turns into a 404, 409 or 422 that says what to fix."""

from __future__ import annotations


class WorkflowError(Exception):
    """Base: `field` names the request field to fix, when one is to blame."""

    status_code = 422

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class CaseNotFound(WorkflowError):
    status_code = 404


class IllegalTransition(WorkflowError):
    """The action is not allowed from the case's current state (the transition table says no)."""

    status_code = 409


class GuardFailed(WorkflowError):
    """The transition exists, but what it needs is not there yet (e.g. an incomplete checklist)."""

    status_code = 409


class StaleCase(WorkflowError):
    """The case changed since the caller read it (optimistic concurrency on `Case.version`)."""

    status_code = 409
