"""Keeping and reading presentations: encrypt, pseudonymous patient and encounter references, load.

The encounter reference is what ties the channels together: an HL7 A04, a FHIR Bundle and a CDS hook
about the same patient and visit number land on the same case.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.settings import Settings
from detection.models import Encounter, Identifier, Presentation, SourceRef
from presentations.models import DATA_AAD, PresentationRecord
from store.crypto import FieldCipher, Pseudonymizer


@dataclass(frozen=True)
class IdentifierSystems:
    """Which FHIR identifier systems equal which HL7 assigning authorities (configuration), so that one
    patient and one visit are recognised whichever channel they came by.

    `patient`: FHIR Patient.identifier system -> HL7 PID-3 assigning authority (a local patient id).
    `visit`: FHIR Encounter.identifier system -> HL7 PV1-19 assigning authority (the visit number). Empty
    (the default): the visit number is the encounter identifier typed VN, else the first one, and its
    authority is not compared. Either way `urn:oid:X` equals the HL7 universal id `X`.
    """

    patient: Mapping[str, str] = field(default_factory=dict)
    visit: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: Settings) -> IdentifierSystems:
        return cls(patient=dict(settings.patient_id_systems), visit=dict(settings.visit_number_systems))

    def authority(self, system: str, mapping: Mapping[str, str]) -> str:
        """The HL7 assigning authority a system stands for: configured, else itself without `urn:oid:`."""
        if system in mapping:
            return mapping[system]
        return system.removeprefix("urn:oid:")


DEFAULT_SYSTEMS = IdentifierSystems()


def _patient_key(presentation: Presentation, systems: IdentifierSystems) -> str | None:
    """BSN when there is one; else a local patient id (a configured one first), as authority|value."""
    patient = presentation.patient
    if patient.bsn:
        return f"bsn|{patient.bsn}"
    if not patient.identifiers:
        return None
    local = set(systems.patient.values())
    chosen = next(
        (i for i in patient.identifiers if systems.authority(i.system, systems.patient) in local),
        patient.identifiers[0],
    )
    return f"pid|{systems.authority(chosen.system, systems.patient)}|{chosen.value}"


def patient_ref(
    pseudonyms: Pseudonymizer, presentation: Presentation, systems: IdentifierSystems = DEFAULT_SYSTEMS
) -> str:
    """Link by BSN when there is one, else by a local patient id with its authority, else unlinkable."""
    key = _patient_key(presentation, systems)
    if key is None:
        return pseudonyms.ref("anon", f"{presentation.source.sender}|{presentation.source.control_id}")
    kind, _, rest = key.partition("|")
    return pseudonyms.ref(kind, rest)


def visit_key(presentation: Presentation, systems: IdentifierSystems = DEFAULT_SYSTEMS) -> str | None:
    """The visit number as the key part of an encounter: `number`, or `authority|number` once the
    visit-number systems are configured (then only identifiers of a configured system, or HL7's PV1-19,
    count)."""
    encounter = presentation.encounter
    identifiers = encounter.identifiers or (
        [Identifier(value=encounter.visit_number)] if encounter.visit_number else []
    )
    if not identifiers:
        return None
    if not systems.visit:
        chosen = next((i for i in identifiers if i.type_code.upper() == "VN"), identifiers[0])
        return chosen.value
    for ident in identifiers:
        if ident.system in systems.visit or ident.type_code.upper() == "VN":
            return f"{systems.authority(ident.system, systems.visit)}|{ident.value}"
    return f"{systems.authority(identifiers[0].system, systems.visit)}|{identifiers[0].value}"


def encounter_ref(
    pseudonyms: Pseudonymizer, presentation: Presentation, systems: IdentifierSystems = DEFAULT_SYSTEMS
) -> str:
    """One encounter across channels and messages (A04, A08, A03, a FHIR Bundle, a CDS hook): the same
    patient (BSN, or a local patient id) with the same visit number. Without a visit number: the
    patient and the arrival time."""
    patient = _patient_key(presentation, systems)
    visit = visit_key(presentation, systems)
    if visit and patient:
        return pseudonyms.ref("enc", f"{patient}|{visit}")
    if visit:  # no patient identifier at all: the sender's own visit number is all there is
        return pseudonyms.ref("enc", f"{presentation.source.sender}|{visit}")
    return pseudonyms.ref(
        "enc", f"{patient_ref(pseudonyms, presentation, systems)}|{presentation.encounter.arrival_at}"
    )


def new_record(
    *,
    cipher: FieldCipher,
    pseudonyms: Pseudonymizer,
    presentation: Presentation,
    inbox_message_id: int | None,
    systems: IdentifierSystems = DEFAULT_SYSTEMS,
) -> PresentationRecord:
    """The row for a presentation, not yet added to a session (callers batch the inserts)."""
    return PresentationRecord(
        inbox_message_id=inbox_message_id,
        channel=presentation.source.channel,
        event=presentation.event.value,
        patient_ref=patient_ref(pseudonyms, presentation, systems),
        encounter_ref=encounter_ref(pseudonyms, presentation, systems),
        arrival_at=presentation.encounter.arrival_at,
        data=cipher.encrypt(presentation.model_dump_json().encode(), DATA_AAD),
    )


def save(
    session: Session,
    *,
    cipher: FieldCipher,
    pseudonyms: Pseudonymizer,
    presentation: Presentation,
    inbox_message_id: int | None,
    systems: IdentifierSystems = DEFAULT_SYSTEMS,
) -> PresentationRecord:
    record = new_record(
        cipher=cipher,
        pseudonyms=pseudonyms,
        presentation=presentation,
        inbox_message_id=inbox_message_id,
        systems=systems,
    )
    session.add(record)
    session.flush()
    return record


def load(cipher: FieldCipher, record: PresentationRecord) -> Presentation:
    return Presentation.model_validate_json(cipher.decrypt(record.data, DATA_AAD))


def latest_for_encounter(session: Session, encounter: str) -> PresentationRecord | None:
    return session.execute(
        select(PresentationRecord)
        .where(PresentationRecord.encounter_ref == encounter)
        .order_by(PresentationRecord.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def pseudonymised(presentation: Presentation) -> Presentation:
    """What retention keeps of a dismissed flag's presentation: the channel, message type, event and the
    encounter's class and times (the figures' time to decision). No identifier, name, birth date, free
    text, code or related person: nothing that leads back to the patient."""
    encounter = presentation.encounter
    return Presentation(
        source=SourceRef(channel=presentation.source.channel, message_type=presentation.source.message_type),
        event=presentation.event,
        encounter=Encounter(
            patient_class=encounter.patient_class,
            arrival_at=encounter.arrival_at,
            discharged_at=encounter.discharged_at,
            status=encounter.status,
        ),
    )
