"""Login for the case pages: a signed session cookie (HMAC, key derived from the field-encryption key).

For now the credential is the API token plus the name the physician types; the name becomes the actor
(`arts:<name>`) of every audit entry and timeline event. The cookie carries a per-session CSRF token that
every form posts back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.runtime import Runtime

COOKIE_NAME = "spoedplein_sessie"
SESSION_SECONDS = 8 * 3600
NAME_MAX = 100
_KEY_LABEL = b"spoedplein-pages-session"


@dataclass(frozen=True)
class PageSession:
    """A logged-in physician: who (for the audit log), the form token, and when the session ends."""

    name: str
    csrf: str
    expires_at: int

    @property
    def actor(self) -> str:
        return f"arts:{self.name}"


def _key(runtime: Runtime) -> bytes:
    # The runtime keeps the raw key to itself; a pseudonym of a fixed label is a secret derived from it,
    # and HKDF with our own label keeps this key apart from the pseudonym key.
    seed = runtime.pseudonyms.ref("pages", "session-key").encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_KEY_LABEL).derive(seed)


def _sign(key: bytes, body: bytes) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def token_matches(runtime: Runtime, token: str) -> bool:
    return hmac.compare_digest(token.strip().encode(), runtime.api_token.encode())


def clean_name(raw: str) -> str:
    """The typed name without control characters or surrounding space (it goes into the audit log)."""
    kept = "".join(c for c in raw if unicodedata.category(c)[0] != "C")
    return " ".join(kept.split())


def issue(runtime: Runtime, name: str, *, now: float | None = None) -> tuple[str, PageSession]:
    """A new session for `name`: the cookie value and what it holds."""
    session = PageSession(
        name=name,
        csrf=secrets.token_urlsafe(24),
        expires_at=int(now if now is not None else time.time()) + SESSION_SECONDS,
    )
    body = base64.urlsafe_b64encode(
        json.dumps({"n": session.name, "c": session.csrf, "e": session.expires_at}).encode()
    )
    return f"{body.decode()}.{_sign(_key(runtime), body)}", session


def verify(runtime: Runtime, cookie: str | None, *, now: float | None = None) -> PageSession | None:
    """The session in a cookie, or None when it is missing, altered or expired."""
    if not cookie or "." not in cookie:
        return None
    body, signature = cookie.rsplit(".", 1)
    if not hmac.compare_digest(_sign(_key(runtime), body.encode()), signature):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(body.encode()))
        session = PageSession(name=str(data["n"]), csrf=str(data["c"]), expires_at=int(data["e"]))
    except (ValueError, KeyError, TypeError):
        return None
    if session.expires_at <= (now if now is not None else time.time()):
        return None
    return session


def csrf_ok(session: PageSession, posted: str) -> bool:
    return hmac.compare_digest(session.csrf.encode(), posted.encode())


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
