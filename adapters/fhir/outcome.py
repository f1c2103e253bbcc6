"""OperationOutcome: the one way the FHIR and CDS endpoints say what went wrong (and where).

`FhirError` is raised anywhere below a FHIR endpoint and turned into a response with a status and an
OperationOutcome whose issues name the element path (`expression`). Diagnostics never quote the
offending value: they go back to the sender, but the same text may end up in a log line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class IssueSeverity(StrEnum):
    FATAL = "fatal"
    ERROR = "error"
    WARNING = "warning"
    INFORMATION = "information"


class IssueType(StrEnum):
    """The subset of FHIR's issue-type codes this gateway uses."""

    INVALID = "invalid"
    STRUCTURE = "structure"
    REQUIRED = "required"
    VALUE = "value"
    NOT_SUPPORTED = "not-supported"
    NOT_FOUND = "not-found"
    SECURITY = "security"
    LOGIN = "login"
    TOO_COSTLY = "too-costly"
    PROCESSING = "processing"
    TRANSIENT = "transient"
    EXCEPTION = "exception"
    INFORMATIONAL = "informational"


@dataclass(frozen=True, slots=True)
class Issue:
    code: IssueType
    diagnostics: str
    expression: tuple[str, ...] = ()
    severity: IssueSeverity = IssueSeverity.ERROR

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"severity": self.severity.value, "code": self.code.value}
        if self.diagnostics:
            out["diagnostics"] = self.diagnostics
        if self.expression:
            out["expression"] = list(self.expression)
        return out


@dataclass
class FhirError(Exception):
    """A request the gateway refuses; nothing was stored."""

    status: int
    issues: list[Issue] = field(default_factory=list)

    @classmethod
    def one(cls, status: int, code: IssueType, diagnostics: str, *expression: str) -> FhirError:
        return cls(status, [Issue(code, diagnostics, tuple(expression))])

    def __str__(self) -> str:
        return "; ".join(i.diagnostics for i in self.issues)


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.as_json() for i in issues]}


def information(diagnostics: str) -> dict[str, Any]:
    return operation_outcome(
        [Issue(IssueType.INFORMATIONAL, diagnostics, severity=IssueSeverity.INFORMATION)]
    )
