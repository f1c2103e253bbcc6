"""What the case page's view and forms share: who is logged in, the outcome of a form, running one
workflow change in its own transaction and saying in the page's language why it was refused.

No business rule lives here: every change is a call into workflows/, consent/ or notifications/, and a
refusal is the service's own (WorkflowError, a stale version), shown next to the field or as a banner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from consent.errors import ConsentError
from core.deps import Actor, audit_access
from core.runtime import Runtime
from gateway.pages import auth, board_texts  # noqa: F401  (board_texts: the "ED staff only" words)
from gateway.pages.i18n import Translator
from gateway.pages.rendering import redirect, render, translator
from identity.deps import Principal, client_of, login_url, principal_from_cookie
from store.audit import AuditAction
from workflows import access, service
from workflows.errors import StaleCase, WorkflowError
from workflows.models import Case

NOTE_MAX = 4000


class PageRefused(Exception):
    """The access policy refused a page request; `refused_page` (installed on the app) answers 403, or
    the break-the-glass form when a reason would open the case."""

    def __init__(self, session: Principal, refusal: access.Refusal | None = None) -> None:
        super().__init__("refused by the access policy")
        self.session = session
        self.refusal = refusal


def current_session(request: Request, runtime: Runtime) -> Principal | None:
    """The logged-in person of a page request, or None (the one place that reads the login). The access
    policy (workflows/access.py) is applied here, for every page: a refusal is audited there and raises
    `PageRefused`, so no page renders anything for a person the policy refuses. A person who broke the
    glass on this case comes back with the purpose and reason that every audit entry then carries."""
    session = principal_from_cookie(runtime, request.cookies.get(auth.COOKIE_NAME), client_of(request))
    if session is None:
        return None
    decided = access.check(runtime, session, request.method, request.url.path)
    if isinstance(decided, access.Refusal):
        raise PageRefused(session, decided)
    return decided


async def refused_page(request: Request, exc: Exception) -> HTMLResponse:
    """The 403 page of a `PageRefused`: no case data, the person's language. A case outside an ED staff
    member's scope gets the form that asks for the break-the-glass reason instead."""
    assert isinstance(exc, PageRefused)
    tr = translator(request)
    refusal = exc.refusal
    if refusal is not None and refusal.break_glass and refusal.case_id is not None:
        return break_glass_form(request, exc.session, refusal.case_id)
    return render(
        request,
        "message.html",
        403,
        session=exc.session,
        title=tr.t("forbidden_title"),
        message=tr.t("forbidden"),
    )


def break_glass_form(
    request: Request, session: Principal, case_id: int, *, reason: str = "", error: str = ""
) -> HTMLResponse:
    """The page that asks why a case outside the person's scope must be opened (nothing of the case)."""
    return render(
        request,
        "break_glass.html",
        403,
        session=session,
        case_id=case_id,
        reason=reason,
        error=error,
        reason_min=access.REASON_MIN,
        reason_max=access.REASON_MAX,
        minutes=int(request.app.state.runtime.settings.break_glass_minutes),
    )


def not_ed_staff(request: Request, session: Principal) -> HTMLResponse:
    """The case page is the ED's: a paged party (logged in through their page's link) sees their own page
    at /p, as decide_disclosure allows, and never the physician's whole case."""
    tr = translator(request)
    return render(
        request, "message.html", 403, session=session, title=tr.t("ed_only_title"), message=tr.t("ed_only")
    )


def to_login(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return redirect(login_url(here))


@dataclass
class Outcome:
    """What went wrong with a form, for the page: messages next to fields, or one above the forms.
    `form` names the form the messages belong to, so the page opens that one and keeps what was typed."""

    status_code: int = 200
    field_errors: dict[str, str] = field(default_factory=dict)
    banner: str = ""
    values: dict[str, str] = field(default_factory=dict)
    form: str = ""


def expected_version(raw: str) -> int | None:
    return int(raw) if raw.isdigit() and 0 < int(raw) < 2**31 else None


def workflow_error(tr: Translator, exc: WorkflowError) -> str:
    # The service speaks English to API clients; the page says the gist in the reader's language.
    if exc.status_code == 404:
        return tr.t("err_gone")
    if exc.status_code == 409:
        return tr.t("err_state")
    return tr.t("err_generic")


def act(
    runtime: Runtime,
    tr: Translator,
    case_id: int,
    change: Callable[[Session, Case], None],
    messages: dict[str, str] | None = None,
    caller: Actor | None = None,
) -> Outcome | None:
    """Run one workflow change in its own transaction; a refused change rolls back and says why. With
    `caller`, the change is written to the audit log in that transaction (NEN 7513).

    `messages` maps the field a service names in its error to the message key shown next to that
    field on the page; a field not in it (or none) makes the message a banner above the forms."""
    messages = messages or {}
    try:
        with runtime.db.write() as db:
            case = service.get_case(db, case_id)
            change(db, case)
            if caller is not None:
                audit_access(
                    db,
                    caller,
                    AuditAction.UPDATE,
                    resource_type="Case",
                    resource_id=case.id,
                    patient_ref=case.patient_ref,
                    case_id=case.id,
                )
    except (StaleCase, StaleDataError):
        return Outcome(409, banner=tr.t("err_stale"))
    except WorkflowError as exc:
        if exc.field in messages:
            return Outcome(exc.status_code, field_errors={exc.field: tr.t(messages[exc.field])})
        return Outcome(exc.status_code, banner=workflow_error(tr, exc))
    except ConsentError as exc:
        if exc.field in messages:
            return Outcome(422, field_errors={exc.field: tr.t(messages[exc.field])})
        return Outcome(422, banner=tr.t("err_generic"))
    return None


def validation_errors(tr: Translator, exc: ValidationError, messages: dict[str, str]) -> dict[str, str]:
    """A pydantic error per field (the JSON API's own request models), in the page's words."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        if not name:  # a rule across fields: the model says which field in its message ("children: …")
            name = str(error.get("msg", "")).removeprefix("Value error, ").split(":", 1)[0]
        key = messages.get(f"{name}:{error['type']}") or messages.get(name) or "err_invalid"
        errors.setdefault(name, tr.t(key))
    return errors
