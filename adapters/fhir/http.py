"""HTTP plumbing shared by the FHIR and CDS Hooks endpoints: FHIR JSON responses and error answers.

`FhirRoute` wraps every endpoint of a FHIR/CDS router so that nothing leaves as a stack trace or as
FastAPI's own error shape: a `FhirError`, an `HTTPException` (e.g. the bearer-token check), a request
that does not fit the endpoint's parameters, and any unexpected exception all become an
OperationOutcome with a fitting status. Unexpected errors are logged by type only (the message could
quote patient data).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from adapters.fhir.outcome import FhirError, Issue, IssueType, operation_outcome
from adapters.fhir.validate import fhirpath

log = logging.getLogger(__name__)
FHIR_JSON = "application/fhir+json"

_STATUS_ISSUE = {
    401: IssueType.LOGIN,
    403: IssueType.SECURITY,
    404: IssueType.NOT_FOUND,
    405: IssueType.NOT_SUPPORTED,
    412: IssueType.PROCESSING,
    413: IssueType.TOO_COSTLY,
}


class FhirResponse(JSONResponse):
    media_type = FHIR_JSON


def outcome_response(error: FhirError, headers: dict[str, str] | None = None) -> FhirResponse:
    return FhirResponse(operation_outcome(error.issues), status_code=error.status, headers=headers)


class FhirRoute(APIRoute):
    """An APIRoute whose every failure is answered with an OperationOutcome."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except FhirError as exc:
                return outcome_response(exc)
            except HTTPException as exc:
                code = _STATUS_ISSUE.get(exc.status_code, IssueType.PROCESSING)
                error = FhirError.one(exc.status_code, code, str(exc.detail))
                return outcome_response(error, headers=dict(exc.headers or {}))
            except RequestValidationError as exc:
                return outcome_response(FhirError(400, [_param_issue(e) for e in exc.errors()[:20]]))
            except Exception as exc:
                log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
                error = FhirError.one(500, IssueType.EXCEPTION, "internal error; the request changed nothing")
                return outcome_response(error)

        return guarded


def _param_issue(error: Any) -> Issue:
    loc = tuple(error.get("loc", ()))
    where = fhirpath(str(loc[0]) if loc else "request", loc[1:])
    return Issue(IssueType.INVALID, f"{where}: {error.get('msg', 'invalid')}", (where,))
