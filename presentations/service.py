"""Keeping and reading presentations: encrypt, pseudonymous patient and encounter references, load."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from detection.models import Presentation
from presentations.models import PresentationRecord
from store.crypto import FieldCipher, Pseudonymizer

DATA_AAD = b"presentation:data"


def patient_ref(pseudonyms: Pseudonymizer, presentation: Presentation) -> str:
    """Link by BSN when there is one, else by the first identifier with its system, else unlinkable."""
    patient = presentation.patient
    if patient.bsn:
        return pseudonyms.ref("bsn", patient.bsn)
    if patient.identifiers:
        ident = patient.identifiers[0]
        return pseudonyms.ref("pid", f"{ident.system}|{ident.value}")
    return pseudonyms.ref("anon", f"{presentation.source.sender}|{presentation.source.control_id}")


def encounter_ref(pseudonyms: Pseudonymizer, presentation: Presentation) -> str:
    """The same encounter across A01, A08 and A03, so updates join the open case instead of a new one."""
    visit = presentation.encounter.visit_number
    if visit:
        return pseudonyms.ref("enc", f"{presentation.source.sender}|{visit}")
    return pseudonyms.ref(
        "enc", f"{patient_ref(pseudonyms, presentation)}|{presentation.encounter.arrival_at}"
    )


def new_record(
    *,
    cipher: FieldCipher,
    pseudonyms: Pseudonymizer,
    presentation: Presentation,
    inbox_message_id: int | None,
) -> PresentationRecord:
    """The row for a presentation, not yet added to a session (callers batch the inserts)."""
    return PresentationRecord(
        inbox_message_id=inbox_message_id,
        channel=presentation.source.channel,
        event=presentation.event.value,
        patient_ref=patient_ref(pseudonyms, presentation),
        encounter_ref=encounter_ref(pseudonyms, presentation),
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
) -> PresentationRecord:
    record = new_record(
        cipher=cipher, pseudonyms=pseudonyms, presentation=presentation, inbox_message_id=inbox_message_id
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
