"""The physician's pages: `/login`, `/logout` and `/cases/{id}` (the page the CDS Hooks cards link to).

Server-rendered HTML with plain forms, no script. No patient data without a login; every view of a case
is audited in the same transaction; confirm and dismiss call the workflow service with the case version
the physician saw, so a case changed by someone else in between is refused, not overwritten.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from adapters.fhir.cds.cards import KINDCHECK_QUESTION
from core.deps import Caller, RuntimeDep, audit_read
from core.runtime import Runtime
from gateway.pages import auth
from gateway.pages.labels import DISMISS_REASON_NL, DONE_NL, EVENT_NL, SEVERITY_NL, STATE_NL
from workflows import service
from workflows.cases import read_findings
from workflows.errors import StaleCase, WorkflowError
from workflows.models import Case, CaseState
from workflows.schemas import ConfirmFacts, DismissReason, Melder
from workflows.timeline import events

router = APIRouter(tags=["pages"], include_in_schema=False)

_HERE = Path(__file__).parent
_LOCAL = ZoneInfo("Europe/Amsterdam")
_NOTE_MAX = 4000

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def _local_time(value: datetime) -> str:
    return value.astimezone(_LOCAL).strftime("%d-%m-%Y %H:%M")


_templates = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters["local_time"] = _local_time


def _page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(template).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def _redirect(target: str) -> RedirectResponse:
    return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)


def _to_login(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return _redirect(f"/login?next={quote(here, safe='/')}")


def _session(request: Request, runtime: Runtime) -> auth.PageSession | None:
    return auth.verify(runtime, request.cookies.get(auth.COOKIE_NAME))


def _caller(request: Request, session: auth.PageSession) -> Caller:
    return Caller(actor=session.actor, client=request.client.host if request.client else "")


# --- login ---------------------------------------------------------------------------------------------


@router.get("/pages/static/pages.css")
def stylesheet() -> Response:
    css = (_HERE / "static" / "pages.css").read_text(encoding="utf-8")
    return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})


@router.get("/kindcheck")
def kindcheck() -> HTMLResponse:
    """What the Kindcheck card links to when there is no case: the question and what to do next. It holds
    no patient data, so no login is needed."""
    return _page("kindcheck.html", question=KINDCHECK_QUESTION)


@router.get("/login")
def login_form(request: Request, runtime: RuntimeDep, next: str = "") -> HTMLResponse:
    return _page(
        "login.html", next=auth.safe_next(next, default=""), session=_session(request, runtime), errors={}
    )


@router.post("/login")
def login(
    request: Request,
    runtime: RuntimeDep,
    token: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    errors: dict[str, str] = {}
    clean = auth.clean_name(name)
    if not clean:
        errors["name"] = "Vul uw naam in; die komt in het toegangslog bij alles wat u bekijkt of doet."
    elif len(clean) > auth.NAME_MAX:
        errors["name"] = f"Uw naam is te lang: gebruik ten hoogste {auth.NAME_MAX} tekens."
    if not token.strip():
        errors["token"] = "Vul het toegangstoken in."
    elif not auth.token_matches(runtime, token):
        errors["token"] = (
            "Dit toegangstoken klopt niet. Controleer het token (let op spaties en hoofdletters) "
            "en probeer het opnieuw."
        )
    target = auth.safe_next(next, default="")
    if errors:
        status = 401 if "token" in errors else 422
        return _page("login.html", status, next=target, session=None, errors=errors, name=clean)
    cookie, _ = auth.issue(runtime, clean)
    response = _redirect(target or "/login")
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
    session = _session(request, runtime)
    if session is not None and not auth.csrf_ok(session, csrf):
        return _page("message.html", 403, **_FORM_EXPIRED)
    response = _redirect("/login")
    response.delete_cookie(auth.COOKIE_NAME, path="/", httponly=True, samesite="strict")
    return response


_FORM_EXPIRED = {
    "title": "Formulier verlopen",
    "message": "Dit formulier hoort niet bij uw huidige sessie. "
    "Laad de pagina opnieuw en probeer het nog eens.",
}


# --- the case page -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What went wrong with an action, for the page: a message next to a field, or above the forms."""

    status_code: int = 200
    field_errors: dict[str, str] = field(default_factory=dict)
    banner: str = ""
    values: dict[str, str] = field(default_factory=dict)


def _render_case(
    request: Request,
    runtime: Runtime,
    session: auth.PageSession,
    case_id: int,
    outcome: Outcome | None = None,
    done: str = "",
) -> HTMLResponse:
    outcome = outcome or Outcome()
    with runtime.db.write() as db:
        case = db.get(Case, case_id)
        if case is None:
            return _page("not_found.html", 404, session=session, case_id=case_id)
        audit_read(
            db,
            _caller(request, session),
            resource_type="Case",
            resource_id=case.id,
            patient_ref=case.patient_ref,
        )
        context = {
            "session": session,
            "case": case,
            "state_nl": STATE_NL.get(case.state, case.state),
            "severity_nl": SEVERITY_NL.get(case.highest_severity, case.highest_severity),
            "findings": read_findings(runtime.cipher, case),
            "timeline": events(db, case.id),
            "flagged": case.state == CaseState.FLAGGED,
            "reasons": DISMISS_REASON_NL,
            "outcome": outcome,
            "done": DONE_NL.get(done, ""),
            "labels": {
                "state": STATE_NL,
                "severity": SEVERITY_NL,
                "event": EVENT_NL,
                "code": {reason.value: label for reason, label in DISMISS_REASON_NL.items()},
            },
        }
        return _page("case.html", outcome.status_code, **context)


@router.get("/cases/{case_id}")
def case_page(case_id: int, request: Request, runtime: RuntimeDep, gedaan: str = "") -> Response:
    session = _session(request, runtime)
    if session is None:
        if request.headers.get("sec-fetch-site") == "cross-site":
            # The card link is clicked in the EHR, another site: the browser holds back a SameSite=Strict
            # cookie on that navigation. One same-site hop (meta refresh, no script) brings it along.
            return _page("bounce.html", target=request.url.path)
        return _to_login(request)
    return _render_case(request, runtime, session, case_id, done=gedaan)


def _act(runtime: Runtime, case_id: int, change: Callable[[Session, Case], None]) -> Outcome | None:
    """Run one workflow change in its own transaction; a refused change rolls back and says why."""
    try:
        with runtime.db.write() as db:
            change(db, service.get_case(db, case_id))
    except (StaleCase, StaleDataError):
        return Outcome(
            409,
            banner="Iemand anders heeft deze casus intussen gewijzigd. Hieronder ziet u de actuele stand; "
            "kijk die na en kies opnieuw.",
        )
    except WorkflowError as exc:
        # The service speaks English to API clients; the physician gets the Dutch gist plus the field.
        return Outcome(exc.status_code, banner=_workflow_error_nl(exc))
    return None


def _workflow_error_nl(exc: WorkflowError) -> str:
    if exc.status_code == 404:
        return "Deze casus bestaat niet (meer)."
    if exc.status_code == 409:
        return "Deze actie kan niet in de huidige status van de casus. Hieronder ziet u de actuele stand."
    return "De actie is niet uitgevoerd: controleer de invoer en probeer het opnieuw."


def _expected_version(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and 0 < int(raw) < 2**31 else None


def _guard_post(
    request: Request, runtime: Runtime, case_id: int, csrf: str, expected_version: str
) -> tuple[auth.PageSession, int] | Response:
    """The session and the case version a change form was filled in against, or the page to show
    instead: the login, an expired form, or the case asking for a reload."""
    session = _session(request, runtime)
    if session is None:
        return _redirect("/login")
    if not auth.csrf_ok(session, csrf):
        return _page("message.html", 403, session=session, **_FORM_EXPIRED)
    version = _expected_version(expected_version)
    if version is None:
        return _render_case(request, runtime, session, case_id, Outcome(422, banner=_RELOAD))
    return session, version


@router.post("/cases/{case_id}/confirm")
def confirm_case(
    case_id: int,
    request: Request,
    runtime: RuntimeDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
    expected_version: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    guarded = _guard_post(request, runtime, case_id, csrf, expected_version)
    if isinstance(guarded, Response):
        return guarded
    session, version = guarded
    if len(reason) > _NOTE_MAX:
        too_long = Outcome(422, field_errors={"reason": _TOO_LONG}, values={"reason": reason[:_NOTE_MAX]})
        return _render_case(request, runtime, session, case_id, too_long)

    def change(db: Session, case: Case) -> None:
        facts = ConfirmFacts(melder=Melder(name=session.name))
        service.confirm(
            db, runtime.cipher, case, facts, actor=session.actor, expected_version=version, reason=reason
        )

    outcome = _act(runtime, case_id, change)
    if outcome is not None:
        return _render_case(request, runtime, session, case_id, outcome)
    return _redirect(f"/cases/{case_id}?gedaan=bevestigd")


_TOO_LONG = f"De toelichting is te lang: gebruik ten hoogste {_NOTE_MAX} tekens."
_RELOAD = "Het formulier mist de versie van de casus. Laad de pagina opnieuw en probeer het nog eens."


@router.post("/cases/{case_id}/dismiss")
def dismiss_case(
    case_id: int,
    request: Request,
    runtime: RuntimeDep,
    csrf: Annotated[str, Form(max_length=200)] = "",
    expected_version: Annotated[str, Form(max_length=20)] = "",
    reason_code: Annotated[str, Form(max_length=100)] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    guarded = _guard_post(request, runtime, case_id, csrf, expected_version)
    if isinstance(guarded, Response):
        return guarded
    session, version = guarded
    errors: dict[str, str] = {}
    code = next((r for r in DismissReason if r.value == reason_code), None)
    if code is None:
        errors["reason_code"] = "Kies een reden waarom u het signaal afwijst."
    if not note.strip():
        errors["note"] = "Licht in een paar woorden toe waarom u het signaal afwijst; dat is verplicht."
    elif len(note) > _NOTE_MAX:
        errors["note"] = _TOO_LONG
    if errors:
        invalid = Outcome(422, field_errors=errors, values={"reason_code": reason_code, "note": note})
        return _render_case(request, runtime, session, case_id, invalid)
    assert code is not None

    def change(db: Session, case: Case) -> None:
        service.dismiss(
            db,
            runtime.cipher,
            case,
            reason_code=code,
            note=note.strip(),
            actor=session.actor,
            expected_version=version,
        )

    refusal = _act(runtime, case_id, change)
    if refusal is not None:
        refusal.values = {"reason_code": reason_code, "note": note}
        return _render_case(request, runtime, session, case_id, refusal)
    return _redirect(f"/cases/{case_id}?gedaan=afgewezen")
