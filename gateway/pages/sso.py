"""Logging in from outside: the hospital's OpenID Connect provider and the SMART App Launch from the EHR.

- `/login/oidc` → the provider → `/login/oidc/callback`: the person's role comes from a claim of the
  ID token (`SPOEDPLEIN_OIDC_ROLE_CLAIM`, mapped by `SPOEDPLEIN_OIDC_ROLE_MAP`); someone without a mapped
  role is refused with a Dutch page and no session.
- `/launch?iss=…&launch=…` (the EHR) → the EHR's authorization server → `/launch/callback`: the EHR's
  user becomes a session in `SPOEDPLEIN_SMART_ROLE` (physician) and lands on the case of the launched
  patient and encounter (`adapters/fhir/launch_case.py`), or on a page saying there is none.

Both end in the same server-side session as the local login (`identity.sessions`), for the user that
`identity.service.upsert_external_user` finds or creates by (issuer, subject). The protocol is in
`identity/oidc.py` and `identity/smart.py`; this module is the pages around it. Every login, refused
or not, is an audit entry; the reason a login failed goes to the log (never a token or a claim value),
the person gets a page that says what to do.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response

from adapters.fhir.cds.views import public_base
from adapters.fhir.launch_case import case_for_launch
from core.deps import RuntimeDep
from core.runtime import Runtime
from gateway.pages import auth
from gateway.pages.rendering import redirect, render, translator
from identity import oidc, pending, sessions, smart
from identity import service as identity_service
from identity.deps import actor_label, client_of, lifetimes
from identity.models import AuthMethod, Role
from store import audit

log = logging.getLogger(__name__)
router = APIRouter(tags=["pages"], include_in_schema=False)

KNOWN_ROLES = frozenset(r.value for r in Role)
_CODE_MAX = 2000


def _message(request: Request, status_code: int, key: str) -> Response:
    """A page with a title and one paragraph (`<key>_title`, `<key>` in the message catalogue)."""
    tr = translator(request)
    return render(request, "message.html", status_code, title=tr.t(f"{key}_title"), message=tr.t(key))


def _role_map(runtime: Runtime) -> list[tuple[str, str]]:
    return oidc.parse_role_map(runtime.settings.oidc_role_map, KNOWN_ROLES)


def check_settings(runtime: Runtime) -> None:
    """Refuse to start with a role map that names an unknown role (ValueError), instead of refusing
    every login later."""
    _role_map(runtime)
    if runtime.settings.smart_role not in KNOWN_ROLES:
        raise ValueError(f"SPOEDPLEIN_SMART_ROLE: unknown role {runtime.settings.smart_role!r}")


def _refused(runtime: Runtime, request: Request, method: AuthMethod, reason: str, who: str = "") -> None:
    """A refused login in the audit trail: how, why, and the outside subject when the provider told it."""
    with runtime.db.write() as db:
        audit.record(
            db,
            actor=f"{method.value}:{who[:64]}" if who else "unknown-user",
            action=audit.AuditAction.LOGIN_FAILED,
            outcome=audit.AuditOutcome.DENIED,
            resource_type="Session",
            resource_id="-",
            client=client_of(request),
            source=method.value,
            reason=reason,
        )


def _finish(
    runtime: Runtime,
    request: Request,
    *,
    source: str,
    subject: str,
    role: Role,
    display_name: str,
    method: AuthMethod,
    target: str,
) -> Response:
    """Find or create the user, open a session (ending any the browser had: no session fixation) and
    send the browser on with the session cookie."""
    client, now = client_of(request), runtime.clock.now()
    with runtime.db.write() as db:
        user = identity_service.upsert_external_user(
            db, source=source, subject=subject, role=role, display_name=display_name
        )
        db.flush()
        cookie = ""
        if not user.disabled:
            sessions.revoke(db, request.cookies.get(auth.COOKIE_NAME), now=now)
            cookie = sessions.start(
                db, user, auth_method=method, client=client, now=now, lifetimes=lifetimes(runtime)
            )
        audit.record(
            db,
            actor=actor_label(user.id, user.display_name),
            action=audit.AuditAction.LOGIN if cookie else audit.AuditAction.LOGIN_FAILED,
            outcome=audit.AuditOutcome.SUCCESS if cookie else audit.AuditOutcome.DENIED,
            resource_type="Session",
            resource_id=user.id,
            client=client,
            source=method.value,
            reason="" if cookie else "disabled",
            actor_role=user.role,
            actor_org=user.organisation,
            actor_name=user.display_name,
        )
    if not cookie:
        return _message(request, 403, "sso_disabled")
    # Not a redirect: the browser came here from the provider's site, and on a redirect chain that began
    # there it holds back the new SameSite=Strict session cookie. A page of ours that moves on by itself
    # (meta refresh, no script) makes the next request same-site, with the cookie.
    response = render(request, "sso_continue.html", target=target)
    auth.set_session_cookie(response, request, runtime, cookie)
    return response


def _with_pending_cleared(response: Response) -> Response:
    pending.forget(response)
    return response


# --- OpenID Connect login -------------------------------------------------------------------------------


@router.get("/login/oidc")
def oidc_start(request: Request, runtime: RuntimeDep, next: str = "") -> Response:
    client = oidc.hospital_client(runtime.settings)
    issuer = runtime.settings.oidc_issuer
    if client is None or issuer is None:
        return _message(request, 404, "sso_not_configured")
    try:
        metadata = oidc.discover(issuer)
    except oidc.LoginFailed as exc:
        log.warning("OIDC discovery failed: %s", exc.reason)
        return _message(request, 502, "sso_provider_down")
    url, started = oidc.authorization_request(
        metadata,
        client,
        redirect_uri=f"{public_base(runtime)}/login/oidc/callback",
        scope=runtime.settings.oidc_scopes,
        extra={"flow": "oidc", "next": auth.safe_next(next, default="")},
    )
    response = redirect(url)
    pending.keep(response, request, runtime.cipher, started, public_base_url=runtime.settings.public_base_url)
    return response


@router.get("/login/oidc/callback")
def oidc_callback(
    request: Request, runtime: RuntimeDep, code: str = "", state: str = "", error: str = ""
) -> Response:
    client = oidc.hospital_client(runtime.settings)
    issuer = runtime.settings.oidc_issuer
    if client is None or issuer is None:
        return _message(request, 404, "sso_not_configured")
    started = pending.take(request, runtime.cipher, state[:200])
    if started is None or started.extra.get("flow") != "oidc":
        _refused(runtime, request, AuthMethod.OIDC, "state")
        return _with_pending_cleared(_message(request, 400, "sso_start_again"))
    if error or not code or len(code) > _CODE_MAX:
        _refused(runtime, request, AuthMethod.OIDC, "provider")
        return _with_pending_cleared(_message(request, 401, "sso_cancelled"))
    try:
        metadata = oidc.discover(issuer)
        token = oidc.exchange_code(
            metadata, client, started, code=code, redirect_uri=f"{public_base(runtime)}/login/oidc/callback"
        )
    except oidc.LoginFailed as exc:
        log.warning("OIDC login failed: %s", exc.reason)
        _refused(runtime, request, AuthMethod.OIDC, "token")
        return _with_pending_cleared(_message(request, 401, "sso_failed"))
    claims = token.claims
    subject = str(claims.get("sub", ""))
    role = oidc.map_role(claims, runtime.settings.oidc_role_claim, _role_map(runtime))
    if role is None:
        _refused(runtime, request, AuthMethod.OIDC, "no-role", subject)
        return _with_pending_cleared(_message(request, 403, "sso_no_role"))
    finished = _finish(
        runtime,
        request,
        source=metadata.issuer,
        subject=subject,
        role=Role(role),
        display_name=oidc.display_name(claims),
        method=AuthMethod.OIDC,
        target=started.extra.get("next") or "/login",
    )
    return _with_pending_cleared(finished)


# --- SMART App Launch (EHR launch) ----------------------------------------------------------------------


@router.get("/launch")
def smart_launch(request: Request, runtime: RuntimeDep, iss: str = "", launch: str = "") -> Response:
    client = smart.client(runtime.settings)
    try:
        if client is None:
            raise smart.LaunchRefused("SMART not configured")
        allowed = smart.allowed_iss(runtime.settings, iss[:2000])
        smart.check_launch(launch)
    except smart.LaunchRefused as exc:
        # Nothing was fetched: an iss off the list is never contacted.
        log.warning("SMART launch refused: %s", exc)
        _refused(runtime, request, AuthMethod.SMART, "launch")
        return _message(request, 400, "sso_launch_refused")
    try:
        metadata = smart.discover(allowed)
    except oidc.LoginFailed as exc:
        log.warning("SMART discovery failed: %s", exc.reason)
        return _message(request, 502, "sso_provider_down")
    url, started = oidc.authorization_request(
        metadata,
        client,
        redirect_uri=f"{public_base(runtime)}/launch/callback",
        scope=runtime.settings.smart_scopes,
        params={"aud": allowed, "launch": launch},
        extra={"flow": "smart", "iss": allowed},
    )
    response = redirect(url)
    pending.keep(response, request, runtime.cipher, started, public_base_url=runtime.settings.public_base_url)
    return response


@router.get("/launch/callback")
def smart_callback(
    request: Request, runtime: RuntimeDep, code: str = "", state: str = "", error: str = ""
) -> Response:
    client = smart.client(runtime.settings)
    started = pending.take(request, runtime.cipher, state[:200])
    if client is None or started is None or started.extra.get("flow") != "smart":
        _refused(runtime, request, AuthMethod.SMART, "state")
        return _with_pending_cleared(_message(request, 400, "sso_start_again"))
    if error or not code or len(code) > _CODE_MAX:
        _refused(runtime, request, AuthMethod.SMART, "provider")
        return _with_pending_cleared(_message(request, 401, "sso_cancelled"))
    try:
        # The iss comes from our own encrypted cookie, checked against the list again (the list may
        # have changed in the ten minutes since).
        iss = smart.allowed_iss(runtime.settings, started.extra.get("iss", ""))
        metadata = smart.discover(iss)
        token = oidc.exchange_code(
            metadata, client, started, code=code, redirect_uri=f"{public_base(runtime)}/launch/callback"
        )
        context = smart.launch_context(iss, token)
    except (oidc.LoginFailed, smart.LaunchRefused) as exc:
        log.warning("SMART launch failed: %s", getattr(exc, "reason", exc))
        _refused(runtime, request, AuthMethod.SMART, "token")
        return _with_pending_cleared(_message(request, 401, "sso_failed"))
    if context.user_type not in {"Practitioner", "PractitionerRole"}:
        _refused(runtime, request, AuthMethod.SMART, "not-a-practitioner", context.subject)
        return _with_pending_cleared(_message(request, 403, "sso_not_a_practitioner"))
    try:
        app_context = token.raw.get("appContext")
        case_id = case_for_launch(
            runtime, context, app_context=app_context if isinstance(app_context, str) else ""
        )
    except oidc.LoginFailed as exc:
        log.warning("SMART launch context could not be read: %s", exc.reason)
        return _with_pending_cleared(_message(request, 502, "sso_provider_down"))
    finished = _finish(
        runtime,
        request,
        source=metadata.issuer,
        subject=context.subject,
        role=Role(runtime.settings.smart_role),
        display_name=context.name,
        method=AuthMethod.SMART,
        target=f"/cases/{case_id}" if case_id is not None else "/launch/geen-casus",
    )
    return _with_pending_cleared(finished)


@router.get("/launch/geen-casus")
def no_case(request: Request, runtime: RuntimeDep) -> Response:
    """Where a launch for a patient without an open case lands (a page, so a reload does not launch again)."""
    return _message(request, 200, "sso_no_case")
