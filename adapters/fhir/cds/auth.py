"""Authentication of CDS Hooks calls: the CDS client's JWT, checked the way the CDS Hooks 2.0 spec asks.

Accepted only when all hold:
- the header's `alg` is ES384 or RS384 (so `none` and every HMAC algorithm are refused before any key
  is looked at);
- `iss` is in the allow-list `SPOEDPLEIN_CDS_TRUSTED_ISSUERS` (iss → JWKS URL or file path), and the
  signature verifies with that issuer's key (`kid`, or its only key);
- `aud` is the URL that was called, `exp` is in the future, `iat` and `jti` are present;
- the `jti` was not used before by that issuer: ids are kept in the database until the token expires,
  so a replay is refused by every gateway process.

Failure: `CdsAuthError` (401) with a reason that names the check, never the token.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
from sqlalchemy import Engine, delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from adapters.fhir.models import CdsJwtId
from store.db import Database, make_engine, utcnow
from store.periodic import every

ALLOWED_ALGORITHMS = ("ES384", "RS384")
LEEWAY_S = 30
JWKS_TTL_S = 300.0
MAX_LIFETIME = timedelta(hours=1)  # a jti is kept at most this long, whatever the token claims


class CdsAuthError(Exception):
    """The call is not from a trusted CDS client (or is a replay); the reason is safe to return."""

    status = 401


class IssuerKeys:
    """The JWKS of each trusted issuer, loaded from its URL (httpx) or file and cached for a while."""

    def __init__(self, trusted: dict[str, str], *, ttl_s: float = JWKS_TTL_S) -> None:
        self._trusted = dict(trusted)
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[float, jwt.PyJWKSet]] = {}
        self._lock = threading.Lock()

    def is_trusted(self, issuer: str) -> bool:
        return issuer in self._trusted

    def key_for(self, issuer: str, kid: str | None) -> jwt.PyJWK:
        keys = self._load(issuer, refresh=False)
        found = _pick(keys, kid)
        if found is None:  # the issuer may have rotated its keys: look once more
            found = _pick(self._load(issuer, refresh=True), kid)
        if found is None:
            raise CdsAuthError("no key of the issuer matches the token's kid")
        return found

    def _load(self, issuer: str, *, refresh: bool) -> jwt.PyJWKSet:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(issuer)
            if cached is not None and not refresh and now - cached[0] < self._ttl_s:
                return cached[1]
        source = self._trusted[issuer]
        try:
            if source.startswith(("http://", "https://")):
                reply = httpx.get(source, timeout=5.0)
                reply.raise_for_status()
                data: Any = reply.json()
            else:
                data = json.loads(Path(source).read_text())
            keys = jwt.PyJWKSet.from_dict(data)
        except (httpx.HTTPError, OSError, ValueError, jwt.PyJWKSetError) as exc:
            raise CdsAuthError(f"the issuer's JWKS could not be loaded ({type(exc).__name__})") from None
        with self._lock:
            self._cache[issuer] = (now, keys)
        return keys


def _pick(keys: jwt.PyJWKSet, kid: str | None) -> jwt.PyJWK | None:
    if kid is None:
        return keys.keys[0] if len(keys.keys) == 1 else None
    return next((k for k in keys.keys if k.key_id == kid), None)


def verify(token: str, *, audience: str, keys: IssuerKeys) -> dict[str, Any]:
    """The verified claims of `token`, or `CdsAuthError` naming the failed check."""
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise CdsAuthError("the bearer token is not a JWT") from None
    algorithm = header.get("alg")
    if algorithm not in ALLOWED_ALGORITHMS:
        raise CdsAuthError(f"alg {algorithm!s} is not accepted (ES384 or RS384)")
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or not keys.is_trusted(issuer):
        raise CdsAuthError("iss is not a trusted CDS client")
    key = keys.key_for(issuer, header.get("kid"))
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key.key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY_S,
            options={"require": ["iss", "aud", "exp", "iat", "jti"]},
        )
    except jwt.ExpiredSignatureError:
        raise CdsAuthError("the token has expired") from None
    except jwt.InvalidAudienceError:
        raise CdsAuthError("aud is not the URL that was called") from None
    except jwt.MissingRequiredClaimError as exc:
        raise CdsAuthError(f"the token has no {exc.claim} claim") from None
    except jwt.InvalidSignatureError:
        raise CdsAuthError("the signature does not verify with the issuer's key") from None
    except jwt.PyJWTError as exc:
        raise CdsAuthError(f"the token is not valid ({type(exc).__name__})") from None
    return claims


class JtiLedger:
    """Records used JWT ids; a second use of an id (by this or any other gateway process) is refused.

    One insert per call, decided by the unique index (`ON CONFLICT DO NOTHING`: no row means a replay),
    in the calling thread: no hand-off to another thread on the hot path. The commit does not wait for
    the disk (SQLite `synchronous=NORMAL` on the ledger's own connections, PostgreSQL
    `synchronous_commit=off`): a crash of the process keeps every id, and only a power loss in the
    last moments before it can forget the newest ids, and a replay of one of those would also have to
    come before its token's `exp` (minutes). The fsync would be most of the call's cost for that.
    """

    def __init__(self, db: Database) -> None:
        self._sqlite = db.is_sqlite
        if self._sqlite:
            url = db.engine.url.render_as_string(hide_password=False)
            engine = make_engine(url, sqlite_synchronous="NORMAL", pool_size=4)
            self._engine: Engine = engine.execution_options(sqlite_begin="IMMEDIATE")
        else:
            self._engine = db.engine
        # SQLite has one writer at a time; queueing the threads of this process here is cheaper than
        # letting them meet on the file lock, whose busy handler sleeps a millisecond or more.
        self._lock = threading.Lock() if self._sqlite else contextlib.nullcontext()
        insert = sqlite_insert if self._sqlite else postgresql_insert
        self._insert = insert(CdsJwtId).on_conflict_do_nothing().returning(CdsJwtId.id)

    def remember(self, claims: dict[str, Any]) -> None:
        """Record the token's id; `CdsAuthError` if it was used before (or cannot be recorded)."""
        expires = min(
            datetime.fromtimestamp(float(claims["exp"]), UTC) + timedelta(seconds=LEEWAY_S),
            utcnow() + MAX_LIFETIME,
        )
        row = {"issuer": str(claims["iss"])[:400], "jti": str(claims["jti"])[:200], "expires_at": expires}
        try:
            with self._lock, self._engine.begin() as conn:
                if not self._sqlite:
                    conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                fresh = conn.execute(self._insert, row).first() is not None
        except SQLAlchemyError:
            raise CdsAuthError("the token id could not be recorded; try again") from None
        if not fresh:
            raise CdsAuthError("the token was already used (jti replay)")


def purge_expired(db: Database, *, now: datetime | None = None) -> int:
    with db.write() as session:
        result = session.execute(delete(CdsJwtId).where(CdsJwtId.expires_at < (now or utcnow())))
        return int(result.rowcount)  # type: ignore[attr-defined]


@every(600, name="cds.purge_expired_jti")
def purge_expired_job(runtime: Any) -> None:
    purge_expired(runtime.db)
