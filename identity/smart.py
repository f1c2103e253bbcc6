"""The SMART App Launch (EHR launch), the protocol part: which EHR may launch us, where its authorization
server is, the authorization request, and the launch context in the token response.

The EHR opens `/launch?iss=<its FHIR base>&launch=<opaque id>`. Only an `iss` on the configured list
(`SPOEDPLEIN_SMART_ALLOWED_ISS`) is contacted at all: any other is refused before a single request goes
out, so `/launch` can be used neither to make the gateway fetch an address of someone's choosing (SSRF)
nor to send a browser to another site (open redirect). The EHR's authorization server comes from
`{iss}/.well-known/smart-configuration`; its ID token is checked as any OpenID Connect ID token
(`identity/oidc.py`: JWKS, issuer, audience = our client id, nonce).

Failure modes: a refused `iss` raises `LaunchRefused`; everything the EHR gets wrong raises
`oidc.LoginFailed` (the log gets the reason, the person a Dutch page).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core.settings import Settings
from identity import oidc

LAUNCH_MAX = 500
# The resource ids a launch context may name (FHIR id: [A-Za-z0-9\-\.]{1,64}).
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_FHIR_USER = re.compile(
    r"(?:.*/)?(Practitioner|PractitionerRole|Patient|RelatedPerson|Person)/([A-Za-z0-9\-.]{1,64})"
)


class LaunchRefused(Exception):
    """This launch is not one we take: unknown `iss`, or no/too long `launch`."""


@dataclass(frozen=True)
class LaunchContext:
    """What a completed launch tells: who launched (the EHR user) and for which patient and encounter."""

    iss: str
    subject: str
    issuer: str
    name: str
    fhir_user: str
    patient_id: str | None
    encounter_id: str | None
    access_token: str

    @property
    def user_type(self) -> str:
        """`Practitioner`, `Patient`, … from the fhirUser claim ("" when the EHR did not say)."""
        match = _FHIR_USER.fullmatch(self.fhir_user)
        return match.group(1) if match else ""


def normalise_iss(iss: str) -> str:
    return iss.strip().rstrip("/")


def allowed_iss(settings: Settings, iss: str) -> str:
    """The configured form of `iss` when it is on the list; `LaunchRefused` otherwise. Exact match on the
    whole base URL (no prefix match: `https://ehr.example/fhir.evil.example` is not `https://ehr.example/fhir`)."""
    wanted = normalise_iss(iss)
    for configured in settings.smart_allowed_iss:
        if normalise_iss(configured) == wanted and oidc.secure_url(configured):
            return normalise_iss(configured)
    raise LaunchRefused("iss not allowed")


def check_launch(launch: str) -> str:
    if not launch or len(launch) > LAUNCH_MAX or any(ord(c) < 33 for c in launch):
        raise LaunchRefused("launch missing or malformed")
    return launch


def client(settings: Settings) -> oidc.Client | None:
    if not settings.smart_client_id:
        return None
    return oidc.Client(client_id=settings.smart_client_id, client_secret=settings.smart_client_secret or None)


def configured(settings: Settings) -> bool:
    return bool(settings.smart_allowed_iss and settings.smart_client_id)


def discover(iss: str, *, cache: oidc.KeyCache | None = None) -> oidc.ProviderMetadata:
    """The EHR's authorization server: `{iss}/.well-known/smart-configuration`, completed from the
    issuer's OpenID configuration where the SMART document leaves out the issuer or the key set (both
    optional in the SMART specification, both needed to check the ID token)."""
    keys = cache or oidc.PROVIDER_CACHE
    smart = keys.get_json(f"{iss}/.well-known/smart-configuration")
    capabilities = smart.get("capabilities") or []
    if isinstance(capabilities, list) and capabilities and "launch-ehr" not in capabilities:
        raise oidc.LoginFailed("the EHR's SMART configuration does not offer launch-ehr")
    if not ("issuer" in smart and "jwks_uri" in smart):
        issuer = smart.get("issuer")
        if not isinstance(issuer, str):
            raise oidc.LoginFailed("the SMART configuration names no issuer for the ID token")
        from_openid = oidc.discover(issuer, cache=keys)
        smart = {**smart, "jwks_uri": from_openid.jwks_uri, "issuer": from_openid.issuer}
    return oidc.metadata_from(smart)


def launch_context(iss: str, token: oidc.TokenResponse) -> LaunchContext:
    """The context of a completed launch. `patient` and `encounter` must be plain FHIR ids: they go into
    URLs on the EHR's FHIR server."""
    raw: dict[str, Any] = token.raw
    claims = token.claims
    patient = raw.get("patient")
    encounter = raw.get("encounter")
    for value in (patient, encounter):
        if value is not None and not (isinstance(value, str) and _FHIR_ID.fullmatch(value)):
            raise oidc.LoginFailed("launch context holds a malformed resource id")
    return LaunchContext(
        iss=iss,
        subject=str(claims.get("sub", "")),
        issuer=str(claims.get("iss", "")),
        name=oidc.display_name(claims),
        fhir_user=str(claims.get("fhirUser") or claims.get("profile") or ""),
        patient_id=patient,
        encounter_id=encounter,
        access_token=token.access_token,
    )


def read_resource(context: LaunchContext, resource_type: str, resource_id: str) -> dict[str, Any]:
    """One resource from the launching EHR's FHIR server, with the launch's access token."""
    if not _FHIR_ID.fullmatch(resource_id):
        raise oidc.LoginFailed("malformed resource id")
    data = oidc.fetch_json(f"{context.iss}/{resource_type}/{resource_id}", access_token=context.access_token)
    if data.get("resourceType") != resource_type:
        raise oidc.LoginFailed(f"the EHR answered {resource_type}/… with another resource type")
    return data
