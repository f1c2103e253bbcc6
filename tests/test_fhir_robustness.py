"""Mutated FHIR input never crashes the adapter: every variant is either accepted or refused with a
`FhirError` (an OperationOutcome), for Bundles, single resources, notifications and CDS prefetch."""

from __future__ import annotations

import json
import random
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from adapters.fhir.cds import prefetch
from adapters.fhir.cds.analysis import to_presentation
from adapters.fhir.cds.catalog import SERVICES
from adapters.fhir.ingest import prepare_bundle, prepare_resource
from adapters.fhir.outcome import FhirError
from adapters.fhir.subscriptions import parse_notification
from tests import cds_helpers as cds
from tests.test_fhir_subscriptions import encounter, full_entry, notification

ZONE = ZoneInfo("Europe/Amsterdam")
ODD_VALUES: list[Any] = [
    None,
    5,
    -1,
    "x",
    "",
    [],
    {},
    "2024-13-01",
    "2024-03-01T10:00",
    {"resourceType": "Nope"},
]


def mutate(value: Any, rng: random.Random) -> Any:
    """One random change somewhere in a JSON value: drop a key, replace a value, or go deeper."""
    if isinstance(value, dict) and value:
        key = rng.choice(list(value))
        out = dict(value)
        roll = rng.random()
        if roll < 0.25:
            del out[key]
        elif roll < 0.5:
            out[key] = rng.choice(ODD_VALUES)
        else:
            out[key] = mutate(out[key], rng)
        return out
    if isinstance(value, list) and value:
        out_list = list(value)
        index = rng.randrange(len(out_list))
        out_list[index] = mutate(out_list[index], rng)
        return out_list
    return rng.choice(ODD_VALUES)


def variants(base: dict[str, Any], seed: int, count: int = 300) -> list[bytes]:
    rng = random.Random(seed)
    return [json.dumps(mutate(mutate(base, rng), rng)).encode() for _ in range(count)]


def transaction() -> dict[str, Any]:
    resources = [cds.patient_resource(), cds.encounter_resource(), *cds.conditions(2), *cds.observations(2)]
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
            for r in resources
        ],
    }


@pytest.mark.parametrize("seed", [1, 2])
def test_mutated_bundles_are_accepted_or_refused_never_crash(seed: int) -> None:
    outcomes = {"accepted": 0, "refused": 0}
    for body in variants(transaction(), seed):
        try:
            prepare_bundle(body, ZONE)
            outcomes["accepted"] += 1
        except FhirError as exc:
            assert 400 <= exc.status < 500 and exc.issues
            outcomes["refused"] += 1
    assert outcomes["refused"] > 0


def test_mutated_single_resources_are_accepted_or_refused_never_crash() -> None:
    for body in variants(cds.encounter_resource(), 3):
        try:
            prepare_resource("Encounter", body, ZONE)
        except FhirError as exc:
            assert exc.status == 400 and exc.issues


def test_mutated_notifications_are_accepted_or_refused_never_crash() -> None:
    base = notification(
        "event-notification", since=1, events=[(1, "Encounter/e1")], entries=[full_entry(encounter("e1"))]
    )
    for body in variants(base, 4):
        try:
            parse_notification(body, ZONE)
        except FhirError as exc:
            assert exc.status == 400 and exc.issues


def test_mutated_prefetch_maps_or_is_refused_never_crash() -> None:
    service = SERVICES["spoedplein-signals-patient-view"]
    for body in variants(cds.prefetch(), 5):
        data = json.loads(body)
        try:
            checked = prefetch.resolve(service.prefetch, data if isinstance(data, dict) else {}, {}, None)
            to_presentation(checked, service, "Europe/Amsterdam")
        except FhirError as exc:
            assert exc.status in (400, 412) and exc.issues


def test_a_prefetch_element_the_mapper_does_not_read_cannot_fail_the_call() -> None:
    # Decision support maps what it needs; an oddity elsewhere (here an unknown resource type in
    # `contained`) must not leave the physician without a card. What it does read is read strictly.
    service = SERVICES["spoedplein-signals-patient-view"]
    data = cds.prefetch()
    expected = to_presentation(data, service, "Europe/Amsterdam")
    data["observations"]["entry"][0]["resource"]["contained"] = [{"resourceType": "Nope"}]

    assert to_presentation(data, service, "Europe/Amsterdam") == expected
    data["observations"]["entry"][0]["resource"]["status"] = {"code": "final"}
    with pytest.raises(FhirError) as raised:
        to_presentation(data, service, "Europe/Amsterdam")
    assert raised.value.issues[0].expression == ("prefetch.observations.entry[0].resource.status",)
