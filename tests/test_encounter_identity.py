"""Encounter identity across channels: the same patient and visit number are one encounter, whichever
FHIR identifier system or HL7 assigning authority carried them; the mapping is configuration."""

from __future__ import annotations

from detection.models import Encounter, EventType, Identifier, Patient, Presentation, SourceRef
from presentations.service import IdentifierSystems, encounter_ref, patient_ref
from store.crypto import Pseudonymizer
from tests.conftest import TEST_KEY

PSEUDONYMS = Pseudonymizer(TEST_KEY)
FHIR_VISIT = "https://ehr.etz.test/fhir/NamingSystem/visit"
FHIR_PATIENT = "https://ehr.etz.test/fhir/NamingSystem/patient"


def hl7(*, visit: str = "V1", authority: str = "ETZ", pid: Identifier | None = None) -> Presentation:
    ids = (
        [pid]
        if pid
        else [Identifier(system="2.16.840.1.113883.2.4.6.3", value="123456782", type_code="NNNLD")]
    )
    return Presentation(
        source=SourceRef(channel="hl7v2", message_type="ADT^A04", sender="HIX/ETZ", control_id="1"),
        event=EventType.REGISTER,
        patient=Patient(identifiers=ids, bsn=None if pid else "123456782"),
        encounter=Encounter(
            visit_number=visit, identifiers=[Identifier(system=authority, value=visit, type_code="VN")]
        ),
    )


def fhir(*, visits: list[Identifier], pid: Identifier | None = None) -> Presentation:
    ids = [pid] if pid else [Identifier(system="2.16.840.1.113883.2.4.6.3", value="123456782")]
    return Presentation(
        source=SourceRef(channel="cds-hooks", message_type="patient-view", sender="fhir"),
        event=EventType.SNAPSHOT,
        patient=Patient(identifiers=ids, bsn=None if pid else "123456782"),
        encounter=Encounter(visit_number=visits[0].value if visits else "", identifiers=visits),
    )


def test_by_default_the_same_patient_and_visit_number_are_one_encounter_whatever_the_sender() -> None:
    same = fhir(visits=[Identifier(system=FHIR_VISIT, value="V1")])
    assert encounter_ref(PSEUDONYMS, hl7()) == encounter_ref(PSEUDONYMS, same)
    assert encounter_ref(PSEUDONYMS, hl7()) != encounter_ref(PSEUDONYMS, hl7(visit="V2"))


def test_another_patient_with_the_same_visit_number_is_another_encounter() -> None:
    other = hl7(pid=Identifier(system="ETZ", value="7001", type_code="PI"))
    assert encounter_ref(PSEUDONYMS, hl7()) != encounter_ref(PSEUDONYMS, other)


def test_a_visit_number_typed_vn_is_preferred_over_another_encounter_identifier() -> None:
    both = fhir(
        visits=[
            Identifier(system="https://ehr.etz.test/episode", value="EP-9"),
            Identifier(system=FHIR_VISIT, value="V1", type_code="VN"),
        ]
    )
    assert encounter_ref(PSEUDONYMS, hl7()) == encounter_ref(PSEUDONYMS, both)


def test_configured_visit_systems_pick_the_identifier_and_compare_its_authority() -> None:
    systems = IdentifierSystems(visit={FHIR_VISIT: "ETZ"})
    episode_first = fhir(
        visits=[
            Identifier(system="https://ehr.etz.test/episode", value="EP-9"),
            Identifier(system=FHIR_VISIT, value="V1"),
        ]
    )
    assert encounter_ref(PSEUDONYMS, hl7(), systems) == encounter_ref(PSEUDONYMS, episode_first, systems)
    # The same number from another authority is another numbering, so another encounter.
    assert encounter_ref(PSEUDONYMS, hl7(authority="LAB"), systems) != encounter_ref(
        PSEUDONYMS, episode_first, systems
    )


def test_a_local_patient_id_links_across_channels_when_its_system_is_mapped_or_an_oid() -> None:
    local_hl7 = hl7(pid=Identifier(system="ETZ", value="7001", type_code="PI"))
    local_fhir = fhir(
        visits=[Identifier(system=FHIR_VISIT, value="V1")], pid=Identifier(system=FHIR_PATIENT, value="7001")
    )
    systems = IdentifierSystems(patient={FHIR_PATIENT: "ETZ"})
    assert encounter_ref(PSEUDONYMS, local_hl7) != encounter_ref(PSEUDONYMS, local_fhir)  # not configured
    assert encounter_ref(PSEUDONYMS, local_hl7, systems) == encounter_ref(PSEUDONYMS, local_fhir, systems)
    assert patient_ref(PSEUDONYMS, local_hl7, systems) == patient_ref(PSEUDONYMS, local_fhir, systems)
    oid_hl7 = hl7(pid=Identifier(system="2.16.528.1.1007.3.3.1234", value="7001"))
    oid_fhir = fhir(
        visits=[Identifier(system=FHIR_VISIT, value="V1")],
        pid=Identifier(system="urn:oid:2.16.528.1.1007.3.3.1234", value="7001"),
    )
    assert encounter_ref(PSEUDONYMS, oid_hl7) == encounter_ref(PSEUDONYMS, oid_fhir)
