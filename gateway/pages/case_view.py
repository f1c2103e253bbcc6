"""`GET /cases/{id}`: the physician's case page (the page the CDS Hooks cards link to).

No patient data without a login; every view of a case is audited in the same transaction. The page is
built from the workflow's own read functions; its forms post to case_forms.py.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from core.deps import RuntimeDep, audit_read
from core.runtime import Runtime
from gateway.pages.case_common import Outcome, current_session, to_login
from gateway.pages.rendering import language, render
from gateway.pages.timeline_text import describe
from identity.deps import Principal
from workflows.cases import read_findings
from workflows.models import Case, CaseState
from workflows.timeline import events

router = APIRouter(include_in_schema=False)

# What a `?gedaan=` after a successful action says; only these keys are shown, never the raw parameter.
DONE = {"bevestigd": "done_confirmed", "afgewezen": "done_dismissed", "opgeslagen": "done_saved"}


def render_case(
    request: Request,
    runtime: Runtime,
    session: Principal,
    case_id: int,
    outcome: Outcome | None = None,
    done: str = "",
) -> HTMLResponse:
    outcome = outcome or Outcome()
    here = f"/cases/{case_id}"
    with runtime.db.write() as db:
        case = db.get(Case, case_id)
        if case is None:
            return render(request, "not_found.html", 404, here=here, session=session, case_id=case_id)
        audit_read(
            db,
            session,
            resource_type="Case",
            resource_id=case.id,
            patient_ref=case.patient_ref,
        )
        context: dict[str, Any] = {
            "session": session,
            "case": case,
            "findings": read_findings(runtime.cipher, case),
            "timeline": [(event, describe(event, language(request)[0])) for event in events(db, case.id)],
            "flagged": case.state == CaseState.FLAGGED,
            "outcome": outcome,
            "done": DONE.get(done, ""),
        }
        return render(request, "case.html", outcome.status_code, here=here, **context)


@router.get("/cases/{case_id}")
def case_page(case_id: int, request: Request, runtime: RuntimeDep, gedaan: str = "") -> Response:
    session = current_session(request, runtime)
    if session is None:
        if request.headers.get("sec-fetch-site") == "cross-site":
            # The card link is clicked in the EHR, another site: the browser holds back a SameSite=Strict
            # cookie on that navigation. One same-site hop (meta refresh, no script) brings it along.
            return render(request, "bounce.html", target=request.url.path)
        return to_login(request)
    return render_case(request, runtime, session, case_id, done=gedaan)
