"""The physician's pages: `/login`, `/logout`, `/kindcheck`, the stylesheet and scripts, and the case
page's routers (case_view.py shows a case, case_forms.py takes its forms).

Server-rendered HTML (gateway/pages/rendering.py) in Dutch or English (gateway/pages/i18n.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from adapters.fhir.cds.cards import KINDCHECK_QUESTION
from core.deps import RuntimeDep
from gateway.pages import auth, case_forms, case_view, party
from gateway.pages.case_common import current_session, form_expired
from gateway.pages.rendering import HERE, redirect, render, translator
from identity import oidc, ratelimit, sessions
from identity import service as identity_service
from identity.deps import actor_label, client_of, lifetimes
from identity.models import ROLE_LABELS_EN, ROLE_LABELS_NL, AuthMethod
from identity.service import LoginRefused
from store import audit

router = APIRouter(tags=["pages"], include_in_schema=False)

_STATIC = {
    "pages.css": "text/css",
    "live.js": "text/javascript",
    "board.css": "text/css",  # the coordinator's pages (gateway/pages/board.py, figures.py)
    "board.js": "text/javascript",
}


@router.get("/pages/static/{name}")
def static_file(name: str) -> Response:
    """The pages' own stylesheet and script (no CDN, no build step)."""
    media_type = _STATIC.get(name)
    if media_type is None:
        return Response(status_code=404)
    body = (HERE / "static" / name).read_text(encoding="utf-8")
    return Response(body, media_type=media_type, headers={"Cache-Control": "max-age=3600"})


@router.get("/kindcheck")
def kindcheck(request: Request) -> HTMLResponse:
    """What the Kindcheck card links to when there is no case: the question and what to do next. It holds
    no patient data, so no login is needed."""
    return render(request, "kindcheck.html", question=KINDCHECK_QUESTION)


@router.get("/login")
def login_form(request: Request, runtime: RuntimeDep, next: str = "") -> HTMLResponse:
    session = current_session(request, runtime)
    labels = ROLE_LABELS_EN if translator(request).lang == "en" else ROLE_LABELS_NL
    return render(
        request,
        "login.html",
        next=auth.safe_next(next, default=""),
        session=session,
        role_label=labels.get(session.role, "") if session else "",
        errors={},
        oidc=oidc.hospital_client(runtime.settings) is not None,
    )


@router.post("/login")
def login(
    request: Request,
    runtime: RuntimeDep,
    username: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=2000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    tr = translator(request)
    target = auth.safe_next(next, default="")
    name = username.strip()
    errors: dict[str, str] = {}
    if not name:
        errors["username"] = tr.t("err_username_missing")
    if not password:
        errors["password"] = tr.t("err_password_missing")
    context: dict[str, Any] = {
        "here": "/login",
        "next": target,
        "username": name[:100],
        "oidc": oidc.hospital_client(runtime.settings) is not None,
    }
    if errors:
        return render(request, "login.html", 422, errors=errors, **context)
    settings, now, client = runtime.settings, runtime.clock.now(), client_of(request)
    if not ratelimit.login_allowed(runtime, client=client, username=name):
        with runtime.db.write() as db:
            audit.record(
                db,
                actor="unknown-user",
                action=audit.AuditAction.LOGIN_FAILED,
                outcome=audit.AuditOutcome.DENIED,
                resource_type="Session",
                resource_id="-",
                client=client,
                source=AuthMethod.PASSWORD.value,
                reason="rate_limited",
            )
        message = tr.t("err_login_rate")
        return render(
            request, "login.html", 429, errors={"password": message}, headers={"Retry-After": "60"}, **context
        )
    with runtime.db.write() as db:
        check = identity_service.check_password(
            db,
            username=name,
            password=password,
            now=now,
            max_failures=settings.login_max_failures,
            lockout=timedelta(minutes=settings.login_lockout_minutes),
        )
        cookie = ""
        if check.ok and check.user is not None:
            sessions.revoke(db, request.cookies.get(auth.COOKIE_NAME), now=now)  # no session fixation
            cookie = sessions.start(
                db,
                check.user,
                auth_method=AuthMethod.PASSWORD,
                client=client,
                now=now,
                lifetimes=lifetimes(runtime),
            )
        # Failed logins are audited with their reason; the page says only "wrong" or "locked".
        who = check.user
        audit.record(
            db,
            actor=actor_label(who.id, who.display_name) if who is not None else "unknown-user",
            action=audit.AuditAction.LOGIN if cookie else audit.AuditAction.LOGIN_FAILED,
            outcome=audit.AuditOutcome.SUCCESS if cookie else audit.AuditOutcome.DENIED,
            resource_type="Session",
            resource_id=who.id if who is not None else "-",
            client=client,
            source=AuthMethod.PASSWORD.value,
            reason="" if cookie else str(check.refused),
            actor_role=who.role if who is not None else "",
            actor_org=who.organisation if who is not None else "",
            actor_name=who.display_name if who is not None else "",
        )
    if not cookie:
        locked = check.refused == LoginRefused.LOCKED
        message = tr.t("err_login_locked" if locked else "err_login_wrong")
        return render(request, "login.html", 401, errors={"password": message}, **context)
    response = redirect(target or "/login")
    auth.set_session_cookie(response, request, runtime, cookie)
    return response


@router.post("/logout")
def logout(
    request: Request, runtime: RuntimeDep, csrf: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    session = current_session(request, runtime)
    if session is not None and not auth.csrf_ok(session, csrf):
        return form_expired(request, session)
    if session is not None:
        with runtime.db.write() as db:
            sessions.revoke(db, request.cookies.get(auth.COOKIE_NAME), now=runtime.clock.now())
            audit.record(
                db,
                actor=session.actor,
                action=audit.AuditAction.LOGOUT,
                resource_type="Session",
                resource_id=session.user_id,
                client=session.client,
                actor_role=session.role,
                actor_org=session.organisation,
                actor_name=session.display_name,
            )
    response = redirect("/login")
    auth.clear_session_cookie(response)
    return response


router.include_router(case_view.router)
router.include_router(case_forms.router)
router.include_router(party.router)
