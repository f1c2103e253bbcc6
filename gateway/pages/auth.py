"""Login for the web pages: the session cookie and safe return paths (CSRF: gateway/csrf.py). Users,
passwords and sessions themselves are `identity`'s.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import Response

from core.runtime import Runtime
from identity.deps import COOKIE_NAME

__all__ = ["COOKIE_NAME", "clear_session_cookie", "safe_next", "set_session_cookie"]


def cookie_secure(request: Request, runtime: Runtime) -> bool:
    if runtime.settings.cookie_secure is not None:
        return runtime.settings.cookie_secure
    return request.url.scheme == "https" or (runtime.settings.public_base_url or "").startswith("https://")


def set_session_cookie(response: Response, request: Request, runtime: Runtime, cookie: str) -> None:
    # No max-age: the browser forgets it when closed; the server ends it at the idle or absolute limit.
    response.set_cookie(
        COOKIE_NAME,
        cookie,
        path="/",
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request, runtime),
    )


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")


def safe_next(target: str | None, default: str = "/login") -> str:
    """Only a path on this server: no scheme, no host, no `//host` or `/\\host` tricks (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if any(c in target for c in "\\\r\n\t") or any(ord(c) < 32 for c in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
