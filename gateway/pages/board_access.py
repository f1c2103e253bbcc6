"""Who may see the coordinator's pages (`/board`, `/cases`, `/figures`) and how those pages are rendered.

One place for the login check and the page headers of these pages, so the board, the case list and the
figures answer alike: no session → the login page with a way back; the headers forbid caching and
framing, and allow only the gateway's own script (the board's live updates) and its own event stream.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from core.runtime import Runtime
from gateway.pages import auth, board_texts, rendering  # noqa: F401  (board_texts: the words)
from gateway.pages.case_common import current_session
from identity.deps import Principal, login_url

HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}


templates = rendering.templates


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The page in the request's language, through the one render path (layout, language switch)."""
    return rendering.render(request, template, status_code, session=context.get("viewer"), **context)


def viewer(request: Request, runtime: Runtime) -> Principal | Response:
    """The logged-in ED staff member (coordinator, physician, administrator); else the login page that
    comes back here afterwards, or for anyone else (a paged party) a 403 page saying where to go."""
    session = current_session(request, runtime)  # the access policy: ED staff only, a 403 for others
    if session is None:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(login_url(here), status_code=303, headers=HEADERS)
    return session


def refusal(session: Principal | None) -> Response | None:
    """For the board's fragments and event stream: 401 without a login. (The access policy already
    refused anyone but ED staff with a 403 when the session was read: `current_session`.)"""
    if session is None:
        return Response(status_code=401, headers=HEADERS)
    return None
