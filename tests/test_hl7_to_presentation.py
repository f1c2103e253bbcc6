"""ADT/ORU to Presentation: Dutch names and BSN, encounter, clinical content, events, fatal vs tolerated."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from adapters.hl7.ack import build_ack, parse_ack
from adapters.hl7.coding import coding_system, normalise_bsn
from adapters.hl7.errors import ErrorCode
from adapters.hl7.msh import read_header
from adapters.hl7.to_presentation import (
    MappingError,
    event_for,
    message_to_presentation,
    presentation_from_bytes,
)
from detection.models import BSN_OID, CodingSystem, EncounterStatus, EventType, Presentation, Sex
from tests.hl7_samples import CORPUS_DIR, VALID_BSN, adt_a04_nl, pv1, segments


def present(text: str, *, zone: str = "Europe/Amsterdam", charset: str = "8859/1") -> Presentation:
    codec = "utf-8" if "UTF-8" in charset else "latin-1"
    result = presentation_from_bytes(text.encode(codec), default_charset=charset, default_zone=zone)
    assert result is not None
    return result


def replace_segment(text: str, segment_id: str, new: str) -> str:
    lines = text.rstrip("\r").split("\r")
    return segments(*[new if line.startswith(segment_id + "|") else line for line in lines])


def drop_segment(text: str, segment_id: str) -> str:
    return segments(
        *[line for line in text.rstrip("\r").split("\r") if not line.startswith(segment_id + "|")]
    )


def mapping_error(text: str) -> MappingError:
    with pytest.raises(MappingError) as caught:
        present(text)
    return caught.value


AMS = timezone(timedelta(hours=1))


def test_dutch_child_registration_maps_patient_identity_and_bsn():
    patient = present(adt_a04_nl()).patient
    assert patient.bsn == VALID_BSN
    assert [(i.system, i.value, i.type_code) for i in patient.identifiers] == [
        (BSN_OID, VALID_BSN, "NNNLD"),
        ("ETZ", "7654321", "PI"),
    ]
    assert (patient.name.family, patient.name.family_own, patient.name.given) == (
        "Müller",
        "Müller",
        ["Jürgen", "K"],
    )
    assert patient.birth_date == date(2024, 7, 15)
    assert patient.sex is Sex.MALE


def test_utf8_message_with_turkish_name_maps_the_same():
    text = adt_a04_nl(charset="UNICODE UTF-8").replace("Müller&&Müller^Jürgen", "Yılmaz&&Yılmaz^Ayşe")
    patient = present(text, charset="UNICODE UTF-8").patient
    assert patient.name.family == "Yılmaz"
    assert patient.name.given[0] == "Ayşe"


def test_encounter_fields_come_from_pv1_with_the_offset_of_the_message():
    presentation = present(adt_a04_nl())
    enc = presentation.encounter
    assert (enc.visit_number, enc.patient_class, enc.location, enc.facility) == (
        "V2026-0042",
        "E",
        "SEH/K12/1",
        "ETZ",
    )
    assert enc.is_emergency
    assert enc.attending is not None and (enc.attending.id, enc.attending.name) == (
        "01234567",
        "Jan de Vries",
    )
    assert enc.arrival_at == datetime(2026, 11, 23, 14, 20, tzinfo=AMS)
    assert enc.status is EncounterStatus.IN_PROGRESS
    assert enc.discharge_disposition == "01"
    assert presentation.age_at_arrival_years == 2
    assert presentation.event is EventType.REGISTER
    assert (presentation.source.message_type, presentation.source.control_id) == ("ADT^A04", "NL-0001")
    assert presentation.source.sender == "HIX/ETZ-TILBURG"


def test_naive_times_take_the_configured_zone_and_explicit_offsets_win():
    text = adt_a04_nl().replace("|202611231420", "|202611231420+0000")
    assert present(text).encounter.arrival_at == datetime(2026, 11, 23, 14, 20, tzinfo=UTC)
    naive = present(adt_a04_nl(), zone="UTC").encounter.arrival_at
    assert naive is not None and naive.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("drop", "expected"),
    [
        ("PV1-44", datetime(2026, 11, 23, 14, 25, tzinfo=AMS)),  # EVN-2
        ("PV1-44+EVN", datetime(2026, 11, 23, 14, 30, tzinfo=AMS)),  # MSH-7
    ],
)
def test_arrival_falls_back_to_evn_then_msh7(drop, expected):
    text = adt_a04_nl().replace("|202611231420", "|")
    if "EVN" in drop:
        text = drop_segment(text, "EVN")
    assert present(text).encounter.arrival_at == expected


def test_chief_complaint_and_texts_name_their_fields():
    presentation = present(adt_a04_nl())
    assert presentation.chief_complaint == "Hoofdpijn na val van trap"
    texts = {(n.source_field, n.text) for n in presentation.texts()}
    assert ("PV2-3", "Hoofdpijn na val van trap") in texts
    assert ("PV2-12", "Valpartij thuis") in texts
    assert ("OBX[2]-5", "Blauwe plekken op beide bovenarmen\nmoeder zegt gevallen") in texts
    assert ("NTE[1]-3", "Kind stil en teruggetrokken.") in texts


def test_diagnoses_map_coding_systems_and_name_their_segment():
    diagnoses = present(adt_a04_nl()).diagnoses
    assert [(d.coding.code, d.coding.system, d.source_field, d.kind) for d in diagnoses] == [
        ("S06.0", CodingSystem.ICD10, "DG1[1]-3", "W"),
        ("T74.1", CodingSystem.ICD10, "DG1[2]-3", "W"),
    ]
    assert diagnoses[1].coding.display == "Lichamelijke mishandeling"


def test_alternate_code_in_dg1_becomes_a_second_diagnosis():
    text = adt_a04_nl().replace(
        "S06.0^Hersenschudding^I10", "S06.0^Hersenschudding^I10^110030002^Concussion^SCT"
    )
    codes = [(d.coding.code, d.coding.system) for d in present(text).diagnoses]
    assert ("110030002", CodingSystem.SNOMED) in codes


def test_dg1_without_code_keeps_its_description_as_a_note():
    text = adt_a04_nl().replace("DG1|1||S06.0^Hersenschudding^I10||", "DG1|1|||Val van trap, hoofdletsel|")
    presentation = present(text)
    assert [d.source_field for d in presentation.diagnoses] == ["DG1[2]-3"]
    assert ("DG1[1]-4", "Val van trap, hoofdletsel") in {(n.source_field, n.text) for n in presentation.notes}


def test_observations_keep_value_type_unit_and_coded_answers():
    text = adt_a04_nl().replace(
        "OBX|1|ST|SPUTOVAMO-1^Letsel passend bij verhaal^L||Nee",
        "OBX|1|CWE|SPUTOVAMO-1^Letsel passend bij verhaal^L||N^Nee^HL70136",
    )
    observations = present(text).observations
    coded, triage, heart_rate = observations
    assert coded.value == "Nee"
    assert coded.value_coding is not None and coded.value_coding.code == "N"
    assert triage.value.startswith("Blauwe plekken")
    assert (heart_rate.coding.code, heart_rate.coding.system, heart_rate.value, heart_rate.unit) == (
        "8867-4",
        CodingSystem.LOINC,
        "128",
        "/min",
    )
    assert [o.source_field for o in observations] == ["OBX[1]-5", "OBX[2]-5", "OBX[3]-5"]


def test_related_persons_split_dutch_prefixes_and_know_who_is_a_minor():
    mother, father = present(adt_a04_nl()).related_persons
    assert (mother.name.family, mother.relationship, mother.relationship_display) == (
        "Çelik",
        "MTH",
        "Moeder",
    )
    assert mother.is_minor is False
    assert (father.name.family, father.name.family_prefix, father.name.family_own) == (
        "van der Berg",
        "van der",
        "Berg",
    )
    assert father.is_minor is True  # born 2010, 16 on arrival


def test_plain_surname_without_subcomponents_is_its_own_eigennaam():
    text = adt_a04_nl().replace("Müller&&Müller^Jürgen", "Berg^Jan")
    name = present(text).patient.name
    assert (name.family, name.family_prefix, name.family_own) == ("Berg", "", "Berg")


@pytest.mark.parametrize(
    ("pid3", "bsn"),
    [
        (f"{VALID_BSN}^^^^NNNLD", VALID_BSN),
        (f"{VALID_BSN}^^^&{BSN_OID}&ISO", VALID_BSN),
        (f"{VALID_BSN}^^^NLMINBIZA", VALID_BSN),
        ("12345678^^^^NNNLD", None),  # 012345678 fails the elfproef
        ("111222333^^^^NNNLD", "111222333"),
        ("123456789^^^^NNNLD", None),
        (f"{VALID_BSN}^^^ETZ^PI", None),  # a hospital number that happens to pass is not a BSN
    ],
)
def test_bsn_is_recognised_by_type_oid_or_namespace_and_checked(pid3, bsn):
    text = adt_a04_nl().replace(
        f"{VALID_BSN}^^^NLMINBIZA&2.16.840.1.113883.2.4.6.3&ISO^NNNLD~7654321^^^ETZ^PI", pid3
    )
    assert present(text).patient.bsn == bsn


def test_elfproef_and_leading_zero():
    assert normalise_bsn("111222333") == "111222333"
    assert normalise_bsn("12345678") is None
    assert normalise_bsn("abcdefghi") is None


@pytest.mark.parametrize(("written", "born"), [("2024", date(2024, 1, 1)), ("202407", date(2024, 7, 1))])
def test_partial_birth_dates_are_accepted(written, born):
    assert present(adt_a04_nl().replace("||20240715|M", f"||{written}|M")).patient.birth_date == born


@pytest.mark.parametrize(
    ("pid8", "sex"), [("F", Sex.FEMALE), ("O", Sex.OTHER), ("U", Sex.UNKNOWN), ("X", Sex.UNKNOWN)]
)
def test_sex_codes(pid8, sex):
    assert present(adt_a04_nl().replace("|20240715|M", f"|20240715|{pid8}")).patient.sex is sex


def test_malformed_birth_date_is_a_mapping_error_at_pid7_answered_ae():
    err = mapping_error(adt_a04_nl().replace("|20240715|", "|15-07-2024|"))
    assert err.code is ErrorCode.DATA_TYPE_ERROR
    assert str(err.location) == "PID-7"
    assert not err.reject
    assert "15-07-2024" not in str(err)  # no patient data in the error
    header = read_header(adt_a04_nl(version="2.5").encode("latin-1"), default_charset="8859/1")
    parsed = parse_ack(build_ack(header, error=err))
    assert (parsed.code, parsed.errors[0].code, parsed.errors[0].location) == ("AE", "102", "PID^1^7")


def test_malformed_admit_time_is_a_mapping_error_at_pv1_44():
    err = mapping_error(adt_a04_nl().replace("|202611231420", "|2026-11-23 14:20"))
    assert str(err.location) == "PV1-44"


def test_missing_pid_is_a_segment_sequence_error():
    err = mapping_error(drop_segment(adt_a04_nl(), "PID"))
    assert err.code is ErrorCode.SEGMENT_SEQUENCE_ERROR
    assert str(err.location) == "PID"


def test_bad_optional_fields_are_dropped_not_fatal():
    text = replace_segment(adt_a04_nl(), "PV1", pv1({2: "E", 44: "202611231420", 45: "yesterday"}))
    text = text.replace("|||||||||||||19950302", "|||||||||||||1995-03-02")
    presentation = present(text)
    assert presentation.encounter.discharged_at is None
    assert presentation.related_persons[0].birth_date is None
    assert presentation.related_persons[0].is_minor is None


@pytest.mark.parametrize(
    ("trigger", "pv1_45", "event", "status"),
    [
        ("A01", "", EventType.ADMIT, EncounterStatus.IN_PROGRESS),
        ("A03", "202611231800", EventType.DISCHARGE, EncounterStatus.FINISHED),
        ("A08", "", EventType.UPDATE, EncounterStatus.IN_PROGRESS),
        ("A08", "202611231800", EventType.UPDATE, EncounterStatus.FINISHED),
        ("A11", "", EventType.CANCEL, EncounterStatus.CANCELLED),
        ("A05", "", EventType.UPDATE, EncounterStatus.PLANNED),
        ("A02", "", EventType.UPDATE, EncounterStatus.IN_PROGRESS),
    ],
)
def test_adt_triggers_map_to_events_and_encounter_status(trigger, pv1_45, event, status):
    text = adt_a04_nl().replace("ADT^A04^ADT_A01", f"ADT^{trigger}^ADT_A01")
    values = {2: "E", 44: "202611231420"} | ({45: pv1_45} if pv1_45 else {})
    presentation = present(replace_segment(text, "PV1", pv1(values)))
    assert (presentation.event, presentation.encounter.status) == (event, status)
    if pv1_45:
        assert presentation.encounter.discharged_at == datetime(2026, 11, 23, 18, 0, tzinfo=AMS)


@pytest.mark.parametrize("message_type", ["ORM^O01", "VXU^V04", "MDM^T02", "SIU^S12", "ADT^A28", "ADT^A40"])
def test_other_message_types_are_not_presentations(message_type):
    text = adt_a04_nl().replace("ADT^A04^ADT_A01", message_type)
    header = read_header(text.encode("latin-1"), default_charset="8859/1")
    assert event_for(header) is None
    assert presentation_from_bytes(text.encode("latin-1"), default_charset="8859/1") is None


def test_oru_r01_is_a_result_with_observations():
    presentation = present((CORPUS_DIR / "LAB-ORU-1.hl7").read_bytes().decode("utf-8-sig"), charset="UTF-8")
    assert presentation.event is EventType.RESULT
    assert len(presentation.observations) == 10
    assert presentation.observations[1].value == "4.06"
    assert presentation.observations[1].coding.system is CodingSystem.LOINC


@pytest.mark.parametrize(
    ("name", "system"),
    [
        ("I10", CodingSystem.ICD10),
        ("ICD10", CodingSystem.ICD10),
        ("ICD-10", CodingSystem.ICD10),
        ("I10P", CodingSystem.ICD10),
        ("2.16.840.1.113883.6.3", CodingSystem.ICD10),
        ("SCT", CodingSystem.SNOMED),
        ("SNM", CodingSystem.SNOMED),
        ("SNOMED", CodingSystem.SNOMED),
        ("urn:oid:2.16.840.1.113883.6.96", CodingSystem.SNOMED),
        ("LN", CodingSystem.LOINC),
        ("L", CodingSystem.LOCAL),
        ("99ETZ", CodingSystem.LOCAL),
        ("I9", CodingSystem.OTHER),
    ],
)
def test_coding_system_names(name, system):
    assert coding_system(name) is system


@pytest.mark.parametrize("path", sorted(CORPUS_DIR.glob("*.hl7")), ids=lambda p: p.name)
def test_every_corpus_message_maps_or_is_not_a_presentation(path):
    raw = path.read_bytes()
    header = read_header(raw, default_charset="8859/1")
    result = presentation_from_bytes(raw, default_charset="8859/1")
    if event_for(header) is None:
        assert result is None
        return
    assert result is not None
    assert result.source.control_id == header.control_id
    assert result.source.message_type == header.message_type_code
    assert result.patient.identifiers or result.patient.name.family
    assert all(n.source_field for n in result.texts())


def test_worker_entry_point_takes_raw_bytes_and_the_zone():
    result = message_to_presentation(adt_a04_nl().encode("latin-1"), default_charset="8859/1", timezone="UTC")
    assert result is not None
    assert result.encounter.arrival_at == datetime(2026, 11, 23, 14, 20, tzinfo=UTC)
