"""The OpenID Connect relying party: discovery, the authorization request, the code exchange, the ID token.

One protocol core for both ways a person arrives from outside: the hospital's identity provider
(`/login/oidc`) and the EHR's authorization server in a SMART App Launch (`identity/smart.py`). Both use
the authorization code flow with PKCE (S256), a `state` bound to the browser and a `nonce` bound to
the ID token; the ID token's signature is checked against the provider's JWKS and its `iss`, `aud`,
`exp`, `nonce` and `at_hash` are validated (authlib's claims rules on joserfc).

Failure modes: every problem with the provider (unreachable, not JSON, a metadata document for another
issuer, a refused code, a token that does not validate) raises `LoginFailed` with a reason for the log
(never a token, never a claim value); the pages show the person a Dutch message, not the reason.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from core.http import http_client
from core.settings import Settings

METADATA_TTL_S = 300.0
LEEWAY_S = 60


class LoginFailed(Exception):
    """The provider's part of a login did not work out; `reason` is for the log, not for the person."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ProviderMetadata:
    """What a provider tells in its discovery document, the parts this relying party uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    signing_algorithms: tuple[str, ...] = ("RS256",)


@dataclass(frozen=True)
class Client:
    """This gateway as a client of one provider. No secret: a public client (PKCE alone)."""

    client_id: str
    client_secret: str | None = None


@dataclass(frozen=True)
class PendingLogin:
    """What the browser carries between the redirect to the provider and the callback (encrypted)."""

    state: str
    nonce: str
    code_verifier: str
    started_at: float
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TokenResponse:
    """The provider's answer to a valid code: the validated ID-token claims and the whole response
    (a SMART launch reads `patient` and `encounter` from it, and the access token for the FHIR reads)."""

    claims: dict[str, Any]
    raw: dict[str, Any]

    @property
    def access_token(self) -> str:
        return str(self.raw.get("access_token") or "")


def secure_url(url: str) -> bool:
    """https, or http on a loopback host (tests, a provider on the same machine): nothing else is
    trusted to carry a code, a token or a key set."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and parts.hostname in {"127.0.0.1", "localhost", "::1"}


def same_issuer(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


class KeyCache:
    """Discovery documents and key sets per URL, kept a few minutes (a login must not fetch them every
    time); a token signed with a key we do not know makes one forced refetch (the provider rotated)."""

    def __init__(self, ttl_s: float = METADATA_TTL_S) -> None:
        self._ttl_s = ttl_s
        self._entries: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get_json(self, url: str, *, force: bool = False) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            cached = self._entries.get(url)
        if cached and not force and now - cached[0] < self._ttl_s:
            return cached[1]
        data = fetch_json(url)
        with self._lock:
            self._entries[url] = (now, data)
        return data


def fetch_json(url: str, *, access_token: str | None = None) -> dict[str, Any]:
    """GET a JSON object over a secure URL; every failure is a `LoginFailed`."""
    if not secure_url(url):
        raise LoginFailed(f"refused to fetch over an insecure URL: {urlsplit(url).scheme}://…")
    headers = {"Accept": "application/json, application/fhir+json"}
    if access_token:
        headers["Authorization"] = f"Bearer {access_token}"
    try:
        with http_client(headers=headers, pool=2) as client:
            response = client.get(url)
    except httpx.HTTPError as exc:
        raise LoginFailed(f"{type(exc).__name__} fetching {urlsplit(url).path}") from None
    if response.status_code != 200:
        raise LoginFailed(f"HTTP {response.status_code} fetching {urlsplit(url).path}")
    try:
        data = response.json()
    except ValueError:
        raise LoginFailed(f"not JSON at {urlsplit(url).path}") from None
    if not isinstance(data, dict):
        raise LoginFailed(f"not a JSON object at {urlsplit(url).path}")
    return data


# One per process: discovery documents and key sets shared by every login.
PROVIDER_CACHE = KeyCache()


def discover(issuer: str, *, cache: KeyCache = PROVIDER_CACHE) -> ProviderMetadata:
    """The provider's metadata from `{issuer}/.well-known/openid-configuration`, for exactly that issuer
    (OpenID Connect Discovery §4.3: a document naming another issuer is refused)."""
    data = cache.get_json(f"{issuer.rstrip('/')}/.well-known/openid-configuration")
    metadata = metadata_from(data)
    if not same_issuer(metadata.issuer, issuer):
        raise LoginFailed("discovery document names another issuer")
    return metadata


def metadata_from(data: dict[str, Any]) -> ProviderMetadata:
    """The endpoints of a discovery document (OIDC, or a SMART configuration with an issuer)."""
    try:
        metadata = ProviderMetadata(
            issuer=str(data["issuer"]),
            authorization_endpoint=str(data["authorization_endpoint"]),
            token_endpoint=str(data["token_endpoint"]),
            jwks_uri=str(data["jwks_uri"]),
            signing_algorithms=tuple(
                str(a) for a in data.get("id_token_signing_alg_values_supported") or ("RS256",)
            ),
        )
    except KeyError as exc:
        raise LoginFailed(f"discovery document lacks {exc.args[0]}") from None
    for url in (metadata.authorization_endpoint, metadata.token_endpoint, metadata.jwks_uri):
        if not secure_url(url):
            raise LoginFailed("discovery document names an insecure endpoint")
    if "none" in {a.lower() for a in metadata.signing_algorithms}:
        # An unsigned ID token proves nothing; a provider offering it is not one we log people in with.
        metadata = ProviderMetadata(
            metadata.issuer,
            metadata.authorization_endpoint,
            metadata.token_endpoint,
            metadata.jwks_uri,
            tuple(a for a in metadata.signing_algorithms if a.lower() != "none") or ("RS256",),
        )
    return metadata


def authorization_request(
    metadata: ProviderMetadata,
    client: Client,
    *,
    redirect_uri: str,
    scope: str,
    params: dict[str, str] | None = None,
    extra: dict[str, str] | None = None,
) -> tuple[str, PendingLogin]:
    """The URL to send the browser to, and what to keep for the callback: a fresh state, nonce and PKCE
    verifier (S256), each 256 bits or more."""
    pending = PendingLogin(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=generate_token(64),
        started_at=time.time(),
        extra=dict(extra or {}),
    )
    url = prepare_grant_uri(
        metadata.authorization_endpoint,
        client.client_id,
        "code",
        redirect_uri=redirect_uri,
        scope=scope,
        state=pending.state,
        nonce=pending.nonce,
        code_challenge=create_s256_code_challenge(pending.code_verifier),
        code_challenge_method="S256",
        **(params or {}),
    )
    return str(url), pending


def exchange_code(
    metadata: ProviderMetadata,
    client: Client,
    pending: PendingLogin,
    *,
    code: str,
    redirect_uri: str,
    cache: KeyCache = PROVIDER_CACHE,
) -> TokenResponse:
    """Trade the code for tokens (with the PKCE verifier) and validate the ID token against the
    provider's keys, this client and the login's nonce. A confidential client authenticates with HTTP
    Basic (`client_secret_basic`, the default of RFC 6749 §2.3.1); a public one sends its id."""
    form: dict[str, str] = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": pending.code_verifier,
    }
    headers = {"Accept": "application/json"}
    if client.client_secret:
        # RFC 6749 §2.3.1: id and secret form-encoded, then Basic.
        pair = f"{quote(client.client_id, safe='')}:{quote(client.client_secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    else:
        form["client_id"] = client.client_id
    try:
        with http_client(headers=headers, pool=2) as http:
            response = http.post(metadata.token_endpoint, data=form)
    except httpx.HTTPError as exc:
        raise LoginFailed(f"{type(exc).__name__} at the token endpoint") from None
    try:
        raw = response.json()
    except ValueError:
        raw = None
    if response.status_code != 200 or not isinstance(raw, dict):
        error = raw.get("error") if isinstance(raw, dict) else None
        raise LoginFailed(f"token endpoint refused the code: HTTP {response.status_code} {error or '-'}")
    if str(raw.get("token_type", "")).lower() != "bearer" or not isinstance(raw.get("access_token"), str):
        raise LoginFailed("token response without a bearer access token")
    id_token = raw.get("id_token")
    if not isinstance(id_token, str):
        raise LoginFailed("no ID token in the token response")
    claims = validate_id_token(
        metadata,
        id_token,
        client_id=client.client_id,
        nonce=pending.nonce,
        access_token=raw["access_token"],
        cache=cache,
    )
    return TokenResponse(claims=claims, raw=raw)


def _key_set(data: dict[str, Any]) -> KeySet:
    keys = data.get("keys")
    if not isinstance(keys, list):
        raise LoginFailed("the provider's key set has no keys")
    return KeySet.import_key_set({"keys": keys})


def validate_id_token(
    metadata: ProviderMetadata,
    id_token: str,
    *,
    client_id: str,
    nonce: str,
    access_token: str | None,
    cache: KeyCache = PROVIDER_CACHE,
    now: int | None = None,
) -> dict[str, Any]:
    """The claims of a valid ID token: signed by a key in the provider's JWKS with an allowed algorithm,
    issued by this provider for this client, not expired, carrying this login's nonce."""
    algorithms = list(metadata.signing_algorithms)
    try:
        try:
            token = jwt.decode(id_token, _key_set(cache.get_json(metadata.jwks_uri)), algorithms)
        except InvalidKeyIdError:  # a key we have not seen: the provider rotated its keys
            token = jwt.decode(id_token, _key_set(cache.get_json(metadata.jwks_uri, force=True)), algorithms)
        params: dict[str, Any] = {"nonce": nonce, "client_id": client_id}
        if access_token:
            params["access_token"] = access_token
        claims = CodeIDToken(
            token.claims,
            token.header,
            {
                "iss": {"essential": True, "values": [metadata.issuer, metadata.issuer.rstrip("/")]},
                "aud": {"essential": True, "values": [client_id]},
                "nonce": {"essential": True, "values": [nonce]},
            },
            params,
        )
        claims.validate(now=now, leeway=LEEWAY_S)
    except (ValueError, JoseError) as exc:
        raise LoginFailed(f"ID token refused: {type(exc).__name__}") from None
    return dict(claims)


# --- the hospital's provider, from the settings --------------------------------------------------------


def hospital_client(settings: Settings) -> Client | None:
    """The hospital's provider as configured, or None when OIDC login is not set up."""
    if not settings.oidc_issuer or not settings.oidc_client_id:
        return None
    return Client(client_id=settings.oidc_client_id, client_secret=settings.oidc_client_secret or None)


def parse_role_map(text: str, known_roles: frozenset[str]) -> list[tuple[str, str]]:
    """`group=role,group=role` in priority order; an unknown role is a configuration error (ValueError)
    at start-up, not a silent refusal at every login."""
    pairs: list[tuple[str, str]] = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        claim_value, sep, role = (s.strip() for s in item.partition("="))
        if not sep or not claim_value or not role:
            raise ValueError(f"SPOEDPLEIN_OIDC_ROLE_MAP: {item!r} is not claim-value=role")
        if role not in known_roles:
            raise ValueError(f"SPOEDPLEIN_OIDC_ROLE_MAP: unknown role {role!r}; known: {sorted(known_roles)}")
        pairs.append((claim_value, role))
    return pairs


def claim_values(claims: dict[str, Any], path: str) -> list[str]:
    """The values at a claim path (`roles`, or `realm_access.roles` for a nested one), as strings: a
    provider may send one group as a string and several as a list."""
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return []
        node = node[part]
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [str(v) for v in node if isinstance(v, str | int)]
    return []


def map_role(claims: dict[str, Any], path: str, role_map: list[tuple[str, str]]) -> str | None:
    """The role of the first configured pair whose claim value the person has; None: no mapped role."""
    held = set(claim_values(claims, path))
    return next((role for claim_value, role in role_map if claim_value in held), None)


def display_name(claims: dict[str, Any]) -> str:
    """The person's name as the provider tells it, for the pages and the audit log."""
    for key in ("name", "preferred_username", "email"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            return " ".join(value.split())[:100]
    return str(claims.get("sub", ""))[:100]
