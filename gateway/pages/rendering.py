"""Rendering a page: the Jinja2 templates, the language of the request, the security headers.

Every page goes through `render`, so every page gets the same layout (skip link, language switch, the
words in the chosen language) and the same headers (no caching of patient data, no framing, a content
security policy that allows only this server's own styles and scripts).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from gateway.pages import i18n

HERE = Path(__file__).parent
LOCAL = ZoneInfo("Europe/Amsterdam")

SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Browsers honour HSTS only over https; behind the hospital's TLS proxy it keeps them on https.
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
}


def csrf_token(request: Request) -> str:
    """The token a form posts back as its `csrftoken` field (the CSRF middleware, gateway/csrf.py, put the
    function that makes it, and sets its cookie, in the request's scope)."""
    make: Any = request.scope.get("csrftoken")
    return str(make()) if make is not None else ""


def local_time(value: datetime | None) -> str:
    return value.astimezone(LOCAL).strftime("%d-%m-%Y %H:%M") if value is not None else ""


def local_input(value: datetime | None) -> str:
    """The value of a `datetime-local` input: local wall time without zone, to the minute. Rounded up:
    the value is a proposed time no one can make before, so dropping its seconds would make it too early."""
    if value is None:
        return ""
    if value.second or value.microsecond:
        value = value.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return value.astimezone(LOCAL).strftime("%Y-%m-%dT%H:%M")


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters["local_time"] = local_time
templates.filters["local_input"] = local_input


def language(request: Request) -> tuple[str, bool]:
    return i18n.choose(
        request.query_params.get("lang"),
        request.cookies.get(i18n.COOKIE),
        request.headers.get("accept-language"),
    )


def translator(request: Request) -> i18n.Translator:
    return i18n.Translator(language(request)[0])


def _switch_links(request: Request, here: str | None) -> list[dict[str, Any]]:
    """A link per language to this same page (GET only: a re-rendered form post links to `here`)."""
    if here is None:
        here = request.url.path if request.method == "GET" else "/"
        keep = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    else:
        keep = []
    return [
        {"lang": code, "name": name, "href": f"{here}?{urlencode([*keep, ('lang', code)])}"}
        for code, name in (("nl", "Nederlands"), ("en", "English"))
    ]


def wants_page(request: Request) -> bool:
    """A browser asking for a page (not the API, FHIR or CDS Hooks, whose clients read JSON)."""
    if request.url.path.startswith(("/api", "/fhir", "/cds-services")):
        return False
    return "text/html" in request.headers.get("accept", "")


def render(
    request: Request,
    template: str,
    status_code: int = 200,
    *,
    here: str | None = None,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """The page `template` in the request's language; `here` is the page the language switch reloads."""
    lang, explicit = language(request)
    tr = i18n.Translator(lang)
    context.setdefault("session", None)
    context.setdefault("body_class", "")
    # A form's CSRF token (gateway/csrf.py): asking for it sets its cookie, so only pages with a form do.
    context.setdefault("csrf_token", lambda: csrf_token(request))
    html = templates.get_template(template).render(
        request=request,
        lang=lang,
        tr=tr,
        t=tr.t,
        label=tr.label,
        switch_links=_switch_links(request, here),
        **context,
    )
    response = HTMLResponse(html, status_code=status_code, headers={**SECURITY_HEADERS, **(headers or {})})
    if explicit:
        remember(response, lang)
    return response


def remember(response: HTMLResponse | RedirectResponse, lang: str) -> None:
    response.set_cookie(i18n.COOKIE, lang, max_age=i18n.COOKIE_SECONDS, path="/", samesite="lax")


def redirect(target: str) -> RedirectResponse:
    return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)
