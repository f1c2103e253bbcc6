"""The OpenID Connect and SMART protocol parts on their own: the ID-token checks, role mapping, the
login-in-progress cookie, the `iss` allow-list, and the CDS card's SMART link."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.requests import Request
from starlette.responses import Response

from adapters.fhir.cds import cards
from core.settings import Settings
from detection.models import Severity
from identity import oidc, pending, smart
from store.crypto import FieldCipher

ISSUER = "https://idp.example"
METADATA = oidc.ProviderMetadata(
    issuer=ISSUER,
    authorization_endpoint=f"{ISSUER}/authorize",
    token_endpoint=f"{ISSUER}/token",
    jwks_uri=f"{ISSUER}/jwks",
)
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256"})


def keys_for(*keys: RSAKey) -> oidc.KeyCache:
    cache = oidc.KeyCache()
    cache._entries[METADATA.jwks_uri] = (time.monotonic(), {"keys": [k.as_dict(private=False) for k in keys]})
    return cache


def id_token(key: RSAKey = KEY, alg: str = "RS256", **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "u1", "aud": "spoedplein", "iat": now, "exp": now + 300, "nonce": "n-1"}
    claims.update(overrides)
    return jwt.encode({"alg": alg, "kid": key.kid}, {k: v for k, v in claims.items() if v is not None}, key)


def validate(token: str, cache: oidc.KeyCache | None = None) -> dict[str, Any]:
    return oidc.validate_id_token(
        METADATA, token, client_id="spoedplein", nonce="n-1", access_token=None, cache=cache or keys_for(KEY)
    )


def test_a_valid_id_token_gives_its_claims() -> None:
    assert validate(id_token(name="Dr. A"))["name"] == "Dr. A"


@pytest.mark.parametrize(
    "overrides",
    [
        {"nonce": "n-2"},  # a token from another login (replay)
        {"nonce": None},
        {"aud": "another-client"},
        {"iss": "https://evil.example"},
        {"exp": int(time.time()) - 3600},
        {"sub": None},
    ],
)
def test_an_id_token_that_does_not_fit_this_login_is_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(oidc.LoginFailed):
        validate(id_token(**overrides))


def test_an_id_token_signed_by_another_key_is_refused() -> None:
    other = RSAKey.generate_key(2048, parameters={"kid": "k1", "alg": "RS256"})
    with pytest.raises(oidc.LoginFailed):
        validate(id_token(key=other))


def test_an_unsigned_id_token_is_refused_even_if_the_provider_lists_none() -> None:
    metadata = oidc.metadata_from(
        {
            "issuer": ISSUER,
            "authorization_endpoint": f"{ISSUER}/a",
            "token_endpoint": f"{ISSUER}/t",
            "jwks_uri": f"{ISSUER}/jwks",
            "id_token_signing_alg_values_supported": ["none", "RS256"],
        }
    )
    assert metadata.signing_algorithms == ("RS256",)
    none_header = "eyJhbGciOiJub25lIn0"  # {"alg":"none"}
    unsigned = f"{none_header}.{id_token().split('.')[1]}."
    with pytest.raises(oidc.LoginFailed):
        validate(unsigned)


def test_endpoints_must_be_https_or_loopback() -> None:
    assert oidc.secure_url("https://idp.example/x")
    assert oidc.secure_url("http://127.0.0.1:9400/x")
    for url in ("http://idp.example/x", "ftp://idp.example", "file:///etc/passwd", "http:///x"):
        assert not oidc.secure_url(url), url
    with pytest.raises(oidc.LoginFailed):
        oidc.metadata_from({**METADATA.__dict__, "token_endpoint": "http://idp.example/token"})


def test_the_role_comes_from_the_first_mapped_group_and_unknown_roles_are_a_configuration_error() -> None:
    known = frozenset({"physician", "coordinator", "police"})
    role_map = oidc.parse_role_map(" seh-artsen = physician , coordinatoren=coordinator", known)
    assert role_map == [("seh-artsen", "physician"), ("coordinatoren", "coordinator")]
    assert oidc.map_role({"groups": ["coordinatoren", "seh-artsen"]}, "groups", role_map) == "physician"
    assert oidc.map_role({"groups": "coordinatoren"}, "groups", role_map) == "coordinator"
    assert oidc.map_role({"realm": {"roles": ["coordinatoren"]}}, "realm.roles", role_map) == "coordinator"
    assert oidc.map_role({"groups": ["kantine"]}, "groups", role_map) is None
    assert oidc.map_role({}, "groups", role_map) is None
    with pytest.raises(ValueError, match="unknown role"):
        oidc.parse_role_map("beheer=superuser", known)
    with pytest.raises(ValueError, match="claim-value=role"):
        oidc.parse_role_map("physician", known)


def _request(cookie: str | None = None) -> Request:
    headers = [(b"cookie", f"{pending.COOKIE_NAME}={cookie}".encode())] if cookie else []
    return Request(
        {
            "type": "http",
            "method": "GET",
            "path": "/",
            "headers": headers,
            "scheme": "http",
            "server": ("127.0.0.1", 80),
            "query_string": b"",
        }
    )


def _kept(cipher: FieldCipher, login: oidc.PendingLogin) -> str:
    response = Response()
    pending.keep(response, _request(), cipher, login, public_base_url=None)
    header = response.headers["set-cookie"]
    assert "HttpOnly" in header and "SameSite=lax" in header and "Max-Age=600" in header
    return header.split(";", 1)[0].split("=", 1)[1]


def test_the_login_in_progress_is_used_only_with_its_own_state_while_fresh() -> None:
    cipher = FieldCipher(b"k" * 32)
    login = oidc.PendingLogin("state-1", "nonce-1", "verifier-1", time.time(), {"flow": "oidc"})
    cookie = _kept(cipher, login)
    assert "verifier-1" not in cookie and "nonce-1" not in cookie  # encrypted, not just signed
    assert pending.take(_request(cookie), cipher, "state-1") == login
    assert pending.take(_request(cookie), cipher, "state-2") is None
    assert pending.take(_request(cookie), cipher, "state-1", now=time.time() + 601) is None
    assert pending.take(_request(cookie), FieldCipher(b"o" * 32), "state-1") is None  # another install
    assert pending.take(_request(cookie[:-4] + "AAAA"), cipher, "state-1") is None
    assert pending.take(_request(None), cipher, "state-1") is None


def test_only_a_listed_iss_is_accepted_exactly(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, smart_allowed_iss=["https://ehr.example/fhir/", "http://ehr.example/r4"]
    )
    assert smart.allowed_iss(settings, "https://ehr.example/fhir") == "https://ehr.example/fhir"
    for iss in (
        "https://ehr.example/fhir.evil.example",
        "https://ehr.example/fhirx",
        "https://ehr.example",
        "http://ehr.example/r4",  # listed, but not https (and not loopback): never trusted
        "https://EVIL.example/fhir",
        "",
    ):
        with pytest.raises(smart.LaunchRefused):
            smart.allowed_iss(settings, iss)
    with pytest.raises(smart.LaunchRefused):
        smart.check_launch("")
    with pytest.raises(smart.LaunchRefused):
        smart.check_launch("a" * 501)


def test_a_launch_context_with_a_path_in_its_patient_id_is_refused() -> None:
    claims = {"sub": "u", "fhirUser": "https://ehr.example/fhir/Practitioner/12"}
    good = smart.launch_context("https://ehr.example/fhir", oidc.TokenResponse(claims, {"patient": "p-1"}))
    assert good.patient_id == "p-1" and good.user_type == "Practitioner"
    with pytest.raises(oidc.LoginFailed):
        smart.launch_context("https://ehr.example/fhir", oidc.TokenResponse(claims, {"patient": "../x"}))


def test_the_card_links_to_the_case_as_a_smart_app_when_the_ehr_launches_us() -> None:
    case = cards.CaseRef(7, "SP-ABCDEFGH", Severity.WARNING, datetime(2026, 11, 23, tzinfo=UTC))
    kwargs: dict[str, Any] = {"service_id": "s", "case": case, "rule_ids": ["R-1"], "patient_id": "p"}
    plain = cards.signals_card(**kwargs, case_url="https://gw.example/cases/7")
    assert plain["links"] == [
        {"label": "Open de Spoedplein-casus", "url": "https://gw.example/cases/7", "type": "absolute"}
    ]
    launched = cards.signals_card(
        **kwargs, case_url="https://gw.example/cases/7", launch_url="https://gw.example/launch"
    )
    assert launched["links"] == [
        {
            "label": "Open de Spoedplein-casus",
            "url": "https://gw.example/launch",
            "type": "smart",
            "appContext": "SP-ABCDEFGH",
        }
    ]
