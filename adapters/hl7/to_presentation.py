"""HL7 v2 ADT (A01/A02/A03/A04/A05/A06/A07/A08/A11/A13) and ORU^R01 messages to a `Presentation`.

Other message types (ORM, VXU, MDM, SIU, other ADT triggers such as A28 or A40) are not about an ED
presentation: `to_presentation` returns None for them, which is not an error.

What is fatal and what is tolerated (a fatal problem raises `MappingError`, an `HL7Error` with the
location of the bad field, AE semantics; a tolerated one drops just that piece):
- fatal: no PID segment; PID-7 birth date malformed; PV1-44 admit date/time malformed. These decide who
  the patient is and the age at arrival, which the child/elder rules depend on; guessing would be worse
  than stopping.
- tolerated (dropped): unknown PID-8 sex (-> unknown), PV1-45 discharge time, NK1-16 birth date,
  EVN-2/EVN-6/MSH-7 fallback times, DG1 rows without a code (their DG1-4 text still becomes a note),
  OBX rows with neither identifier nor value, PID-3 BSN failing the elfproef (kept as an identifier,
  `Patient.bsn` stays None).

Choices:
- Arrival is PV1-44; without it EVN-6 (event occurred), then EVN-2 (recorded), then MSH-7. The fallbacks
  are close enough for the age at arrival, which is what arrival is used for.
- Times without an offset are local time in `default_zone`.
- Partial birth dates become the first of the month/year (`2024` -> 2024-01-01).
- `source_field` uses the segment's occurrence in the message: `DG1[2]-3`, `OBX[3]-5`, `NTE[1]-3`;
  single segments are written plain: `PV2-3`, `PV2-12`.
- Text values of OBX (ST, TX, FT) and NTE-3 comments become notes; DG1-4 descriptions too.
"""

from __future__ import annotations

from datetime import date, datetime

from adapters.hl7.coding import coding_system, is_bsn_identifier, normalise_bsn
from adapters.hl7.errors import ErrorCode, ErrorLocation, HL7Error
from adapters.hl7.msh import Header
from adapters.hl7.parser import Message, Repetition, Segment, component_text, parse_bytes, parse_header, part
from adapters.hl7.timestamps import parse_date, parse_datetime
from detection.models import (
    BSN_OID,
    Coding,
    Diagnosis,
    Encounter,
    EncounterStatus,
    EventType,
    HumanName,
    Identifier,
    Note,
    Observation,
    Patient,
    Practitioner,
    Presentation,
    RelatedPerson,
    Sex,
    SourceRef,
)

DEFAULT_ZONE = "Europe/Amsterdam"
ADULT_AGE_YEARS = 18

# ADT trigger -> (event, status). None as status: derived from PV1-45 (finished when discharged).
ADT_EVENTS: dict[str, tuple[EventType, EncounterStatus | None]] = {
    "A01": (EventType.ADMIT, EncounterStatus.IN_PROGRESS),
    "A04": (EventType.REGISTER, EncounterStatus.IN_PROGRESS),
    "A08": (EventType.UPDATE, None),
    "A03": (EventType.DISCHARGE, EncounterStatus.FINISHED),
    "A11": (EventType.CANCEL, EncounterStatus.CANCELLED),
    "A02": (EventType.UPDATE, None),  # transfer
    "A05": (EventType.UPDATE, EncounterStatus.PLANNED),  # pre-admit
    "A06": (EventType.UPDATE, None),  # outpatient -> inpatient
    "A07": (EventType.UPDATE, None),  # inpatient -> outpatient
    "A13": (EventType.UPDATE, EncounterStatus.IN_PROGRESS),  # cancel discharge
}

_SEX = {
    "M": Sex.MALE,
    "F": Sex.FEMALE,
    "V": Sex.FEMALE,  # Dutch "vrouw" as some Dutch systems still send it
    "O": Sex.OTHER,
    "A": Sex.OTHER,  # ambiguous
    "U": Sex.UNKNOWN,
    "N": Sex.UNKNOWN,  # not applicable
}

_TEXT_TYPES = frozenset({"ST", "TX", "FT"})
_CODED_TYPES = frozenset({"CE", "CWE", "CNE", "CF", "CD"})
_NO_VALUE_TYPES = frozenset({"ED", "RP"})  # encapsulated data / references: never text evidence


class MappingError(HL7Error):
    """A field the mapping cannot do without is malformed (AE: the content is wrong, not the structure)."""

    def __init__(self, code: ErrorCode, text: str, *, location: ErrorLocation) -> None:
        super().__init__(code, text, location=location, reject=False)


def event_for(header: Header) -> tuple[EventType, EncounterStatus | None] | None:
    """The event a message stands for, or None when it is not an ED presentation message."""
    code = header.message_code.upper()
    trigger = header.trigger_event.upper()
    if code == "ORU" and trigger == "R01":
        return EventType.RESULT, None
    if code == "ADT":
        return ADT_EVENTS.get(trigger)
    return None


def to_presentation(
    header: Header, message: Message | None = None, *, default_zone: str = DEFAULT_ZONE
) -> Presentation | None:
    """The `Presentation` of an ADT/ORU message, None for message types that are not ED presentations.

    `message` may be passed when already parsed (else it is parsed from `header`). Raises MappingError
    for the fatal cases in the module docstring; tolerated problems only drop the field.
    """
    event = event_for(header)
    if event is None:
        return None
    event_type, status = event
    msg = message if message is not None else parse_header(header)
    mapper = _Mapper(header, msg, default_zone)
    return mapper.presentation(event_type, status)


def presentation_from_bytes(
    raw: bytes, *, default_charset: str, default_zone: str = DEFAULT_ZONE
) -> Presentation | None:
    """read_header + parse + to_presentation in one call; raises HL7Error / MappingError."""
    header, message = parse_bytes(raw, default_charset=default_charset)
    return to_presentation(header, message, default_zone=default_zone)


def message_to_presentation(
    raw: bytes, *, default_charset: str, timezone: str = DEFAULT_ZONE
) -> Presentation | None:
    """The worker's entry point (stored raw bytes in, Presentation or None out); `timezone` = default zone."""
    return presentation_from_bytes(raw, default_charset=default_charset, default_zone=timezone)


class _Mapper:
    def __init__(self, header: Header, message: Message, default_zone: str) -> None:
        self.header = header
        self.message = message
        self.zone = default_zone

    def presentation(self, event: EventType, status: EncounterStatus | None) -> Presentation:
        msg = self.message
        pid = msg.first("PID")
        if pid is None:
            raise MappingError(
                ErrorCode.SEGMENT_SEQUENCE_ERROR,
                f"{self.header.message_type_code} needs a PID segment",
                location=ErrorLocation("PID", 1),
            )
        encounter = self.encounter(msg.first("PV1"), msg.first("EVN"), status, event)
        presentation = Presentation(
            source=SourceRef(
                channel="hl7v2",
                message_type=self.header.message_type_code,
                control_id=self.header.control_id,
                sender=self.header.sender,
            ),
            event=event,
            patient=self.patient(pid),
            encounter=encounter,
        )
        reference_day = encounter.arrival_at.date() if encounter.arrival_at else None
        pv2 = msg.first("PV2")
        notes: list[Note] = []
        if pv2 is not None:
            presentation.chief_complaint = _coded_text(pv2.first(3))
            if presentation.chief_complaint:
                presentation.chief_complaint_source = "PV2-3"
            for visit_text in pv2.text(12):
                if visit_text.strip():
                    notes.append(Note(text=visit_text.strip(), source_field="PV2-12"))
        for seg in msg.segments:
            if seg.id == "DG1":
                presentation.diagnoses.extend(self.diagnoses(seg, notes))
            elif seg.id == "OBX":
                observation = self.observation(seg, notes)
                if observation is not None:
                    presentation.observations.append(observation)
            elif seg.id == "NTE":
                for comment in seg.text(3):
                    if comment.strip():
                        notes.append(Note(text=comment.strip(), source_field=f"{seg.label}-3"))
            elif seg.id == "NK1":
                related = self.related_person(seg, reference_day)
                if related is not None:
                    presentation.related_persons.append(related)
        presentation.notes = notes
        return presentation

    # -- patient ---------------------------------------------------------------------------------
    def patient(self, pid: Segment) -> Patient:
        identifiers: list[Identifier] = []
        bsn: str | None = None
        for rep in pid.repetitions(3):
            value = part(rep, 1).strip()
            if not value:
                continue
            namespace, universal_id, type_code = part(rep, 4, 1), part(rep, 4, 2), part(rep, 5)
            system = universal_id or namespace
            if is_bsn_identifier(type_code, namespace, universal_id):
                system = BSN_OID
                checked = normalise_bsn(value)
                if checked is not None:
                    bsn = bsn or checked
                    value = checked
            identifiers.append(Identifier(system=system, value=value, type_code=type_code))
        birth = pid.value(7)
        birth_date = None
        if birth:
            try:
                birth_date = parse_date(birth)
            except ValueError as exc:
                raise MappingError(
                    ErrorCode.DATA_TYPE_ERROR,
                    f"PID-7 birth date is malformed: {exc}",
                    location=ErrorLocation("PID", 1, 7),
                ) from None
        return Patient(
            identifiers=identifiers,
            bsn=bsn,
            name=_name(_preferred_name(pid.repetitions(5))),
            birth_date=birth_date,
            sex=_SEX.get(pid.value(8).strip().upper()[:1], Sex.UNKNOWN),
        )

    # -- encounter -------------------------------------------------------------------------------
    def encounter(
        self, pv1: Segment | None, evn: Segment | None, status: EncounterStatus | None, event: EventType
    ) -> Encounter:
        arrival = None
        discharged = None
        if pv1 is not None and pv1.value(44):
            try:
                arrival = parse_datetime(pv1.value(44), default_zone=self.zone)
            except ValueError as exc:
                raise MappingError(
                    ErrorCode.DATA_TYPE_ERROR,
                    f"PV1-44 admit date/time is malformed: {exc}",
                    location=ErrorLocation("PV1", 1, 44),
                ) from None
        if arrival is None:
            fallbacks = [evn.value(6), evn.value(2)] if evn is not None else []
            fallbacks.append(self.header.message_datetime.split(self.header.delimiters.component, 1)[0])
            arrival = next((t for t in map(self._optional_time, fallbacks) if t is not None), None)
        if pv1 is None:
            derived = status or (
                EncounterStatus.UNKNOWN if event is EventType.RESULT else EncounterStatus.IN_PROGRESS
            )
            return Encounter(arrival_at=arrival, status=derived)
        discharged = self._optional_time(pv1.value(45))
        if status is None:
            status = EncounterStatus.FINISHED if discharged else EncounterStatus.IN_PROGRESS
        location = pv1.first(3)
        attending = pv1.first(7)
        visit = pv1.first(19)
        visit_number = part(visit, 1).strip() if visit else ""
        identifiers = (
            [
                Identifier(
                    system=part(visit, 4, 2) or part(visit, 4, 1),  # assigning authority: OID, else namespace
                    value=visit_number,
                    type_code=part(visit, 5) or "VN",
                )
            ]
            if visit_number
            else []
        )
        return Encounter(
            visit_number=visit_number,
            identifiers=identifiers,
            patient_class=pv1.value(2).strip(),
            location="/".join(p for p in (part(location, 1), part(location, 2), part(location, 3)) if p),
            facility=part(location, 4, 1) or part(location, 4, 2),
            attending=_practitioner(attending) if attending else None,
            arrival_at=arrival,
            discharged_at=discharged,
            status=status,
            discharge_disposition=pv1.value(36).strip(),
        )

    def _optional_time(self, value: str) -> datetime | None:
        if not value.strip():
            return None
        try:
            return parse_datetime(value, default_zone=self.zone)
        except ValueError:
            return None

    # -- clinical content --------------------------------------------------------------------------
    def diagnoses(self, dg1: Segment, notes: list[Note]) -> list[Diagnosis]:
        source = f"{dg1.label}-3"
        kind = dg1.value(6).strip()
        out: list[Diagnosis] = []
        rep = dg1.first(3)
        fallback_system = dg1.value(2)
        for offset in (0, 3):  # the primary triplet and the alternate (CE components 4-6)
            code = part(rep, 1 + offset).strip()
            if not code:
                continue
            system_name = part(rep, 3 + offset) or (fallback_system if offset == 0 else "")
            coding = Coding(
                code=code,
                system=coding_system(system_name),
                system_uri=system_name,
                display=part(rep, 2 + offset),
            )
            out.append(Diagnosis(coding=coding, kind=kind, source_field=source))
        description = " ".join(dg1.text(4)).strip()
        if description:
            notes.append(Note(text=description, source_field=f"{dg1.label}-4"))
        elif not out and part(rep, 2).strip():
            notes.append(Note(text=part(rep, 2).strip(), source_field=source))
        return out

    def observation(self, obx: Segment, notes: list[Note]) -> Observation | None:
        value_type = obx.value(2).strip().upper()
        ident = obx.first(3)
        source = f"{obx.label}-5"
        value = ""
        value_coding = None
        if value_type in _TEXT_TYPES:
            value = "\n".join(t for t in obx.text(5) if t.strip()).strip()
            if value:
                notes.append(Note(text=value, source_field=source))
        elif value_type in _CODED_TYPES:
            first = obx.first(5)
            code, display, system_name = part(first, 1), part(first, 2), part(first, 3)
            if code or display:
                value_coding = Coding(
                    code=code, system=coding_system(system_name), system_uri=system_name, display=display
                )
            value = display or code
        elif value_type not in _NO_VALUE_TYPES:
            value = "".join(
                component_text(rep, i) for rep in obx.repetitions(5)[:1] for i in range(1, len(rep) + 1)
            )
        code = part(ident, 1)
        if not code and not value:
            return None
        units = obx.first(6)
        return Observation(
            coding=Coding(
                code=code,
                system=coding_system(part(ident, 3)),
                system_uri=part(ident, 3),
                display=part(ident, 2),
            ),
            value=value,
            value_coding=value_coding,
            unit=part(units, 1) or part(units, 2),
            status=obx.value(11).strip(),
            source_field=source,
        )

    def related_person(self, nk1: Segment, reference_day: date | None) -> RelatedPerson | None:
        name = _name(_preferred_name(nk1.repetitions(2)))
        relation = nk1.first(3)
        birth_date = None
        if nk1.value(16):
            try:
                birth_date = parse_date(nk1.value(16))
            except ValueError:
                birth_date = None
        if not (name.family or name.given or part(relation, 1)):
            return None
        is_minor = None
        if birth_date is not None and reference_day is not None:
            is_minor = _years_between(birth_date, reference_day) < ADULT_AGE_YEARS
        return RelatedPerson(
            name=name,
            relationship=part(relation, 1),
            relationship_display=part(relation, 2),
            is_minor=is_minor,
            birth_date=birth_date,
        )


def _preferred_name(reps: list[Repetition]) -> Repetition:
    """The legal name (XPN-7 = L) when there is one, else the first."""
    for rep in reps:
        if part(rep, 7).upper() == "L":
            return rep
    return reps[0] if reps else []


def _name(rep: Repetition) -> HumanName:
    """XPN with the Dutch FN subcomponents: surname & own-surname prefix & own surname."""
    surname, prefix, own = part(rep, 1, 1).strip(), part(rep, 1, 2).strip(), part(rep, 1, 3).strip()
    family = surname or f"{prefix} {own}".strip()
    if not own:
        own = surname[len(prefix) :].strip() if prefix and surname.startswith(prefix) else surname
    given = [g for g in (part(rep, 2).strip(), part(rep, 3).strip()) if g]
    return HumanName(family=family, family_prefix=prefix, family_own=own, given=given)


def _practitioner(rep: Repetition) -> Practitioner:
    """XCN: id ^ family (FN) ^ given; the name shown as 'given family'."""
    surname, prefix, own = part(rep, 2, 1), part(rep, 2, 2), part(rep, 2, 3)
    family = surname or f"{prefix} {own}".strip()
    name = " ".join(p for p in (part(rep, 3).strip(), family.strip()) if p)
    return Practitioner(id=part(rep, 1).strip(), name=name)


def _coded_text(rep: Repetition) -> str:
    """The words of a CE/CWE: original text (CWE-9), else the text (2), else the code (1)."""
    return (part(rep, 9) or part(rep, 2) or part(rep, 1)).strip()


def _years_between(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))
