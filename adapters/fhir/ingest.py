"""FHIR ingest: `POST /fhir` (Bundle) and `POST /fhir/{type}` (one resource), stored before the answer.

What is accepted: a `transaction`, `batch` or `collection` Bundle (its entries may be any R4 resource;
the ED mapping uses Patient, Encounter, Condition, Observation and RelatedPerson), or one Patient,
Encounter, Condition, Observation or RelatedPerson. The JSON is normalised (zone-less date-times,
OID BSN systems; see `normalise`), validated with `fhir.resources.R4B`, and stored as a Bundle in the
inbox (channel FHIR) together with its outbox row, in one transaction, before the answer goes out.

Idempotency: the dedupe key is built from each resource's type, id and versionId (a hash of the resource
when it has no versionId), so the same resources sent again — alone or in another Bundle with the same
content — are answered with the stored answer (status 200) and processed once.

Failure modes (nothing is stored for any of them): bad JSON, wrong resourceType, an invalid element,
an unsupported Bundle type or entry method → 400 OperationOutcome naming the element path; body too
large → 413; store unavailable → 503 (the sender should retry).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from adapters.fhir.http import FhirResponse, FhirRoute, absolute
from adapters.fhir.normalise import normalise
from adapters.fhir.outcome import FhirError, IssueType, information
from adapters.fhir.validate import parse_json, validate_resource
from core.deps import RuntimeDep
from core.metrics import ACK_LATENCY, MESSAGES
from identity.deps import CurrentPrincipalDep
from store.crypto import FieldCipher
from store.inbox import Channel, NewMessage, dedupe_key, store_one


class IngestType(StrEnum):
    """Resource types accepted one by one at `POST /fhir/{type}`."""

    PATIENT = "Patient"
    ENCOUNTER = "Encounter"
    CONDITION = "Condition"
    OBSERVATION = "Observation"
    RELATED_PERSON = "RelatedPerson"


class BundleType(StrEnum):
    TRANSACTION = "transaction"
    BATCH = "batch"
    COLLECTION = "collection"


_RESPONSE_TYPE = {BundleType.TRANSACTION: "transaction-response", BundleType.BATCH: "batch-response"}
_ACCEPTED_METHODS = frozenset({"POST", "PUT"})
_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
ACK_ACCEPTED = "AA"  # the inbox's two-letter answer code; the HTTP status follows from first/resend


@dataclass(frozen=True, slots=True)
class EntryKey:
    resource_type: str
    id: str
    version: str

    @property
    def location(self) -> str:
        return f"{self.resource_type}/{self.id}/_history/{self.version}"

    def joined(self) -> str:
        return f"{self.resource_type}/{self.id}/{self.version}"


@dataclass
class Prepared:
    """A validated submission, ready to store: what to keep, under which key, and what to answer."""

    raw: bytes
    key: str
    message_type: str
    control_id: str
    answer: dict[str, Any]
    first_status: int
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    duplicate: bool


def _content_hash(resource: dict[str, Any]) -> str:
    canonical = json.dumps(resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _id_from_full_url(full_url: object) -> str:
    if not isinstance(full_url, str) or not full_url:
        return ""
    tail = full_url.removeprefix("urn:uuid:").removeprefix("urn:oid:").rstrip("/").rsplit("/", 1)[-1]
    return tail if _FHIR_ID.match(tail) else ""


def entry_key(resource: dict[str, Any], full_url: object = None) -> EntryKey:
    """Type, id and version of a resource; id and version fall back to the fullUrl and a content hash."""
    digest = _content_hash(resource)
    rid = resource.get("id") if isinstance(resource.get("id"), str) else ""
    rid = rid or _id_from_full_url(full_url) or digest[:32]
    meta = resource.get("meta")
    version = meta.get("versionId") if isinstance(meta, dict) else None
    version = version if isinstance(version, str) and _FHIR_ID.match(version) else "h" + digest[:16]
    return EntryKey(str(resource.get("resourceType")), rid, version)


def prepare_bundle(body: bytes, zone: ZoneInfo) -> Prepared:
    data = parse_json(body)
    if data.get("resourceType") != "Bundle":
        raise FhirError.one(400, IssueType.INVALID, "POST /fhir takes a Bundle", "resourceType")
    try:
        bundle_type = BundleType(str(data.get("type")))
    except ValueError:
        raise FhirError.one(
            400,
            IssueType.NOT_SUPPORTED,
            "Bundle.type must be transaction, batch or collection",
            "Bundle.type",
        ) from None
    data = normalise(data, zone)
    validate_resource(data)
    entries = data.get("entry") or []
    if not entries:
        raise FhirError.one(400, IssueType.REQUIRED, "the Bundle has no entries", "Bundle.entry")
    keys: list[EntryKey] = []
    for index, entry in enumerate(entries):
        resource = entry.get("resource")
        if not isinstance(resource, dict) or not resource.get("resourceType"):
            raise FhirError.one(
                400, IssueType.REQUIRED, "entry without a resource", f"Bundle.entry[{index}].resource"
            )
        if bundle_type is not BundleType.COLLECTION:
            method = (entry.get("request") or {}).get("method")
            if method is None:
                raise FhirError.one(
                    400, IssueType.REQUIRED, "entry without request", f"Bundle.entry[{index}].request"
                )
            if method not in _ACCEPTED_METHODS:
                raise FhirError.one(
                    400,
                    IssueType.NOT_SUPPORTED,
                    f"request method {method} is not accepted (POST or PUT)",
                    f"Bundle.entry[{index}].request.method",
                )
        keys.append(entry_key(resource, entry.get("fullUrl")))
    key = dedupe_key(Channel.FHIR, "resources", *sorted(k.joined() for k in keys))
    if bundle_type is BundleType.COLLECTION:
        answer = information(f"Bundle of {len(keys)} entries stored")
    else:
        answer = {
            "resourceType": "Bundle",
            "id": str(uuid.UUID(key[:32])),
            "type": _RESPONSE_TYPE[bundle_type],
            "entry": [
                {"response": {"status": "201 Created", "location": k.location, "etag": f'W/"{k.version}"'}}
                for k in keys
            ],
        }
    bundle_id = data.get("id") if isinstance(data.get("id"), str) else ""
    return Prepared(
        raw=json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(),
        key=key,
        message_type=f"Bundle/{bundle_type.value}",
        control_id=bundle_id or key[:32],
        answer=answer,
        first_status=200,
    )


def prepare_resource(
    resource_type: str, body: bytes, zone: ZoneInfo, *, url_id: str | None = None
) -> Prepared:
    """One resource, from `POST /fhir/{type}` or (with `url_id`) `PUT /fhir/{type}/{id}`."""
    try:
        accepted = IngestType(resource_type)
    except ValueError:
        raise FhirError.one(
            400,
            IssueType.NOT_SUPPORTED,
            f"/fhir/{{type}} accepts {', '.join(t.value for t in IngestType)}",
            "resourceType",
        ) from None
    data = parse_json(body)
    if data.get("resourceType") != accepted.value:
        raise FhirError.one(
            400, IssueType.INVALID, f"resourceType must be {accepted.value} at this URL", "resourceType"
        )
    if url_id is not None and data.get("id") != url_id:
        raise FhirError.one(
            400, IssueType.INVALID, "the id in the body must be the id in the URL", f"{accepted}.id"
        )
    data = normalise(data, zone)
    validate_resource(data)
    key = entry_key(data)
    wrapped = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"{key.resource_type}/{key.id}", "resource": data}],
    }
    return Prepared(
        raw=json.dumps(wrapped, ensure_ascii=False, separators=(",", ":")).encode(),
        key=dedupe_key(Channel.FHIR, "resources", key.joined()),
        message_type=accepted.value,
        control_id=f"{key.resource_type}/{key.id}"[:200],
        answer=information(f"{key.resource_type} stored"),
        first_status=201,
        headers={"Location": key.location, "ETag": f'W/"{key.version}"'},
    )


def store(session: Session, cipher: FieldCipher, prepared: Prepared, *, sender: str) -> Answer:
    """Store in the caller's transaction; the caller commits before sending the answer."""
    ack = json.dumps(prepared.answer, separators=(",", ":")).encode()
    stored = store_one(
        session,
        cipher,
        NewMessage(
            channel=Channel.FHIR,
            dedupe_key=prepared.key,
            sender=sender,
            control_id=prepared.control_id,
            message_type=prepared.message_type,
            raw=prepared.raw,
            ack_code=ACK_ACCEPTED,
            ack=ack,
        ),
    )
    body = json.loads(stored.ack) if stored.ack else prepared.answer
    status = 200 if stored.duplicate else prepared.first_status
    return Answer(status, body, prepared.headers, stored.duplicate)


def accept(runtime: Any, prepared: Prepared, *, sender: str) -> Answer:
    """Store and commit; a store that cannot be reached is a 503 the sender retries."""
    try:
        with runtime.db.write() as session:
            return store(session, runtime.cipher, prepared, sender=sender)
    except OperationalError:
        raise FhirError.one(
            503, IssueType.TRANSIENT, "store unavailable; nothing was stored, retry"
        ) from None


router = APIRouter(tags=["fhir"], route_class=FhirRoute)


def _response(answer: Answer, request: Request, runtime: Any) -> FhirResponse:
    """The answer with absolute URLs (the stored answer keeps them relative: the gateway's public URL
    may change, a resend must still get its answer)."""
    headers = dict(answer.headers)
    if "Location" in headers:
        headers["Location"] = absolute(request, runtime, headers["Location"])
    body = answer.body
    if body.get("resourceType") == "Bundle":
        body = {
            **body,
            "entry": [_absolute_entry(entry, request, runtime) for entry in body.get("entry", [])],
        }
    return FhirResponse(body, status_code=answer.status, headers=headers)


def _absolute_entry(entry: dict[str, Any], request: Request, runtime: Any) -> dict[str, Any]:
    response = entry.get("response")
    if not isinstance(response, dict) or not isinstance(response.get("location"), str):
        return entry
    return {**entry, "response": {**response, "location": absolute(request, runtime, response["location"])}}


async def _measured(work: Callable[[], Answer]) -> Answer:
    """Run the ingest off the event loop, counting its outcome and timing it (`core.metrics`)."""
    started = time.perf_counter()
    channel = Channel.FHIR.value
    try:
        answer = await run_in_threadpool(work)
    except FhirError as error:
        if error.status < 500:
            MESSAGES.labels(channel, "rejected").inc()
        raise
    MESSAGES.labels(channel, "resent" if answer.duplicate else "accepted").inc()
    ACK_LATENCY.labels(channel).observe(time.perf_counter() - started)
    return answer


@router.post("/fhir", summary="Accept a transaction, batch or collection Bundle")
async def post_bundle(request: Request, runtime: RuntimeDep, _caller: CurrentPrincipalDep) -> FhirResponse:
    body = await request.body()
    zone = ZoneInfo(runtime.settings.timezone)

    def work() -> Answer:
        return accept(runtime, prepare_bundle(body, zone), sender="fhir-rest")

    return _response(await _measured(work), request, runtime)


@router.post(
    "/fhir/{resource_type}", summary="Accept one Patient, Encounter, Condition, Observation or RelatedPerson"
)
async def post_resource(
    resource_type: str, request: Request, runtime: RuntimeDep, _caller: CurrentPrincipalDep
) -> FhirResponse:
    body = await request.body()
    zone = ZoneInfo(runtime.settings.timezone)

    def work() -> Answer:
        return accept(runtime, prepare_resource(resource_type, body, zone), sender="fhir-rest")

    return _response(await _measured(work), request, runtime)


@router.put("/fhir/{resource_type}/{resource_id}", summary="Accept one resource as an update (or create)")
async def put_resource(
    resource_type: str, resource_id: str, request: Request, runtime: RuntimeDep, _caller: CurrentPrincipalDep
) -> FhirResponse:
    body = await request.body()
    zone = ZoneInfo(runtime.settings.timezone)

    def work() -> Answer:
        prepared = prepare_resource(resource_type, body, zone, url_id=resource_id)
        return accept(runtime, prepared, sender="fhir-rest")

    return _response(await _measured(work), request, runtime)
