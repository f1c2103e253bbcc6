"""FHIR REST conventions the gateway keeps on every `/fhir` URL: the CapabilityStatement, content
negotiation (`Accept` and `_format`), absolute URLs, and OperationOutcome for paths and methods it has not.

- `GET /fhir/metadata` answers the CapabilityStatement without a token (FHIR clients read it before they
  authenticate, to learn how to).
- Content negotiation: JSON only. `_format` wins over `Accept` (FHIR http.html#mime-type); `json`,
  `application/json`, `application/fhir+json` (any charset or `fhirVersion` parameter) and wildcards are
  answered in JSON, with the media type the client named; a request that accepts only XML, Turtle or
  anything else gets 406 with an OperationOutcome (in JSON: the one format we speak).
- Unmatched `/fhir` paths → 404, an existing path with another method → 405 with `Allow`; both as an
  OperationOutcome (`not-found`, `not-supported`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from adapters.fhir.emitted import EmittedType
from adapters.fhir.http import FhirResponse, FhirRoute, base_url, outcome_response
from adapters.fhir.ingest import IngestType
from adapters.fhir.outcome import FhirError, IssueType
from core.deps import RuntimeDep

FHIR_VERSION = "4.0.1"


def capability_statement(base: str, *, software_version: str) -> dict[str, Any]:
    """What the gateway serves at `/fhir`: ingest of the ED resources, reads and searches of what it
    emitted, transaction/batch Bundles; bearer-token security (SPOEDPLEIN_API_TOKEN or a login)."""
    ingest = [
        {
            "type": kind.value,
            "interaction": [{"code": "create"}, {"code": "update"}],
            "versioning": "versioned",
            "updateCreate": True,
        }
        for kind in IngestType
    ]
    emitted = [
        {
            "type": kind.value,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [
                {
                    "name": "patient",
                    "type": "token",
                    "documentation": "a BSN, system|value, or the gateway's patient reference",
                }
            ],
        }
        for kind in EmittedType
    ]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-01",
        "publisher": "Spoedplein",
        "kind": "instance",
        "software": {"name": "Spoedplein gateway", "version": software_version},
        "implementation": {"description": "Spoedplein gateway FHIR endpoint", "url": f"{base}/fhir"},
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "cors": False,
                    "description": "Bearer token (Authorization: Bearer …) on everything but /fhir/metadata",
                },
                "resource": ingest + emitted,
                "interaction": [{"code": "transaction"}, {"code": "batch"}],
            }
        ],
    }


router = APIRouter(tags=["fhir"], route_class=FhirRoute)


@router.get("/fhir/metadata", summary="The CapabilityStatement (no token needed)")
def metadata(request: Request, runtime: RuntimeDep) -> FhirResponse:
    version = request.app.version if hasattr(request.app, "version") else "0"
    return FhirResponse(capability_statement(base_url(request, runtime), software_version=str(version)))


def unmatched_fhir_response(request: Request, exc: StarletteHTTPException) -> Response | None:
    """The OperationOutcome for a `/fhir` path no route has (404) or a method its route lacks (405);
    None for any other path (FastAPI's own answer stays there)."""
    path = request.url.path
    if not (path == "/fhir" or path.startswith("/fhir/")):
        return None
    if exc.status_code == 405:
        error = FhirError.one(405, IssueType.NOT_SUPPORTED, f"{request.method} is not supported on this path")
    elif exc.status_code == 404:
        error = FhirError.one(404, IssueType.NOT_FOUND, "no FHIR endpoint at this path")
    else:
        code = IssueType.PROCESSING
        error = FhirError.one(exc.status_code, code, str(exc.detail))
    return outcome_response(error, headers=dict(exc.headers or {}))
