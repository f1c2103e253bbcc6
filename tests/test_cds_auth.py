"""The CDS JWT checks below the HTTP layer: jti ledger across two ledgers (two processes' worth), purge of
expired ids, key rotation picked up from the issuer's JWKS URL (at most one fetch a minute), exp at most
5 minutes ahead (with a clock the test controls), the typ header."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from sqlalchemy import func, select

from adapters.fhir.cds.auth import CdsAuthError, IssuerKeys, JtiLedger, purge_expired, verify
from adapters.fhir.models import CdsJwtId
from store.db import Database
from tests import cds_helpers as cds
from tests.fhir_helpers import EhrFhirServer

AUD = "http://127.0.0.1:1/cds-services/x"


def claims(jti: str, *, exp: float | None = None) -> dict[str, object]:
    return {"iss": cds.ISSUER, "jti": jti, "exp": exp if exp is not None else time.time() + 300}


def test_a_jti_used_through_one_ledger_is_refused_by_another(db: Database) -> None:
    first, second = JtiLedger(db), JtiLedger(db)
    first.remember(claims("shared-id"))

    with pytest.raises(CdsAuthError, match="replay"):
        second.remember(claims("shared-id"))
    second.remember(claims(str(uuid.uuid4())))  # a fresh id still passes


def test_many_concurrent_ids_are_all_recorded_once(db: Database) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ledger = JtiLedger(db)
    ids = [str(uuid.uuid4()) for _ in range(60)]
    with ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda jti: ledger.remember(claims(jti)), ids))
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(CdsJwtId)) == 60


def test_expired_ids_are_purged_and_live_ones_kept(db: Database) -> None:
    ledger = JtiLedger(db)
    ledger.remember(claims("old", exp=time.time() - 3600))
    ledger.remember(claims("live"))

    removed = purge_expired(db, now=datetime.now(UTC) + timedelta(seconds=1))

    assert removed == 1
    with db.read() as session:
        assert list(session.scalars(select(CdsJwtId.jti))) == ["live"]


class Monotonic:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rotated_key_is_fetched_again_but_unknown_kids_fetch_at_most_once_a_minute() -> None:
    old, new = cds.SigningKey("2024-key"), cds.SigningKey("2025-key")
    clock = Monotonic()
    with EhrFhirServer() as ehr:
        ehr.resources["jwks"] = old.jwks()
        keys = IssuerKeys({cds.ISSUER: f"{ehr.url}/jwks"}, clock=clock)
        assert verify(old.token(AUD), audience=AUD, keys=keys)["iss"] == cds.ISSUER
        fetches = lambda: sum(r.path.endswith("/jwks") for r in ehr.requests)  # noqa: E731
        assert fetches() == 1

        # Tokens with kids the issuer never published, one after another: no fetch on each of them.
        for n in range(20):
            with pytest.raises(CdsAuthError, match="kid"):
                verify(cds.SigningKey(f"made-up-{n}").token(AUD), audience=AUD, keys=keys)
        clock.now += 30
        with pytest.raises(CdsAuthError, match="kid"):
            verify(cds.SigningKey("made-up-late").token(AUD), audience=AUD, keys=keys)
        assert fetches() == 1

        ehr.resources["jwks"] = new.jwks()  # the EHR rotates its signing key
        clock.now += 31  # a minute after the last fetch: the unknown kid may fetch once more
        assert verify(new.token(AUD), audience=AUD, keys=keys)["iss"] == cds.ISSUER
        assert fetches() == 2
        with pytest.raises(CdsAuthError, match="kid"):
            verify(cds.SigningKey("unknown-key").token(AUD), audience=AUD, keys=keys)
        assert fetches() == 2


def test_calls_arriving_while_the_keys_are_fetched_wait_for_that_one_fetch_instead_of_being_refused() -> None:
    # Seen under load: two HTTP workers just started, a burst of chart openings, and the calls that
    # came in while the first call's JWKS fetch was on its way were refused as "could not be loaded".
    key = cds.SigningKey("slow-ehr")
    with EhrFhirServer(get_delay_s=0.5) as ehr:
        ehr.resources["jwks"] = key.jwks()
        keys = IssuerKeys({cds.ISSUER: f"{ehr.url}/jwks"})
        tokens = [key.token(AUD) for _ in range(8)]
        outcomes: list[str] = []

        def call(token: str) -> None:
            try:
                outcomes.append(verify(token, audience=AUD, keys=keys)["iss"])
            except CdsAuthError as exc:
                outcomes.append(str(exc))

        threads = [threading.Thread(target=call, args=(t,)) for t in tokens]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert outcomes == [cds.ISSUER] * 8
        assert sum(r.path.endswith("/jwks") for r in ehr.requests) == 1


def test_a_token_whose_exp_lies_more_than_five_minutes_ahead_is_refused_so_no_jti_outlives_its_ledger(
    db: Database, tmp_path: Path
) -> None:
    """With a clock the test controls: a long-lived token is refused outright; a 5-minute token's jti is
    kept until its exp, and once the ledger forgets it the token itself has expired."""
    key = cds.SigningKey("es-key")
    keys = IssuerKeys({cds.ISSUER: str(key.write_jwks(tmp_path / "jwks.json"))})
    ledger = JtiLedger(db)
    t0 = 2_000_000_000.0
    far = key.token(AUD, jti="far", iat=int(t0), exp=int(t0) + 24 * 3600)
    with pytest.raises(CdsAuthError, match="more than 5 minutes ahead"):
        verify(far, audience=AUD, keys=keys, now=t0)

    token = key.token(AUD, jti="five", iat=int(t0), exp=int(t0) + 300)
    ledger.remember(verify(token, audience=AUD, keys=keys, now=t0))
    later = datetime.fromtimestamp(t0, UTC)
    for minutes in (1, 4, 5):  # the id is kept for as long as the token is valid
        assert purge_expired(db, now=later + timedelta(minutes=minutes)) == 0
        with pytest.raises(CdsAuthError, match="replay"):
            ledger.remember(verify(token, audience=AUD, keys=keys, now=t0 + minutes * 60))
    assert purge_expired(db, now=later + timedelta(minutes=6)) == 1  # forgotten only after exp…
    with pytest.raises(CdsAuthError, match="expired"):  # …when the token no longer passes anyway
        verify(token, audience=AUD, keys=keys, now=t0 + 6 * 60)


def test_a_token_whose_typ_header_is_not_jwt_is_refused(tmp_path: Path) -> None:
    key = cds.SigningKey("es-key")
    keys = IssuerKeys({cds.ISSUER: str(key.write_jwks(tmp_path / "jwks.json"))})
    claims = {
        "iss": cds.ISSUER,
        "aud": AUD,
        "iat": int(time.time()),
        "exp": int(time.time()) + 60,
        "jti": "t",
    }
    for typ in ("at+jwt", "JWS", None):  # None: PyJWT leaves the typ header out
        signed = jwt.encode(claims, key.private, algorithm="ES384", headers={"kid": "es-key", "typ": typ})
        with pytest.raises(CdsAuthError, match="typ"):
            verify(signed, audience=AUD, keys=keys)
    assert verify(key.token(AUD), audience=AUD, keys=keys)["iss"] == cds.ISSUER


def test_unreachable_jwks_is_an_authentication_failure_not_a_crash() -> None:
    keys = IssuerKeys({cds.ISSUER: "http://127.0.0.1:9/jwks"})

    with pytest.raises(CdsAuthError, match="JWKS"):
        verify(cds.SigningKey("k").token(AUD), audience=AUD, keys=keys)


def _part(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def es_keys(tmp_path: Path) -> tuple[cds.SigningKey, IssuerKeys]:
    key = cds.SigningKey("es-key")
    return key, IssuerKeys({cds.ISSUER: str(key.write_jwks(tmp_path / "jwks.json"))})


def test_a_valid_es384_token_gives_its_claims_and_an_rs384_token_verifies_with_an_rsa_key(
    es_keys: tuple[cds.SigningKey, IssuerKeys], tmp_path: Path
) -> None:
    key, keys = es_keys
    assert verify(key.token(AUD, jti="a"), audience=AUD, keys=keys)["jti"] == "a"
    rsa_key = cds.SigningKey("rs-key", algorithm="RS384")
    rsa_keys = IssuerKeys({cds.ISSUER: str(rsa_key.write_jwks(tmp_path / "rsa.json"))})
    assert verify(rsa_key.token(AUD, jti="b"), audience=AUD, keys=rsa_keys)["jti"] == "b"
    # an audience list naming the called URL is accepted, as RFC 7519 allows
    assert verify(key.token([AUD, "https://other.test"], jti="c"), audience=AUD, keys=keys)["jti"] == "c"
    with pytest.raises(CdsAuthError, match="aud"):
        verify(key.token(["https://other.test"]), audience=AUD, keys=keys)


def test_a_token_whose_header_names_the_other_algorithm_than_the_key_is_refused(tmp_path: Path) -> None:
    rsa_key = cds.SigningKey("rs-key", algorithm="RS384")
    keys = IssuerKeys({cds.ISSUER: str(rsa_key.write_jwks(tmp_path / "rsa.json"))})
    _header, payload, signature = rsa_key.token(AUD).split(".")
    relabelled = f"{_part({'typ': 'JWT', 'alg': 'ES384', 'kid': 'rs-key'})}.{payload}.{signature}"

    with pytest.raises(CdsAuthError, match="signature"):
        verify(relabelled, audience=AUD, keys=keys)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"iat": int(time.time()) + 3600}, "not valid yet"),
        ({"nbf": int(time.time()) + 3600}, "not valid yet"),
        ({"exp": "tomorrow"}, "must be numbers"),
        ({"iat": None}, "no iat claim"),
    ],
)
def test_claims_that_do_not_hold_are_refused_naming_the_check(
    es_keys: tuple[cds.SigningKey, IssuerKeys], change: dict[str, Any], reason: str
) -> None:
    key, keys = es_keys
    with pytest.raises(CdsAuthError, match=reason):
        verify(key.token(AUD, **change), audience=AUD, keys=keys)


def test_a_critical_header_extension_and_a_tampered_payload_are_refused(
    es_keys: tuple[cds.SigningKey, IssuerKeys],
) -> None:
    key, keys = es_keys
    header, payload, signature = key.token(AUD).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    crit_header = _part({"typ": "JWT", "alg": "ES384", "kid": "es-key", "crit": ["x"], "x": 1})
    crit = f"{crit_header}.{payload}.{signature}"
    tampered = f"{header}.{_part({**claims, 'jti': 'another'})}.{signature}"

    with pytest.raises(CdsAuthError, match="critical"):
        verify(crit, audience=AUD, keys=keys)
    with pytest.raises(CdsAuthError, match="signature"):
        verify(tampered, audience=AUD, keys=keys)


@pytest.mark.parametrize("token", ["", "a.b", "a.b.c.d", "###.###.###", "e30.W10.", "bm90IGpzb24.e30.AA"])
def test_something_that_is_not_a_jwt_is_refused_as_such(
    es_keys: tuple[cds.SigningKey, IssuerKeys], token: str
) -> None:
    with pytest.raises(CdsAuthError, match="not a JWT"):
        verify(token, audience=AUD, keys=es_keys[1])


def test_a_jti_is_recorded_once_another_process_releases_the_sqlite_write_lock(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("SQLite's file lock only")
    ledger = JtiLedger(db)
    holder = sqlite3.connect(db.engine.url.database or "", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # what a writer in another gateway process does
    releaser = threading.Timer(0.2, lambda: holder.execute("COMMIT"))
    releaser.start()
    try:
        started = time.monotonic()
        ledger.remember(claims("waited-for"))
        waited = time.monotonic() - started
    finally:
        releaser.join()
        holder.close()

    assert waited >= 0.15  # it did meet the lock, and was not refused for it
    with db.read() as session:
        assert list(session.scalars(select(CdsJwtId.jti))) == ["waited-for"]
