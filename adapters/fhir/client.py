"""The one way the gateway opens an HTTP client to a FHIR server (the EHR's, or a CDS client's fhirServer).

Short timeouts (the callers are on a request path or in a retried outbox job), FHIR JSON accept header,
an optional bearer token. Failure modes are httpx's: callers turn them into an OperationOutcome or a
retry, never a crash.
"""

from __future__ import annotations

import httpx

from core.settings import Settings

FHIR_TIMEOUT_S = 5.0


def fhir_client(*, token: str = "", timeout_s: float = FHIR_TIMEOUT_S) -> httpx.Client:
    headers = {"Accept": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.Client(timeout=timeout_s, headers=headers)


def ehr_client(settings: Settings) -> httpx.Client:
    """A client for `SPOEDPLEIN_EHR_FHIR_URL` (the caller checks that it is set)."""
    return fhir_client(token=settings.ehr_fhir_token or "")


def resolve_reference(base: str, reference: str) -> str | None:
    """The URL to read `reference` from the EHR, or None if it points outside the EHR's FHIR base.

    Relative references (`Patient/123`) are read under the base; absolute ones only when they start with
    it, so a notification can never make the gateway fetch from an arbitrary host.
    """
    base = base.rstrip("/")
    if reference.startswith(("http://", "https://")):
        return reference if reference.startswith(base + "/") else None
    if reference.startswith(("urn:", "#")) or "/" not in reference:
        return None
    return f"{base}/{reference.lstrip('/')}"
