"""`GET /cases/{id}`: the physician's case page (the page the CDS Hooks cards link to), and
`GET /cases/{id}/live`: the part of it that changes while the physician looks (who was paged, who
answered, the intake time), which the page's script fetches every few seconds.

No patient data without a login; every view of the case page is audited in the same transaction. The
live part holds no patient data (parties, roster ids of staff, states, times), so its polls are not
audited one by one. Everything shown is read through the domain's own functions: the intake plan,
decide_disclosure, the discharge status, the melding's problems — the page decides nothing itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent import rules as consent_rules
from consent import service as consent_service
from consent.models import CONSENT_NOTE_AAD, LEGAL_BASIS_AAD, Party
from core.deps import RuntimeDep, audit_read
from core.runtime import Runtime
from gateway.pages.case_common import Outcome, current_session, not_ed_staff, to_login
from gateway.pages.rendering import language, render
from gateway.pages.timeline_text import describe
from identity.deps import Principal
from notifications import service as paging
from notifications.config import paging_config
from notifications.melding import problems as melding_problems
from notifications.models import Page, PagePurpose
from workflows import intake, melding
from workflows import service as workflow
from workflows.cases import read_findings
from workflows.discharge import discharge_check_status, read_checklist
from workflows.models import OPEN_STATES, Case, CaseFacts, CaseState, DischargeCheckRecord, EventKind, Intake
from workflows.timeline import events, read_detail
from workflows.transitions import allowed_actions

router = APIRouter(include_in_schema=False)

# What a `?gedaan=` after a successful action says; only these keys are shown, never the raw parameter.
DONE = {
    "bevestigd": "done_confirmed",
    "afgewezen": "done_dismissed",
    "opgeslagen": "done_saved",
    "intake": "done_intake",
    "tijd": "done_time",
    "melding": "done_melding",
    "goedgekeurd": "done_approved",
    "ontslag": "done_discharge",
    "gesloten": "done_closed",
}
# Timeline kinds shown as a banner above the page instead of as a row.
CRITICAL_KINDS = frozenset({EventKind.DISCHARGED_WITHOUT_CHECK})


@dataclass(frozen=True)
class PartyRow:
    """One party on the consent and intake part of the page."""

    party: str
    consent: Any  # the consent in force for the patient, or None
    children_consent: Any
    bases: list[Any]
    required_because: str
    ground: str
    asked: Any  # the IntakeParty row, or None


def _people(runtime: Runtime) -> dict[str, str]:
    """Roster ids of staff → their display names (staff, not patients: fine to show)."""
    try:
        roster = paging_config(runtime).roster
    except Exception:  # no roster configured: show the ids
        return {}
    return {person.id: person.name or person.id for person in roster.people.values()}


def paging_status(db: Session, runtime: Runtime, case_id: int) -> list[dict[str, Any]]:
    """Each intake page of the case: party, state, and per person reached: attempts and answer."""
    pages = db.execute(
        select(Page).where(Page.case_id == case_id, Page.purpose == PagePurpose.INTAKE).order_by(Page.id)
    ).scalars()
    names = _people(runtime)
    out = []
    for page in pages:
        summary = paging.page_summary(db, page)
        people: dict[str, dict[str, Any]] = {}
        for attempt in summary["attempts"]:
            entry = people.setdefault(
                attempt["person"], {"name": names.get(attempt["person"], attempt["person"]), "attempts": []}
            )
            entry["attempts"].append(attempt)
        for recipient in summary["recipients"]:
            entry = people.setdefault(
                recipient["person"],
                {"name": names.get(recipient["person"], recipient["person"]), "attempts": []},
            )
            entry["answer"] = recipient
        escalations = sum(1 for step in summary["steps"] if step["state"] == "fired") - 1
        out.append({**summary, "people": people, "escalations": max(escalations, 0)})
    return out


def live_context(db: Session, runtime: Runtime, case: Case) -> dict[str, Any]:
    row = db.get(Intake, case.id)
    return {
        "case": case,
        "asked": intake.parties(db, case.id),
        "pages": paging_status(db, runtime, case.id),
        "intake_row": row,
    }


def case_context(db: Session, runtime: Runtime, case: Case, lang: str) -> dict[str, Any]:
    """Everything the case page shows, read through the workflow's and consent's own functions."""
    cipher = runtime.cipher
    state = CaseState(case.state)
    facts = db.get(CaseFacts, case.id)
    confirmed = facts is not None
    open_ = state in OPEN_STATES
    all_events = events(db, case.id)
    critical = [e for e in all_events if e.kind in CRITICAL_KINDS]
    timeline = [
        (e, describe(e, lang, read_detail(cipher, e) if e.kind == EventKind.PAGE_DECLINED else None))
        for e in all_events
        if e.kind not in CRITICAL_KINDS
    ]

    age = facts.patient_age_years if facts else workflow.patient_age_years(db, cipher, case)
    consents = consent_service.current_consents(db, case.id)
    bases = consent_service.active_legal_bases(db, case.id)
    plan = {p.party.value: p for p in intake.intake_plan(db, case)} if confirmed else {}
    asked = {row.party: row for row in intake.parties(db, case.id)}
    parties = [
        PartyRow(
            party=party.value,
            consent=consents.get((party, "patient")),
            children_consent=consents.get((party, "children")),
            bases=[b for b in bases if b.party == party.value],
            required_because=plan[party.value].required_because.value if party.value in plan else "",
            ground=(plan[party.value].ground or "") if party.value in plan else "",
            asked=asked.get(party.value),
        )
        for party in Party
    ]
    kindcheck_answer, children = workflow.kindcheck_children(db, cipher, case.id)
    status = discharge_check_status(db, case, cipher)
    checklist = read_checklist(cipher, db.get(DischargeCheckRecord, case.id))
    melding_row = melding.get_melding(db, case.id)
    melding_content = melding.read_content(cipher, melding_row) if melding_row else None
    return {
        "case": case,
        "state": state,
        "open": open_,
        "flagged": state == CaseState.FLAGGED,
        "confirmed": confirmed,
        "facts": facts,
        "allowed": {a.value for a in allowed_actions(state)},
        "findings": read_findings(cipher, case),
        "timeline": timeline,
        "critical": critical,
        "meldcode": workflow.meldcode_steps(db, cipher, case.id),
        "melden_decided": intake.melden_decided(db, case.id),
        "kindcheck_answer": kindcheck_answer.value if kindcheck_answer else "",
        "children": children,
        "age": age,
        "deciders": sorted(c.value for c in consent_rules.required_consenters(age))
        if age is not None
        else [],
        "parties": parties,
        "consent_notes": {
            row.id: cipher.decrypt(row.note, CONSENT_NOTE_AAD).decode()
            for row in consents.values()
            if row.note
        },
        "basis_texts": {row.id: cipher.decrypt(row.justification, LEGAL_BASIS_AAD).decode() for row in bases},
        "pageable": [p for p in plan.values() if p.can_be_paged],
        "plan": list(plan.values()),
        "intake_under_way": intake.intake_under_way(db, case.id),
        "discharge": status,
        "checklist": checklist,
        "children_involved": intake.children_involved(db, case, facts) if confirmed else False,
        "melding": melding_row,
        "melding_content": melding_content,
        "melding_missing": melding_problems(melding_content) if melding_content else [],
        **live_context(db, runtime, case),
    }


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
        context = case_context(db, runtime, case, language(request)[0])
        return render(
            request,
            "case.html",
            outcome.status_code,
            here=here,
            session=session,
            outcome=outcome,
            done=DONE.get(done, ""),
            **context,
        )


@router.get("/cases/{case_id}")
def case_page(case_id: int, request: Request, runtime: RuntimeDep, gedaan: str = "") -> Response:
    session = current_session(request, runtime)
    if session is None:
        if request.headers.get("sec-fetch-site") == "cross-site":
            # The card link is clicked in the EHR, another site: the browser holds back a SameSite=Strict
            # cookie on that navigation. One same-site hop (meta refresh, no script) brings it along.
            return render(request, "bounce.html", target=request.url.path)
        return to_login(request)
    if not session.is_ed_staff:
        return not_ed_staff(request, session)
    return render_case(request, runtime, session, case_id, done=gedaan)


@router.get("/cases/{case_id}/live")
def case_live(case_id: int, request: Request, runtime: RuntimeDep) -> Response:
    """The live part of the case page as an HTML fragment (no layout)."""
    session = current_session(request, runtime)
    if session is None:
        return Response(status_code=401, headers={"Cache-Control": "no-store"})
    if not session.is_ed_staff:
        return Response(status_code=403, headers={"Cache-Control": "no-store"})
    with runtime.db.read() as db:
        case = db.get(Case, case_id)
        if case is None:
            return Response(status_code=404, headers={"Cache-Control": "no-store"})
        return render(request, "case_live.html", here=f"/cases/{case_id}", **live_context(db, runtime, case))
