"""Signed, single-use page links and one-time codes: how a paged person gets from an SMS to the page.

A link is `…/p/<token>`: the token carries the page id, the person, the expiry (≤ 10 minutes) and a
nonce, with an HMAC-SHA256 over them. Opening it checks the signature and the expiry, then uses it up
(the nonce's row gets `used_at`, once: a second opening finds it used) and exchanges it for a short
cookie that shows nothing of the case. To see more the person logs in, or asks for a one-time code that
goes to the number the roster has for them (`issue_code`: at most `CODES_PER_WINDOW` per person per
`CODE_WINDOW`, each code valid `CODE_TTL` for `CODE_TRIES` tries). Failure modes are values
(`LinkProblem`), never exceptions a page would show.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from notifications.models import OneTimeCode, PageLink

MAX_LINK_TTL = timedelta(minutes=10)
CODE_TTL = timedelta(minutes=5)
CODE_TRIES = 5
CODE_WINDOW = timedelta(minutes=15)
CODES_PER_WINDOW = 3
COOKIE_TTL = timedelta(minutes=30)


class LinkProblem(StrEnum):
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    USED = "used"


@dataclass(frozen=True)
class LinkClaim:
    page_id: int
    person: str
    expires_at: datetime
    nonce: str


def derive_key(runtime: Any, label: str) -> bytes:
    """A key of its own for `label`, derived from the runtime's secret (as the page sessions do)."""
    seed = runtime.pseudonyms.ref("paging", label).encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"spoedplein-{label}".encode()).derive(
        seed
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: bytes, body: bytes) -> str:
    return _b64(hmac.new(key, body, hashlib.sha256).digest())


def sign(key: bytes, payload: dict[str, Any]) -> str:
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return f"{_b64(body)}.{_sign(key, body)}"


def unsign(key: bytes, token: str) -> dict[str, Any] | LinkProblem:
    try:
        body_text, signature = token.split(".", 1)
        body = _unb64(body_text)
    except (ValueError, TypeError):
        return LinkProblem.MALFORMED
    if not hmac.compare_digest(signature, _sign(key, body)):
        return LinkProblem.BAD_SIGNATURE
    try:
        loaded = json.loads(body)
    except ValueError:
        return LinkProblem.MALFORMED
    return loaded if isinstance(loaded, dict) else LinkProblem.MALFORMED


def new_link(
    session: Session, key: bytes, *, page_id: int, person: str, now: datetime, ttl: timedelta
) -> str:
    """A token for one person and one page; its nonce row makes it single-use."""
    expires = now + min(ttl, MAX_LINK_TTL)
    nonce = secrets.token_urlsafe(12)
    session.add(PageLink(nonce=nonce, page_id=page_id, person=person, expires_at=expires))
    return sign(key, {"p": page_id, "r": person, "e": int(expires.timestamp()), "n": nonce})


def verify(key: bytes, token: str, *, now: datetime) -> LinkClaim | LinkProblem:
    """Signature and expiry only (no database): what a token claims, or why it is refused."""
    claim = unsign(key, token)
    if isinstance(claim, LinkProblem):
        return claim
    try:
        parsed = LinkClaim(
            page_id=int(claim["p"]),
            person=str(claim["r"]),
            expires_at=datetime.fromtimestamp(int(claim["e"]), UTC),
            nonce=str(claim["n"]),
        )
    except (KeyError, TypeError, ValueError):
        return LinkProblem.MALFORMED
    if parsed.expires_at <= now:
        return LinkProblem.EXPIRED
    return parsed


def consume(session: Session, claim: LinkClaim, *, now: datetime) -> LinkProblem | None:
    """Use the link up, once: None if this call did, else why not (used before, expired, unknown)."""
    result = session.execute(
        update(PageLink)
        .where(
            PageLink.nonce == claim.nonce,
            PageLink.page_id == claim.page_id,
            PageLink.person == claim.person,
            PageLink.used_at.is_(None),
            PageLink.expires_at > now,
        )
        .values(used_at=now)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return None
    row = session.get(PageLink, claim.nonce)
    if row is None:
        return LinkProblem.MALFORMED
    return LinkProblem.USED if row.used_at is not None else LinkProblem.EXPIRED


def _code_hash(key: bytes, page_id: int, person: str, code: str) -> str:
    return hmac.new(key, f"{page_id}:{person}:{code}".encode(), hashlib.sha256).hexdigest()


def issue_code(session: Session, key: bytes, *, page_id: int, person: str, now: datetime) -> str | None:
    """A new six-digit code for the person (the caller sends it), or None when the rate limit is reached."""
    recent = session.scalar(
        select(func.count())
        .select_from(OneTimeCode)
        .where(OneTimeCode.person == person, OneTimeCode.created_at > now - CODE_WINDOW)
    )
    if (recent or 0) >= CODES_PER_WINDOW:
        return None
    code = f"{secrets.randbelow(1_000_000):06d}"
    session.add(
        OneTimeCode(
            page_id=page_id,
            person=person,
            code_hash=_code_hash(key, page_id, person, code),
            created_at=now,
            expires_at=now + CODE_TTL,
        )
    )
    return code


def check_code(session: Session, key: bytes, *, page_id: int, person: str, code: str, now: datetime) -> bool:
    """True once for the right code within its time and tries; every wrong try counts against it."""
    row = session.execute(
        select(OneTimeCode)
        .where(
            OneTimeCode.page_id == page_id,
            OneTimeCode.person == person,
            OneTimeCode.used_at.is_(None),
            OneTimeCode.expires_at > now,
        )
        .order_by(OneTimeCode.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if row is None or row.tries >= CODE_TRIES:
        return False
    row.tries += 1
    if not hmac.compare_digest(row.code_hash, _code_hash(key, page_id, person, code.strip())):
        return False
    row.used_at = now
    return True
