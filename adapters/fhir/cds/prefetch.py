"""Prefetch for the CDS services: the templates we ask for, and getting the data when the EHR did not send it.

Each prefetch key is taken from the request when the EHR sent it; otherwise it is read from the
request's `fhirServer` with its `fhirAuthorization` token (httpx, short timeout). A key that the EHR sent
as `null` means "no such data" and is not fetched. When neither the prefetch nor the FHIR server gives a
required key, the call fails with 412 naming the keys.

The `fhirAuthorization` access token is sent only to a `fhirServer` that is `https` (plain `http` only on
a loopback address) and on the allow-list (`SPOEDPLEIN_CDS_FHIR_SERVERS`, plus `SPOEDPLEIN_EHR_FHIR_URL`):
any other `fhirServer` is not contacted at all, so a caller cannot make the gateway hand a patient-scoped
token (or a request) to a server of its choosing.

Failure modes (`FhirError`): 412 — a key missing and no usable `fhirServer` (none given, or not allowed),
or the server unreachable, slow (> 5 s), refusing (401/403) or answering anything but 200 with a FHIR
resource; 400 — prefetch data that is not a FHIR resource or Bundle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import httpx

from adapters.fhir.client import fhir_client
from adapters.fhir.outcome import FhirError, Issue, IssueType

FETCH_TIMEOUT_S = 5.0
_PLACEHOLDER = re.compile(r"\{\{context\.(\w+)\}\}")


class PrefetchKey(StrEnum):
    PATIENT = "patient"
    ENCOUNTER = "encounter"
    CONDITIONS = "conditions"
    OBSERVATIONS = "observations"


def templates(*, with_encounter: bool) -> dict[str, str]:
    """The prefetch templates a service declares in discovery."""
    encounter = (
        "Encounter/{{context.encounterId}}"
        if with_encounter
        else "Encounter?patient={{context.patientId}}&status=in-progress,arrived,triaged"
    )
    return {
        PrefetchKey.PATIENT: "Patient/{{context.patientId}}",
        PrefetchKey.ENCOUNTER: encounter,
        PrefetchKey.CONDITIONS: "Condition?patient={{context.patientId}}",
        PrefetchKey.OBSERVATIONS: "Observation?patient={{context.patientId}}",
    }


RESOURCE_TYPE: dict[str, str] = {
    PrefetchKey.PATIENT: "Patient",
    PrefetchKey.ENCOUNTER: "Encounter",
    PrefetchKey.CONDITIONS: "Condition",
    PrefetchKey.OBSERVATIONS: "Observation",
}


@dataclass(frozen=True)
class FhirServerAccess:
    base: str
    access_token: str = ""
    refused: str = ""  # why this server may not be contacted ("" when it may)


_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def server_access(base: str, access_token: str, allowed: list[str]) -> FhirServerAccess:
    """The fhirServer as it may be used: `refused` says why not when it is not https on the allow-list."""
    url = httpx.URL(base)
    if url.scheme != "https" and not (url.scheme == "http" and url.host in _LOOPBACK):
        return FhirServerAccess(base, refused="fhirServer is not https")
    wanted = base.rstrip("/") + "/"
    if not any(wanted.startswith(a.rstrip("/") + "/") for a in allowed if a):
        return FhirServerAccess(base, refused="fhirServer is not on the allow-list")
    return FhirServerAccess(base, access_token)


def render(template: str, context: dict[str, Any]) -> str:
    def value(match: re.Match[str]) -> str:
        found = context.get(match.group(1))
        if not isinstance(found, str) or not found:
            raise KeyError(match.group(1))
        return found

    return _PLACEHOLDER.sub(value, template)


def resolve(
    wanted: dict[str, str],
    prefetch: dict[str, Any] | None,
    context: dict[str, Any],
    server: FhirServerAccess | None,
) -> dict[str, Any]:
    """The data for every wanted key: resource, Bundle, or None when the EHR said there is none."""
    given = prefetch or {}
    out: dict[str, Any] = {}
    missing: list[Issue] = []
    client: httpx.Client | None = None
    try:
        for key, template in wanted.items():
            if key in given:
                out[key] = _checked(key, given[key])
                continue
            if server is None:
                missing.append(_missing(key, "not in prefetch and no fhirServer was given"))
                continue
            if server.refused:
                missing.append(_missing(key, f"not in prefetch, and {server.refused}: not contacted"))
                continue
            try:
                query = render(template, context)
            except KeyError as exc:
                missing.append(_missing(key, f"context.{exc.args[0]} is needed to fetch it"))
                continue
            if client is None:
                client = fhir_client(token=server.access_token, timeout_s=FETCH_TIMEOUT_S)
            fetched = _fetch(client, server.base, query)
            if isinstance(fetched, str):
                missing.append(_missing(key, fetched))
            elif fetched.get("resourceType") not in ("Bundle", RESOURCE_TYPE.get(key)):
                missing.append(_missing(key, f"fhirServer answered a {fetched.get('resourceType')}"))
            else:
                out[key] = fetched
    finally:
        if client is not None:
            client.close()
    if missing:
        raise FhirError(412, missing)
    return out


def _missing(key: str, why: str) -> Issue:
    return Issue(IssueType.PROCESSING, f"prefetch {key}: {why}", (f"prefetch.{key}",))


def _checked(key: str, value: Any) -> Any:
    if value is None:
        return None
    expected = RESOURCE_TYPE.get(key)
    if not isinstance(value, dict) or value.get("resourceType") not in ("Bundle", expected):
        raise FhirError.one(
            400, IssueType.STRUCTURE, f"prefetch value must be a {expected} or a Bundle", f"prefetch.{key}"
        )
    return value


def _fetch(client: httpx.Client, base: str, query: str) -> dict[str, Any] | str:
    """The resource or Bundle, or a reason (str) why it could not be had."""
    url = f"{base.rstrip('/')}/{query}"
    try:
        reply = client.get(url)
    except httpx.HTTPError as exc:
        return f"fhirServer not reachable ({type(exc).__name__})"
    if reply.status_code != 200:
        return f"fhirServer answered {reply.status_code}"
    try:
        data = reply.json()
    except ValueError:
        return "fhirServer answered something that is not JSON"
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        return "fhirServer answered something that is not a FHIR resource"
    return data


def resources_of(key: str, value: Any) -> list[dict[str, Any]]:
    """The resources of the key's type in a prefetch value: itself, or those among a Bundle's entries
    (a searchset may also carry e.g. an OperationOutcome entry, which is not ours to map)."""
    return [resource for resource, _ in located_resources(key, value)]


def located_resources(key: str, value: Any) -> list[tuple[dict[str, Any], str]]:
    """`resources_of`, each with its place in the request (`prefetch.conditions.entry[2].resource`)."""
    if value is None:
        return []
    expected = RESOURCE_TYPE.get(key)
    found = [(value, f"prefetch.{key}")]
    if value.get("resourceType") == "Bundle":
        entries = value.get("entry") or []
        found = [
            (entry.get("resource"), f"prefetch.{key}.entry[{index}].resource")
            for index, entry in enumerate(entries if isinstance(entries, list) else [])
            if isinstance(entry, dict)
        ]
    return [(r, where) for r, where in found if isinstance(r, dict) and r.get("resourceType") == expected]
