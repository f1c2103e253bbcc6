"""Who may use which route, in one place: the policy layer every API route and page goes through.

Each route of the app has exactly one `Access` entry in `ROUTES` (a test reads the app's route list, so a
new route without an entry fails). The rules:

- ED staff (physician, coordinator, admin) use the ED's routes and see every ED case.
- An outside party (forensic, veilig_thuis, police, csg) sees a case only when it was paged for it
  (a `page` row of that party for the case), only through the routes marked `CASE_PARTY`, only for its
  own party, and only the fields `decide_disclosure` allows it; a case with nothing it may see (the
  victim refused that party and there is no legal basis) is refused.
- `integration` (the EHR, the SMS gateway) uses the feed and FHIR routes, not the people's routes.
- Break-the-glass: a physician's or coordinator's scope is the open cases and the cases dismissed or
  closed less than `SPOEDPLEIN_CASE_SCOPE_AFTER_CLOSE_HOURS` ago. An older case opens only with a reason
  (at least `REASON_MIN` characters): a page login asks for it and keeps a grant for the session, for
  `SPOEDPLEIN_BREAK_GLASS_MINUTES`; an API user sends it with every such request (`X-Break-Glass-Reason`).
  The reason is an audit entry (`break_glass`), and every read under it carries the purpose
  `break-the-glass` and the reason. Administrators are not narrowed (the shared bootstrap token acts
  as one); outside parties cannot break the glass (their scope is what they were paged for).

A refusal is a 403 and an audit entry (outcome `denied`) written in its own transaction, so it stays
when the request's own transaction rolls back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.routing import compile_path

from consent.models import Party
from consent.service import DisclosureField, decide_disclosure
from core.deps import audit_access
from core.runtime import Runtime
from core.settings import Settings
from identity.deps import Principal
from identity.models import ED_ROLES, Role
from identity.service import clean_text
from notifications.models import Page
from store import audit
from store.db import get_by_id
from workflows.models import OPEN_STATES, BreakGlassGrant, Case


class Access(StrEnum):
    PUBLIC = "public"  # no login (or the route checks its own credential: a signed link, a JWT, a signature)
    ED = "ed"  # ED staff
    ED_OR_INTEGRATION = "ed_or_integration"  # ED staff and machines (feeds, FHIR)
    CASE = "case"  # one case, ED staff only
    CASE_PARTY = (
        "case_party"  # one case: ED staff, or the party paged for it (its own party, what it may see)
    )
    COORDINATION = "coordination"  # the coordinator's oversight pages: coordinator and administrator


BREAK_GLASS_PURPOSE = "break-the-glass"
REASON_MIN = 10
REASON_MAX = 500
# ED staff whose case scope is narrowed (everyone in ED_ROLES but the administrator).
SCOPED_ROLES = frozenset({Role.PHYSICIAN, Role.COORDINATOR})


PARTY_OF_ROLE: dict[Role, Party] = {
    Role.FORENSIC: Party.FORENSIC,
    Role.VEILIG_THUIS: Party.VEILIG_THUIS,
    Role.POLICE: Party.POLICE,
    Role.CSG: Party.CSG,
}

_CASE = "/api/cases/{case_id}"
# (method, path) → access. HEAD follows GET.
ROUTES: dict[tuple[str, str], Access] = {
    # the API docs and health: public by design (no data)
    ("GET", "/openapi.json"): Access.PUBLIC,
    ("GET", "/docs"): Access.PUBLIC,
    ("GET", "/docs/oauth2-redirect"): Access.PUBLIC,
    ("GET", "/static-offline-docs"): Access.PUBLIC,
    ("GET", "/healthz"): Access.PUBLIC,
    ("GET", "/readyz"): Access.PUBLIC,
    # metrics check their own credential: an admin or integration token, or an allowed network (metrics.py)
    ("GET", "/metrics"): Access.PUBLIC,
    ("GET", "/fhir/metadata"): Access.PUBLIC,  # the CapabilityStatement: FHIR clients read it first
    # CDS Hooks: the EHR's signed JWT is the credential (adapters/fhir/cds/auth.py)
    ("GET", "/cds-services"): Access.PUBLIC,
    ("POST", "/cds-services/{service_id}"): Access.PUBLIC,
    ("POST", "/cds-services/{service_id}/feedback"): Access.PUBLIC,
    ("GET", "/api/cds/statistics"): Access.ED,
    # feeds and FHIR
    ("GET", "/api/messages"): Access.ED_OR_INTEGRATION,
    ("GET", "/api/messages/counts"): Access.ED_OR_INTEGRATION,
    ("GET", "/api/messages/{message_id}"): Access.ED_OR_INTEGRATION,
    ("POST", "/fhir/subscription-hook"): Access.ED_OR_INTEGRATION,
    ("GET", "/api/fhir/subscriptions"): Access.ED_OR_INTEGRATION,
    ("POST", "/fhir"): Access.ED_OR_INTEGRATION,
    ("POST", "/fhir/{resource_type}"): Access.ED_OR_INTEGRATION,
    ("PUT", "/fhir/{resource_type}/{resource_id}"): Access.ED_OR_INTEGRATION,
    ("GET", "/fhir/{resource_type}/{resource_id}"): Access.ED_OR_INTEGRATION,
    ("GET", "/fhir/{resource_type}"): Access.ED_OR_INTEGRATION,
    # presentations and cases
    ("GET", "/api/presentations"): Access.ED,
    ("GET", "/api/presentations/{presentation_id}"): Access.ED,
    ("GET", "/api/cases"): Access.ED,
    ("GET", "/api/cases/statistics/dismissals"): Access.ED,
    ("GET", _CASE): Access.CASE,
    ("GET", f"{_CASE}/workflow"): Access.CASE,
    ("POST", f"{_CASE}/confirm"): Access.CASE,
    ("POST", f"{_CASE}/dismiss"): Access.CASE,
    ("POST", f"{_CASE}/reopen"): Access.CASE,
    ("POST", f"{_CASE}/transitions"): Access.CASE,
    ("GET", f"{_CASE}/timeline"): Access.CASE,
    ("PUT", f"{_CASE}/meldcode/{{step}}"): Access.CASE,
    ("GET", f"{_CASE}/meldcode"): Access.CASE,
    ("PUT", f"{_CASE}/kindcheck"): Access.CASE,
    ("POST", f"{_CASE}/consents"): Access.CASE,
    ("POST", f"{_CASE}/legal-bases"): Access.CASE,
    ("POST", f"{_CASE}/legal-bases/{{basis_id}}/revoke"): Access.CASE,
    ("GET", f"{_CASE}/consents"): Access.CASE,
    ("GET", f"{_CASE}/disclosure"): Access.CASE,
    ("GET", f"{_CASE}/shared-view/{{party}}"): Access.CASE_PARTY,
    ("GET", f"{_CASE}/intake"): Access.CASE,
    ("POST", f"{_CASE}/intake"): Access.CASE,
    ("POST", f"{_CASE}/intake/acknowledgements/{{party}}"): Access.CASE_PARTY,
    ("POST", f"{_CASE}/intake/agreed-time"): Access.CASE,
    ("PUT", f"{_CASE}/discharge-check"): Access.CASE,
    ("GET", f"{_CASE}/discharge-check"): Access.CASE,
    ("POST", f"{_CASE}/melding"): Access.CASE,
    ("GET", f"{_CASE}/melding"): Access.CASE,
    ("PATCH", f"{_CASE}/melding"): Access.CASE,
    ("POST", f"{_CASE}/melding/approve"): Access.CASE,
    ("POST", f"{_CASE}/melding/delivery"): Access.CASE,
    ("GET", f"{_CASE}/melding.pdf"): Access.CASE,
    # paging
    ("GET", "/api/oncall"): Access.ED,
    ("GET", "/api/roster/changes"): Access.ED,
    ("POST", "/api/roster/overrides"): Access.ED,
    ("POST", "/api/roster/absences"): Access.ED,
    ("DELETE", "/api/roster/changes/{change_id}"): Access.ED,
    ("GET", "/api/pages"): Access.ED,
    ("GET", "/api/pages/{page_id}"): Access.ED,
    # the SMS provider's callbacks carry its signature (notifications/views.py)
    ("POST", "/webhooks/sms/reports"): Access.PUBLIC,
    ("GET", "/webhooks/sms/reports"): Access.PUBLIC,
    ("POST", "/webhooks/sms/inbound"): Access.PUBLIC,
    ("GET", "/webhooks/sms/inbound"): Access.PUBLIC,
    # page links: the signed single-use link and its one-time code are the credential
    ("GET", "/p/{token}"): Access.PUBLIC,
    ("GET", "/p"): Access.PUBLIC,
    ("POST", "/p/code"): Access.PUBLIC,
    ("POST", "/p/verify"): Access.PUBLIC,
    ("POST", "/p/answer"): Access.PUBLIC,
    # web pages
    ("GET", "/pages/static/{name}"): Access.PUBLIC,
    ("GET", "/kindcheck"): Access.PUBLIC,
    ("GET", "/login"): Access.PUBLIC,
    ("POST", "/login"): Access.PUBLIC,
    ("POST", "/login/code"): Access.PUBLIC,  # the second step of a login (its own encrypted cookie)
    ("POST", "/logout"): Access.PUBLIC,
    # hospital login (OIDC) and the SMART EHR launch: the identity provider / EHR authorises
    ("GET", "/login/oidc"): Access.PUBLIC,
    ("GET", "/login/oidc/callback"): Access.PUBLIC,
    ("GET", "/launch"): Access.PUBLIC,
    ("GET", "/launch/callback"): Access.PUBLIC,
    ("GET", "/launch/geen-casus"): Access.PUBLIC,
    ("GET", "/"): Access.PUBLIC,  # a redirect to the board (which asks for a login)
    ("GET", "/cases/{case_id}"): Access.CASE,
    ("POST", "/cases/{case_id}/confirm"): Access.CASE,
    ("POST", "/cases/{case_id}/dismiss"): Access.CASE,
    ("GET", "/cases/{case_id}/live"): Access.CASE,
    ("POST", "/cases/{case_id}/meldcode/{step}"): Access.CASE,
    ("POST", "/cases/{case_id}/kindcheck"): Access.CASE,
    ("POST", "/cases/{case_id}/consents"): Access.CASE,
    ("POST", "/cases/{case_id}/legal-bases"): Access.CASE,
    ("POST", "/cases/{case_id}/legal-bases/{basis_id}/revoke"): Access.CASE,
    ("POST", "/cases/{case_id}/intake"): Access.CASE,
    ("POST", "/cases/{case_id}/intake/agreed-time"): Access.CASE,
    ("POST", "/cases/{case_id}/transitions"): Access.CASE,
    ("POST", "/cases/{case_id}/discharge-check"): Access.CASE,
    ("POST", "/cases/{case_id}/melding"): Access.CASE,
    ("POST", "/cases/{case_id}/melding/edit"): Access.CASE,
    ("POST", "/cases/{case_id}/melding/approve"): Access.CASE,
    ("GET", "/cases/{case_id}/melding.pdf"): Access.CASE,
    ("GET", "/board"): Access.ED,
    ("GET", "/board/table"): Access.ED,
    ("GET", "/board/events"): Access.ED,
    ("GET", "/cases"): Access.ED,
    ("GET", "/api/figures"): Access.ED,
    ("GET", "/api/figures.csv"): Access.ED,
    ("GET", "/figures"): Access.ED,
    # break-the-glass: the reason form's answer (ED staff; the case's scope is what it opens) and the
    # coordinator's list of who broke the glass
    ("POST", "/cases/{case_id}/break-glass"): Access.ED,
    ("GET", "/break-glass"): Access.COORDINATION,
}

_COMPILED = [(method, compile_path(path)[0], access, path) for (method, path), access in ROUTES.items()]


def access_of(method: str, path: str) -> tuple[Access, dict[str, str]] | None:
    """The entry for a request (its access and path parameters), or None for a route without one."""
    method = "GET" if method == "HEAD" else method
    for entry_method, pattern, access, _ in _COMPILED:
        if entry_method != method:
            continue
        match: re.Match[str] | None = pattern.match(path)
        if match is not None:
            return access, match.groupdict()
    return None


@dataclass(frozen=True)
class Refusal:
    reason: str  # for the audit trail and the 403's detail (no patient data)
    case_id: int | None = None
    break_glass: bool = False  # ED staff outside their scope: a reason would open the case

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True)
class Glass:
    """A case outside the person's scope, opened with a reason: a page login's grant, or (`new`) the
    reason an API request sent, which is recorded as a `break_glass` entry when the request is allowed."""

    case_id: int
    reason: str
    patient_ref: str
    new: bool


def in_scope(case: Case, now: datetime, settings: Settings) -> bool:
    """Is the case within a physician's or coordinator's everyday scope (open, or recently closed)?"""
    if case.state in OPEN_STATES:
        return True
    return now - case.updated_at <= timedelta(hours=settings.case_scope_after_close_hours)


def clean_reason(raw: str) -> str:
    return clean_text(raw, limit=REASON_MAX)


def decide(
    runtime: Runtime, principal: Principal, method: str, path: str, *, break_glass_reason: str = ""
) -> Refusal | Glass | None:
    """None when `principal` may make this request, a `Glass` when only its reason opens the case, else
    why not. Reads only."""
    found = access_of(method, path)
    if found is None:
        # A route without an entry (the table test keeps this from shipping): ED staff only.
        return None if principal.role in ED_ROLES else Refusal("route without an access entry")
    access, params = found
    role = principal.role
    if access == Access.PUBLIC:
        return None
    if role in ED_ROLES:
        if access == Access.COORDINATION and role not in (Role.COORDINATOR, Role.ADMIN):
            return Refusal(f"role {role.value} does not coordinate")
        if access in (Access.CASE, Access.CASE_PARTY) and role in SCOPED_ROLES:
            return _scope(runtime, principal, _int(params.get("case_id")), break_glass_reason)
        return None
    if access == Access.ED_OR_INTEGRATION:
        return None if role == Role.INTEGRATION else Refusal(f"role {role.value} does not use this route")
    if access in (Access.ED, Access.COORDINATION):
        return Refusal(f"role {role.value} is not ED staff")
    case_id = _int(params.get("case_id"))
    party = PARTY_OF_ROLE.get(role)
    if access == Access.CASE or party is None:
        return Refusal(f"role {role.value} sees a case only through its party's view", case_id)
    if params.get("party") != party.value:
        return Refusal(f"role {role.value} acts only for its own party", case_id)
    if case_id is None:
        return Refusal("no such case")
    with runtime.db.read() as db:
        paged = db.execute(
            select(Page.id).where(Page.case_id == case_id, Page.party == party.value).limit(1)
        ).first()
        if paged is None:
            return Refusal(f"{party.value} was not paged for this case", case_id)
        if not any(
            decide_disclosure(db, case_id=case_id, party=party, field=field).allowed
            for field in DisclosureField
        ):
            return Refusal(f"nothing of this case may be disclosed to {party.value}", case_id)
    return None


def _scope(
    runtime: Runtime, principal: Principal, case_id: int | None, header: str
) -> Refusal | Glass | None:
    if case_id is None:
        return None  # the handler answers 404
    now = runtime.clock.now()
    with runtime.db.read() as db:
        case = db.get(Case, case_id)
        if case is None or in_scope(case, now, runtime.settings):
            return None
        if principal.session_id:
            grant = db.execute(
                select(BreakGlassGrant.reason)
                .where(
                    BreakGlassGrant.session_id == principal.session_id,
                    BreakGlassGrant.case_id == case_id,
                    BreakGlassGrant.expires_at > now,
                )
                .order_by(BreakGlassGrant.id.desc())
                .limit(1)
            ).scalar_one_or_none()
            if grant is not None:
                return Glass(case_id, grant, case.patient_ref, new=False)
        patient_ref = case.patient_ref
    reason = clean_reason(header)
    if not reason:
        return Refusal("this case is outside your scope: give a break-the-glass reason", case_id, True)
    if len(reason) < REASON_MIN:
        return Refusal(f"the break-the-glass reason needs at least {REASON_MIN} characters", case_id, True)
    return Glass(case_id, reason, patient_ref, new=True)


def _record_glass(db: Session, principal: Principal, glass: Glass, source: str) -> None:
    audit_access(
        db,
        principal,
        audit.AuditAction.BREAK_GLASS,
        resource_type="Case",
        resource_id=glass.case_id,
        patient_ref=glass.patient_ref,
        case_id=glass.case_id,
        source=source,
        purpose=BREAK_GLASS_PURPOSE,
        reason=glass.reason,
    )


def break_glass(runtime: Runtime, principal: Principal, case_id: int, raw_reason: str) -> Refusal | None:
    """A page login breaks the glass on a case: with a reason of at least `REASON_MIN` characters, a
    grant for this session (`SPOEDPLEIN_BREAK_GLASS_MINUTES`) and a `break_glass` audit entry; else why
    not (nothing is written). A case within scope needs no grant (None, nothing written)."""
    if principal.role not in SCOPED_ROLES or principal.session_id is None:
        return None
    decided = _scope(runtime, replace(principal, session_id=None), case_id, raw_reason)
    if not isinstance(decided, Glass):
        return decided
    now = runtime.clock.now()
    with runtime.db.write() as db:
        db.add(
            BreakGlassGrant(
                session_id=principal.session_id,
                user_id=principal.user_id,
                case_id=case_id,
                reason=decided.reason,
                granted_at=now,
                expires_at=now + timedelta(minutes=runtime.settings.break_glass_minutes),
            )
        )
        _record_glass(db, principal, decided, "page")  # the grant and its audit entry commit together
    return None


def record_refusal(runtime: Runtime, principal: Principal, method: str, path: str, refusal: Refusal) -> None:
    """The audit entry of a refused request, in its own transaction (it stays when the request's own
    transaction rolls back)."""
    with runtime.db.write() as db:
        case = get_by_id(db, Case, refusal.case_id) if refusal.case_id is not None else None
        audit.record(
            db,
            actor=principal.actor,
            action=audit.AuditAction.READ if method in ("GET", "HEAD") else audit.AuditAction.UPDATE,
            outcome=audit.AuditOutcome.DENIED,
            resource_type="Case" if refusal.case_id is not None else "Route",
            resource_id=refusal.case_id
            if refusal.case_id is not None
            else f"{method} {_route_of(method, path)}",
            patient_ref=case.patient_ref if case is not None else "",
            case_id=refusal.case_id if refusal.case_id is not None else "",
            client=principal.client,
            reason=refusal.reason,
            source=principal.auth_method.value,
            actor_role=principal.role.value,
            actor_org=principal.organisation,
            actor_name=principal.display_name,
        )


def check(
    runtime: Runtime, principal: Principal, method: str, path: str, *, break_glass_reason: str = ""
) -> Principal | Refusal:
    """`decide`: the principal to act as (with the break-the-glass purpose and reason when a reason
    opened the case; a new reason is recorded first), or the refusal, recorded in the audit trail."""
    decided = decide(runtime, principal, method, path, break_glass_reason=break_glass_reason)
    if isinstance(decided, Refusal):
        record_refusal(runtime, principal, method, path, decided)
        return decided
    if decided is None:
        return principal
    if decided.new:
        with runtime.db.write() as db:
            _record_glass(db, principal, decided, principal.auth_method.value)
    return replace(principal, purpose=BREAK_GLASS_PURPOSE, reason=decided.reason)


def _route_of(method: str, path: str) -> str:
    # The route template, not the path: a path may carry ids; the template names only the route.
    method = "GET" if method == "HEAD" else method
    for entry_method, pattern, _, template in _COMPILED:
        if entry_method == method and pattern.match(path):
            return template
    return "(unknown route)"


def _int(raw: str | None) -> int | None:
    return int(raw) if raw is not None and raw.isdigit() and 0 < int(raw) < 2**63 else None
