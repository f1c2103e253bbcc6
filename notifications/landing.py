"""Where a page's link lands (`/p/<token>`): the signed link is checked and used up at once, exchanged for
a short cookie, and the page shows nothing of the case until the person logs in or enters a one-time code
sent to their registered number. Then: the case's opaque reference, the urgency, the role asked, and the
answer form (I come, from …; I cannot).

The cookie is HMAC-signed, HttpOnly and SameSite=Strict (a form posted from another site carries no
cookie, so needs no CSRF token of its own). Creating a full login session from here is the identity
package's job: `establish_session` is the one place that will call it.
"""

from __future__ import annotations

import html
import logging
from datetime import datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from core.deps import RuntimeDep
from notifications import links, service, texts
from notifications.channels.base import OutboundMessage
from notifications.config import paging_config
from notifications.models import Page, PageRecipient, PageState, Urgency
from notifications.roster import local_instant

log = logging.getLogger(__name__)
router = APIRouter(tags=["page links"], include_in_schema=False)
COOKIE = "spoedplein_oproep"

_PROBLEM_NL = {
    links.LinkProblem.EXPIRED: "Deze link is verlopen (een link is 10 minuten geldig).",
    links.LinkProblem.USED: "Deze link is al gebruikt (een link werkt één keer).",
    links.LinkProblem.BAD_SIGNATURE: "Deze link is niet geldig.",
    links.LinkProblem.MALFORMED: "Deze link is niet geldig.",
}


def _html(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    page = (
        "<!doctype html><html lang='nl'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title></head><body><main><h1>{html.escape(title)}</h1>{body}"
        "<p><a href='/login'>Inloggen</a></p></main></body></html>"
    )
    return HTMLResponse(page, status_code=status_code, headers={"Cache-Control": "no-store"})


def _cookie_key(runtime: Any) -> bytes:
    return links.derive_key(runtime, "page-cookie")


def _set_cookie(response: Response, runtime: Any, *, page_id: int, person: str, verified: bool) -> None:
    expires = runtime.clock.now() + links.COOKIE_TTL
    value = links.sign(
        _cookie_key(runtime), {"p": page_id, "r": person, "v": verified, "e": int(expires.timestamp())}
    )
    response.set_cookie(
        COOKIE,
        value,
        max_age=int(links.COOKIE_TTL.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=runtime.settings.public_base_url is not None
        and runtime.settings.public_base_url.startswith("https"),
        path="/p",
    )


def _cookie(request: Request, runtime: Any) -> dict[str, Any] | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    claim = links.unsign(_cookie_key(runtime), raw)
    if isinstance(claim, links.LinkProblem) or int(claim.get("e", 0)) <= runtime.clock.now().timestamp():
        return None
    return claim


def establish_session(response: Response, runtime: Any, *, page_id: int, person: str) -> None:
    """The person proved they hold the registered number. For now: a verified page cookie (this page only).
    When identity/ offers it, a login session for `person` (the roster id is the username) starts here."""
    _set_cookie(response, runtime, page_id=page_id, person=person, verified=True)


@router.get("/p/{token}")
def open_link(token: str, runtime: RuntimeDep) -> Response:
    now = runtime.clock.now()
    claim = links.verify(links.derive_key(runtime, "page-link"), token, now=now)
    if isinstance(claim, links.LinkProblem):
        return _html("Spoedplein-oproep", f"<p>{_PROBLEM_NL[claim]}</p>", status_code=410)
    with runtime.db.write() as session:
        problem = links.consume(session, claim, now=now)
    if problem is not None:
        return _html("Spoedplein-oproep", f"<p>{_PROBLEM_NL[problem]}</p>", status_code=410)
    response = RedirectResponse("/p", status_code=303)
    _set_cookie(response, runtime, page_id=claim.page_id, person=claim.person, verified=False)
    return response


def _recipient(runtime: Any, claim: dict[str, Any]) -> tuple[Page, PageRecipient] | None:
    with runtime.db.read() as session:
        page = session.get(Page, int(claim["p"]))
        recipient = session.execute(
            select(PageRecipient).where(
                PageRecipient.page_id == int(claim["p"]), PageRecipient.person == str(claim["r"])
            )
        ).scalar_one_or_none()
        return (page, recipient) if page is not None and recipient is not None else None


_ASK_CODE = (
    "<p>U bent opgeroepen via Spoedplein. Log in om de oproep te zien, of vraag een eenmalige code aan; "
    "die komt per SMS naar uw geregistreerde nummer.</p>"
    "<form method='post' action='/p/code'><button>Stuur mij een code</button></form>"
)
_ENTER_CODE = (
    "<form method='post' action='/p/verify'><label>Code uit de SMS <input name='code' inputmode='numeric' "
    "autocomplete='one-time-code' maxlength='6' required></label> <button>Bevestig</button></form>"
)


@router.get("/p")
def landing(request: Request, runtime: RuntimeDep) -> Response:
    claim = _cookie(request, runtime)
    if claim is None:
        return _html(
            "Spoedplein-oproep", "<p>Open de link uit uw oproep opnieuw, of log in.</p>", status_code=401
        )
    if not claim.get("v"):
        return _html("Spoedplein-oproep", _ASK_CODE)
    found = _recipient(runtime, claim)
    if found is None:
        return _html("Spoedplein-oproep", "<p>Deze oproep bestaat niet meer.</p>", status_code=404)
    page, recipient = found
    zone = paging_config(runtime).roster.zone
    urgency = "spoed" if page.urgency == Urgency.EMERGENCY else "normaal"
    facts = (
        f"<dl><dt>Casus</dt><dd>{html.escape(page.case_reference or '-')}</dd>"
        f"<dt>Urgentie</dt><dd>{urgency}</dd>"
        f"<dt>Opgeroepen als</dt><dd>{html.escape(texts.role_nl(recipient.role))}</dd></dl>"
    )
    if recipient.answer:
        said = "U komt" if recipient.answer == "acknowledged" else "U kunt niet komen"
        when = f" vanaf {texts.local_time(recipient.earliest_at, zone)}" if recipient.earliest_at else ""
        return _html("Spoedplein-oproep", f"{facts}<p>Uw antwoord: {said}{when}.</p>")
    if page.state != PageState.ACTIVE:
        return _html("Spoedplein-oproep", f"{facts}<p>Deze oproep is al afgehandeld.</p>")
    form = (
        "<form method='post' action='/p/answer'><input type='hidden' name='answer' value='ok'>"
        "<label>Ik kom, vanaf <input name='at' type='time' required></label> <button>Ik kom</button></form>"
        "<form method='post' action='/p/answer'><input type='hidden' name='answer' value='nee'>"
        "<button>Ik kan niet</button></form>"
    )
    return _html("Spoedplein-oproep", facts + form)


@router.post("/p/code")
def send_code(request: Request, runtime: RuntimeDep) -> Response:
    claim = _cookie(request, runtime)
    if claim is None:
        return _html("Spoedplein-oproep", "<p>Open de link uit uw oproep opnieuw.</p>", status_code=401)
    config = paging_config(runtime)
    person = config.roster.person(str(claim["r"]))
    if person is None or person.phone is None or config.sms is None:
        return _html("Spoedplein-oproep", "<p>Er is geen nummer om een code naar te sturen. Log in.</p>", 409)
    now = runtime.clock.now()
    with runtime.db.write() as session:
        code = links.issue_code(
            session,
            links.derive_key(runtime, "page-code"),
            page_id=int(claim["p"]),
            person=person.id,
            now=now,
        )
    if code is None:
        return _html(
            "Spoedplein-oproep",
            "<p>Er zijn te veel codes aangevraagd. Probeer het over een kwartier opnieuw, of log in.</p>",
            status_code=429,
        )
    result = config.sms.send(
        OutboundMessage(
            reference=f"otp{int(now.timestamp() * 1000)}{person.id[:8]}",
            address=person.phone,
            subject="Spoedplein",
            text=f"Spoedplein: uw code is {code}. Geldig 5 minuten. Deel deze code met niemand.",
        )
    )
    log.info("one-time code for %s: %s", person.id, result.outcome.value)
    return _html("Spoedplein-oproep", "<p>Er is een code naar uw nummer gestuurd.</p>" + _ENTER_CODE)


@router.post("/p/verify")
def verify_code(request: Request, runtime: RuntimeDep, code: str = Form(max_length=12)) -> Response:
    claim = _cookie(request, runtime)
    if claim is None:
        return _html("Spoedplein-oproep", "<p>Open de link uit uw oproep opnieuw.</p>", status_code=401)
    with runtime.db.write() as session:
        ok = links.check_code(
            session,
            links.derive_key(runtime, "page-code"),
            page_id=int(claim["p"]),
            person=str(claim["r"]),
            code=code,
            now=runtime.clock.now(),
        )
    if not ok:
        return _html("Spoedplein-oproep", "<p>Die code klopt niet of is verlopen.</p>" + _ENTER_CODE, 403)
    response = RedirectResponse("/p", status_code=303)
    establish_session(response, runtime, page_id=int(claim["p"]), person=str(claim["r"]))
    return response


@router.post("/p/answer")
def post_answer(
    request: Request,
    runtime: RuntimeDep,
    answer: str = Form(pattern="^(ok|nee)$"),
    at: str = Form(default="", max_length=5),
) -> Response:
    claim = _cookie(request, runtime)
    if claim is None or not claim.get("v"):
        return _html("Spoedplein-oproep", "<p>Bevestig eerst met een code, of log in.</p>", status_code=401)
    config = paging_config(runtime)
    now = runtime.clock.now()
    earliest: datetime | None = None
    if answer == "ok":
        try:
            hours, minutes = (int(part) for part in at.split(":"))
            zone = config.roster.zone
            day = now.astimezone(zone).date()
            earliest = local_instant(day, time(hours, minutes), zone)
            if earliest < now - timedelta(minutes=30):
                earliest = local_instant(day + timedelta(days=1), time(hours, minutes), zone)
        except ValueError:
            return _html("Spoedplein-oproep", "<p>Vul de tijd in als uu:mm.</p>", status_code=422)
    with runtime.db.write() as session:
        recipient = session.execute(
            select(PageRecipient).where(
                PageRecipient.page_id == int(claim["p"]), PageRecipient.person == str(claim["r"])
            )
        ).scalar_one_or_none()
        if recipient is None:
            return _html("Spoedplein-oproep", "<p>Deze oproep bestaat niet meer.</p>", status_code=404)
        service.answer(
            session,
            runtime,
            recipient,
            acknowledged=answer == "ok",
            earliest_at=earliest,
            via="link",
            now=now,
        )
    return RedirectResponse("/p", status_code=303)
