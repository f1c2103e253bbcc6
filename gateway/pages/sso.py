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
from gateway.pages.views import _page, _redirect
from identity import oidc, pending, sessions, smart
from identity import service as identity_service
from identity.deps import actor_label, client_of, lifetimes
from identity.models import AuthMethod, Role
from store import audit

log = logging.getLogger(__name__)
router = APIRouter(tags=["pages"], include_in_schema=False)

KNOWN_ROLES = frozenset(r.value for r in Role)
_CODE_MAX = 2000

_NOT_CONFIGURED = {
    "title": "Inloggen via het ziekenhuis is niet ingesteld",
    "message": "Deze installatie gebruikt geen inlogdienst van het ziekenhuis. Log in met uw gebruikersnaam "
    "en wachtwoord.",
}
_PROVIDER_DOWN = {
    "title": "Inlogdienst niet bereikbaar",
    "message": "De inlogdienst van het ziekenhuis antwoordt nu niet zoals verwacht. Probeer het over een "
    "paar minuten opnieuw; lukt het dan nog niet, meld het bij de servicedesk.",
}
_START_AGAIN = {
    "title": "Inlogpoging verlopen",
    "message": "Deze inlogpoging is verlopen of hoort niet bij deze browser. Er is niets gewijzigd. "
    "Begin opnieuw bij de inlogpagina of de link in het EPD.",
}
_LOGIN_FAILED = {
    "title": "Inloggen is niet gelukt",
    "message": "De inlogdienst heeft uw inlog niet bevestigd. Er is niets gewijzigd. Begin opnieuw; lukt het "
    "dan nog niet, meld het bij de servicedesk.",
}
_CANCELLED = {
    "title": "Inloggen afgebroken",
    "message": "De inlogdienst meldt dat het inloggen is afgebroken of geweigerd. Begin opnieuw als u wilt "
    "inloggen.",
}
_NO_ROLE = {
    "title": "Geen toegang tot Spoedplein",
    "message": "U bent bij het ziekenhuis bekend, maar u heeft geen rol in Spoedplein. Toegang krijgt u via "
    "de functionele beheerder, die uw groep aan een Spoedplein-rol koppelt.",
}
_DISABLED = {
    "title": "Account geblokkeerd",
    "message": "Uw Spoedplein-account is door de beheerder geblokkeerd. Neem contact op met de functionele "
    "beheerder.",
}
_LAUNCH_REFUSED = {
    "title": "Openen vanuit het EPD geweigerd",
    "message": "Spoedplein accepteert deze start vanuit het EPD niet: het EPD is niet als toegestaan "
    "ingesteld, of de link is onvolledig. Er is niets gewijzigd. Open de casus opnieuw via de kaart in het "
    "EPD; blijft dit gebeuren, meld het bij de servicedesk.",
}
_NOT_A_PRACTITIONER = {
    "title": "Alleen voor zorgverleners",
    "message": "Het EPD meldt niet dat u als zorgverlener bent ingelogd. Spoedplein opent een casus alleen "
    "voor zorgverleners.",
}
_NO_CASE = {
    "title": "Geen Spoedplein-casus",
    "message": "Er is voor deze patiënt en dit bezoek geen open Spoedplein-casus. U bent ingelogd; er is "
    "niets gewijzigd.",
}


def oidc_configured(runtime: Runtime) -> bool:
    return oidc.hospital_client(runtime.settings) is not None


def _role_map(runtime: Runtime) -> list[tuple[str, str]]:
    return oidc.parse_role_map(runtime.settings.oidc_role_map, KNOWN_ROLES)


def check_settings(runtime: Runtime) -> None:
    """Refuse to start with a role map that names an unknown role (ValueError), instead of refusing
    every login later."""
    _role_map(runtime)
    if runtime.settings.smart_role not in KNOWN_ROLES:
        raise ValueError(f"SPOEDPLEIN_SMART_ROLE: unknown role {runtime.settings.smart_role!r}")


def _audit_login(
    runtime: Runtime, request: Request, *, actor: str, resource_id: str | int, outcome: str, method: str
) -> None:
    with runtime.db.write() as db:
        audit.record(
            db,
            actor=actor,
            action=audit.AuditAction.CREATE,
            resource_type="Session" if outcome == "login" else "LoginAttempt",
            resource_id=resource_id,
            client=client_of(request),
            purpose=f"{method}:{outcome}",
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
    """Find or create the user, open a session and send the browser on (with the session cookie)."""
    client = client_of(request)
    with runtime.db.write() as db:
        user = identity_service.upsert_external_user(
            db, source=source, subject=subject, role=role, display_name=display_name
        )
        db.flush()
        actor = actor_label(user.id, user.display_name)
        if user.disabled:
            audit.record(
                db,
                actor=actor,
                action=audit.AuditAction.CREATE,
                resource_type="LoginAttempt",
                resource_id=user.id,
                client=client,
                purpose=f"{method.value}:refused:disabled",
            )
            return _page("message.html", 403, **_DISABLED)
        cookie = sessions.start(
            db, user, auth_method=method, client=client, now=runtime.clock.now(), lifetimes=lifetimes(runtime)
        )
        audit.record(
            db,
            actor=actor,
            action=audit.AuditAction.CREATE,
            resource_type="Session",
            resource_id=user.id,
            client=client,
            purpose=f"{method.value}:login",
        )
    response = _redirect(target)
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
        return _page("message.html", 404, **_NOT_CONFIGURED)
    try:
        metadata = oidc.discover(issuer)
    except oidc.LoginFailed as exc:
        log.warning("OIDC discovery failed: %s", exc.reason)
        return _page("message.html", 502, **_PROVIDER_DOWN)
    url, started = oidc.authorization_request(
        metadata,
        client,
        redirect_uri=f"{public_base(runtime)}/login/oidc/callback",
        scope=runtime.settings.oidc_scopes,
        extra={"flow": "oidc", "next": auth.safe_next(next, default="")},
    )
    response = _redirect(url)
    pending.keep(response, request, runtime.cipher, started, public_base_url=runtime.settings.public_base_url)
    return response


@router.get("/login/oidc/callback")
def oidc_callback(
    request: Request, runtime: RuntimeDep, code: str = "", state: str = "", error: str = ""
) -> Response:
    client = oidc.hospital_client(runtime.settings)
    issuer = runtime.settings.oidc_issuer
    if client is None or issuer is None:
        return _page("message.html", 404, **_NOT_CONFIGURED)
    started = pending.take(request, runtime.cipher, state[:200])
    if started is None or started.extra.get("flow") != "oidc":
        _audit_login(
            runtime, request, actor="unknown-user", resource_id="-", outcome="refused:state", method="oidc"
        )
        return _with_pending_cleared(_page("message.html", 400, **_START_AGAIN))
    if error or not code or len(code) > _CODE_MAX:
        _audit_login(
            runtime, request, actor="unknown-user", resource_id="-", outcome="refused:provider", method="oidc"
        )
        return _with_pending_cleared(_page("message.html", 401, **_CANCELLED))
    try:
        metadata = oidc.discover(issuer)
        token = oidc.exchange_code(
            metadata, client, started, code=code, redirect_uri=f"{public_base(runtime)}/login/oidc/callback"
        )
    except oidc.LoginFailed as exc:
        log.warning("OIDC login failed: %s", exc.reason)
        _audit_login(
            runtime, request, actor="unknown-user", resource_id="-", outcome="refused:token", method="oidc"
        )
        return _with_pending_cleared(_page("message.html", 401, **_LOGIN_FAILED))
    claims = token.claims
    subject = str(claims.get("sub", ""))
    role = oidc.map_role(claims, runtime.settings.oidc_role_claim, _role_map(runtime))
    if role is None:
        _audit_login(
            runtime,
            request,
            actor=f"oidc:{subject[:64]}",
            resource_id="-",
            outcome="refused:no-role",
            method="oidc",
        )
        return _with_pending_cleared(_page("message.html", 403, **_NO_ROLE))
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
        _audit_login(
            runtime, request, actor="unknown-user", resource_id="-", outcome="refused:launch", method="smart"
        )
        return _page("message.html", 400, **_LAUNCH_REFUSED)
    try:
        metadata = smart.discover(allowed)
    except oidc.LoginFailed as exc:
        log.warning("SMART discovery failed: %s", exc.reason)
        return _page("message.html", 502, **_PROVIDER_DOWN)
    url, started = oidc.authorization_request(
        metadata,
        client,
        redirect_uri=f"{public_base(runtime)}/launch/callback",
        scope=runtime.settings.smart_scopes,
        params={"aud": allowed, "launch": launch},
        extra={"flow": "smart", "iss": allowed},
    )
    response = _redirect(url)
    pending.keep(response, request, runtime.cipher, started, public_base_url=runtime.settings.public_base_url)
    return response


@router.get("/launch/callback")
def smart_callback(
    request: Request, runtime: RuntimeDep, code: str = "", state: str = "", error: str = ""
) -> Response:
    client = smart.client(runtime.settings)
    started = pending.take(request, runtime.cipher, state[:200])
    if client is None or started is None or started.extra.get("flow") != "smart":
        _audit_login(
            runtime, request, actor="unknown-user", resource_id="-", outcome="refused:state", method="smart"
        )
        return _with_pending_cleared(_page("message.html", 400, **_START_AGAIN))
    if error or not code or len(code) > _CODE_MAX:
        _audit_login(
            runtime,
            request,
            actor="unknown-user",
            resource_id="-",
            outcome="refused:provider",
            method="smart",
        )
        return _with_pending_cleared(_page("message.html", 401, **_CANCELLED))
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
        _audit_login(
            runtime, request, actor="unknown-user", resource_id="-", outcome="refused:token", method="smart"
        )
        return _with_pending_cleared(_page("message.html", 401, **_LOGIN_FAILED))
    if context.user_type not in {"Practitioner", "PractitionerRole"}:
        _audit_login(
            runtime,
            request,
            actor=f"smart:{context.subject[:64]}",
            resource_id="-",
            outcome="refused:not-a-practitioner",
            method="smart",
        )
        return _with_pending_cleared(_page("message.html", 403, **_NOT_A_PRACTITIONER))
    try:
        app_context = token.raw.get("appContext")
        case_id = case_for_launch(
            runtime, context, app_context=app_context if isinstance(app_context, str) else ""
        )
    except oidc.LoginFailed as exc:
        log.warning("SMART launch context could not be read: %s", exc.reason)
        return _with_pending_cleared(_page("message.html", 502, **_PROVIDER_DOWN))
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
    return _page("message.html", 200, **_NO_CASE)
