"""R4 backport Subscription notifications over real HTTP: the handshake, heartbeats, full-resource and
id-only event notifications (read back from a recording EHR FHIR server), and the gaps they reveal."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from adapters.fhir.models import FhirSubscription, FhirSubscriptionGap
from adapters.fhir.subscriptions import recover_gaps
from store.inbox import InboxMessage
from tests.fhir_helpers import EhrFhirServer, GatewayServer, auth, make_runtime

SUBSCRIPTION = "Subscription/ed-admissions"
TOPIC = "http://etz.test/SubscriptionTopic/ed-encounter"


@dataclass
class Setup:
    gateway: GatewayServer
    ehr: EhrFhirServer

    def notify(self, bundle: dict[str, Any]) -> httpx.Response:
        return httpx.post(
            f"{self.gateway.url}/fhir/subscription-hook", json=bundle, headers=auth(), timeout=30
        )

    def subscription(self) -> FhirSubscription:
        with self.gateway.runtime.db.read() as session:
            return session.execute(select(FhirSubscription)).scalar_one()

    def gaps(self) -> list[tuple[int, int, str]]:
        with self.gateway.runtime.db.read() as session:
            rows = session.execute(select(FhirSubscriptionGap).order_by(FhirSubscriptionGap.first_missing))
            return [(g.first_missing, g.last_missing, g.detected_by) for g in rows.scalars()]

    def inbox_count(self) -> int:
        with self.gateway.runtime.db.read() as session:
            return len(session.execute(select(InboxMessage.id)).all())


@pytest.fixture
def setup(database_url: str, tmp_path: Path) -> Iterator[Setup]:
    with EhrFhirServer() as ehr:
        runtime = make_runtime(database_url, tmp_path, ehr_fhir_url=ehr.url)
        with GatewayServer(runtime) as gateway:
            yield Setup(gateway, ehr)
        runtime.close()


def status(kind: str, *, since: int, events: Sequence[tuple[int, str]] = ()) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": SUBSCRIPTION}},
        {"name": "topic", "valueCanonical": TOPIC},
        {"name": "status", "valueCode": "active"},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(since)},
    ]
    for number, focus in events:
        parameters.append(
            {
                "name": "notification-event",
                "part": [
                    {"name": "event-number", "valueString": str(number)},
                    {"name": "timestamp", "valueInstant": "2024-03-01T14:05:00+01:00"},
                    {"name": "focus", "valueReference": {"reference": focus}},
                ],
            }
        )
    return {
        "resourceType": "Parameters",
        "meta": {
            "profile": [
                "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4"
            ]
        },
        "parameter": parameters,
    }


def notification(
    kind: str, *, since: int, events: Sequence[tuple[int, str]] = (), entries: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "history",
        "timestamp": "2024-03-01T14:05:01+01:00",
        "entry": [
            {
                "fullUrl": "urn:uuid:0b5a1c3e-9a4f-4c55-8d1b-3a9f5b7e2c11",
                "resource": status(kind, since=since, events=events),
                "request": {"method": "GET", "url": f"{SUBSCRIPTION}/$status"},
                "response": {"status": "200"},
            },
            *entries,
        ],
    }


def encounter(eid: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": eid,
        "meta": {"versionId": "1"},
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"},
        "period": {"start": "2024-03-01T14:05"},
    }


def full_entry(resource: dict[str, Any]) -> dict[str, Any]:
    ref = f"{resource['resourceType']}/{resource['id']}"
    return {
        "fullUrl": ref,
        "resource": resource,
        "request": {"method": "PUT", "url": ref},
        "response": {"status": "200"},
    }


def id_only_entry(base: str, ref: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{base}/{ref}",
        "request": {"method": "PUT", "url": ref},
        "response": {"status": "200"},
    }


def test_handshake_activates_the_subscription_and_stores_nothing(setup: Setup) -> None:
    reply = setup.notify(notification("handshake", since=0))

    assert reply.status_code == 200, reply.text
    sub = setup.subscription()
    assert sub.reference == SUBSCRIPTION and sub.status == "active" and sub.handshake_at is not None
    assert sub.events_seen == 0 and setup.gaps() == [] and setup.inbox_count() == 0


def test_full_resource_event_is_stored_and_a_redelivery_is_stored_once(setup: Setup) -> None:
    setup.notify(notification("handshake", since=0))
    event = notification(
        "event-notification", since=1, events=[(1, "Encounter/e1")], entries=[full_entry(encounter("e1"))]
    )

    first = setup.notify(event)
    again = setup.notify(event)

    assert first.status_code == again.status_code == 200
    assert setup.inbox_count() == 1
    assert setup.subscription().events_seen == 1
    assert setup.gaps() == []


def test_id_only_event_reads_the_resource_from_the_ehr_and_a_skipped_number_is_a_gap(setup: Setup) -> None:
    setup.ehr.resources["Encounter/e3"] = encounter("e3")
    setup.notify(notification("handshake", since=0))
    setup.notify(
        notification(
            "event-notification", since=1, events=[(1, "Encounter/e1")], entries=[full_entry(encounter("e1"))]
        )
    )

    reply = setup.notify(
        notification(
            "event-notification",
            since=3,
            events=[(3, "Encounter/e3")],
            entries=[id_only_entry(setup.ehr.url, "Encounter/e3")],
        )
    )

    assert reply.status_code == 200, reply.text
    assert [r.path for r in setup.ehr.requests if r.method == "GET"] == ["/fhir/Encounter/e3"]
    assert setup.inbox_count() == 2
    assert setup.gaps() == [(2, 2, "event-notification")]
    assert setup.subscription().events_seen == 3


def test_heartbeat_that_counts_more_events_than_we_got_records_the_gap_once(setup: Setup) -> None:
    setup.notify(notification("handshake", since=0))
    setup.notify(notification("heartbeat", since=0))
    assert setup.gaps() == []

    setup.notify(notification("heartbeat", since=4))
    setup.notify(notification("heartbeat", since=4))

    assert setup.gaps() == [(1, 4, "heartbeat")]
    listed = httpx.get(f"{setup.gateway.url}/api/fhir/subscriptions", headers=auth()).json()
    assert listed[0]["gaps"] == [{"first": 1, "last": 4, "detected_by": "heartbeat"}]


def test_id_only_resource_the_ehr_cannot_serve_is_503_and_changes_nothing(setup: Setup) -> None:
    setup.notify(notification("handshake", since=0))

    reply = setup.notify(
        notification(
            "event-notification",
            since=1,
            events=[(1, "Encounter/gone")],
            entries=[id_only_entry(setup.ehr.url, "Encounter/gone")],
        )
    )

    assert reply.status_code == 503
    assert reply.json()["resourceType"] == "OperationOutcome"
    assert setup.subscription().events_seen == 0 and setup.inbox_count() == 0


def test_reference_outside_the_ehr_is_not_fetched(setup: Setup) -> None:
    reply = setup.notify(
        notification(
            "event-notification",
            since=1,
            events=[(1, "x")],
            entries=[id_only_entry("http://127.0.0.2:9/fhir", "Encounter/x")],
        )
    )

    assert reply.status_code == 400
    assert setup.ehr.requests == []


def test_bundle_that_is_not_a_notification_is_400(setup: Setup) -> None:
    reply = setup.notify(
        {"resourceType": "Bundle", "type": "collection", "entry": [full_entry(encounter("e1"))]}
    )

    assert reply.status_code == 400
    assert reply.json()["issue"][0]["expression"] == ["Bundle.type"]


def open_gaps(setup: Setup) -> list[tuple[int, int]]:
    with setup.gateway.runtime.db.read() as session:
        rows = session.execute(select(FhirSubscriptionGap).where(FhirSubscriptionGap.resolved_at.is_(None)))
        return [(g.first_missing, g.last_missing) for g in rows.scalars()]


def test_a_late_event_closes_its_gap(setup: Setup) -> None:
    setup.notify(notification("handshake", since=0))
    setup.notify(
        notification(
            "event-notification", since=2, events=[(2, "Encounter/e2")], entries=[full_entry(encounter("e2"))]
        )
    )
    assert open_gaps(setup) == [(1, 1)]

    setup.notify(
        notification(
            "event-notification", since=2, events=[(1, "Encounter/e1")], entries=[full_entry(encounter("e1"))]
        )
    )

    assert open_gaps(setup) == []
    assert setup.inbox_count() == 2


def test_gap_recovery_asks_the_ehr_for_the_missing_events_and_closes_the_gap(setup: Setup) -> None:
    setup.notify(notification("handshake", since=0))
    setup.notify(notification("heartbeat", since=2))
    assert open_gaps(setup) == [(1, 2)]
    events = [(1, "Encounter/e1"), (2, "Encounter/e2")]
    setup.ehr.resources[f"{SUBSCRIPTION}/$events"] = notification(
        "query-event",
        since=2,
        events=events,
        entries=[full_entry(encounter("e1")), full_entry(encounter("e2"))],
    )

    assert recover_gaps(setup.gateway.runtime) == 1
    assert recover_gaps(setup.gateway.runtime) == 0  # nothing left to ask for

    [asked] = [r for r in setup.ehr.requests if "$events" in r.path]
    assert asked.path.startswith(f"/fhir/{SUBSCRIPTION}/$events?eventsSinceNumber=1&eventsUntilNumber=2")
    assert open_gaps(setup) == []
    assert setup.inbox_count() == 1  # one Bundle holding both recovered Encounters


def test_gap_the_ehr_cannot_fill_stays_open(setup: Setup) -> None:
    setup.notify(notification("handshake", since=0))
    setup.notify(notification("heartbeat", since=3))

    assert recover_gaps(setup.gateway.runtime) == 0  # the EHR answers 404 to $events

    assert open_gaps(setup) == [(1, 3)]
