"""FHIR R4 (a Bundle, or one resource) to the internal `Presentation`, read straight from the JSON.

Mapped: Patient (identifiers, BSN, name, birth date, gender), Encounter (visit number, class, period,
status, reasonCode → chief complaint), Condition (code → diagnoses, note/code text → notes),
Observation (code, value; valueString and notes → free text), RelatedPerson (relationship, birth date
→ minor or not). The result is meant to give the same findings as the equivalent HL7 v2 ADT message.

Two steps, kept apart on purpose:
- `validate=True` (the default) first checks every resource against its `fhir.resources.R4B` model, so
  an invalid resource is refused with the location of its first problem. Ingest already did this before
  storing, so the worker maps stored resources with `validate=False`; the CDS Hooks prefetch does too,
  because validating 50 resources costs ~10 ms and a hook answer has a budget of a few.
- The mapping itself reads only the elements listed above, and reads them strictly (`_Reader`): an
  element of the wrong JSON type, or a date that is not a FHIR date, is a `FhirMappingError` naming the
  element, never a crash or a half-mapped result. Elements it does not read are not looked at.

Choices:
- BSN: `http://fhir.nl/fhir/NamingSystem/bsn` and `urn:oid:2.16.840.1.113883.2.4.6.3` both become
  `Patient.bsn`; the identifier is stored under the OID, as the HL7 mapper does.
- FHIR requires an offset on a dateTime with a time; EHRs still send local times without one. Those
  are read as Europe/Amsterdam local time (the offset valid on that date); every time is returned in
  Europe/Amsterdam, so the arrival date (and the age) matches HL7. A dateTime that is only a date is
  local midnight of that day; a year or year-month gives no time at all.
- With several Encounters the emergency one (class EMER) is used, else the first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
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
# FHIR's date and dateTime forms (a dateTime with a time must carry a zone; we accept it without).
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")

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
_EMERGENCY_CLASSES = frozenset({"EMER", "E", "EMERGENCY"})
_FAMILY_PREFIXES = ("van der", "van den", "van de", "van", "de", "den", "der", "ter", "ten", "te", "el")


class FhirMappingError(ValueError):
    """The input is not a usable FHIR R4 resource; `location` names the resource and element."""

    def __init__(self, message: str, location: str = "") -> None:
        self.location = location
        self.reason = message
        super().__init__(f"{location}: {message}" if location else message)


def coding_system(uri: str) -> CodingSystem:
    system = _SYSTEMS.get(uri.strip())
    if system is not None:
        return system
    return CodingSystem.LOCAL if any(h in uri.lower() for h in _LOCAL_HINTS) else CodingSystem.OTHER


def bundle_to_presentation(
    data: dict[str, Any] | str | bytes, *, default_zone: str = DEFAULT_ZONE, validate: bool = True
) -> Presentation:
    """A Presentation from a Bundle or a single resource (JSON text, bytes or an already parsed dict).

    `validate=False` skips the R4B check of whole resources (for data validated before it was stored);
    the elements the mapping reads are checked either way."""
    parsed: Any = data
    if isinstance(data, str | bytes):
        try:
            parsed = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FhirMappingError(f"not valid JSON: {exc}") from None
    if not isinstance(parsed, dict) or "resourceType" not in parsed:
        raise FhirMappingError("not a FHIR resource (no resourceType)")
    resource_type = str(parsed["resourceType"])
    if resource_type == "Bundle":
        entries = parsed.get("entry") or []
        if not isinstance(entries, list):
            raise FhirMappingError("entry must be a list", "Bundle.entry")
        located = [
            (entry["resource"], f"Bundle.entry[{index}].resource")
            for index, entry in enumerate(entries)
            if isinstance(entry, dict) and entry.get("resource") is not None
        ]
    else:
        located = [(parsed, resource_type)]
    return resources_to_presentation(
        located, zone=ZoneInfo(default_zone), message_type=resource_type, validate=validate
    )


def resources_to_presentation(
    located: Iterable[tuple[Any, str]], *, zone: ZoneInfo, message_type: str, validate: bool = False
) -> Presentation:
    """A Presentation from resources, each with the location its errors are reported under."""
    by_type: dict[str, list[_Reader]] = {}
    for resource, where in located:
        resource_type = _resource_type(resource, where)
        if validate:
            _validate(resource, resource_type, where)
        by_type.setdefault(resource_type, []).append(_Reader(resource, where, zone))
    return _Mapper(by_type, message_type).presentation()


@lru_cache(maxsize=64)
def _model(resource_type: str) -> Any:
    return get_fhir_model_class(resource_type)


def _resource_type(data: Any, where: str) -> str:
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise FhirMappingError("not a FHIR resource (no resourceType)", where)
    resource_type: str = data["resourceType"]
    try:
        _model(resource_type)
    except (KeyError, ValueError):
        raise FhirMappingError(f"unknown resourceType {resource_type!r}", where) from None
    return resource_type


def _validate(data: dict[str, Any], resource_type: str, where: str) -> None:
    """The whole resource against its R4B model; the error names the element, never its value."""
    try:
        _model(resource_type).model_validate(_with_zones(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join(str(p) for p in first["loc"])
        raise FhirMappingError(first["msg"], f"{where}.{path}") from None


_ZONE_FREE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")


def _with_zones(data: Any) -> Any:
    """A copy in which a dateTime without a zone has one, so that R4B does not refuse what we accept
    (which offset does not matter for validation; the mapping reads the original)."""
    if isinstance(data, dict):
        return {k: _with_zones(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_with_zones(v) for v in data]
    if isinstance(data, str) and _ZONE_FREE.match(data):
        return data + "Z"
    return data


class _Reader:
    """One JSON object of a resource, read element by element with the JSON type FHIR gives it.

    Absent and `null` elements read as empty; any other type than the expected one is a
    `FhirMappingError` naming the element's path."""

    __slots__ = ("data", "where", "zone")

    def __init__(self, data: dict[str, Any], where: str, zone: ZoneInfo) -> None:
        self.data, self.where, self.zone = data, where, zone

    def _wrong(self, key: str, expected: str) -> FhirMappingError:
        return FhirMappingError(f"must be {expected}", f"{self.where}.{key}")

    def text(self, key: str) -> str:
        value = self.data.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self._wrong(key, "a string")
        return value

    def texts(self, key: str) -> list[str]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) or v is None for v in value):
            raise self._wrong(key, "a list of strings")
        return [v for v in value if v]

    def obj(self, key: str) -> _Reader | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self._wrong(key, "an object")
        return _Reader(value, f"{self.where}.{key}", self.zone)

    def objs(self, key: str) -> list[_Reader]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._wrong(key, "a list")
        out = []
        for index, item in enumerate(value):
            if item is None:
                continue
            if not isinstance(item, dict):
                raise self._wrong(f"{key}[{index}]", "an object")
            out.append(_Reader(item, f"{self.where}.{key}[{index}]", self.zone))
        return out

    def boolean(self, key: str) -> bool | None:
        value = self.data.get(key)
        if value is not None and not isinstance(value, bool):
            raise self._wrong(key, "true or false")
        return value

    def integer(self, key: str) -> int | None:
        value = self.data.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise self._wrong(key, "an integer")
        return value

    def number(self, key: str) -> str:
        """A decimal as the text it was sent as (so `38.50` and `38.5` read as JSON numbers do)."""
        value = self.data.get(key)
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._wrong(key, "a number")
        return str(value)

    def day(self, key: str) -> date | None:
        """A full date; a year or year-month (allowed by FHIR) gives None."""
        text = self.text(key)
        if not text:
            return None
        if not _DATE.match(text):
            raise self._wrong(key, "a FHIR date (YYYY, YYYY-MM or YYYY-MM-DD)")
        if len(text) < 10:
            return None
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise self._wrong(key, "a valid calendar date") from None

    def moment(self, key: str) -> datetime | None:
        """A dateTime in the local zone: without an offset it is local time; a bare date is midnight."""
        text = self.text(key)
        if not text:
            return None
        if _DATE.match(text):
            day = self.day(key)
            return datetime(day.year, day.month, day.day, tzinfo=self.zone) if day else None
        if not _DATE_TIME.match(text):
            raise self._wrong(key, "a FHIR dateTime")
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            raise self._wrong(key, "a valid dateTime") from None
        if value.tzinfo is None:
            return value.replace(tzinfo=self.zone)
        return value.astimezone(self.zone)


class _Mapper:
    def __init__(self, by_type: dict[str, list[_Reader]], message_type: str) -> None:
        self.by_type = by_type
        self.message_type = message_type

    def _all(self, resource_type: str) -> list[_Reader]:
        return self.by_type.get(resource_type, [])

    def presentation(self) -> Presentation:
        patients = self._all("Patient")
        encounter_res = self._emergency_encounter()
        encounter = self.encounter(encounter_res)
        notes: list[Note] = []
        chief = ""
        chief_source = ""
        if encounter_res is not None:
            texts = [_concept_text(rc) for rc in encounter_res.objs("reasonCode")]
            chief = "; ".join(t for t in texts if t)
            chief_source = f"Encounter/{encounter_res.text('id')}.reasonCode" if chief else ""
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

    def _emergency_encounter(self) -> _Reader | None:
        encounters = self._all("Encounter")
        for enc in encounters:
            cls = enc.obj("class")
            if cls is not None and cls.text("code").upper() in _EMERGENCY_CLASSES:
                return enc
        return encounters[0] if encounters else None

    # -- resources ---------------------------------------------------------------------------------
    def patient(self, res: _Reader) -> Patient:
        identifiers: list[Identifier] = []
        bsn = None
        for ident in res.objs("identifier"):
            value = ident.text("value")
            if not value:
                continue
            system = ident.text("system")
            if system in BSN_SYSTEMS:
                bsn = bsn or value.strip()
                identifiers.append(Identifier(system=BSN_OID, value=value.strip(), type_code="NNNLD"))
            else:
                kind = ident.obj("type")
                codings = kind.objs("coding") if kind else []
                type_code = codings[0].text("code") if codings else ""
                identifiers.append(Identifier(system=system, value=value, type_code=type_code))
        return Patient(
            identifiers=identifiers,
            bsn=bsn,
            name=_name(res.objs("name")),
            birth_date=res.day("birthDate"),
            sex=_GENDER.get(res.text("gender"), Sex.UNKNOWN),
        )

    def encounter(self, res: _Reader | None) -> Encounter:
        if res is None:
            return Encounter()
        period = res.obj("period")
        hospitalization = res.obj("hospitalization")
        disposition = ""
        if hospitalization is not None:
            disposition = _concept_text(hospitalization.obj("dischargeDisposition"))
        identifiers: list[Identifier] = []
        for ident in res.objs("identifier"):
            value = ident.text("value")
            if value:
                kind = ident.obj("type")
                codings = kind.objs("coding") if kind else []
                type_code = codings[0].text("code") if codings else ""
                identifiers.append(Identifier(system=ident.text("system"), value=value, type_code=type_code))
        cls = res.obj("class")
        return Encounter(
            visit_number=identifiers[0].value if identifiers else "",
            identifiers=identifiers,
            patient_class=cls.text("code") if cls else "",
            arrival_at=period.moment("start") if period else None,
            discharged_at=period.moment("end") if period else None,
            status=_STATUS.get(res.text("status"), EncounterStatus.UNKNOWN),
            discharge_disposition=disposition,
        )

    def conditions(self, res: _Reader, notes: list[Note]) -> list[Diagnosis]:
        where = f"Condition/{res.text('id')}"
        kind = ""
        categories = res.objs("category")
        if categories:
            codings = categories[0].objs("coding")
            kind = codings[0].text("code") if codings else ""
        code = res.obj("code")
        out = [Diagnosis(coding=coding, kind=kind, source_field=f"{where}.code") for coding in _codings(code)]
        if code is not None and not out:
            text = code.text("text")
            if text:
                notes.append(Note(text=text, source_field=f"{where}.code.text"))
        _add_notes(res, notes, where)
        return out

    def observation(self, res: _Reader, notes: list[Note]) -> Observation | None:
        where = f"Observation/{res.text('id')}"
        code = res.obj("code")
        codings = _codings(code)
        value = ""
        value_coding = None
        unit = ""
        text_value = res.text("valueString")
        concept = res.obj("valueCodeableConcept")
        quantity = res.obj("valueQuantity")
        flag = res.boolean("valueBoolean")
        integer = res.integer("valueInteger")
        if text_value:
            value = text_value.strip()
            notes.append(Note(text=value, source_field=f"{where}.valueString"))
        elif concept is not None:
            found = _codings(concept)
            value_coding = found[0] if found else None
            value = (value_coding.display or value_coding.code) if value_coding else _concept_text(concept)
        elif flag is not None:
            value = "true" if flag else "false"
        elif quantity is not None and (amount := quantity.number("value")):
            value = amount
            unit = quantity.text("unit") or quantity.text("code")
        elif integer is not None:
            value = str(integer)
        _add_notes(res, notes, where)
        if not codings and not value:
            return None
        coding = codings[0] if codings else Coding(code="", display=_concept_text(code))
        return Observation(
            coding=coding,
            value=value,
            value_coding=value_coding,
            unit=unit,
            status=res.text("status"),
            source_field=f"{where}.value",
        )

    def related_person(self, res: _Reader, arrival_day: date | None) -> RelatedPerson:
        relationship, display = "", ""
        for concept in res.objs("relationship"):
            found = _codings(concept)
            if found:
                relationship, display = found[0].code, found[0].display
                break
        born = res.day("birthDate")
        is_minor = None
        if born is not None and arrival_day is not None:
            years = (
                arrival_day.year - born.year - ((arrival_day.month, arrival_day.day) < (born.month, born.day))
            )
            is_minor = years < ADULT_AGE_YEARS
        return RelatedPerson(
            name=_name(res.objs("name")),
            relationship=relationship,
            relationship_display=display,
            is_minor=is_minor,
            birth_date=born,
        )


def _add_notes(res: _Reader, notes: list[Note], where: str) -> None:
    for note in res.objs("note"):
        text = note.text("text")
        if text:
            notes.append(Note(text=text, source_field=f"{where}.note"))


def _codings(concept: _Reader | None) -> list[Coding]:
    if concept is None:
        return []
    out = []
    for c in concept.objs("coding"):
        code = c.text("code")
        if not code:
            continue
        uri = c.text("system")
        out.append(Coding(code=code, system=coding_system(uri), system_uri=uri, display=c.text("display")))
    return out


def _concept_text(concept: _Reader | None) -> str:
    if concept is None:
        return ""
    text = concept.text("text")
    if text:
        return text.strip()
    for c in concept.objs("coding"):
        display = c.text("display")
        if display:
            return display.strip()
    return ""


def _name(names: list[_Reader]) -> HumanName:
    if not names:
        return HumanName()
    chosen = next((n for n in names if n.text("use") == "official"), names[0])
    family = chosen.text("family").strip()
    prefix = ""
    for candidate in _FAMILY_PREFIXES:
        if family.lower().startswith(candidate + " "):
            prefix = family[: len(candidate)]
            break
    own = family[len(prefix) :].strip() if prefix else family
    return HumanName(family=family, family_prefix=prefix, family_own=own, given=chosen.texts("given"))
