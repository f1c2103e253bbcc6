"""FHIR R4 (a Bundle, or one resource) to the internal `Presentation`, validated with `fhir.resources.R4B`.

Mapped: Patient (identifiers, BSN, name, birth date, gender), Encounter (visit number, class, period,
status, reasonCode → chief complaint), Condition (code → diagnoses, note/code text → notes),
Observation (code, value; valueString and notes → free text), RelatedPerson (relationship, birth date
→ minor or not). The result is meant to give the same findings as the equivalent HL7 v2 ADT message.

Choices:
- BSN: `http://fhir.nl/fhir/NamingSystem/bsn` and `urn:oid:2.16.840.1.113883.2.4.6.3` both become
  `Patient.bsn`; the identifier is stored under the OID, as the HL7 mapper does.
- FHIR requires an offset on a dateTime with a time; EHRs still send local times without one. Those
  are read as Europe/Amsterdam local time (the offset valid on that date is added before validation);
  every time is returned in Europe/Amsterdam, so the arrival date (and the age) matches HL7.
- With several Encounters the emergency one (class EMER) is used, else the first.
Failure: `FhirMappingError` (a ValueError) with the location of the first problem, for an
OperationOutcome; nothing is half-mapped.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from detection.models import (
    BSN_OID,
    BSN_SYSTEM,
    Coding,
    CodingSystem,
    Diagnosis,
    Encounter,
    EncounterStatus,
    EventType,
    HumanName,
    Identifier,
    Note,
    Observation,
    Patient,
    Presentation,
    RelatedPerson,
    Sex,
    SourceRef,
)

DEFAULT_ZONE = "Europe/Amsterdam"
ADULT_AGE_YEARS = 18
BSN_SYSTEMS = frozenset({BSN_SYSTEM, f"urn:oid:{BSN_OID}"})
_ZONE_FREE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")

_SYSTEMS: dict[str, CodingSystem] = {
    "http://hl7.org/fhir/sid/icd-10": CodingSystem.ICD10,
    "http://hl7.org/fhir/sid/icd-10-nl": CodingSystem.ICD10,
    "http://hl7.org/fhir/sid/icd-10-cm": CodingSystem.ICD10,
    "urn:oid:2.16.840.1.113883.6.3": CodingSystem.ICD10,
    "urn:oid:2.16.840.1.113883.6.90": CodingSystem.ICD10,
    "http://snomed.info/sct": CodingSystem.SNOMED,
    "urn:oid:2.16.840.1.113883.6.96": CodingSystem.SNOMED,
    "http://loinc.org": CodingSystem.LOINC,
    "urn:oid:2.16.840.1.113883.6.1": CodingSystem.LOINC,
}
_LOCAL_HINTS = ("spoedplein", "etz.nl", "/codesystem/local")
_GENDER = {"male": Sex.MALE, "female": Sex.FEMALE, "other": Sex.OTHER, "unknown": Sex.UNKNOWN}
_STATUS = {
    "planned": EncounterStatus.PLANNED,
    "arrived": EncounterStatus.IN_PROGRESS,
    "triaged": EncounterStatus.IN_PROGRESS,
    "in-progress": EncounterStatus.IN_PROGRESS,
    "onleave": EncounterStatus.IN_PROGRESS,
    "finished": EncounterStatus.FINISHED,
    "cancelled": EncounterStatus.CANCELLED,
}


class FhirMappingError(ValueError):
    """The input is not a usable FHIR R4 resource; `location` names the resource and element."""

    def __init__(self, message: str, location: str = "") -> None:
        self.location = location
        super().__init__(f"{location}: {message}" if location else message)


def coding_system(uri: str) -> CodingSystem:
    system = _SYSTEMS.get(uri.strip())
    if system is not None:
        return system
    return CodingSystem.LOCAL if any(h in uri.lower() for h in _LOCAL_HINTS) else CodingSystem.OTHER


def normalise_zone_free_times(data: Any, zone: ZoneInfo) -> Any:
    """Give every dateTime without an offset the offset of `zone` on that date (a copy, recursively)."""
    if isinstance(data, dict):
        return {k: normalise_zone_free_times(v, zone) for k, v in data.items()}
    if isinstance(data, list):
        return [normalise_zone_free_times(v, zone) for v in data]
    if isinstance(data, str) and _ZONE_FREE.match(data):
        return datetime.fromisoformat(data).replace(tzinfo=zone).isoformat()
    return data


def bundle_to_presentation(
    data: dict[str, Any] | str | bytes, *, default_zone: str = DEFAULT_ZONE
) -> Presentation:
    """A Presentation from a Bundle or a single resource (JSON text, bytes or an already parsed dict)."""
    parsed: Any = data
    if isinstance(data, str | bytes):
        try:
            parsed = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FhirMappingError(f"not valid JSON: {exc}") from None
    if not isinstance(parsed, dict) or "resourceType" not in parsed:
        raise FhirMappingError("not a FHIR resource (no resourceType)")
    zone = ZoneInfo(default_zone)
    normalised: dict[str, Any] = normalise_zone_free_times(parsed, zone)
    resource_type = str(normalised["resourceType"])
    if resource_type == "Bundle":
        # Each entry on its own: validating the Bundle as one model resolves every entry's class through
        # fhir_core's dynamic imports, which costs twice as much and contends on the import lock.
        entries = normalised.get("entry") or []
        if not isinstance(entries, list):
            raise FhirMappingError("entry must be a list", "Bundle.entry")
        resources = [
            _validated(entry["resource"], f"Bundle.entry[{index}].resource")
            for index, entry in enumerate(entries)
            if isinstance(entry, dict) and entry.get("resource") is not None
        ]
    else:
        resources = [_validated(normalised, resource_type)]
    return _Mapper(resources, zone, resource_type).presentation()


@lru_cache(maxsize=64)
def _model(resource_type: str) -> Any:
    return get_fhir_model_class(resource_type)


def _validated(data: Any, where: str) -> Any:
    """One resource validated with its R4B model; the error names the element, never its value."""
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise FhirMappingError("not a FHIR resource (no resourceType)", where)
    resource_type = data["resourceType"]
    try:
        model = _model(resource_type)
    except (KeyError, ValueError):
        raise FhirMappingError(f"unknown resourceType {resource_type!r}", where) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first["loc"])
        raise FhirMappingError(first["msg"], f"{where}.{path}") from None


class _Mapper:
    def __init__(self, resources: list[Any], zone: ZoneInfo, message_type: str) -> None:
        self.zone = zone
        self.message_type = message_type
        self.by_type: dict[str, list[Any]] = {}
        for res in resources:
            self.by_type.setdefault(res.get_resource_type(), []).append(res)

    def _all(self, resource_type: str) -> list[Any]:
        return self.by_type.get(resource_type, [])

    def presentation(self) -> Presentation:
        patients = self._all("Patient")
        encounter_res = self._emergency_encounter()
        encounter = self.encounter(encounter_res)
        notes: list[Note] = []
        chief = ""
        chief_source = ""
        if encounter_res is not None:
            texts = [_concept_text(rc) for rc in encounter_res.reasonCode or []]
            chief = "; ".join(t for t in texts if t)
            chief_source = f"Encounter/{encounter_res.id or ''}.reasonCode" if chief else ""
        presentation = Presentation(
            source=SourceRef(channel="fhir", message_type=self.message_type),
            event=EventType.SNAPSHOT,
            patient=self.patient(patients[0]) if patients else Patient(),
            encounter=encounter,
            chief_complaint=chief,
            chief_complaint_source=chief_source,
        )
        arrival_day = encounter.arrival_at.date() if encounter.arrival_at else None
        for cond in self._all("Condition"):
            presentation.diagnoses.extend(self.conditions(cond, notes))
        for obs in self._all("Observation"):
            observation = self.observation(obs, notes)
            if observation is not None:
                presentation.observations.append(observation)
        for rel in self._all("RelatedPerson"):
            presentation.related_persons.append(self.related_person(rel, arrival_day))
        presentation.notes = notes
        return presentation

    def _emergency_encounter(self) -> Any:
        encounters = self._all("Encounter")
        for enc in encounters:
            cls = enc.class_fhir
            if cls is not None and (cls.code or "").upper() in {"EMER", "E", "EMERGENCY"}:
                return enc
        return encounters[0] if encounters else None

    def _time(self, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.zone)
        return value.astimezone(self.zone)

    # -- resources ---------------------------------------------------------------------------------
    def patient(self, res: Any) -> Patient:
        identifiers: list[Identifier] = []
        bsn = None
        for ident in res.identifier or []:
            if not ident.value:
                continue
            system = ident.system or ""
            if system in BSN_SYSTEMS:
                bsn = bsn or ident.value.strip()
                identifiers.append(Identifier(system=BSN_OID, value=ident.value.strip(), type_code="NNNLD"))
            else:
                type_code = ident.type.coding[0].code if ident.type and ident.type.coding else ""
                identifiers.append(Identifier(system=system, value=ident.value, type_code=type_code or ""))
        return Patient(
            identifiers=identifiers,
            bsn=bsn,
            name=_name(res.name or []),
            birth_date=res.birthDate if isinstance(res.birthDate, date) else None,
            sex=_GENDER.get(res.gender or "", Sex.UNKNOWN),
        )

    def encounter(self, res: Any) -> Encounter:
        if res is None:
            return Encounter()
        period = res.period
        disposition = ""
        if res.hospitalization is not None and res.hospitalization.dischargeDisposition is not None:
            disposition = _concept_text(res.hospitalization.dischargeDisposition)
        visit = next((i.value for i in res.identifier or [] if i.value), "")
        return Encounter(
            visit_number=visit or "",
            patient_class=(res.class_fhir.code or "") if res.class_fhir else "",
            arrival_at=self._time(period.start) if period else None,
            discharged_at=self._time(period.end) if period else None,
            status=_STATUS.get(res.status or "", EncounterStatus.UNKNOWN),
            discharge_disposition=disposition,
        )

    def conditions(self, res: Any, notes: list[Note]) -> list[Diagnosis]:
        where = f"Condition/{res.id or ''}"
        kind = ""
        if res.category and res.category[0].coding:
            kind = res.category[0].coding[0].code or ""
        out = [
            Diagnosis(coding=coding, kind=kind, source_field=f"{where}.code") for coding in _codings(res.code)
        ]
        if res.code is not None and res.code.text and not out:
            notes.append(Note(text=res.code.text, source_field=f"{where}.code.text"))
        for note in res.note or []:
            if note.text:
                notes.append(Note(text=note.text, source_field=f"{where}.note"))
        return out

    def observation(self, res: Any, notes: list[Note]) -> Observation | None:
        where = f"Observation/{res.id or ''}"
        codings = _codings(res.code)
        value = ""
        value_coding = None
        unit = ""
        if res.valueString:
            value = res.valueString.strip()
            notes.append(Note(text=value, source_field=f"{where}.valueString"))
        elif res.valueCodeableConcept is not None:
            found = _codings(res.valueCodeableConcept)
            value_coding = found[0] if found else None
            value = (
                (value_coding.display or value_coding.code)
                if value_coding
                else _concept_text(res.valueCodeableConcept)
            )
        elif res.valueBoolean is not None:
            value = "true" if res.valueBoolean else "false"
        elif res.valueQuantity is not None and res.valueQuantity.value is not None:
            value = str(res.valueQuantity.value)
            unit = res.valueQuantity.unit or res.valueQuantity.code or ""
        elif res.valueInteger is not None:
            value = str(res.valueInteger)
        for note in res.note or []:
            if note.text:
                notes.append(Note(text=note.text, source_field=f"{where}.note"))
        if not codings and not value:
            return None
        coding = (
            codings[0] if codings else Coding(code="", display=_concept_text(res.code) if res.code else "")
        )
        return Observation(
            coding=coding,
            value=value,
            value_coding=value_coding,
            unit=unit,
            status=res.status or "",
            source_field=f"{where}.value",
        )

    def related_person(self, res: Any, arrival_day: date | None) -> RelatedPerson:
        relationship, display = "", ""
        for concept in res.relationship or []:
            found = _codings(concept)
            if found:
                relationship, display = found[0].code, found[0].display
                break
        born = res.birthDate if isinstance(res.birthDate, date) else None
        is_minor = None
        if born is not None and arrival_day is not None:
            years = (
                arrival_day.year - born.year - ((arrival_day.month, arrival_day.day) < (born.month, born.day))
            )
            is_minor = years < ADULT_AGE_YEARS
        return RelatedPerson(
            name=_name(res.name or []),
            relationship=relationship,
            relationship_display=display,
            is_minor=is_minor,
            birth_date=born,
        )


def _codings(concept: Any) -> list[Coding]:
    if concept is None:
        return []
    out = []
    for c in concept.coding or []:
        if not c.code:
            continue
        uri = c.system or ""
        out.append(Coding(code=c.code, system=coding_system(uri), system_uri=uri, display=c.display or ""))
    return out


def _concept_text(concept: Any) -> str:
    if concept is None:
        return ""
    if concept.text:
        return str(concept.text).strip()
    for c in concept.coding or []:
        if c.display:
            return str(c.display).strip()
    return ""


def _name(names: list[Any]) -> HumanName:
    if not names:
        return HumanName()
    chosen = next((n for n in names if n.use == "official"), names[0])
    family = (chosen.family or "").strip()
    prefix = ""
    for candidate in ("van der", "van den", "van de", "van", "de", "den", "der", "ter", "ten", "te", "el"):
        if family.lower().startswith(candidate + " "):
            prefix = family[: len(candidate)]
            break
    own = family[len(prefix) :].strip() if prefix else family
    return HumanName(
        family=family, family_prefix=prefix, family_own=own, given=[g for g in chosen.given or [] if g]
    )
