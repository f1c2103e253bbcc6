"""Where a page's link lands (`/p/<token>`), as logic: the signed link is checked and used up at once and
exchanged for a short cookie; the cookie shows nothing of the case until the person enters a one-time
code sent to their registered number (or logs in); then they answer. The pages themselves (Dutch and
English, phone first) are rendered by gateway/pages/party.py, which calls only these functions.

The cookie is HMAC-signed, HttpOnly and SameSite=Strict (a form posted from another site carries no
cookie, so needs no CSRF token of its own). After the code, gateway/pages/party.py also starts a real
login session for the person (identity's sessions, `AuthMethod.PAGE_LINK`): notifications stays below
identity's users and does not import them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import select

from notifications import links, service
from notifications.channels.base import OutboundMessage
from notifications.config import paging_config
from notifications.models import Page, PageRecipient
from notifications.roster import local_instant

log = logging.getLogger(__name__)
COOKIE = "spoedplein_oproep"


@dataclass(frozen=True)
class Claim:
    """Who holds the page cookie: the page, the roster id of the person it was sent to, and whether they
    proved they hold that person's phone (the one-time code)."""

    page_id: int
    person: str
    verified: bool


def _cookie_key(runtime: Any) -> bytes:
    return links.derive_key(runtime, "page-cookie")


def set_cookie(response: Response, runtime: Any, *, page_id: int, person: str, verified: bool) -> None:
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


def read_cookie(request: Request, runtime: Any) -> Claim | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    claim = links.unsign(_cookie_key(runtime), raw)
    if isinstance(claim, links.LinkProblem) or int(claim.get("e", 0)) <= runtime.clock.now().timestamp():
        return None
    try:
        return Claim(page_id=int(claim["p"]), person=str(claim["r"]), verified=bool(claim.get("v")))
    except (KeyError, TypeError, ValueError):
        return None


def establish_session(response: Response, runtime: Any, *, page_id: int, person: str) -> None:
    """The person proved they hold the registered number: the page cookie is marked verified (this page
    only; the login session for the person is started by the page's caller, which knows identity)."""
    set_cookie(response, runtime, page_id=page_id, person=person, verified=True)


def open_link(runtime: Any, token: str) -> links.LinkClaim | links.LinkProblem:
    """Check a link's signature and age, and use it up (a link works once)."""
    now = runtime.clock.now()
    claim = links.verify(links.derive_key(runtime, "page-link"), token, now=now)
    if isinstance(claim, links.LinkProblem):
        return claim
    with runtime.db.write() as session:
        problem = links.consume(session, claim, now=now)
    return problem if problem is not None else claim


def recipient_of(runtime: Any, claim: Claim) -> tuple[Page, PageRecipient] | None:
    with runtime.db.read() as session:
        page = session.get(Page, claim.page_id)
        recipient = session.execute(
            select(PageRecipient).where(
                PageRecipient.page_id == claim.page_id, PageRecipient.person == claim.person
            )
        ).scalar_one_or_none()
        return (page, recipient) if page is not None and recipient is not None else None


class CodeResult(StrEnum):
    SENT = "sent"
    NO_NUMBER = "no_number"
    TOO_MANY = "too_many"


def send_code(runtime: Any, claim: Claim) -> CodeResult:
    """A one-time code by SMS to the number the roster has for the person the page was sent to."""
    config = paging_config(runtime)
    person = config.roster.person(claim.person)
    if person is None or person.phone is None or config.sms is None:
        return CodeResult.NO_NUMBER
    now = runtime.clock.now()
    with runtime.db.write() as session:
        code = links.issue_code(
            session, links.derive_key(runtime, "page-code"), page_id=claim.page_id, person=person.id, now=now
        )
    if code is None:
        return CodeResult.TOO_MANY
    result = config.sms.send(
        OutboundMessage(
            reference=f"otp{int(now.timestamp() * 1000)}{person.id[:8]}",
            address=person.phone,
            subject="Spoedplein",
            text=f"Spoedplein: uw code is {code}. Geldig 5 minuten. Deel deze code met niemand.",
        )
    )
    log.info("one-time code for %s: %s", person.id, result.outcome.value)
    return CodeResult.SENT


def check_code(runtime: Any, claim: Claim, code: str) -> bool:
    with runtime.db.write() as session:
        return links.check_code(
            session,
            links.derive_key(runtime, "page-code"),
            page_id=claim.page_id,
            person=claim.person,
            code=code,
            now=runtime.clock.now(),
        )


def earliest_instant(runtime: Any, at: str) -> datetime | None:
    """`hh:mm` as the next such instant in the roster's zone (today, or tomorrow if that is well past)."""
    try:
        hours, minutes = (int(part) for part in at.split(":"))
        wall = time(hours, minutes)
    except ValueError:
        return None
    zone = paging_config(runtime).roster.zone
    now = runtime.clock.now()
    day = now.astimezone(zone).date()
    earliest = local_instant(day, wall, zone)
    if earliest < now - timedelta(minutes=30):
        earliest = local_instant(day + timedelta(days=1), wall, zone)
    return earliest


def answer(
    runtime: Any, claim: Claim, *, acknowledged: bool, earliest_at: datetime | None, reason: str = ""
) -> bool:
    """Record the person's answer (the pager tells the case); False when the page is gone."""
    with runtime.db.write() as session:
        recipient = session.execute(
            select(PageRecipient).where(
                PageRecipient.page_id == claim.page_id, PageRecipient.person == claim.person
            )
        ).scalar_one_or_none()
        if recipient is None:
            return False
        service.answer(
            session,
            runtime,
            recipient,
            acknowledged=acknowledged,
            earliest_at=earliest_at,
            via="link",
            now=runtime.clock.now(),
            reason=reason,
        )
    return True
