"""Build presentations for detection tests directly, without a feed: age, free text, codes, answers."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from detection.engine import detect
from detection.models import (
    Coding,
    CodingSystem,
    Diagnosis,
    Encounter,
    EventType,
    Note,
    Observation,
    Patient,
    Presentation,
    RelatedPerson,
    SourceRef,
)

ARRIVAL = datetime(2026, 3, 2, 14, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))


def presentation(
    complaint: str = "",
    *,
    days: int | None = None,
    months: float | None = None,
    years: float | None = None,
    note: str = "",
    icd10: tuple[str, ...] = (),
    snomed: tuple[str, ...] = (),
    answers: dict[str, str] | None = None,
    children: int = 0,
    earlier_visits: int | None = None,
) -> Presentation:
    if months is not None:
        days = int(months * 30.4375)
    if years is not None:
        days = int(years * 365.25) + 20
    born: date | None = None if days is None else ARRIVAL.date() - timedelta(days=days)
    return Presentation(
        source=SourceRef(channel="test"),
        event=EventType.REGISTER,
        patient=Patient(birth_date=born),
        encounter=Encounter(arrival_at=ARRIVAL, patient_class="E"),
        chief_complaint=complaint,
        chief_complaint_source="PV2-3",
        notes=[Note(text=note, source_field="OBX[1]-5")] if note else [],
        diagnoses=[
            Diagnosis(coding=Coding(code=c, system=CodingSystem.ICD10), source_field="DG1[1]-3")
            for c in icd10
        ]
        + [
            Diagnosis(coding=Coding(code=c, system=CodingSystem.SNOMED), source_field="DG1[2]-3")
            for c in snomed
        ],
        observations=[
            Observation(
                coding=Coding(code=code, system=CodingSystem.LOCAL), value=value, source_field="OBX[2]-5"
            )
            for code, value in (answers or {}).items()
        ],
        related_persons=[RelatedPerson(relationship="CHD", is_minor=True) for _ in range(children)],
        earlier_ed_visits=earlier_visits,
    )


def rule_ids(p: Presentation) -> set[str]:
    return {f.rule_id for f in detect(p)}


def families(p: Presentation) -> set[str]:
    return {f.family for f in detect(p)}
