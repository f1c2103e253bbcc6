"""The CDS JWT checks below the HTTP layer: jti ledger across two ledgers (two processes' worth), purge of
expired ids, and key rotation picked up from the issuer's JWKS URL."""

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


def test_rotated_key_is_fetched_again_from_the_jwks_url() -> None:
    old, new = cds.SigningKey("2024-key"), cds.SigningKey("2025-key")
    with EhrFhirServer() as ehr:
        ehr.resources["jwks"] = old.jwks()
        keys = IssuerKeys({cds.ISSUER: f"{ehr.url}/jwks"})
        assert verify(old.token(AUD), audience=AUD, keys=keys)["iss"] == cds.ISSUER
        ehr.resources["jwks"] = new.jwks()  # the EHR rotates its signing key

        assert verify(new.token(AUD), audience=AUD, keys=keys)["iss"] == cds.ISSUER
        assert sum(r.path.endswith("/jwks") for r in ehr.requests) == 2
        with pytest.raises(CdsAuthError, match="kid"):
            verify(cds.SigningKey("unknown-key").token(AUD), audience=AUD, keys=keys)


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
    relabelled = f"{_part({'alg': 'ES384', 'kid': 'rs-key'})}.{payload}.{signature}"

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
    crit = f"{_part({'alg': 'ES384', 'kid': 'es-key', 'crit': ['x'], 'x': 1})}.{payload}.{signature}"
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
