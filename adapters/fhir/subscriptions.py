"""FHIR Subscriptions (R4 backport IG), rest-hook channel: the endpoint the EHR notifies.

A notification is a `history` Bundle whose first entry is the subscription status — a `Parameters`
resource (R4 backport profile) or an R4B `SubscriptionStatus` — followed by the event entries.
- `handshake`: the subscription is recorded as active; nothing else happens.
- `heartbeat` (and `query-status`): `events-since-subscription-start` is compared with the highest
  event number we have; if the EHR counted more, the missing numbers are recorded as a gap.
- `event-notification`: each event number must follow the last one; a jump is recorded as a gap.
  Full-resource payloads are stored as they came; id-only payloads (entries with only a `fullUrl`, or
  the events' `focus`) are read from the EHR's FHIR server (`SPOEDPLEIN_EHR_FHIR_URL`) with httpx.
  The resources go into the inbox through the same path as `POST /fhir` (idempotent on type, id and
  version), in the same transaction as the subscription's counters.

Failure modes: a Bundle that is not a notification → 400 OperationOutcome (nothing changes); an id-only
resource that cannot be read (server down, 404, no EHR URL configured, reference outside the EHR) → 503,
nothing changes, and the EHR's retry (or the next heartbeat's gap) brings it back.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.fhir import ingest
from adapters.fhir.client import ehr_client, resolve_reference
from adapters.fhir.http import FhirResponse, FhirRoute
from adapters.fhir.models import FhirSubscription, FhirSubscriptionGap, GapSource, SubscriptionStatus
from adapters.fhir.normalise import normalise
from adapters.fhir.outcome import FhirError, IssueType, information
from adapters.fhir.validate import parse_json, validate_resource
from core.deps import ReadSession, RuntimeDep
from core.runtime import Runtime
from identity.deps import CurrentPrincipalDep
from store.db import utcnow
from store.periodic import every

log = logging.getLogger(__name__)

NOTIFICATION_TYPES = frozenset(
    {"handshake", "heartbeat", "event-notification", "query-status", "query-event"}
)


@dataclass
class Notification:
    subscription: str
    type: str
    status: str = ""
    topic: str = ""
    events_since_start: int | None = None
    event_numbers: list[int] = field(default_factory=list)
    focus: list[str] = field(default_factory=list)
    resources: list[dict[str, Any]] = field(default_factory=list)
    id_only: list[str] = field(default_factory=list)


def _int(value: Any, where: str) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise FhirError.one(400, IssueType.VALUE, "not a whole number", where) from None
    if number < 0:
        raise FhirError.one(400, IssueType.VALUE, "must not be negative", where)
    return number


def _from_parameters(resource: dict[str, Any], note: Notification) -> None:
    for index, param in enumerate(resource.get("parameter") or []):
        name = param.get("name")
        where = f"Bundle.entry[0].resource.parameter[{index}]"
        if name == "subscription":
            note.subscription = (param.get("valueReference") or {}).get("reference", "")
        elif name == "topic":
            note.topic = str(param.get("valueCanonical") or param.get("valueUri") or "")
        elif name == "status":
            note.status = str(param.get("valueCode") or "")
        elif name == "type":
            note.type = str(param.get("valueCode") or "")
        elif name == "events-since-subscription-start":
            raw = next(
                (param[k] for k in ("valueString", "valueUnsignedInt", "valueInteger64") if k in param), None
            )
            note.events_since_start = _int(raw, where)
        elif name == "notification-event":
            for part in param.get("part") or []:
                if part.get("name") == "event-number":
                    raw = part.get("valueString", part.get("valueUnsignedInt"))
                    note.event_numbers.append(_int(raw, f"{where}.part"))
                elif part.get("name") == "focus":
                    ref = (part.get("valueReference") or {}).get("reference")
                    if ref:
                        note.focus.append(ref)


def _from_subscription_status(resource: dict[str, Any], note: Notification) -> None:
    note.subscription = (resource.get("subscription") or {}).get("reference", "")
    note.topic = str(resource.get("topic") or "")
    note.status = str(resource.get("status") or "")
    note.type = str(resource.get("type") or "")
    if resource.get("eventsSinceSubscriptionStart") is not None:
        note.events_since_start = _int(resource["eventsSinceSubscriptionStart"], "SubscriptionStatus.events")
    for event in resource.get("notificationEvent") or []:
        note.event_numbers.append(_int(event.get("eventNumber"), "SubscriptionStatus.notificationEvent"))
        ref = (event.get("focus") or {}).get("reference")
        if ref:
            note.focus.append(ref)


def parse_notification(body: bytes, zone: ZoneInfo) -> Notification:
    data = parse_json(body)
    if data.get("resourceType") != "Bundle" or data.get("type") != "history":
        raise FhirError.one(400, IssueType.INVALID, "a notification is a history Bundle", "Bundle.type")
    data = normalise(data, zone)
    validate_resource(data)
    entries = data.get("entry") or []
    first = entries[0].get("resource") if entries else None
    if not isinstance(first, dict) or first.get("resourceType") not in ("Parameters", "SubscriptionStatus"):
        raise FhirError.one(
            400,
            IssueType.REQUIRED,
            "the first entry must be the subscription status",
            "Bundle.entry[0].resource",
        )
    note = Notification(subscription="", type="")
    if first["resourceType"] == "Parameters":
        _from_parameters(first, note)
    else:
        _from_subscription_status(first, note)
    if not note.subscription:
        raise FhirError.one(
            400, IssueType.REQUIRED, "the status names no subscription", "Bundle.entry[0].resource"
        )
    if note.type not in NOTIFICATION_TYPES:
        raise FhirError.one(400, IssueType.VALUE, "unknown notification type", "Bundle.entry[0].resource")
    for entry in entries[1:]:
        if isinstance(entry.get("resource"), dict):
            note.resources.append(entry["resource"])
        elif entry.get("fullUrl"):
            note.id_only.append(str(entry["fullUrl"]))
    if note.type == "event-notification" and not note.resources and not note.id_only:
        note.id_only = list(note.focus)
    return note


def fetch_id_only(runtime: Runtime, references: list[str]) -> list[dict[str, Any]]:
    """Read each referenced resource from the EHR's FHIR server; any failure is a 503 (retry)."""
    if not references:
        return []
    base = runtime.settings.ehr_fhir_url
    if not base:
        raise FhirError.one(
            503, IssueType.NOT_SUPPORTED, "id-only payload, but SPOEDPLEIN_EHR_FHIR_URL is not set"
        )
    out: list[dict[str, Any]] = []
    with ehr_client(runtime.settings) as client:
        for reference in dict.fromkeys(references):
            url = resolve_reference(base, reference)
            if url is None:
                raise FhirError.one(
                    400, IssueType.VALUE, "reference outside the EHR's FHIR server", "Bundle.entry.fullUrl"
                )
            try:
                reply = client.get(url)
            except Exception as exc:  # httpx errors of any kind: the EHR should retry
                raise FhirError.one(
                    503, IssueType.TRANSIENT, f"EHR FHIR server: {type(exc).__name__}"
                ) from None
            if reply.status_code != 200:
                raise FhirError.one(503, IssueType.TRANSIENT, f"EHR FHIR server answered {reply.status_code}")
            try:
                resource = reply.json()
            except ValueError:
                raise FhirError.one(503, IssueType.TRANSIENT, "EHR FHIR server answered non-JSON") from None
            if not isinstance(resource, dict) or "resourceType" not in resource:
                raise FhirError.one(503, IssueType.TRANSIENT, "EHR FHIR server answered no resource")
            out.append(resource)
    return out


def _record_gap(session: Session, sub: FhirSubscription, first: int, last: int, source: GapSource) -> None:
    exists = session.execute(
        select(FhirSubscriptionGap.id).where(
            FhirSubscriptionGap.subscription_id == sub.id, FhirSubscriptionGap.first_missing == first
        )
    ).first()
    if exists is None:
        session.add(
            FhirSubscriptionGap(
                subscription_id=sub.id, first_missing=first, last_missing=last, detected_by=source
            )
        )


def _resolve_gaps(session: Session, sub: FhirSubscription, numbers: set[int], now: datetime) -> None:
    """Close every open gap whose event numbers have all arrived now (late delivery or `$events`)."""
    if not numbers:
        return
    gaps = session.execute(
        select(FhirSubscriptionGap).where(
            FhirSubscriptionGap.subscription_id == sub.id, FhirSubscriptionGap.resolved_at.is_(None)
        )
    ).scalars()
    for gap in gaps:
        if all(n in numbers for n in range(gap.first_missing, gap.last_missing + 1)):
            gap.resolved_at = now


def apply(session: Session, note: Notification) -> FhirSubscription:
    """Update the subscription's state and record gaps, in the caller's transaction."""
    sub = session.execute(
        select(FhirSubscription).where(FhirSubscription.reference == note.subscription).with_for_update()
    ).scalar_one_or_none()
    if sub is None:
        sub = FhirSubscription(reference=note.subscription, topic=note.topic, events_seen=0)
        session.add(sub)
        session.flush()
    now = utcnow()
    if note.status:
        sub.status = note.status
    if note.topic:
        sub.topic = note.topic
    if note.type == "handshake":
        sub.handshake_at = now
        sub.status = note.status or SubscriptionStatus.ACTIVE
    elif note.type in ("event-notification", "query-event"):
        sub.last_event_at = now
        _resolve_gaps(session, sub, set(note.event_numbers), now)
        for number in sorted(set(note.event_numbers)):
            if number > sub.events_seen + 1 and note.type == "event-notification":
                _record_gap(session, sub, sub.events_seen + 1, number - 1, GapSource.EVENT)
            sub.events_seen = max(sub.events_seen, number)
    else:
        sub.last_heartbeat_at = now
        reported = note.events_since_start
        if reported is not None and reported > sub.events_seen:
            _record_gap(session, sub, sub.events_seen + 1, reported, GapSource.HEARTBEAT)
            sub.events_seen = reported
    session.flush()
    return sub


def handle(runtime: Runtime, body: bytes) -> dict[str, Any]:
    zone = ZoneInfo(runtime.settings.timezone)
    note = parse_notification(body, zone)
    resources = note.resources + fetch_id_only(runtime, note.id_only)
    prepared = None
    if resources:
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in resources],
        }
        prepared = ingest.prepare_bundle(json.dumps(bundle).encode(), zone)
    with runtime.db.write() as session:
        apply(session, note)
        if prepared is not None:
            ingest.store(session, runtime.cipher, prepared, sender="fhir-subscription")
    return information(f"{note.type} accepted")


MAX_GAPS_PER_ROUND = 20


def recover_gaps(runtime: Runtime) -> int:
    """Ask the EHR (`Subscription/{id}/$events`) for the events of open gaps and take them in as
    notifications; a gap closes when all its events came back. Returns how many answers were taken in.

    Idempotent: resources dedupe in the inbox, and a gap the EHR cannot fill stays open (and listed).
    """
    base = runtime.settings.ehr_fhir_url
    if not base:
        return 0
    with runtime.db.read() as session:
        gaps = session.execute(
            select(
                FhirSubscriptionGap.first_missing,
                FhirSubscriptionGap.last_missing,
                FhirSubscription.reference,
            )
            .join(FhirSubscription, FhirSubscription.id == FhirSubscriptionGap.subscription_id)
            .where(FhirSubscriptionGap.resolved_at.is_(None))
            .order_by(FhirSubscriptionGap.id)
            .limit(MAX_GAPS_PER_ROUND)
        ).all()
    taken = 0
    with ehr_client(runtime.settings) as client:
        for first, last, reference in gaps:
            url = resolve_reference(base, reference)
            if url is None:
                continue
            params: dict[str, str | int] = {
                "eventsSinceNumber": first,
                "eventsUntilNumber": last,
                "content": "full-resource",
            }
            try:
                reply = client.get(f"{url}/$events", params=params)
            except Exception as exc:  # the EHR is down: the next round tries again
                log.info("gap recovery: %s", type(exc).__name__)
                continue
            if reply.status_code != 200:
                continue
            try:
                handle(runtime, reply.content)
                taken += 1
            except FhirError as exc:
                log.warning("gap recovery: the EHR's $events answer was refused (%s)", exc.issues[0].code)
    return taken


@every(60, name="fhir.recover_subscription_gaps")
def recover_gaps_job(runtime: Runtime) -> None:
    recover_gaps(runtime)


router = APIRouter(tags=["fhir"], route_class=FhirRoute)


@router.post(
    "/fhir/subscription-hook", summary="Rest-hook endpoint for R4 backport Subscription notifications"
)
async def notify(request: Request, runtime: RuntimeDep, _caller: CurrentPrincipalDep) -> FhirResponse:
    body = await request.body()
    return FhirResponse(await run_in_threadpool(handle, runtime, body))


@router.get("/api/fhir/subscriptions", summary="Subscriptions, their event counts and the gaps noticed")
def list_subscriptions(
    session: ReadSession, _caller: CurrentPrincipalDep, open_gaps_only: Annotated[bool, Query()] = False
) -> JSONResponse:
    out = []
    for sub in session.execute(select(FhirSubscription).order_by(FhirSubscription.id)).scalars():
        gaps = session.execute(
            select(FhirSubscriptionGap)
            .where(FhirSubscriptionGap.subscription_id == sub.id)
            .order_by(FhirSubscriptionGap.first_missing)
        ).scalars()
        out.append(
            {
                "reference": sub.reference,
                "topic": sub.topic,
                "status": sub.status,
                "events_seen": sub.events_seen,
                "handshake_at": sub.handshake_at and sub.handshake_at.isoformat(),
                "gaps": [
                    {"first": g.first_missing, "last": g.last_missing, "detected_by": g.detected_by}
                    for g in gaps
                    if not open_gaps_only or g.resolved_at is None
                ],
            }
        )
    return JSONResponse(out)
