"""The CDS Hooks 2.0 endpoints: discovery, one POST per service, feedback, and the per-rule statistics.

Every hook and feedback call must carry the CDS client's JWT (see `auth`); discovery is open (it holds
no patient data). Errors are OperationOutcomes (`FhirRoute`): 401 for authentication, 404 for an
unknown service or card, 412 for prefetch data that could not be had, 400 for a malformed request.
"""

from __future__ import annotations

import threading
import time
from typing import Annotated, Any, TypeVar

import anyio
import anyio.to_thread
from fastapi import APIRouter, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError

from adapters.fhir.cds import catalog, feedback, hot_path, services
from adapters.fhir.cds.auth import CdsAuthError, CdsAuthUnavailable, IssuerKeys, JtiLedger, verify
from adapters.fhir.http import FhirRoute
from adapters.fhir.outcome import FhirError, IssueType
from core.deps import ReadSession, RuntimeDep
from core.metrics import CDS_LATENCY
from core.runtime import Runtime
from identity import smart
from identity.deps import CurrentPrincipalDep

router = APIRouter(tags=["cds-hooks"], route_class=FhirRoute)
Body = TypeVar("Body", bound=BaseModel)
AuthorizationHeader = Annotated[str | None, Header()]
_STATE_LOCK = threading.Lock()


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema of a body these routes parse themselves (after authentication), with pydantic's
    `$defs` written out in place: a `#/$defs/…` reference means nothing inside an OpenAPI document."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return dict(inline(schema))


def public_base(runtime: Runtime) -> str:
    settings = runtime.settings
    return (settings.public_base_url or f"http://{settings.http_host}:{settings.http_port}").rstrip("/")


def called_url(request: Request, runtime: Runtime) -> str:
    """The URL the client called, as it names it in `aud` (behind a proxy: SPOEDPLEIN_PUBLIC_BASE_URL)."""
    if runtime.settings.public_base_url:
        return runtime.settings.public_base_url.rstrip("/") + request.url.path
    return f"{request.url.scheme}://{request.url.netloc}{request.url.path}"


def _issuer_keys(request: Request, runtime: Runtime) -> IssuerKeys:
    keys: IssuerKeys | None = getattr(request.app.state, "cds_issuer_keys", None)
    if keys is None:
        keys = IssuerKeys(runtime.settings.cds_trusted_issuers)
        request.app.state.cds_issuer_keys = keys
    return keys


def _jti_ledger(request: Request, runtime: Runtime) -> JtiLedger:
    ledger: JtiLedger | None = getattr(request.app.state, "cds_jti_ledger", None)
    if ledger is None:
        with _STATE_LOCK:
            ledger = getattr(request.app.state, "cds_jti_ledger", None)
            if ledger is None:
                ledger = JtiLedger(runtime.db)
                request.app.state.cds_jti_ledger = ledger
    return ledger


def authenticate(request: Request, runtime: Runtime, authorization: str | None) -> dict[str, Any]:
    scheme, _, token = (authorization or "").partition(" ")
    try:
        if scheme.lower() != "bearer" or not token.strip():
            raise CdsAuthError("a bearer JWT from a trusted CDS client is required")
        claims = verify(
            token.strip(),
            audience=called_url(request, runtime),
            keys=_issuer_keys(request, runtime),
            now=runtime.clock.now().timestamp(),
        )
        _jti_ledger(request, runtime).remember(claims)
    except CdsAuthUnavailable as exc:
        raise FhirError.one(503, IssueType.TRANSIENT, str(exc)) from None
    except CdsAuthError as exc:
        raise FhirError.one(401, IssueType.LOGIN, str(exc)) from None
    return claims


def _service(service_id: str) -> catalog.Service:
    service = catalog.SERVICES.get(service_id)
    if service is None:
        raise FhirError.one(404, IssueType.NOT_FOUND, "no such CDS service")
    return service


@router.get("/cds-services", summary="CDS Hooks discovery")
def discovery() -> JSONResponse:
    return JSONResponse(catalog.discovery())


@router.post(
    "/cds-services/{service_id}",
    summary="Call a CDS service",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": body_schema(services.HookRequest)}},
        }
    },
)
async def call_service(
    service_id: str, request: Request, authorization: AuthorizationHeader = None
) -> Response:
    # The body is parsed straight from its bytes by pydantic-core (not json.loads, then validation), and
    # all blocking work (JWT, jti, mapping, database) takes one hop to a worker thread, a few at a time
    # (hot_path.hook_limiter): on this hot path both showed in the profile.
    runtime: Runtime = request.app.state.runtime
    service = _service(service_id)
    raw = await request.body()  # bounded by the request guard's limit; parsed only once authenticated

    def work() -> bytes:
        claims = authenticate(request, runtime, authorization)
        body = _hook_request(raw)
        client = request.client.host if request.client else ""
        return services.call(
            runtime,
            service,
            body,
            case_url_base=f"{public_base(runtime)}/cases",
            launch_url=f"{public_base(runtime)}/launch" if smart.configured(runtime.settings) else None,
            actor=services.ehr_actor(body.context, claims, client),
        )

    started = time.perf_counter()
    answer = await anyio.to_thread.run_sync(work, limiter=hot_path.hook_limiter(request.app.state))
    CDS_LATENCY.labels(service.id).observe(time.perf_counter() - started)
    return Response(answer, media_type="application/json")


def _hook_request(raw: bytes) -> services.HookRequest:
    return _parse(services.HookRequest, raw)


def _parse(model: type[Body], raw: bytes) -> Body:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        # The shape FastAPI gives a body that does not fit, so `FhirRoute` answers it the same way.
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None


@router.post(
    "/cds-services/{service_id}/feedback",
    summary="Feedback on the cards of a CDS service",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": body_schema(feedback.FeedbackRequest)}},
        }
    },
)
async def post_feedback(
    service_id: str, request: Request, runtime: RuntimeDep, authorization: AuthorizationHeader = None
) -> JSONResponse:
    _service(service_id)
    raw = await request.body()
    await anyio.to_thread.run_sync(authenticate, request, runtime, authorization)
    body = _parse(feedback.FeedbackRequest, raw)  # only once the caller is known
    await anyio.to_thread.run_sync(_record_feedback, runtime, service_id, body)
    return JSONResponse({})


def _record_feedback(runtime: Runtime, service_id: str, body: feedback.FeedbackRequest) -> None:
    with runtime.db.write() as session:
        feedback.record(session, service_id, body)


@router.get("/api/cds/statistics", summary="Per rule: cards issued, accepted, overridden and why")
def statistics(session: ReadSession, _caller: CurrentPrincipalDep) -> JSONResponse:
    return JSONResponse(feedback.rule_statistics(session))
