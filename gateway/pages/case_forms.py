"""The case page's forms: each posts the session's form token and the case version the physician saw,
calls one workflow service function, and answers with the page again — with what to fix next to the
field when the service refused, or with a short confirmation after a redirect when it did not.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from core.deps import RuntimeDep
from core.runtime import Runtime
from gateway.pages import auth
from gateway.pages.case_common import (
    NOTE_MAX,
    Outcome,
    act,
    current_session,
    expected_version,
    form_expired,
)
from gateway.pages.case_view import render_case
from gateway.pages.rendering import redirect, translator
from identity.deps import Principal
from workflows import service
from workflows.models import Case
from workflows.schemas import ConfirmFacts, DismissReason, Melder

router = APIRouter(include_in_schema=False)

Csrf = Annotated[str, Form(max_length=200)]
Version = Annotated[str, Form(max_length=20)]


def guard_post(
    request: Request, runtime: Runtime, case_id: int, csrf: str, version_raw: str
) -> tuple[Principal, int] | Response:
    """The session and the case version a change form was filled in against, or the page to show
    instead: the login, an expired form, or the case asking for a reload."""
    session = current_session(request, runtime)
    if session is None:
        return redirect("/login")
    if not auth.csrf_ok(session, csrf):
        return form_expired(request, session)
    version = expected_version(version_raw)
    if version is None:
        tr = translator(request)
        return render_case(request, runtime, session, case_id, Outcome(422, banner=tr.t("err_reload")))
    return session, version


@router.post("/cases/{case_id}/confirm")
def confirm_case(
    case_id: int,
    request: Request,
    runtime: RuntimeDep,
    csrf: Csrf = "",
    expected_version: Version = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    guarded = guard_post(request, runtime, case_id, csrf, expected_version)
    if isinstance(guarded, Response):
        return guarded
    session, version = guarded
    tr = translator(request)
    if len(reason) > NOTE_MAX:
        too_long = Outcome(
            422,
            field_errors={"reason": tr.t("err_too_long", max=NOTE_MAX)},
            values={"reason": reason[:NOTE_MAX]},
            form="confirm",
        )
        return render_case(request, runtime, session, case_id, too_long)

    def change(db: Session, case: Case) -> None:
        facts = ConfirmFacts(melder=Melder(name=session.name))
        service.confirm(
            db, runtime.cipher, case, facts, actor=session.actor, expected_version=version, reason=reason
        )

    outcome = act(runtime, tr, case_id, change, session)
    if outcome is not None:
        return render_case(request, runtime, session, case_id, outcome)
    return redirect(f"/cases/{case_id}?gedaan=bevestigd")


@router.post("/cases/{case_id}/dismiss")
def dismiss_case(
    case_id: int,
    request: Request,
    runtime: RuntimeDep,
    csrf: Csrf = "",
    expected_version: Version = "",
    reason_code: Annotated[str, Form(max_length=100)] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    guarded = guard_post(request, runtime, case_id, csrf, expected_version)
    if isinstance(guarded, Response):
        return guarded
    session, version = guarded
    tr = translator(request)
    errors: dict[str, str] = {}
    code = next((r for r in DismissReason if r.value == reason_code), None)
    if code is None:
        errors["reason_code"] = tr.t("err_reason_code")
    if not note.strip():
        errors["note"] = tr.t("err_note_missing")
    elif len(note) > NOTE_MAX:
        errors["note"] = tr.t("err_too_long", max=NOTE_MAX)
    values = {"reason_code": reason_code, "note": note}
    if errors or code is None:
        invalid = Outcome(422, field_errors=errors, values=values, form="dismiss")
        return render_case(request, runtime, session, case_id, invalid)

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

    refusal = act(runtime, tr, case_id, change, session)
    if refusal is not None:
        refusal.values = values
        return render_case(request, runtime, session, case_id, refusal)
    return redirect(f"/cases/{case_id}?gedaan=afgewezen")
