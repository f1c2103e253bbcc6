"""The case page's forms: each posts the session's form token and the case version the physician saw,
calls one workflow service function, and answers with the page again — with what to fix next to the
field when the service refused, or with a short confirmation after a redirect when it did not.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from core.deps import RuntimeDep, audit_read
from core.runtime import Runtime
from gateway.pages.case_common import (
    NOTE_MAX,
    Outcome,
    act,
    current_session,
    expected_version,
    not_ed_staff,
    to_login,
    validation_errors,
)
from gateway.pages.case_view import render_case
from gateway.pages.rendering import LOCAL, redirect, translator
from identity.deps import Principal
from notifications.melding import MelderDetails, MeldingPatch, render_pdf
from workflows import intake, melding, service
from workflows.api_support import limits
from workflows.discharge import complete_discharge_check, record_discharge_check
from workflows.models import Case
from workflows.schemas import (
    ConfirmFacts,
    DischargeChecklist,
    DismissReason,
    KindcheckInput,
    MeldcodeStep,
    MeldcodeStepInput,
    Melder,
)
from workflows.transitions import Action
from workflows.views_consent import ConsentBody, LegalBasisBody
from workflows.views_intake import ScheduleBody
from workflows.views_workflow import KindcheckBody, MeldcodeBody, TransitionBody

router = APIRouter(include_in_schema=False)

Version = Annotated[str, Form(max_length=20)]
Short = Annotated[str, Form(max_length=100)]
# Long enough to hold more than the services accept, so the "too long" message comes from their rules.
Text = Annotated[str, Form(max_length=20000)]


def guard_post(
    request: Request, runtime: Runtime, case_id: int, version_raw: str
) -> tuple[Principal, int] | Response:
    """The session and the case version a change form was filled in against, or the page to show
    instead: the login, or the case asking for a reload. (The form's CSRF token was checked before any
    route ran: gateway/csrf.py.)"""
    session = current_session(request, runtime)
    if session is None:
        return redirect("/login")
    if not session.is_ed_staff:
        return not_ed_staff(request, session)
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
    expected_version: Version = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    guarded = guard_post(request, runtime, case_id, expected_version)
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

    outcome = act(runtime, tr, case_id, change, caller=session)
    if outcome is not None:
        return render_case(request, runtime, session, case_id, outcome)
    return redirect(f"/cases/{case_id}?gedaan=bevestigd")


@router.post("/cases/{case_id}/dismiss")
def dismiss_case(
    case_id: int,
    request: Request,
    runtime: RuntimeDep,
    expected_version: Version = "",
    reason_code: Annotated[str, Form(max_length=100)] = "",
    note: Annotated[str, Form()] = "",
) -> Response:
    guarded = guard_post(request, runtime, case_id, expected_version)
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

    refusal = act(runtime, tr, case_id, change, caller=session)
    if refusal is not None:
        refusal.values = values
        return render_case(request, runtime, session, case_id, refusal)
    return redirect(f"/cases/{case_id}?gedaan=afgewezen")


# --- the forms after confirmation ----------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _submit(
    request: Request,
    runtime: Runtime,
    case_id: int,
    *,
    version_raw: str,
    form: str,
    values: dict[str, str],
    change: Callable[[Session, Case, Principal, int], None],
    done: str,
    anchor: str,
    messages: dict[str, str] | None = None,
    body: type[BaseModel] | None = None,
    data: dict[str, Any] | None = None,
) -> Response:
    """One form: check the session token and version, validate with the JSON API's own request model
    (`body`), run the change, and show the page again with the errors or redirect to the result."""
    guarded = guard_post(request, runtime, case_id, version_raw)
    if isinstance(guarded, Response):
        return guarded
    session, version = guarded
    tr = translator(request)
    messages = messages or {}
    if body is not None:
        try:
            body.model_validate({**(data or {}), "expected_version": version})
        except ValidationError as exc:
            invalid = Outcome(
                422, field_errors=validation_errors(tr, exc, messages), values=values, form=form
            )
            return render_case(request, runtime, session, case_id, invalid)
    outcome = act(
        runtime, tr, case_id, lambda db, case: change(db, case, session, version), messages, caller=session
    )
    if outcome is not None:
        outcome.form, outcome.values = form, values
        return render_case(request, runtime, session, case_id, outcome)
    return redirect(f"/cases/{case_id}?gedaan={done}#{anchor}")


@router.post("/cases/{case_id}/meldcode/{step}")
def meldcode_step(
    case_id: int,
    step: int,
    request: Request,
    runtime: RuntimeDep,
    expected_version: Version = "",
    summary: Text = "",
    observed_facts: Text = "",
    consulted: Text = "",
    discussed_with_family: Short = "",
    family_reaction: Text = "",
    support_network: Text = "",
    assessment: Text = "",
    decision: Short = "",
) -> Response:
    if step not in range(1, 6):
        return Response(status_code=404)
    values = {
        "summary": summary,
        "observed_facts": observed_facts,
        "consulted": consulted,
        "discussed_with_family": discussed_with_family,
        "family_reaction": family_reaction,
        "support_network": support_network,
        "assessment": assessment,
        "decision": decision,
    }
    data: dict[str, Any] = {
        "summary": summary.strip(),
        "observed_facts": _lines(observed_facts),
        "consulted": _lines(consulted),
        "discussed_with_family": {"true": True, "false": False}.get(discussed_with_family),
        "family_reaction": family_reaction,
        "support_network": support_network,
        "assessment": assessment,
        "decision": decision or None,
    }

    def change(db: Session, case: Case, session: Principal, version: int) -> None:
        service.record_meldcode_step(
            db,
            runtime.cipher,
            case,
            MeldcodeStep(step),
            MeldcodeStepInput.model_validate(data),
            actor=session.actor,
            expected_version=version,
            limits=limits(runtime),
        )

    return _submit(
        request,
        runtime,
        case_id,
        version_raw=expected_version,
        form=f"meldcode{step}",
        values=values,
        change=change,
        done="opgeslagen",
        anchor=f"step-{step}",
        messages={
            "summary": "err_summary",
            "decision": "err_decision",
            "summary:string_too_long": "err_long",
        },
        body=MeldcodeBody,
        data=data,
    )


@router.post("/cases/{case_id}/kindcheck")
def kindcheck(
    case_id: int,
    request: Request,
    runtime: RuntimeDep,
    expected_version: Version = "",
    cares_for_minors: Short = "",
    child_name: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI copies form defaults
    child_birth_date: Annotated[list[str], Form()] = [],  # noqa: B006
    child_school: Annotated[list[str], Form()] = [],  # noqa: B006
) -> Response:
    tr = translator(request)
    values = {"cares_for_minors": cares_for_minors}
    children: list[dict[str, Any]] = []
    date_errors: dict[str, str] = {}
    for i, (name, born, school) in enumerate(zip(child_name, child_birth_date, child_school, strict=False)):
        values |= {f"child_name_{i}": name, f"child_birth_date_{i}": born, f"child_school_{i}": school}
        if not (name.strip() or born.strip() or school.strip()):
            continue
        try:
            birth = date.fromisoformat(born) if born.strip() else None
        except ValueError:
            date_errors[f"child_birth_date_{i}"] = tr.t("err_date")
            continue
        children.append({"name": name.strip(), "birth_date": birth, "school": school.strip()})
    if date_errors:
        session = current_session(request, runtime)
        if session is not None and session.is_ed_staff:
            invalid = Outcome(422, field_errors=date_errors, values=values, form="kindcheck")
            return render_case(request, runtime, session, case_id, invalid)
    data = {"cares_for_minors": cares_for_minors or None, "children": children}
    children_message = "err_children_yes" if cares_for_minors == "yes" else "err_children_no"

    def change(db: Session, case: Case, session: Principal, version: int) -> None:
        service.record_kindcheck(
            db,
            runtime.cipher,
            case,
            KindcheckInput.model_validate(data),
            actor=session.actor,
            expected_version=version,
            limits=limits(runtime),
        )

    return _submit(
        request,
        runtime,
        case_id,
        version_raw=expected_version,
        form="kindcheck",
        values=values,
        change=change,
        done="opgeslagen",
        anchor="kindcheck-title",
        messages={"cares_for_minors": "err_kindcheck_answer", "children": children_message},
        body=KindcheckBody,
        data=data,
    )


@router.post("/cases/{case_id}/consents")
def consent(
    case_id: int,
    request: Request,
    runtime: RuntimeDep,
    expected_version: Version = "",
    party: Short = "",
    subject: Short = "patient",
    decision: Short = "",
    given_by: Annotated[list[str], Form()] = [],  # noqa: B006
    subject_age_years: Short = "",
    note: Text = "",
) -> Response:
    values = {
        "party": party,
        "subject": subject,
        "decision": decision,
        "given_by": ",".join(given_by),
        "subject_age_years": subject_age_years,
        "note": note,
    }
    data: dict[str, Any] = {
        "party": party or None,
        "subject": subject,
        "decision": decision or None,
        "given_by": given_by,
        "subject_age_years": subject_age_years.strip() or None,
        "note": note,
    }

    def change(db: Session, case: Case, session: Principal, version: int) -> None:
        body = ConsentBody.model_validate({**data, "expected_version": version})
        service.record_consent(
            db,
            runtime.cipher,
            case,
            party=body.party,
            decision=body.decision,
            given_by=frozenset(body.given_by),
            actor=session.actor,
            subject=body.subject,
            subject_age_years=body.subject_age_years,
            note=body.note,
            expected_version=version,
            limits=limits(runtime),
        )

    return _submit(
        request,
        runtime,
        case_id,
        version_raw=expected_version,
        form="consent",
        values=values,
        change=change,
        done="opgeslagen",
        anchor="consent-title",
        messages={
            "party": "err_party",
            "decision": "err_consent_decision",
            "given_by": "err_given_by",
            "subject_age_years": "err_age",
        },
        body=ConsentBody,
        data=data,
    )


@router.post("/cases/{case_id}/legal-bases")
def legal_basis(
    case_id: int,
    request: Request,
    runtime: RuntimeDep,
    expected_version: Version = "",
    party: Short = "",
    basis: Short = "",
    justification: Text = "",
) -> Response:
    values = {"party": party, "basis": basis, "justification": justification}
    data: dict[str, Any] = {
        "party": party or None,
        "basis": basis or None,
        "justification": justification.strip(),
    }

    def change(db: Session, case: Case, session: Principal, version: int) -> None:
        body = LegalBasisBody.model_validate({**data, "expected_version": version})
        service.record_legal_basis(
            db,
            runtime.cipher,
            case,
            party=body.party,
            basis=body.basis,
            justification=body.justification,
            actor=session.actor,
            subject=body.subject,
            expected_version=version,
            limits=limits(runtime),
        )

    return _submit(
        request,
        runtime,
        case_id,
        version_raw=expected_version,
        form="legal_basis",
        values=values,
        change=change,
        done="opgeslagen",
        anchor="consent-title",
        messages={"party": "err_party", "basis": "err_basis", "justification": "err_justification"},
        body=LegalBasisBody,
        data=data,
    )


@router.post("/cases/{case_id}/legal-bases/{basis_id}/revoke")
def revoke_basis(
    case_id: int,
    basis_id: int,
    request: Request,
    runtime: RuntimeDep,
    expected_version: Version = "",
) -> Response:
    def change(db: Session, case: Case, session: Principal, version: int) -> None:
        service.revoke_legal_basis(
            db, runtime.cipher, case, basis_id=basis_id, actor=session.actor, limits=limits(runtime)
        )

    return _submit(
        request,
        runtime,
        case_id,
        version_raw=expected_version,
        form="revoke",
        values={},
        change=change,
        done="opgeslagen",
        anchor="consent-title",
    )


@router.post("/cases/{case_id}/intake")
def request_intake(
    case_id: int, request: Request, runtime: RuntimeDep, expected_version: Version = ""
) -> Response:
    def change(db: Session, case: Case, session: Principal, version: int) -> None:
        intake.request_intake(
            db, runtime.cipher, case, actor=session.actor, expected_version=version, limits=limits(runtime)
        )

    return _submit(
        request,
        runtime,
        case_id,
        version_raw=expected_version,
        form="intake",
        values={},
        change=change,
        done="intake",
        anchor="intake-title",
        messages={"consent": "err_intake_no_ground"},
    )


def _local_datetime(raw: str) -> datetime | None:
    """A `datetime-local` value (the ED's wall clock) as an aware instant."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=LOCAL)


@router.post("/cases/{case_id}/intake/agreed-time")
def agree_time(
    case_id: int,
    request: Request,
    runtime: RuntimeDep,
    expected_version: Version = "",
    agreed_at: Short = "",
) -> Response:
    when = _local_datetime(agreed_at)
    data = {"agreed_at": when}

    def change(db: Session, case: Case, session: Principal, version: int) -> None:
        assert when is not None  # ScheduleBody refused a missing time
        intake.agree_time(
            db,
            runtime.cipher,
            case,
            agreed_at=when,
            actor=session.actor,
            expected_version=version,
            limits=limits(runtime),
        )

    return _submit(
        request,
        runtime,
        case_id,
        version_raw=expected_version,
        form="agree",
        values={"agreed_at": agreed_at},
        change=change,
        done="tijd",
        anchor="intake-title",
        messages={"agreed_at": "err_agreed_at", "state": "err_waiting_acks"},
        body=ScheduleBody,
        data=data,
    )


@router.post("/cases/{case_id}/transitions")
def transition(
    case_id: int,
    request: Request,
    runtime: RuntimeDep,
    expected_version: Version = "",
    action: Short = "",
    reason: Text = "",
) -> Response:
    data = {"action": action, "reason": reason.strip()}

    def change(db: Session, case: Case, session: Principal, version: int) -> None:
        chosen = Action(action)
        if chosen is Action.COMPLETE_INTAKE:
            intake.complete_intake(
                db, runtime.cipher, case, actor=session.actor, expected_version=version, reason=reason.strip()
            )
        elif chosen is Action.CANCEL_INTAKE:
            intake.cancel_intake(
                db, runtime.cipher, case, reason=reason.strip(), actor=session.actor, expected_version=version
            )
        elif chosen is Action.COMPLETE_DISCHARGE_CHECK:
            complete_discharge_check(db, runtime.cipher, case, actor=session.actor, expected_version=version)
        else:
            service.close(
                db, runtime.cipher, case, actor=session.actor, expected_version=version, reason=reason.strip()
            )

    done = {"complete_discharge_check": "ontslag", "close": "gesloten"}.get(action, "opgeslagen")
    return _submit(
        request,
        runtime,
        case_id,
        version_raw=expected_version,
        form=action,
        values={"reason": reason},
        change=change,
        done=done,
        anchor="discharge-title" if action in ("complete_discharge_check", "close") else "intake-title",
        messages={"reason": "err_reason", "checklist": "err_checklist", "state": "err_state_step"},
        body=TransitionBody,
        data=data,
    )


@router.post("/cases/{case_id}/discharge-check")
def discharge_check(
    case_id: int,
    request: Request,
    runtime: RuntimeDep,
    expected_version: Version = "",
    safe_home_question_asked: Short = "",
    safe_home_answer: Short = "",
    destination: Short = "",
    safety_plan_agreed: Short = "",
    huisverbod_considered: Short = "",
    children_safety_arranged: Short = "",
    follow_up_appointment: Annotated[str, Form(max_length=2000)] = "",
    hand_over_to: Annotated[list[str], Form()] = [],  # noqa: B006
    notes: Text = "",
) -> Response:
    data: dict[str, Any] = {
        "safe_home_question_asked": safe_home_question_asked == "true",
        "safe_home_answer": safe_home_answer or None,
        "destination": destination or None,
        "safety_plan_agreed": safety_plan_agreed == "true",
        "huisverbod_considered": huisverbod_considered == "true",
        "children_safety_arranged": True if children_safety_arranged == "true" else None,
        "follow_up_appointment": follow_up_appointment.strip(),
        "hand_over_to": hand_over_to,
        "notes": notes,
    }

    def change(db: Session, case: Case, session: Principal, version: int) -> None:
        record_discharge_check(
            db, runtime.cipher, case, DischargeChecklist.model_validate(data), actor=session.actor
        )

    return _submit(
        request,
        runtime,
        case_id,
        version_raw=expected_version,
        form="discharge",
        values={},
        change=change,
        done="opgeslagen",
        anchor="discharge-title",
        body=_DischargeBody,
        data=data,
    )


class _DischargeBody(DischargeChecklist):
    """The checklist as the API takes it, plus the version the page was filled in on."""

    expected_version: int


# --- the melding ---------------------------------------------------------------------------------------


def _melding_guard(request: Request, runtime: Runtime) -> Principal | Response:
    session = current_session(request, runtime)
    if session is None:
        return redirect("/login")
    if not session.is_ed_staff:
        return not_ed_staff(request, session)
    return session


@router.post("/cases/{case_id}/melding")
def prepare_melding(
    case_id: int, request: Request, runtime: RuntimeDep, expected_version: Version = ""
) -> Response:
    def change(db: Session, case: Case, session: Principal, version: int) -> None:
        melding.create_draft(db, runtime.cipher, case, actor=session.actor)

    return _submit(
        request,
        runtime,
        case_id,
        version_raw=expected_version,
        form="melding",
        values={},
        change=change,
        done="melding",
        anchor="melding-title",
        messages={"meldcode": "err_melding_step5"},
    )


@router.post("/cases/{case_id}/melding/edit")
def edit_melding(
    case_id: int,
    request: Request,
    runtime: RuntimeDep,
    revision: Short = "",
    melder_name: Annotated[str, Form(max_length=2000)] = "",
    melder_phone: Annotated[str, Form(max_length=2000)] = "",
    facts: Text = "",
    interpretation: Text = "",
    support_network: Text = "",
    other_information: Text = "",
) -> Response:
    guarded = _melding_guard(request, runtime)
    if isinstance(guarded, Response):
        return guarded
    session = guarded
    tr = translator(request)
    values = {
        "melder_name": melder_name,
        "melder_phone": melder_phone,
        "facts": facts,
        "interpretation": interpretation,
        "support_network": support_network,
        "other_information": other_information,
    }
    errors: dict[str, str] = {}
    if len(melder_name) > 200:
        errors["melder.name"] = tr.t("err_too_long", max=200)
    for name, value in (("facts", facts), ("interpretation", interpretation)):
        if len(value) > NOTE_MAX:
            errors[name] = tr.t("err_too_long", max=NOTE_MAX)
    if errors:
        return render_case(
            request,
            runtime,
            session,
            case_id,
            Outcome(422, field_errors=errors, values=values, form="melding"),
        )

    def change(db: Session, case: Case) -> None:
        row = melding.get_melding(db, case.id)
        current = melding.read_content(runtime.cipher, row) if row else None
        melder = current.melder if current else MelderDetails(name=melder_name.strip())
        patch = MeldingPatch(
            melder=melder.model_copy(update={"name": melder_name.strip(), "phone": melder_phone.strip()}),
            facts=_lines(facts),
            interpretation=interpretation.strip(),
            support_network=support_network.strip(),
            other_information=other_information.strip(),
        )
        melding.edit(
            db,
            runtime.cipher,
            case,
            patch,
            actor=session.actor,
            revision=int(revision) if revision.isdigit() else None,
        )

    outcome = act(runtime, tr, case_id, change, {"revision": "err_melding_revision"}, caller=session)
    if outcome is not None:
        outcome.form, outcome.values = "melding", values
        return render_case(request, runtime, session, case_id, outcome)
    return redirect(f"/cases/{case_id}?gedaan=opgeslagen#melding-title")


@router.post("/cases/{case_id}/melding/approve")
def approve_melding(case_id: int, request: Request, runtime: RuntimeDep, revision: Short = "") -> Response:
    guarded = _melding_guard(request, runtime)
    if isinstance(guarded, Response):
        return guarded
    session = guarded
    tr = translator(request)

    def change(db: Session, case: Case) -> None:
        melding.approve(
            db,
            runtime.cipher,
            case,
            actor=session.actor,
            revision=int(revision) if revision.isdigit() else None,
        )

    outcome = act(runtime, tr, case_id, change, caller=session)
    if outcome is not None:
        # Every refusal of an approval belongs next to its button: what is missing, or the ground.
        outcome.form = "approve"
        outcome.field_errors = {"approve": outcome.banner or tr.t("err_melding_incomplete")}
        outcome.banner = ""
        return render_case(request, runtime, session, case_id, outcome)
    return redirect(f"/cases/{case_id}?gedaan=goedgekeurd#melding-title")


@router.get("/cases/{case_id}/melding.pdf")
def melding_pdf(case_id: int, request: Request, runtime: RuntimeDep) -> Response:
    """The melding as Veilig Thuis will receive it, shown in the browser (the read is audited)."""
    session = current_session(request, runtime)
    if session is None:
        return to_login(request)
    if not session.is_ed_staff:
        return not_ed_staff(request, session)
    with runtime.db.write() as db:
        case = db.get(Case, case_id)
        row = melding.get_melding(db, case_id) if case is not None else None
        if case is None or row is None:
            return Response(status_code=404, headers={"Cache-Control": "no-store"})
        audit_read(
            db,
            session,
            resource_type="Melding",
            resource_id=row.id,
            patient_ref=case.patient_ref,
        )
        pdf = render_pdf(melding.read_content(runtime.cipher, row), melding.metadata(case, row))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="melding-{case.reference}.pdf"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
