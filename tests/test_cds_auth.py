"""The CDS JWT checks below the HTTP layer: jti ledger across two ledgers (two processes' worth), purge of
expired ids, and key rotation picked up from the issuer's JWKS URL."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

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
