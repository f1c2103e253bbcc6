"""The physician's pages: `/login`, `/logout`, `/kindcheck`, the stylesheet and scripts, and the case
page's routers (case_view.py shows a case, case_forms.py takes its forms).

Server-rendered HTML (gateway/pages/rendering.py) in Dutch or English (gateway/pages/i18n.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from adapters.fhir.cds.cards import KINDCHECK_QUESTION
from core.deps import RuntimeDep
from gateway.pages import auth, case_forms, case_view
from gateway.pages.case_common import current_session, form_expired
from gateway.pages.rendering import HERE, redirect, render, translator

router = APIRouter(tags=["pages"], include_in_schema=False)

_STATIC = {"pages.css": "text/css", "live.js": "text/javascript"}


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
    return render(
        request,
        "login.html",
        next=auth.safe_next(next, default=""),
        session=current_session(request, runtime),
        errors={},
    )


@router.post("/login")
def login(
    request: Request,
    runtime: RuntimeDep,
    token: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    tr = translator(request)
    errors: dict[str, str] = {}
    clean = auth.clean_name(name)
    if not clean:
        errors["name"] = tr.t("err_name_missing")
    elif len(clean) > auth.NAME_MAX:
        errors["name"] = tr.t("err_name_long", max=auth.NAME_MAX)
    if not token.strip():
        errors["token"] = tr.t("err_token_missing")
    elif not auth.token_matches(runtime, token):
        errors["token"] = tr.t("err_token_wrong")
    target = auth.safe_next(next, default="")
    if errors:
        status = 401 if "token" in errors else 422
        return render(request, "login.html", status, here="/login", next=target, errors=errors, name=clean)
    cookie, _ = auth.issue(runtime, clean)
    response = redirect(target or "/login")
    response.set_cookie(
        auth.COOKIE_NAME,
        cookie,
        max_age=auth.SESSION_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https"
        or (runtime.settings.public_base_url or "").startswith("https://"),
    )
    return response


@router.post("/logout")
def logout(
    request: Request, runtime: RuntimeDep, csrf: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    session = current_session(request, runtime)
    if session is not None and not auth.csrf_ok(session, csrf):
        return form_expired(request, session)
    response = redirect("/login")
    response.delete_cookie(auth.COOKIE_NAME, path="/", httponly=True, samesite="strict")
    return response


router.include_router(case_view.router)
router.include_router(case_forms.router)
