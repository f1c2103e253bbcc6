"""Authentication of CDS Hooks calls: the CDS client's JWT, checked the way the CDS Hooks 2.0 spec asks.

Accepted only when all hold:
- the header's `typ` is `JWT` and its `alg` is ES384 or RS384 (so `none` and every HMAC algorithm are
  refused before any key is looked at);
- `iss` is in the allow-list `SPOEDPLEIN_CDS_TRUSTED_ISSUERS` (iss → JWKS URL or file path), and the
  signature verifies with that issuer's key (`kid`, or its only key). An unknown `kid` makes the
  gateway fetch the issuer's JWKS again (the issuer may have rotated its keys), at most once a minute
  per issuer, so a stream of tokens with made-up kids cannot make it fetch on every call;
- `aud` is the URL that was called, `exp` is in the future and at most 5 minutes ahead, `iat` and
  `jti` are present;
- the `jti` was not used before by that issuer: ids are kept in the database until the token expires
  (which is at most 5 minutes away), so a replay is refused by every gateway process for as long as the
  token could be used at all.

Failure: `CdsAuthError` (401) with a reason that names the check, never the token; `CdsAuthUnavailable`
(503, retry) when the check itself could not be made just now.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import random
import re
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import delete
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from adapters.fhir.models import CdsJwtId
from store.db import Database, driver_transaction, is_busy, make_engine, utcnow
from store.periodic import every

ALLOWED_ALGORITHMS = ("ES384", "RS384")
LEEWAY_S = 30
JWKS_TTL_S = 300.0
JWKS_MIN_INTERVAL_S = 60.0  # an issuer's JWKS is fetched at most once per this many seconds
MAX_EXP_AHEAD_S = 300  # a token whose exp lies further ahead is refused (and so its jti is kept long enough)
BUSY_DEADLINE_S = 10.0  # how long `JtiLedger.remember` keeps trying while other processes write
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_ALGORITHMS = {name: jwt.get_algorithm_by_name(name) for name in ALLOWED_ALGORITHMS}


class CdsAuthError(Exception):
    """The call is not from a trusted CDS client (or is a replay); the reason is safe to return."""


class CdsAuthUnavailable(CdsAuthError):
    """The call could not be checked just now (keys not loadable, token id not recordable): a 503 the
    EHR may retry, not a 401 that says its credentials are wrong."""

    status = 401


class IssuerKeys:
    """The JWKS of each trusted issuer, loaded from its URL (httpx) or file and cached for a while.

    Fetched at most once per `min_interval_s` per issuer, whatever the tokens say: a token with an
    unknown `kid` triggers a fresh fetch only when the last one is older than that (key rotation is
    rare; a flood of made-up kids must not turn into a flood of fetches). `clock` is monotonic seconds.
    """

    def __init__(
        self,
        trusted: dict[str, str],
        *,
        ttl_s: float = JWKS_TTL_S,
        min_interval_s: float = JWKS_MIN_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._trusted = dict(trusted)
        self._ttl_s = ttl_s
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._cache: dict[str, tuple[float, jwt.PyJWKSet]] = {}
        self._fetched_at: dict[str, float] = {}
        self._lock = threading.Lock()
        self._fetching: dict[str, threading.Lock] = {}
        self.fetches = 0

    def is_trusted(self, issuer: str) -> bool:
        return issuer in self._trusted

    def key_for(self, issuer: str, kid: str | None) -> jwt.PyJWK:
        keys = self._load(issuer, refresh=False)
        found = _pick(keys, kid)
        if found is None:  # the issuer may have rotated its keys: look once more, if not just looked
            found = _pick(self._load(issuer, refresh=True), kid)
        if found is None:
            raise CdsAuthError("no key of the issuer matches the token's kid")
        return found

    def _load(self, issuer: str, *, refresh: bool) -> jwt.PyJWKSet:
        # One fetch per issuer at a time, and the calls that arrive during it wait for its result: a
        # burst of first calls (an EHR opening many charts just after a start) must not be refused
        # because the keys are still on their way.
        with self._lock:
            cached = self._cache.get(issuer)
            if cached is not None and not refresh and self._clock() - cached[0] < self._ttl_s:
                return cached[1]  # the common case, without the fetch lock
            fetching = self._fetching.setdefault(issuer, threading.Lock())
        with fetching:
            with self._lock:
                now = self._clock()
                cached = self._cache.get(issuer)
                fresh = cached is not None and now - cached[0] < self._ttl_s
                recently = now - self._fetched_at.get(issuer, -self._min_interval_s) < self._min_interval_s
                if cached is not None and ((fresh and not refresh) or recently):
                    return cached[1]
                if cached is None and recently:
                    raise CdsAuthUnavailable(
                        "the issuer's JWKS could not be loaded recently; try again later"
                    )
                self._fetched_at[issuer] = now
                self.fetches += 1
            return self._fetch(issuer, now)

    def _fetch(self, issuer: str, now: float) -> jwt.PyJWKSet:
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
            reason = f"the issuer's JWKS could not be loaded ({type(exc).__name__})"
            raise CdsAuthUnavailable(reason) from None
        with self._lock:
            self._cache[issuer] = (now, keys)
        return keys


def _pick(keys: jwt.PyJWKSet, kid: str | None) -> jwt.PyJWK | None:
    if kid is None:
        return keys.keys[0] if len(keys.keys) == 1 else None
    return next((k for k in keys.keys if k.key_id == kid), None)


def verify(token: str, *, audience: str, keys: IssuerKeys, now: float | None = None) -> dict[str, Any]:
    """The verified claims of `token`, or `CdsAuthError` naming the failed check.

    The compact JWS is split and decoded once (PyJWT's `decode` would do it twice: once to find the
    issuer and key, once to verify); the signature is checked by PyJWT's algorithm object."""
    header, claims, signing_input, signature = _parse_compact(token)
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.upper() != "JWT":
        raise CdsAuthError("the token's typ header must be JWT")
    algorithm = header.get("alg")
    if algorithm not in ALLOWED_ALGORITHMS:
        raise CdsAuthError(f"alg {algorithm!s} is not accepted (ES384 or RS384)")
    if "crit" in header:  # RFC 7515 §4.1.11: extensions we do not know must not be ignored
        raise CdsAuthError("the token has critical header extensions we do not support")
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not keys.is_trusted(issuer):
        raise CdsAuthError("iss is not a trusted CDS client")
    kid = header.get("kid")
    key = keys.key_for(issuer, kid if isinstance(kid, str) else None)
    if not _signature_verifies(algorithm, key, signing_input, signature):
        raise CdsAuthError("the signature does not verify with the issuer's key")
    _check_claims(claims, audience=audience, now=time.time() if now is None else now)
    return claims


def _b64url(part: str) -> bytes:
    if not _B64URL.fullmatch(part):
        raise CdsAuthError("the bearer token is not a JWT")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _parse_compact(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    parts = token.split(".")
    if len(parts) != 3:
        raise CdsAuthError("the bearer token is not a JWT")
    try:
        header, claims = json.loads(_b64url(parts[0])), json.loads(_b64url(parts[1]))
    except (ValueError, binascii.Error):
        raise CdsAuthError("the bearer token is not a JWT") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise CdsAuthError("the bearer token is not a JWT")
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), _b64url(parts[2])


def _signature_verifies(algorithm: str, key: jwt.PyJWK, signing_input: bytes, signature: bytes) -> bool:
    # The key must be of the algorithm's kind (an RSA key never checks an ES384 token, and the reverse).
    expected = ec.EllipticCurvePublicKey if algorithm == "ES384" else rsa.RSAPublicKey
    if not isinstance(key.key, expected):
        return False
    if isinstance(key.key, ec.EllipticCurvePublicKey) and not isinstance(key.key.curve, ec.SECP384R1):
        return False
    try:
        return bool(_ALGORITHMS[algorithm].verify(signing_input, key.key, signature))
    except (ValueError, TypeError, InvalidSignature):
        return False


def _check_claims(claims: dict[str, Any], *, audience: str, now: float) -> None:
    for name in ("iss", "aud", "exp", "iat", "jti"):
        if claims.get(name) in (None, ""):
            raise CdsAuthError(f"the token has no {name} claim")
    exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf", 0)
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (exp, iat, nbf)):
        raise CdsAuthError("the token's exp, iat and nbf must be numbers")
    if exp <= now - LEEWAY_S:
        raise CdsAuthError("the token has expired")
    if exp > now + MAX_EXP_AHEAD_S + LEEWAY_S:
        raise CdsAuthError(f"the token's exp lies more than {MAX_EXP_AHEAD_S // 60} minutes ahead")
    if iat > now + LEEWAY_S or nbf > now + LEEWAY_S:
        raise CdsAuthError("the token is not valid yet (iat or nbf in the future)")
    aud = claims["aud"]
    if audience not in (aud if isinstance(aud, list) else [aud]):
        raise CdsAuthError("aud is not the URL that was called")
    if not isinstance(claims["jti"], str):
        raise CdsAuthError("the token's jti must be a string")


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
            # No busy timeout: SQLite's own handler sleeps 1, 2, 5, 10… ms when another process holds
            # the lock, far longer than the microseconds an insert holds it; `remember` retries sooner.
            # Nor a WAL checkpoint inside a hook call's insert (the beat checkpoints: store.checkpoint).
            self._engine = make_engine(
                url,
                sqlite_synchronous="NORMAL",
                pool_size=4,
                sqlite_busy_timeout_ms=0,
                sqlite_checkpoints=False,
            )
        else:
            self._engine = db.engine
        # SQLite has one writer at a time; queueing the threads of this process here is cheaper than
        # letting them meet on the file lock, whose busy handler sleeps a millisecond or more.
        self._lock = threading.Lock() if self._sqlite else contextlib.nullcontext()

    def _insert_once(self, issuer: str, jti: str, expires: datetime) -> bool:
        with self._lock, driver_transaction(self._engine, write=True) as sql:
            if not sql.sqlite:
                sql.rows("SET LOCAL synchronous_commit TO OFF", ())
            inserted = sql.rows(
                f"INSERT INTO cds_jwt_id (issuer, jti, expires_at) VALUES ({sql.marks(3)})"
                " ON CONFLICT (issuer, jti) DO NOTHING RETURNING id",
                (issuer, jti, sql.timestamp(expires)),
            )
            return bool(inserted)

    def remember(self, claims: dict[str, Any]) -> None:
        """Record the token's id until the token can no longer be used (its `exp`, which `verify` keeps
        within minutes); `CdsAuthError` if it was used before (or cannot be recorded)."""
        expires = datetime.fromtimestamp(float(claims["exp"]), UTC) + timedelta(seconds=LEEWAY_S)
        deadline = time.monotonic() + BUSY_DEADLINE_S
        while True:
            try:
                fresh = self._insert_once(str(claims["iss"])[:400], str(claims["jti"])[:200], expires)
                break
            except OperationalError as exc:
                # Another gateway process holds SQLite's write lock for a moment: try again shortly.
                if not (self._sqlite and is_busy(exc)) or time.monotonic() > deadline:
                    raise CdsAuthUnavailable("the token id could not be recorded; try again") from None
                time.sleep(random.uniform(50e-6, 400e-6))
            except SQLAlchemyError:
                raise CdsAuthUnavailable("the token id could not be recorded; try again") from None
        if not fresh:
            raise CdsAuthError("the token was already used (jti replay)")


def purge_expired(db: Database, *, now: datetime | None = None) -> int:
    with db.write() as session:
        result = session.execute(delete(CdsJwtId).where(CdsJwtId.expires_at < (now or utcnow())))
        return int(result.rowcount)  # type: ignore[attr-defined]


@every(600, name="cds.purge_expired_jti")
def purge_expired_job(runtime: Any) -> None:
    purge_expired(runtime.db, now=runtime.clock.now())
