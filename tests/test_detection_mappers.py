"""HL7 v2 and FHIR forms of the same case give the same findings; FHIR specifics (BSN, time zones, errors)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from adapters.fhir.to_presentation import FhirMappingError, bundle_to_presentation
from adapters.hl7.to_presentation import presentation_from_bytes
from detection.engine import detect
from detection.models import BSN_OID, CodingSystem
from tests.conftest import CORPUS
from tests.vignettes.generator import to_fhir, to_hl7, vignette_set

VIGNETTES = Path(__file__).parent / "vignettes"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def fired(presentation) -> set[tuple[str, str]]:
    return {(f.rule_id, f.severity.value) for f in detect(presentation)}


def test_committed_vignette_files_are_what_the_generator_writes() -> None:
    cases = vignette_set()
    labels = json.loads((VIGNETTES / "labels.json").read_text(encoding="utf-8"))
    assert len(cases) >= 400
    assert set(labels) == {v.id for v in cases}
    for v in cases[::25]:
        assert (VIGNETTES / "hl7" / f"{v.id}.hl7").read_bytes() == to_hl7(v).encode("utf-8")
        assert json.loads((VIGNETTES / "fhir" / f"{v.id}.json").read_text(encoding="utf-8")) == to_fhir(v)


def test_every_vignette_gives_the_same_findings_through_hl7_and_fhir() -> None:
    differ = []
    positives = 0
    for v in vignette_set():
        hl7 = presentation_from_bytes(
            (VIGNETTES / "hl7" / f"{v.id}.hl7").read_bytes(), default_charset="UNICODE UTF-8"
        )
        fhir = bundle_to_presentation((VIGNETTES / "fhir" / f"{v.id}.json").read_bytes())
        assert hl7 is not None
        a, b = fired(hl7), fired(fhir)
        positives += bool(a)
        if a != b:
            differ.append((v.id, a, b))
    assert differ == []
    assert positives > 200  # the comparison is not between empty sets


def _bundle(**encounter_period: str) -> dict[str, object]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": "p",
                    "identifier": [{"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": "123456782"}],
                    "birthDate": "2024-07-02",
                }
            },
            {
                "resource": {
                    "resourceType": "Encounter",
                    "id": "e",
                    "status": "in-progress",
                    "class": {"code": "EMER"},
                    "period": encounter_period,
                    "reasonCode": [{"text": "Blauwe plek op het oor"}],
                }
            },
        ],
    }


@pytest.mark.parametrize("system", ["http://fhir.nl/fhir/NamingSystem/bsn", f"urn:oid:{BSN_OID}"])
def test_both_bsn_systems_become_patient_bsn(system: str) -> None:
    data = _bundle(start="2026-07-01T12:00:00+02:00")
    data["entry"][0]["resource"]["identifier"][0]["system"] = system  # type: ignore[index]
    p = bundle_to_presentation(data)
    assert p.patient.bsn == "123456782"
    assert [i.system for i in p.patient.identifiers] == [BSN_OID]


def test_a_date_time_without_zone_is_amsterdam_local_time() -> None:
    p = bundle_to_presentation(_bundle(start="2026-07-01T23:30:00"))
    assert p.encounter.arrival_at == datetime(2026, 7, 1, 23, 30, tzinfo=AMSTERDAM)
    assert p.encounter.arrival_at.utcoffset().total_seconds() == 7200  # type: ignore[union-attr]


def test_a_utc_time_just_before_midnight_is_the_next_day_in_amsterdam() -> None:
    p = bundle_to_presentation(_bundle(start="2026-07-01T22:30:00Z"))
    assert p.encounter.arrival_at is not None
    assert p.encounter.arrival_at.date() == date(2026, 7, 2)
    assert p.age_at_arrival_years == 2  # the birthday (2 July) counts in Dutch time


def test_chief_complaint_from_reason_code_is_evidence_with_its_source() -> None:
    findings = detect(bundle_to_presentation(_bundle(start="2026-07-01T12:00:00+02:00")))
    br = next(f for f in findings if f.rule_id == "R-BR-1")
    assert br.evidence[0].field == "Encounter/e.reasonCode"


def test_condition_codes_map_to_icd10_and_snomed() -> None:
    data = _bundle(start="2026-07-01T12:00:00+02:00")
    data["entry"].append(  # type: ignore[attr-defined]
        {
            "resource": {
                "resourceType": "Condition",
                "id": "c",
                "subject": {"reference": "Patient/p"},
                "code": {
                    "coding": [
                        {"system": "http://hl7.org/fhir/sid/icd-10", "code": "T74.1"},
                        {"system": "http://snomed.info/sct", "code": "162596006"},
                    ]
                },
                "note": [{"text": "geen blauwe plekken elders"}],
            }
        }
    )
    p = bundle_to_presentation(data)
    assert [(d.coding.code, d.coding.system) for d in p.diagnoses] == [
        ("T74.1", CodingSystem.ICD10),
        ("162596006", CodingSystem.SNOMED),
    ]
    assert {"R-CODE-T74", "R-CODE-SCT"} <= {f.rule_id for f in detect(p)}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"hello": 1}', "no resourceType"),
        (b'{"resourceType": "Nonsense"}', "unknown resourceType"),
        (b'{"resourceType": "Patient", "birthDate": "yesterday"}', "Patient.birthDate"),
    ],
)
def test_bad_input_is_a_clear_mapping_error(payload: bytes, message: str) -> None:
    with pytest.raises(FhirMappingError) as caught:
        bundle_to_presentation(payload)
    assert message in str(caught.value)


def test_corpus_bundles_map_and_the_five_invalid_ones_are_refused_with_a_location() -> None:
    files = sorted((CORPUS / "fhir" / "fhir-converter").glob("*.json"))
    assert len(files) == 18
    refused = []
    for path in files:
        try:
            bundle_to_presentation(path.read_bytes())
        except FhirMappingError as exc:
            refused.append(exc.location)
    assert len(refused) == 5
    assert all(loc.startswith("Bundle.entry[") for loc in refused)


def test_mapping_without_r4b_validation_gives_the_same_presentation_for_every_valid_input() -> None:
    # The worker and the CDS prefetch map with validate=False; ingest validated the resources before.
    files = sorted((VIGNETTES / "fhir").glob("*.json")) + sorted(
        (CORPUS / "fhir" / "fhir-converter").glob("*.json")
    )
    compared = 0
    for path in files:
        raw = path.read_bytes()
        try:
            checked = bundle_to_presentation(raw)
        except FhirMappingError:
            continue  # the corpus's invalid bundles: refused by validation, compared nowhere
        assert bundle_to_presentation(raw, validate=False) == checked, path.name
        compared += 1
    assert compared > 500


@pytest.mark.parametrize(
    ("element", "value", "location"),
    [
        ("birthDate", 20240702, "Bundle.entry[0].resource.birthDate"),
        ("birthDate", "2024-02-30", "Bundle.entry[0].resource.birthDate"),
        ("identifier", {"value": "1"}, "Bundle.entry[0].resource.identifier"),
        ("name", [{"given": "Noor"}], "Bundle.entry[0].resource.name[0].given"),
        ("gender", ["female"], "Bundle.entry[0].resource.gender"),
    ],
)
def test_an_element_of_the_wrong_type_is_refused_with_its_path_even_without_validation(
    element: str, value: object, location: str
) -> None:
    data = _bundle(start="2026-07-01T12:00:00+02:00")
    data["entry"][0]["resource"][element] = value  # type: ignore[index]
    with pytest.raises(FhirMappingError) as caught:
        bundle_to_presentation(data, validate=False)
    assert caught.value.location == location


def test_an_encounter_start_that_is_only_a_date_is_local_midnight_and_a_month_is_no_time() -> None:
    p = bundle_to_presentation(_bundle(start="2026-07-01"))
    assert p.encounter.arrival_at == datetime(2026, 7, 1, tzinfo=AMSTERDAM)
    assert bundle_to_presentation(_bundle(start="2026-07")).encounter.arrival_at is None
    with pytest.raises(FhirMappingError) as caught:
        bundle_to_presentation(_bundle(start="1 juli 2026"), validate=False)
    assert caught.value.location == "Bundle.entry[1].resource.period.start"
