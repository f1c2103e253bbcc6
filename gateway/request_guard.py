"""An ASGI middleware that keeps request bodies from costing memory they should not.

Two rules, applied before any route sees the request:

- **No body without credentials.** A request with a body (POST, PUT, PATCH) to a path that needs
  credentials (`/api`, `/fhir`) and does not carry valid ones (a bearer token or a login session) is
  passed on with an *empty* body: the route answers 401 in its own words (its authentication runs
  first when the body is empty), and the client's bytes are never read, buffered or parsed. (CDS Hooks
  calls carry a JWT: their route authenticates before it parses the body.)
- **A limit enforced while reading.** A declared `Content-Length` over the limit is answered 413 at
  once; a body that grows past it while it is read (chunked, or a false length) is cut off at the limit
  and answered 413. The route's own answer, if it made one after the cut, is dropped.

Failure modes: 413 with `{"detail": …}` (an OperationOutcome under `/fhir` and `/cds-services`); a
response already started when the limit is crossed cannot be replaced, and the connection is closed.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
TOKEN_PATHS = ("/api/", "/fhir")
FHIR_PATHS = ("/fhir", "/cds-services")


class BodyTooLarge(Exception):
    """Raised to the route's body reader when the limit is crossed (the middleware answers 413)."""


async def _empty_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


class RequestGuard:
    def __init__(
        self, app: ASGIApp, *, max_body_bytes: int, credentials_ok: Callable[[str, str], bool]
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        # (Authorization header, Cookie header) → valid credentials?
        self.credentials_ok = credentials_ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        path: str = scope["path"]
        if path.startswith(TOKEN_PATHS) and not self.credentials_ok(
            headers.get(b"authorization", b"").decode("latin-1"),
            headers.get(b"cookie", b"").decode("latin-1"),
        ):
            await self.app(scope, _empty_body, send)
            return
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            await self._too_large(path, send)
            return
        await self._counted(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send) -> None:
        seen = 0
        tripped = False
        started = False

        async def counting_receive() -> Message:
            nonlocal seen, tripped
            if tripped:
                raise BodyTooLarge
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    tripped = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if tripped:
                return  # the route's answer to a cut-off body is replaced by the 413 below
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not tripped:
                raise
        if tripped and not started:
            await self._too_large(scope["path"], send)

    async def _too_large(self, path: str, send: Send) -> None:
        text = f"the request body is larger than the limit of {self.max_body_bytes} bytes"
        if path.startswith(FHIR_PATHS):
            body = {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": "too-costly", "diagnostics": text}],
            }
            media_type = b"application/fhir+json"
        else:
            body, media_type = {"detail": text}, b"application/json"
        data = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", media_type),
                    (b"content-length", str(len(data)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})
