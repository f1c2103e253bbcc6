"""`X-Request-ID` in and out: every HTTP request gets a correlation id that its log lines carry.

A caller's (or the reverse proxy's) `X-Request-ID` is kept when it is a plain token of at most 64
characters (letters, digits, `-`, `_`, `.`); anything else — absent, too long, or text that could smuggle
data into the logs — is replaced by a fresh random id. The id is bound for the request's log lines
(`core/logs.py`) and sent back in the response's `X-Request-ID`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog

from core.logs import CORRELATION_ID

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

HEADER = b"x-request-id"
_TOKEN = re.compile(rb"^[A-Za-z0-9._\-]{1,64}$")


def request_id(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == HEADER and _TOKEN.match(value):
            return value.decode("ascii")
    return uuid.uuid4().hex


class RequestId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = request_id(scope.get("headers", []))
        encoded = rid.encode("ascii")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message["headers"] = [*headers, (HEADER, encoded)]
            await send(message)

        tokens = structlog.contextvars.bind_contextvars(**{CORRELATION_ID: rid})
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            structlog.contextvars.reset_contextvars(**tokens)
