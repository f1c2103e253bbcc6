"""The shapes of what the physician records: confirmation facts, meldcode steps, Kindcheck, checklist.

Pydantic models, used both by the service functions and as the API's request bodies, so a validation
error names the field that is wrong.
"""

from __future__ import annotations

from datetime import date
from enum import IntEnum, StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DismissReason(StrEnum):
    """Why a flag was not confirmed; feeds the rule statistics (alert burden, false positives)."""

    ACCIDENTAL_MECHANISM_CONFIRMED = "accidental_mechanism_confirmed"
    MEDICAL_EXPLANATION = "medical_explanation"
    DETECTION_ERROR = "detection_error"  # the rule misread the record (negation, false friend)
    ALREADY_KNOWN = "already_known"  # already reported / known to Veilig Thuis
    OTHER = "other"


class Melder(Strict):
    """The confirming physician, who will be the melder."""

    name: str = Field(min_length=1, max_length=200)
    role: str = Field(default="SEH-arts", max_length=100)
    phone: str = Field(default="", max_length=50)
    organisation: str = Field(default="Elisabeth-TweeSteden Ziekenhuis, SEH", max_length=200)


class ConfirmFacts(Strict):
    """What the physician establishes on confirming; missing values are derived from the case."""

    melder: Melder
    injuries: bool | None = Field(default=None, description="physical injuries; default: from the findings")
    child_involved: bool | None = Field(default=None, description="default: the patient is under 18")
    patient_age_years: int | None = Field(default=None, ge=0, le=130, description="default: from the record")
    sexual_violence_at: AwareDatetime | None = Field(
        default=None, description="when sexual violence happened, if it did (< 7 days: CSG acute route)"
    )


class MeldcodeStep(IntEnum):
    SIGNALS_MAPPED = 1
    CONSULTED = 2
    CONVERSATION = 3
    WEIGHING = 4
    DECISION = 5


class MeldcodeDecision(StrEnum):
    """Step 5, the afwegingskader: report, or organise help and keep watching."""

    MELDEN = "melden"
    HULP_ORGANISEREN = "hulp_organiseren"
    GEEN_ZORGEN = "geen_zorgen"


class MeldcodeStepInput(Strict):
    summary: str = Field(min_length=1, max_length=4000, description="what was done in this step")
    observed_facts: list[str] = Field(default_factory=list, description="step 1: what was seen or heard")
    consulted: list[str] = Field(default_factory=list, description="step 2: colleague, Veilig Thuis")
    discussed_with_family: bool | None = Field(default=None, description="step 3")
    family_reaction: str = Field(default="", max_length=4000, description="step 3")
    support_network: str = Field(default="", max_length=4000, description="step 3")
    assessment: str = Field(default="", max_length=4000, description="step 4: the weighing")
    decision: MeldcodeDecision | None = Field(default=None, description="step 5 only")


class KindcheckAnswer(StrEnum):
    YES = "yes"
    NO = "no"
    NOT_APPLICABLE = "not_applicable"  # the patient is a child


class Child(Strict):
    name: str = Field(default="", max_length=200)
    birth_date: date | None = None
    address: str = Field(default="", max_length=300)
    school: str = Field(default="", max_length=200)
    present_at_home: bool | None = None


class KindcheckInput(Strict):
    """ "Zorgt u voor minderjarige kinderen?" and, if yes, the children."""

    cares_for_minors: KindcheckAnswer
    children: list[Child] = Field(default_factory=list)

    @model_validator(mode="after")
    def _children_when_yes(self) -> KindcheckInput:
        if self.cares_for_minors is KindcheckAnswer.YES and not self.children:
            raise ValueError("children: give the children's details when the answer is yes")
        if self.cares_for_minors is not KindcheckAnswer.YES and self.children:
            raise ValueError("children: only when the answer is yes")
        return self


class SafeHomeAnswer(StrEnum):
    YES = "yes"
    NO = "no"
    UNSURE = "unsure"


class Destination(StrEnum):
    HOME = "home"
    FAMILY_OR_FRIENDS = "family_or_friends"
    SHELTER_STERK_HUIS = "shelter_sterk_huis"
    VROUWENOPVANG = "vrouwenopvang"
    ADMITTED = "admitted"


class HandOver(StrEnum):
    VEILIG_THUIS = "veilig_thuis"
    WIJKTEAM = "wijkteam"
    HUISARTS = "huisarts"


class DischargeChecklist(Strict):
    """The safe-discharge check; it is complete when `missing_items` is empty."""

    safe_home_question_asked: bool = Field(default=False, description='"Kunt u veilig naar huis?" asked')
    safe_home_answer: SafeHomeAnswer | None = None
    destination: Destination | None = None
    safety_plan_agreed: bool = False
    huisverbod_considered: bool = Field(default=False, description="tijdelijk huisverbod considered")
    children_safety_arranged: bool | None = Field(default=None, description="required when children involved")
    follow_up_appointment: str = Field(default="", max_length=500)
    hand_over_to: list[HandOver] = Field(default_factory=list)
    notes: str = Field(default="", max_length=4000)

    def missing_items(self, *, children_involved: bool) -> list[str]:
        missing = []
        if not self.safe_home_question_asked or self.safe_home_answer is None:
            missing.append("safe_home_answer")
        if self.destination is None:
            missing.append("destination")
        elif self.destination is Destination.HOME and self.safe_home_answer is not SafeHomeAnswer.YES:
            missing.append("destination")  # home is only a safe destination when the answer was yes
        if not self.safety_plan_agreed and self.destination is not Destination.ADMITTED:
            missing.append("safety_plan_agreed")
        if not self.huisverbod_considered:
            missing.append("huisverbod_considered")
        if children_involved and self.children_safety_arranged is not True:
            missing.append("children_safety_arranged")
        if not self.follow_up_appointment.strip() and self.destination is not Destination.ADMITTED:
            missing.append("follow_up_appointment")
        if not self.hand_over_to:
            missing.append("hand_over_to")
        return missing


class AgreedTime(Strict):
    agreed_at: AwareDatetime


class Acknowledgement(Strict):
    earliest_available_at: AwareDatetime
    acknowledged_by: str = Field(default="", max_length=200, description="who acknowledged for the party")
