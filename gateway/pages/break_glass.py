"""Break-the-glass on the pages: the answer to the reason form (`POST /cases/{id}/break-glass`) and the
coordinator's list of who opened which case outside their scope, when and why (`GET /break-glass`).

The rule and the grant are the access policy's (`workflows/access.py`); this module is only the pages.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy import select

from core.deps import RuntimeDep, audit_access
from gateway.pages import board_access
from gateway.pages.case_common import break_glass_form, current_session, to_login
from gateway.pages.rendering import redirect, translator
from store.audit import AuditAction, AuditEntry
from workflows import access
from workflows.models import Case

router = APIRouter(tags=["pages"], include_in_schema=False)
LIST_MAX = 500


@router.post("/cases/{case_id}/break-glass")
def break_glass(
    case_id: int,
    request: Request,
    runtime: RuntimeDep,
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    session = current_session(request, runtime)
    if session is None:
        return to_login(request)
    refused = access.break_glass(runtime, session, case_id, reason)
    if refused is not None:
        tr = translator(request)
        short = len(access.clean_reason(reason)) > 0
        message = tr.t("bg_reason_short", min=access.REASON_MIN) if short else tr.t("bg_reason_missing")
        return break_glass_form(request, session, case_id, reason=reason[: access.REASON_MAX], error=message)
    return redirect(f"/cases/{case_id}")


@router.get("/break-glass")
def break_glass_list(request: Request, runtime: RuntimeDep) -> Response:
    viewer = board_access.viewer(request, runtime)  # the policy: coordinator and administrator only
    if isinstance(viewer, Response):
        return viewer
    with runtime.db.write() as db:
        entries = list(
            db.execute(
                select(AuditEntry)
                .where(AuditEntry.action == AuditAction.BREAK_GLASS.value)
                .order_by(AuditEntry.seq.desc())
                .limit(LIST_MAX)
            ).scalars()
        )
        ids = {int(e.case_id) for e in entries if e.case_id.isdigit()}
        references = {
            str(case_id): reference
            for case_id, reference in db.execute(select(Case.id, Case.reference).where(Case.id.in_(ids)))
        }
        # Reading the audit trail is itself recorded (NEN 7513).
        audit_access(
            db, viewer, AuditAction.READ, resource_type="AuditLog", resource_id="break_glass", patient_ref=""
        )
        db.expunge_all()
    return board_access.page(
        request,
        "break_glass_list.html",
        viewer=viewer,
        nav="break_glass",
        entries=entries,
        references=references,
    )
