"""CSRF protection of every form: the maintained `asgi-csrf` middleware (signed double-submit cookie).

A page that renders a form calls `rendering.csrf_token(request)` (templates: `csrf_token()`); that
sets the `spoedplein_csrf` cookie, and the form posts the same value as its `csrftoken` field. A POST (or
PUT, PATCH, DELETE) that carries cookies must carry the matching field or `X-CSRFToken` header, else it
is answered with a 403 page ("Formulier verlopen", in the browser's language) before any route runs, so
it changes nothing. Not checked:
- requests without cookies (nothing ambient to abuse) and requests with `Authorization: Bearer`
  (a browser never adds that header to a cross-site request);
- the machine routes (`/api/`, `/fhir`, `/cds-services/`, `/webhooks/`): they take JSON or signed
  bodies, and a cross-site page cannot send JSON with cookies without the CORS preflight we never grant.

The signing secret is derived from the field key's root (HKDF, own label), so every process of one
installation signs alike and a restart keeps the forms that are open valid.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from asgi_csrf import Errors, asgi_csrf_decorator

from gateway.pages import i18n
from gateway.pages.rendering import SECURITY_HEADERS, templates
from store.crypto import derive_key

COOKIE_NAME = "spoedplein_csrf"
FORM_FIELD = "csrftoken"  # the library reads a multipart form's token only under this name
HEADER = "x-csrftoken"
UNCHECKED_PREFIXES = ("/api/", "/fhir", "/cds-services/", "/webhooks/")
_LABEL = b"spoedplein-csrf"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def _unchecked(scope: Scope) -> bool:
    return str(scope.get("path", "")).startswith(UNCHECKED_PREFIXES)


def _language(scope: Scope) -> str:
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    cookies = headers.get("cookie", "")
    chosen = next(
        (
            p.split("=", 1)[1]
            for p in (c.strip() for c in cookies.split(";"))
            if p.startswith(f"{i18n.COOKIE}=")
        ),
        None,
    )
    return i18n.choose(None, chosen, headers.get("accept-language"))[0]


async def _refused(scope: Scope, send: Send, error: Errors) -> None:
    """The 403 page of a form without its token: what happened and what to do, no trace, no change."""
    tr = i18n.Translator(_language(scope))
    html = templates.get_template("csrf_failed.html").render(
        lang=tr.lang, t=tr.t, title=tr.t("form_expired_title"), message=tr.t("form_expired")
    )
    headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
    headers.append((b"content-type", b"text/html; charset=utf-8"))
    await send({"type": "http.response.start", "status": 403, "headers": headers})
    await send({"type": "http.response.body", "body": html.encode()})


class CsrfProtection:
    """`asgi_csrf` as a Starlette middleware (`app.add_middleware(CsrfProtection, root_key=…, secure=…)`)."""

    def __init__(self, app: Callable[..., Awaitable[None]], *, root_key: bytes, secure: bool) -> None:
        self.inner = app
        self.app = asgi_csrf_decorator(
            cookie_name=COOKIE_NAME,
            http_header=HEADER,
            form_input=FORM_FIELD,
            signing_secret=derive_key(root_key, _LABEL).hex(),
            cookie_secure=secure,
            cookie_samesite="Strict",
            send_csrf_failed=_refused,
        )(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The machine routes go straight through: not even the library's per-request token signing (the
        # CDS hook's budget is milliseconds).
        if scope.get("type") != "http" or _unchecked(scope):
            await self.inner(scope, receive, send)
            return
        await self.app(scope, receive, send)
