"""HTTP plumbing shared by the FHIR and CDS Hooks endpoints: FHIR JSON responses and error answers.

`FhirRoute` wraps every endpoint of a FHIR/CDS router so that nothing leaves as a stack trace or as
FastAPI's own error shape: a `FhirError`, an `HTTPException` (e.g. the bearer-token check), a request
that does not fit the endpoint's parameters, and any unexpected exception all become an
OperationOutcome with a fitting status. Unexpected errors are logged by type only (the message could
quote patient data).

Under `/fhir` the route also negotiates the format first: `_format` (`json`, `application/json`,
`application/fhir+json`) wins over `Accept`; JSON or a wildcard is answered with the media type the client
named (`application/fhir+json` by default), and a client that accepts no JSON (XML, Turtle) gets 406 with
an OperationOutcome, before the endpoint runs.
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
from store.db import RETRY_AFTER_S
from store.db import unavailable as store_unavailable

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


# Content negotiation (FHIR http.html#mime-type): `_format` wins over `Accept`; JSON is all we speak.
_JSON_TYPES = {"json": FHIR_JSON, "application/json": "application/json", FHIR_JSON: FHIR_JSON}
_WILDCARDS = frozenset({"*/*", "application/*"})


def negotiated_media_type(request: Request) -> str:
    """The JSON media type to answer with, or a 406 `FhirError` when the client accepts no JSON."""
    requested = request.query_params.get("_format")
    if requested is not None:
        kind = requested.split(";", 1)[0].strip().lower()
        if kind in _JSON_TYPES:
            return _JSON_TYPES[kind]
        raise FhirError.one(
            406, IssueType.NOT_SUPPORTED, "_format: this server speaks FHIR JSON only", "_format"
        )
    accept = request.headers.get("accept", "").strip()
    if not accept:
        return FHIR_JSON
    kinds = [part.split(";", 1)[0].strip().lower() for part in accept.split(",")]
    for kind in kinds:
        if kind in (FHIR_JSON, *_WILDCARDS):
            return FHIR_JSON
    if "application/json" in kinds:
        return "application/json"
    raise FhirError.one(406, IssueType.NOT_SUPPORTED, "Accept: this server speaks FHIR JSON only")


def base_url(request: Request, runtime: Any) -> str:
    """The gateway's base as the client reaches it: the configured public URL, else the request's own."""
    configured = runtime.settings.public_base_url
    return (configured or str(request.base_url)).rstrip("/")


def absolute(request: Request, runtime: Any, location: str) -> str:
    """`Patient/1/_history/2` → `https://gateway.example/fhir/Patient/1/_history/2` (absolute URLs, as
    FHIR's Location header and `fullUrl` want)."""
    if "://" in location:
        return location
    return f"{base_url(request, runtime)}/fhir/{location.lstrip('/')}"


def outcome_response(error: FhirError, headers: dict[str, str] | None = None) -> FhirResponse:
    return FhirResponse(operation_outcome(error.issues), status_code=error.status, headers=headers)


class FhirRoute(APIRoute):
    """An APIRoute whose every failure is answered with an OperationOutcome."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                if not request.url.path.startswith("/fhir"):
                    return await handler(request)
                media_type = negotiated_media_type(request)
                response = await handler(request)
                if media_type != FHIR_JSON and response.media_type == FHIR_JSON:
                    response.headers["content-type"] = media_type
                return response
            except FhirError as exc:
                return outcome_response(exc)
            except HTTPException as exc:
                code = _STATUS_ISSUE.get(exc.status_code, IssueType.PROCESSING)
                error = FhirError.one(exc.status_code, code, str(exc.detail))
                return outcome_response(error, headers=dict(exc.headers or {}))
            except RequestValidationError as exc:
                return outcome_response(FhirError(400, [_param_issue(e) for e in exc.errors()[:20]]))
            except Exception as exc:
                if store_unavailable(exc):  # nothing changed: a FHIR client retries a transient issue
                    log.warning("store unavailable (%s) on %s", type(exc).__name__, request.url.path)
                    error = FhirError.one(503, IssueType.TRANSIENT, "store unavailable; retry")
                    return outcome_response(error, headers={"Retry-After": str(RETRY_AFTER_S)})
                log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
                error = FhirError.one(500, IssueType.EXCEPTION, "internal error; the request changed nothing")
                return outcome_response(error)

        return guarded


def _param_issue(error: Any) -> Issue:
    loc = tuple(error.get("loc", ()))
    where = fhirpath(str(loc[0]) if loc else "request", loc[1:])
    return Issue(IssueType.INVALID, f"{where}: {error.get('msg', 'invalid')}", (where,))
