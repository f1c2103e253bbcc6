"""The paged party's pages, phone first: `/p/<token>` (the link in the SMS or e-mail) → `/p` (ask for a
one-time code, enter it) → the case as far as `decide_disclosure` allows this party → I come from hh:mm
/ I cannot, because … → the agreed intake time and the ED's address.

The link, cookie and code logic is notifications/landing.py; this module only renders. Nothing about
the case shows before the code is entered, and after it only the fields decide_disclosure allows the
page's party, asked at the moment the page is shown (consent withdrawn a minute ago hides them now).
Patient data shown is audited with the paged person as actor.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from consent.models import Party
from consent.service import DisclosureField, decide_disclosure
from core.deps import RuntimeDep
from core.runtime import Runtime
from gateway.pages import auth
from gateway.pages.labels import label
from gateway.pages.rendering import redirect, render, translator
from identity import service as identity_service
from identity import sessions
from identity.deps import actor_label, client_of, lifetimes, principal_from_cookie
from identity.models import AuthMethod, Role, User
from notifications import landing, links
from notifications.config import paging_config
from notifications.models import Page, PageRecipient, PageState
from store import audit
from workflows.cases import read_findings
from workflows.intake import parties
from workflows.models import Case, Intake

router = APIRouter(include_in_schema=False)

_PROBLEM = {
    links.LinkProblem.EXPIRED: "link_expired",
    links.LinkProblem.USED: "link_used",
    links.LinkProblem.BAD_SIGNATURE: "link_invalid",
    links.LinkProblem.MALFORMED: "link_invalid",
}
_SHOWN = (
    DisclosureField.CASE_REFERENCE,
    DisclosureField.INTAKE_TIME,
    DisclosureField.PATIENT_IDENTITY,
    DisclosureField.FINDINGS,
)


def _message(request: Request, key: str, status_code: int, **extra: Any) -> Response:
    tr = translator(request)
    return render(
        request, "party_message.html", status_code, here="/p", body_class="phone", message=tr.t(key), **extra
    )


@router.get("/p/{token}")
def open_link(token: str, request: Request, runtime: RuntimeDep) -> Response:
    claim = landing.open_link(runtime, token)
    if isinstance(claim, links.LinkProblem):
        return _message(request, _PROBLEM[claim], 410)
    response = redirect("/p")
    landing.set_cookie(response, runtime, page_id=claim.page_id, person=claim.person, verified=False)
    return response


def _party_of(page: Page, recipient: PageRecipient) -> Party | None:
    """The party a page speaks to: the page's own, or (a page to everyone coming, like the intake
    time) the party of the role the person was reached in."""
    for code in (page.party, recipient.role, "forensic" if recipient.role == "kinder_forensisch" else ""):
        if code in Party.__members__.values():
            return Party(code)
    return None


def shared_view(runtime: Runtime, page: Page, recipient: PageRecipient, *, client: str) -> dict[str, Any]:
    """What this page's party may see of its case now: each field through decide_disclosure."""
    view: dict[str, Any] = {
        "withheld": [],
        "reference": None,
        "intake_at": None,
        "patient": None,
        "findings": None,
    }
    if page.case_id is None:
        return view
    party = _party_of(page, recipient)
    if party is None:  # a page for a role that is no party (the coordinator): the reference only
        view["reference"] = page.case_reference
        return view
    with runtime.db.write() as db:
        case = db.get(Case, page.case_id)
        if case is None:
            return view
        allowed = {f: decide_disclosure(db, case_id=case.id, party=party, field=f).allowed for f in _SHOWN}
        view["withheld"] = [f.value for f, ok in allowed.items() if not ok]
        if allowed[DisclosureField.CASE_REFERENCE]:
            view["reference"] = case.reference
        asked = any(row.party == party.value and row.status != "cancelled" for row in parties(db, case.id))
        if allowed[DisclosureField.INTAKE_TIME] and asked:
            row = db.get(Intake, case.id)
            view["intake_at"] = row.agreed_at if row else None
            view["proposed_at"] = row.proposed_at if row else None
        if allowed[DisclosureField.PATIENT_IDENTITY]:
            from presentations import service as presentations

            record = presentations.latest_for_encounter(db, case.encounter_ref)
            if record is not None:
                patient = presentations.load(runtime.cipher, record).patient
                view["patient"] = {
                    "name": " ".join(p for p in (*patient.name.given, patient.name.family) if p),
                    "birth_date": patient.birth_date,
                }
        if allowed[DisclosureField.FINDINGS]:
            view["findings"] = read_findings(runtime.cipher, case)
        if allowed[DisclosureField.PATIENT_IDENTITY] or allowed[DisclosureField.FINDINGS]:
            audit.record(
                db,
                actor=f"{recipient.role}:{recipient.person}",
                action=audit.AuditAction.DISCLOSE,
                resource_type="Case",
                resource_id=case.id,
                patient_ref=case.patient_ref,
                client=client,
                purpose=f"page {page.id} for {party.value}",
                case_id=case.id,
            )
    return view


@router.get("/p")
def party_page(request: Request, runtime: RuntimeDep) -> Response:
    claim = landing.read_cookie(request, runtime)
    if claim is None:
        return _message(request, "link_again", 401)
    if not claim.verified:
        if logged_in_as(request, runtime, claim.person):
            # Logged in already as the very person the link was sent to: the login stands for the code.
            response = redirect("/p")
            landing.establish_session(response, runtime, page_id=claim.page_id, person=claim.person)
            return response
        return render(request, "party_code.html", here="/p", body_class="phone", step="ask", error="")
    found = landing.recipient_of(runtime, claim)
    if found is None:
        return _message(request, "page_gone", 404)
    page, recipient = found
    view = shared_view(runtime, page, recipient, client=request.client.host if request.client else "")
    return render(
        request,
        "party.html",
        here="/p",
        body_class="phone",
        page=page,
        recipient=recipient,
        view=view,
        active=page.state == PageState.ACTIVE,
        address=runtime.settings.ed_address,
        errors={},
        values={},
    )


@router.post("/p/code")
def send_code(request: Request, runtime: RuntimeDep) -> Response:
    claim = landing.read_cookie(request, runtime)
    if claim is None:
        return _message(request, "link_again", 401)
    result = landing.send_code(runtime, claim)
    if result is landing.CodeResult.NO_NUMBER:
        return _message(request, "code_no_number", 409)
    if result is landing.CodeResult.TOO_MANY:
        return _message(request, "code_too_many", 429)
    return render(request, "party_code.html", here="/p", body_class="phone", step="enter", error="")


@router.post("/p/verify")
def verify_code(
    request: Request, runtime: RuntimeDep, code: Annotated[str, Form(max_length=12)] = ""
) -> Response:
    claim = landing.read_cookie(request, runtime)
    if claim is None:
        return _message(request, "link_again", 401)
    if not landing.check_code(runtime, claim, code.strip()):
        tr = translator(request)
        return render(
            request,
            "party_code.html",
            403,
            here="/p",
            body_class="phone",
            step="enter",
            error=tr.t("code_wrong"),
        )
    response = redirect("/p")
    landing.establish_session(response, runtime, page_id=claim.page_id, person=claim.person)
    start_login_session(request, response, runtime, claim)
    return response


def logged_in_as(request: Request, runtime: Runtime, person: str) -> bool:
    """Is the browser's login session that of roster person `person` (the user their code made)?"""
    principal = principal_from_cookie(runtime, request.cookies.get(auth.COOKIE_NAME), client_of(request))
    if principal is None:
        return False
    with runtime.db.read() as db:
        user = db.get(User, principal.user_id)
        return user is not None and user.source == "roster" and user.external_subject == person


# The roster role a page went to → the identity role its person acts in.
_ROLE_OF = {
    "forensic": Role.FORENSIC,
    "kinder_forensisch": Role.FORENSIC,
    "veilig_thuis": Role.VEILIG_THUIS,
    "police": Role.POLICE,
    "csg": Role.CSG,
    "coordinator": Role.COORDINATOR,
}


def start_login_session(request: Request, response: Response, runtime: Runtime, claim: landing.Claim) -> None:
    """The code proved the person holds their registered phone: they get a real login session as
    themselves (a `roster` user, created on first sight, in the role they were paged for), so the audit
    trail names them and the other pages know them. A disabled user gets none; the page itself works."""
    found = landing.recipient_of(runtime, claim)
    if found is None:
        return
    _page, recipient = found
    role = _ROLE_OF.get(recipient.role)
    config = paging_config(runtime)
    person = config.roster.person(claim.person)
    if role is None or person is None:
        return
    now, client = runtime.clock.now(), client_of(request)
    with runtime.db.write() as db:
        user = identity_service.upsert_external_user(
            db,
            source="roster",
            subject=person.id,
            role=role,
            display_name=person.name or person.id,
            organisation=label("role", recipient.role),
            username=person.id,
        )
        if user.disabled:
            return
        sessions.revoke(db, request.cookies.get(auth.COOKIE_NAME), now=now)  # no session fixation
        cookie = sessions.start(
            db, user, auth_method=AuthMethod.PAGE_LINK, client=client, now=now, lifetimes=lifetimes(runtime)
        )
        audit.record(
            db,
            actor=actor_label(user.id, user.display_name),
            action=audit.AuditAction.LOGIN,
            resource_type="Session",
            resource_id=user.id,
            client=client,
            source=AuthMethod.PAGE_LINK.value,
            actor_role=user.role,
            actor_name=user.display_name,
        )
    auth.set_session_cookie(response, request, runtime, cookie)


@router.post("/p/answer")
def post_answer(
    request: Request,
    runtime: RuntimeDep,
    answer: Annotated[str, Form(max_length=10)] = "",
    at: Annotated[str, Form(max_length=5)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    claim = landing.read_cookie(request, runtime)
    if claim is None or not claim.verified:
        return _message(request, "code_first", 401)
    tr = translator(request)
    errors: dict[str, str] = {}
    earliest = None
    if answer == "ok":
        earliest = landing.earliest_instant(runtime, at)
        if earliest is None:
            errors["at"] = tr.t("err_arrival")
    elif answer == "nee":
        if not reason.strip():
            errors["reason"] = tr.t("err_decline_reason")
    else:
        errors["answer"] = tr.t("err_generic")
    if errors:
        found = landing.recipient_of(runtime, claim)
        if found is None:
            return _message(request, "page_gone", 404)
        page, recipient = found
        view = shared_view(runtime, page, recipient, client=request.client.host if request.client else "")
        return render(
            request,
            "party.html",
            422,
            here="/p",
            body_class="phone",
            page=page,
            recipient=recipient,
            view=view,
            active=page.state == PageState.ACTIVE,
            address=runtime.settings.ed_address,
            errors=errors,
            values={"at": at, "reason": reason},
        )
    if not landing.answer(
        runtime, claim, acknowledged=answer == "ok", earliest_at=earliest, reason=reason.strip()
    ):
        return _message(request, "page_gone", 404)
    return redirect("/p")
