"""The internal model every feed is normalised into (`Presentation`) and what detection returns (`Finding`).

HL7 v2 and FHIR adapters both build a `Presentation`; the detector reads only this model, so a rule
behaves the same whichever feed a presentation came from. Pure data: no I/O, no database.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

BSN_OID = "2.16.840.1.113883.2.4.6.3"
BSN_SYSTEM = "http://fhir.nl/fhir/NamingSystem/bsn"


class Model(BaseModel):
    """Base for the internal model: unknown keys are errors, so a typo in a mapper fails loudly."""

    model_config = ConfigDict(extra="forbid")


class Sex(StrEnum):
    MALE = "male"
    FEMALE = "female"
    OTHER = "other"
    UNKNOWN = "unknown"


class EventType(StrEnum):
    """What happened to the encounter, independent of the feed's own vocabulary."""

    ADMIT = "admit"  # A01
    REGISTER = "register"  # A04
    UPDATE = "update"  # A08
    DISCHARGE = "discharge"  # A03
    CANCEL = "cancel"  # A11
    RESULT = "result"  # ORU^R01
    SNAPSHOT = "snapshot"  # a FHIR bundle or CDS Hooks prefetch: the state as it is now


class EncounterStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in-progress"
    FINISHED = "finished"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


class Identifier(Model):
    system: str = ""  # HL7: assigning authority (PID-3.4) or OID; FHIR: Identifier.system
    value: str
    type_code: str = ""  # HL7 table 0203 (MR, NNNLD, VN, …)


class HumanName(Model):
    """A Dutch name keeps the voorvoegsel apart so `van der Berg` sorts and matches under B."""

    family: str = ""  # full family name as displayed: "van der Berg"
    family_prefix: str = ""  # voorvoegsel: "van der"
    family_own: str = ""  # eigennaam without prefix: "Berg"
    given: list[str] = Field(default_factory=list)


class Patient(Model):
    identifiers: list[Identifier] = Field(default_factory=list)
    bsn: str | None = None
    name: HumanName = Field(default_factory=HumanName)
    birth_date: date | None = None
    sex: Sex = Sex.UNKNOWN


class Practitioner(Model):
    id: str = ""
    name: str = ""


class Encounter(Model):
    visit_number: str = ""
    # Every identifier the feed gave the encounter (HL7: PV1-19 with its assigning authority as `system`;
    # FHIR: each Encounter.identifier), so the store can tell which one is the visit number it links by.
    identifiers: list[Identifier] = Field(default_factory=list)
    patient_class: str = ""  # HL7 PV1-2 (E = emergency) or FHIR Encounter.class code
    location: str = ""  # point of care / room / bed, joined
    facility: str = ""
    attending: Practitioner | None = None
    arrival_at: datetime | None = None
    discharged_at: datetime | None = None
    status: EncounterStatus = EncounterStatus.UNKNOWN
    discharge_disposition: str = ""

    @property
    def is_emergency(self) -> bool:
        return self.patient_class.upper() in {"E", "EMER", "EMERGENCY"}


class CodingSystem(StrEnum):
    ICD10 = "ICD-10"
    SNOMED = "SNOMED-CT"
    LOINC = "LOINC"
    LOCAL = "local"
    OTHER = "other"


class Coding(Model):
    code: str
    system: CodingSystem = CodingSystem.OTHER
    system_uri: str = ""  # what the feed said, kept for traceability (e.g. "I10", "http://snomed.info/sct")
    display: str = ""


class Diagnosis(Model):
    coding: Coding
    kind: str = ""  # HL7 DG1-6 (A admitting, W working, F final) or FHIR category
    source_field: str = ""  # e.g. "DG1[1]-3" or "Condition/abc.code"


class Observation(Model):
    """A structured observation; screening answers (SPUTOVAMO, Escape, EASI) arrive as these."""

    coding: Coding
    value: str = ""  # string form of the value (ST/TX/CE/NM …)
    value_coding: Coding | None = None
    unit: str = ""
    status: str = ""
    source_field: str = ""


class Note(Model):
    """Free text written by a person: chief complaint, triage note, OBX/NTE text, Condition.note."""

    text: str
    source_field: str  # which field the words came from, shown as evidence


class RelatedPerson(Model):
    name: HumanName = Field(default_factory=HumanName)
    relationship: str = ""  # HL7 table 0063 code or FHIR v3-RoleCode (MTH, FTH, SPO, …)
    relationship_display: str = ""
    is_minor: bool | None = None
    birth_date: date | None = None


class SourceRef(Model):
    """Where the presentation came from; never contains patient data."""

    channel: str  # "hl7v2" | "fhir" | "cds-hooks"
    message_type: str = ""  # "ADT^A01", "Bundle", …
    control_id: str = ""
    sender: str = ""


class Presentation(Model):
    """One ED presentation as the detector sees it."""

    source: SourceRef
    event: EventType
    patient: Patient = Field(default_factory=Patient)
    encounter: Encounter = Field(default_factory=Encounter)
    chief_complaint: str = ""
    chief_complaint_source: str = ""  # where the feed had it ("PV2-3", "Encounter/x.reasonCode"); optional
    diagnoses: list[Diagnosis] = Field(default_factory=list)
    observations: list[Observation] = Field(default_factory=list)
    notes: list[Note] = Field(default_factory=list)
    related_persons: list[RelatedPerson] = Field(default_factory=list)
    earlier_ed_visits: int | None = None  # within the look-back window, when the feed tells us

    @property
    def age_at_arrival_days(self) -> int | None:
        """Age in whole days on the arrival date (or today's date of the message when arrival is unknown)."""
        born = self.patient.birth_date
        arrived = self.encounter.arrival_at
        if born is None or arrived is None:
            return None
        days = (arrived.date() - born).days
        return days if days >= 0 else None

    @property
    def age_at_arrival_months(self) -> float | None:
        """Age in months as a fraction (30.4375 days per month), for bands such as `< 4.99 months`."""
        days = self.age_at_arrival_days
        return None if days is None else days / 30.4375

    @property
    def age_at_arrival_years(self) -> int | None:
        """Completed years on the arrival date (birthday arithmetic, not days / 365)."""
        born = self.patient.birth_date
        arrived = self.encounter.arrival_at
        if born is None or arrived is None:
            return None
        on = arrived.date()
        years = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
        return years if years >= 0 else None

    def texts(self) -> list[Note]:
        """Every piece of free text with the field it came from, chief complaint first."""
        out: list[Note] = []
        if self.chief_complaint:
            source = self.chief_complaint_source or "chief_complaint"
            out.append(Note(text=self.chief_complaint, source_field=source))
        out.extend(self.notes)
        return out


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Evidence(Model):
    field: str  # "PV2-3", "DG1[1]-3", "OBX[2]-5", "Condition/x.code", "age"
    text: str = ""  # the matched words or the code, never more than the match itself
    codes: list[str] = Field(default_factory=list)
    body_site: str = ""


class Finding(Model):
    """One rule that fired, explained well enough that a physician can judge it without the code."""

    rule_id: str  # starts with its family id: "R-BR-1", "R-CODE-T74"
    family: str  # "R-BR", "R-AHT", …
    severity: Severity
    explanation_nl: str
    explanation_en: str
    evidence: list[Evidence] = Field(default_factory=list)
    source: str  # citation from DOMAIN.md
    next_step_nl: str = ""
    next_step_en: str = ""
