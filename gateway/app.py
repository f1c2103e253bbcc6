"""The FastAPI application: health, the API routers of each domain, and error answers without traces."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from adapters import messages
from adapters.fhir import api as fhir_api
from adapters.fhir.cds import views as cds_views
from adapters.fhir.cds.cors import CdsCors
from adapters.fhir.conventions import unmatched_fhir_response
from core.runtime import Runtime
from core.settings import Settings
from gateway import metrics
from gateway.api import health
from gateway.csrf import CsrfProtection
from gateway.pages import board as board_pages
from gateway.pages import break_glass as break_glass_pages
from gateway.pages import figures as figure_pages
from gateway.pages import sso as page_sso
from gateway.pages import views as page_views
from gateway.pages.case_common import PageRefused, refused_page
from gateway.pages.rendering import render, translator, wants_page
from gateway.request_guard import RequestGuard
from gateway.request_id import RequestId
from identity.deps import credentials_present, install_login_redirect
from notifications import views as paging
from presentations import views as presentations
from store.db import RETRY_AFTER_S, STORE_ERRORS
from store.db import unavailable as store_unavailable
from workflows import access
from workflows import views as case_views

log = logging.getLogger(__name__)


def _cookies_secure(settings: Settings) -> bool:
    """Cookies only over https: as the session cookie decides (gateway/pages/auth.py), without a request."""
    if settings.cookie_secure is not None:
        return settings.cookie_secure
    return (settings.public_base_url or "").startswith("https://")


def create_app(runtime: Runtime) -> FastAPI:
    # The API docs' scripts and styles are served by the gateway itself (fastapi-offline carries them):
    # a hospital network reaches no CDN. No ReDoc: its page fetches its logo from the internet.
    app = FastAPIOffline(
        redoc_url=None,
        title="Spoedplein gateway",
        version="0.1.0",
        description="HL7 v2 / FHIR ingest, maltreatment-signal detection and the one-stop-shop workflow.",
    )
    app.state.runtime = runtime
    page_sso.check_settings(runtime)  # a role map naming an unknown role stops the start
    # The CDS Hooks router first: routes are matched in order, and a hook call is the hot path whose
    # budget is a few milliseconds (matching through every router before it cost ~0.1 ms).
    for router in (
        cds_views.router,
        health.router,
        metrics.router,
        messages.router,
        presentations.router,
        case_views.router,
        fhir_api.router,
        paging.router,
        page_views.router,
        board_pages.router,
        figure_pages.router,
        page_sso.router,
        break_glass_pages.router,
    ):
        app.include_router(router)
    if runtime.settings.cds_cors_origins:
        app.add_middleware(CdsCors, origins=runtime.settings.cds_cors_origins)
    # Inside the guard (the body is bounded first): a form posted with cookies but without its token
    # is refused before any route runs.
    app.add_middleware(
        CsrfProtection, root_key=runtime.cipher.ring.root, secure=_cookies_secure(runtime.settings)
    )
    # Outermost of ours: a body is bounded, and not read at all without credentials, before any route.
    app.add_middleware(
        RequestGuard,
        max_body_bytes=runtime.settings.http_max_body_bytes,
        credentials_ok=lambda authorization, cookie: credentials_present(runtime, authorization, cookie),
    )
    install_login_redirect(app)
    app.state.access_policy = access.check  # one policy for every route (identity.deps calls it)
    app.add_exception_handler(PageRefused, refused_page)  # and the pages' `current_session`
    # Outermost: every answer, a 413 from the guard too, carries the request's correlation id.
    app.add_middleware(RequestId)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Under /fhir a path or method no route has is answered as FHIR clients expect (OperationOutcome).
        return unmatched_fhir_response(request, exc) or await http_exception_handler(request, exc)

    async def _store_error(request: Request, exc: Exception) -> Response:
        if not store_unavailable(exc):
            return await _unexpected(request, exc)
        # PostgreSQL restarting, a dropped connection: nothing changed, worth trying again.
        log.warning("store unavailable (%s) on %s", type(exc).__name__, request.url.path)
        retry = {"Retry-After": str(RETRY_AFTER_S)}
        if wants_page(request):  # a person at a web page: the message in their language
            tr = translator(request)
            title, message = tr.t("store_unavailable_title"), tr.t("store_unavailable")
            return render(request, "message.html", 503, headers=retry, title=title, message=message)
        return JSONResponse(
            {"detail": "store unavailable; the request changed nothing, try again"},
            status_code=503,
            headers=retry,
        )

    # Registered by class, store errors are answered here and not re-raised to the server (whose log
    # would carry the driver's text, which may quote a value).
    for kind in STORE_ERRORS:
        app.add_exception_handler(kind, _store_error)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The type only: an exception's text may quote patient data.
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return JSONResponse({"detail": "internal error; the request changed nothing"}, status_code=500)

    return app
