"""The physician's pages: `/login`, `/logout`, `/kindcheck`, the stylesheet and scripts, and the case
page's routers (case_view.py shows a case, case_forms.py takes its forms).

Server-rendered HTML (gateway/pages/rendering.py) in Dutch or English (gateway/pages/i18n.py).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from adapters.fhir.cds.cards import KINDCHECK_QUESTION
from core.deps import RuntimeDep
from gateway.pages import auth, case_forms, case_view, party
from gateway.pages.case_common import current_session
from gateway.pages.i18n import Translator
from gateway.pages.rendering import HERE, redirect, render, translator
from identity import oidc, pending, ratelimit, sessions, totp
from identity import service as identity_service
from identity.deps import actor_label, client_of, lifetimes
from identity.models import ROLE_LABELS_EN, ROLE_LABELS_NL, AuthMethod, User
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
        ask_code = False
        if (
            check.ok
            and check.user is not None
            and totp.required(check.user, for_parties=settings.totp_required_for_parties)
        ):
            # A second factor is due: no session yet. Without one enrolled, the login is refused.
            ask_code = totp.enrolled(check.user)
            if not ask_code:
                check = identity_service.PasswordCheck(check.user, LoginRefused.NO_SECOND_FACTOR)
        if check.ok and check.user is not None and not ask_code:
            sessions.revoke(db, request.cookies.get(auth.COOKIE_NAME), now=now)  # no session fixation
            cookie = sessions.start(
                db,
                check.user,
                auth_method=AuthMethod.PASSWORD,
                client=client,
                now=now,
                lifetimes=lifetimes(runtime),
            )
        user_id = check.user.id if check.user is not None else 0
        if not ask_code:
            # Failed logins are audited with their reason; the page says only "wrong" or "locked".
            _login_audit(
                db,
                user=check.user,
                ok=bool(cookie),
                client=client,
                method=AuthMethod.PASSWORD,
                reason="" if cookie else str(check.refused),
            )
    if ask_code:
        asked = render(request, "login_code.html", here="/login", errors={})
        pending.keep_second_step(
            asked,
            request,
            runtime.cipher,
            user_id=user_id,
            next_path=target,
            public_base_url=settings.public_base_url,
        )
        return asked
    if not cookie:
        return render(
            request, "login.html", 401, errors={"password": _refused_text(tr, check.refused)}, **context
        )
    response = redirect(target or "/login")
    auth.set_session_cookie(response, request, runtime, cookie)
    return response


def _refused_text(tr: Translator, refused: LoginRefused | None) -> str:
    if refused == LoginRefused.LOCKED:
        return tr.t("err_login_locked")
    if refused == LoginRefused.NO_SECOND_FACTOR:
        return tr.t("err_login_no_totp")
    return tr.t("err_login_wrong")


def _login_audit(
    db: Session, *, user: User | None, ok: bool, client: str, method: AuthMethod, reason: str
) -> None:
    audit.record(
        db,
        actor=actor_label(user.id, user.display_name) if user is not None else "unknown-user",
        action=audit.AuditAction.LOGIN if ok else audit.AuditAction.LOGIN_FAILED,
        outcome=audit.AuditOutcome.SUCCESS if ok else audit.AuditOutcome.DENIED,
        resource_type="Session",
        resource_id=user.id if user is not None else "-",
        client=client,
        source=method.value,
        reason=reason,
        actor_role=user.role if user is not None else "",
        actor_org=user.organisation if user is not None else "",
        actor_name=user.display_name if user is not None else "",
    )


@router.post("/login/code")
def login_code(
    request: Request, runtime: RuntimeDep, code: Annotated[str, Form(max_length=50)] = ""
) -> Response:
    """The second step of a local login: the TOTP code. Rate limited like logins; a wrong code counts
    toward the account's lockout like a wrong password; every attempt is audited."""
    tr = translator(request)
    waiting = pending.take_second_step(request, runtime.cipher)
    if waiting is None:
        response = render(
            request, "login.html", 400, here="/login", errors={"username": tr.t("err_code_expired")}
        )
        pending.forget_second_step(response)
        return response
    user_id, target = waiting
    settings, now, client = runtime.settings, runtime.clock.now(), client_of(request)
    if not code.strip():
        return render(
            request, "login_code.html", 422, here="/login", errors={"code": tr.t("err_code_missing")}
        )
    if not ratelimit.code_allowed(runtime, client=client, user_id=user_id):
        with runtime.db.write() as db:
            _login_audit(
                db,
                user=db.get(User, user_id),
                ok=False,
                client=client,
                method=AuthMethod.PASSWORD_TOTP,
                reason="rate_limited",
            )
        return render(
            request,
            "login_code.html",
            429,
            here="/login",
            errors={"code": tr.t("err_login_rate")},
            headers={"Retry-After": "60"},
        )
    with runtime.db.write() as db:
        user = db.get(User, user_id)
        refused: LoginRefused | None = LoginRefused.UNKNOWN_USER
        cookie = ""
        if user is not None:
            refused = totp.check_code(
                db,
                user=user,
                code=code,
                now=now,
                max_failures=settings.login_max_failures,
                lockout=timedelta(minutes=settings.login_lockout_minutes),
            )
        if refused is None and user is not None:
            sessions.revoke(db, request.cookies.get(auth.COOKIE_NAME), now=now)  # no session fixation
            cookie = sessions.start(
                db,
                user,
                auth_method=AuthMethod.PASSWORD_TOTP,
                client=client,
                now=now,
                lifetimes=lifetimes(runtime),
            )
        _login_audit(
            db,
            user=user,
            ok=bool(cookie),
            client=client,
            method=AuthMethod.PASSWORD_TOTP,
            reason="" if cookie else str(refused),
        )
    if not cookie:
        if refused == LoginRefused.WRONG_CODE:
            return render(
                request, "login_code.html", 401, here="/login", errors={"code": tr.t("err_code_wrong")}
            )
        # Locked or gone: back to the start (the second step's cookie is spent).
        restart = render(
            request, "login.html", 401, here="/login", errors={"password": _refused_text(tr, refused)}
        )
        pending.forget_second_step(restart)
        return restart
    done = redirect(target or "/login")
    auth.set_session_cookie(done, request, runtime, cookie)
    pending.forget_second_step(done)
    return done


@router.post("/logout")
def logout(request: Request, runtime: RuntimeDep) -> Response:
    session = current_session(request, runtime)
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
