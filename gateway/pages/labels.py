"""Words for the codes a page shows, in Dutch and English: states, severities, parties, consent decisions,
legal bases, meldcode steps, page and delivery states, timeline kinds. A page never shows a raw code:
`label(kind, code, lang)` falls back to a neutral word, and a test checks every enum value has both.
"""

from __future__ import annotations

from enum import StrEnum

from consent.models import ConsentDecision, Consenter, LegalBasisKind, Party
from consent.service import DisclosureField, DisclosureGround
from notifications.models import AttemptState, MeldingStatus, PageState, Urgency
from notifications.topics import AlertReason
from workflows.intake import PartyStatus, RequiredBecause, Route
from workflows.models import CaseState, EventKind
from workflows.schemas import (
    Destination,
    DismissReason,
    HandOver,
    KindcheckAnswer,
    MeldcodeDecision,
    SafeHomeAnswer,
)
from workflows.timers import TimerKind
from workflows.transitions import Action

Label = tuple[str, str]  # (Dutch, English)

LANGUAGES = ("nl", "en")

STATE: dict[str, Label] = {
    CaseState.FLAGGED: ("gesignaleerd", "flagged"),
    CaseState.DISMISSED: ("afgewezen", "dismissed"),
    CaseState.CONFIRMED: ("bevestigd", "confirmed"),
    CaseState.INTAKE_REQUESTED: ("intake aangevraagd", "intake requested"),
    CaseState.INTAKE_SCHEDULED: ("intake gepland", "intake scheduled"),
    CaseState.INTAKE_DONE: ("intake gedaan", "intake done"),
    CaseState.SAFE_DISCHARGE: ("veilig ontslag", "safe discharge"),
    CaseState.CLOSED: ("gesloten", "closed"),
}

SEVERITY: dict[str, Label] = {
    "info": ("informatie", "information"),
    "warning": ("waarschuwing", "warning"),
    "critical": ("kritiek", "critical"),
}

DISMISS_REASON: dict[str, Label] = {
    DismissReason.ACCIDENTAL_MECHANISM_CONFIRMED: (
        "Ongevalsmechanisme past bij het letsel",
        "The accident explains the injury",
    ),
    DismissReason.MEDICAL_EXPLANATION: ("Medische verklaring", "Medical explanation"),
    DismissReason.DETECTION_ERROR: (
        "Onjuiste signalering (bijv. ontkenning in de tekst)",
        "Wrong signal (e.g. a negation in the text)",
    ),
    DismissReason.ALREADY_KNOWN: (
        "Al bekend of al gemeld bij Veilig Thuis",
        "Already known or reported to Veilig Thuis",
    ),
    DismissReason.OTHER: ("Anders", "Other"),
}

EVENT: dict[str, Label] = {
    EventKind.TRANSITION: ("statuswijziging", "state change"),
    EventKind.FACTS: ("feiten vastgelegd", "facts recorded"),
    EventKind.MELDCODE_STEP: ("stap meldcode", "meldcode step"),
    EventKind.KINDCHECK: ("Kindcheck", "Kindcheck"),
    EventKind.CONSENT: ("toestemming", "consent"),
    EventKind.LEGAL_BASIS: ("grondslag zonder toestemming", "legal basis without consent"),
    EventKind.INTAKE_PARTY_ADDED: ("partij gevraagd voor intake", "party asked to the intake"),
    EventKind.INTAKE_PARTY_CANCELLED: ("partij afgemeld", "party stood down"),
    EventKind.INTAKE_ACKNOWLEDGED: ("partij bevestigt intake", "party acknowledges the intake"),
    EventKind.INTAKE_TIME_PROPOSED: ("intaketijd voorgesteld", "intake time proposed"),
    EventKind.DISCHARGE_CHECK: ("ontslagcheck", "discharge check"),
    EventKind.DISCHARGED_WITHOUT_CHECK: ("ontslag zonder check", "discharged without check"),
    EventKind.TIMER_FIRED: ("termijn verstreken", "deadline passed"),
    EventKind.MELDING: ("melding Veilig Thuis", "Veilig Thuis report"),
    EventKind.PAGE_SENT: ("oproep verstuurd", "page sent"),
    EventKind.PAGE_DELIVERED: ("oproep afgeleverd", "page delivered"),
    EventKind.PAGE_FAILED: ("oproep niet afgeleverd", "page not delivered"),
    EventKind.PAGE_ACKNOWLEDGED: ("oproep bevestigd", "page acknowledged"),
    EventKind.PAGE_DECLINED: ("oproep afgewezen", "page declined"),
    EventKind.PAGE_ESCALATED: ("oproep geëscaleerd", "page escalated"),
    EventKind.PAGE_EXHAUSTED: ("oproep onbeantwoord", "page unanswered"),
    EventKind.PAGE_SUPPRESSED: ("oproep niet verstuurd (geen grondslag)", "page not sent (no ground)"),
    EventKind.MELDING_DELIVERY: ("melding Veilig Thuis: verzending", "Veilig Thuis report: delivery"),
}

PARTY: dict[str, Label] = {
    Party.FORENSIC: ("forensisch arts", "forensic physician"),
    Party.VEILIG_THUIS: ("Veilig Thuis", "Veilig Thuis"),
    Party.POLICE: ("politie", "police"),
    Party.CSG: ("Centrum Seksueel Geweld", "Sexual Assault Centre"),
}

# Roster roles: the parties plus the people paged for other reasons.
ROLE: dict[str, Label] = {
    **PARTY,
    "kinder_forensisch": ("kinder-forensisch arts", "paediatric forensic physician"),
    "coordinator": ("coördinator", "coordinator"),
}

CONSENT_DECISION: dict[str, Label] = {
    ConsentDecision.PERMIT: ("toestemming gegeven", "consent given"),
    ConsentDecision.DENY: ("geweigerd", "refused"),
    ConsentDecision.NOT_ASKED: ("(nog) niet gevraagd", "not asked (yet)"),
}

CONSENTER: dict[str, Label] = {
    Consenter.PATIENT: ("de patiënt", "the patient"),
    Consenter.PARENT_OR_GUARDIAN: ("ouders of voogd", "parents or guardian"),
}

LEGAL_BASIS: dict[str, Label] = {
    LegalBasisKind.MELDRECHT: ("meldrecht (meldcode)", "right to report (meldcode)"),
    LegalBasisKind.ACUTE_DANGER: ("acuut gevaar", "acute danger"),
}

SUBJECT: dict[str, Label] = {
    "patient": ("de patiënt", "the patient"),
    "children": ("de kinderen (Kindcheck)", "the children (Kindcheck)"),
}

DISCLOSURE_FIELD: dict[str, Label] = {
    DisclosureField.CASE_REFERENCE: ("casusnummer en urgentie", "case number and urgency"),
    DisclosureField.INTAKE_TIME: ("intaketijd", "intake time"),
    DisclosureField.PATIENT_IDENTITY: ("identiteit van de patiënt", "the patient's identity"),
    DisclosureField.FINDINGS: ("signalen", "findings"),
    DisclosureField.PHYSICIAN_NOTES: ("notities van de arts", "the physician's notes"),
    DisclosureField.CHILDREN: ("gegevens van de kinderen", "the children's details"),
    DisclosureField.DISCHARGE_PLAN: ("ontslagplan", "discharge plan"),
    DisclosureField.MELDING: ("melding Veilig Thuis", "Veilig Thuis report"),
}

DISCLOSURE_GROUND: dict[str, Label] = {
    DisclosureGround.CONSENT: ("toestemming", "consent"),
    DisclosureGround.MELDRECHT: ("meldrecht", "right to report"),
    DisclosureGround.ACUTE_DANGER: ("acuut gevaar", "acute danger"),
}

MELDCODE_STEP: dict[str, Label] = {
    "1": ("Signalen in kaart brengen", "Map the signals"),
    "2": ("Collegiale consultatie en Veilig Thuis raadplegen", "Consult a colleague and Veilig Thuis"),
    "3": ("Gesprek met de patiënt (en ouders)", "Talk with the patient (and parents)"),
    "4": ("Wegen van het geweld of de kindermishandeling", "Weigh the violence or abuse"),
    "5": ("Beslissen: melden en/of hulp organiseren", "Decide: report and/or organise help"),
}

MELDCODE_DECISION: dict[str, Label] = {
    MeldcodeDecision.MELDEN: ("melden bij Veilig Thuis", "report to Veilig Thuis"),
    MeldcodeDecision.HULP_ORGANISEREN: ("hulp organiseren en effecten volgen", "organise help and follow up"),
    MeldcodeDecision.GEEN_ZORGEN: ("geen zorgen meer", "no remaining concern"),
}

KINDCHECK_ANSWER: dict[str, Label] = {
    KindcheckAnswer.YES: ("ja, zorgt voor minderjarige kinderen", "yes, cares for minors"),
    KindcheckAnswer.NO: ("nee", "no"),
    KindcheckAnswer.NOT_APPLICABLE: (
        "niet van toepassing (de patiënt is een kind)",
        "not applicable (a child)",
    ),
}

SAFE_HOME_ANSWER: dict[str, Label] = {
    SafeHomeAnswer.YES: ("ja", "yes"),
    SafeHomeAnswer.NO: ("nee", "no"),
    SafeHomeAnswer.UNSURE: ("weet niet", "unsure"),
}

DESTINATION: dict[str, Label] = {
    Destination.HOME: ("naar huis", "home"),
    Destination.FAMILY_OR_FRIENDS: ("familie of vrienden", "family or friends"),
    Destination.SHELTER_STERK_HUIS: ("opvang (Sterk Huis)", "shelter (Sterk Huis)"),
    Destination.VROUWENOPVANG: ("vrouwenopvang", "women's shelter"),
    Destination.ADMITTED: ("opgenomen in het ziekenhuis", "admitted to hospital"),
}

HAND_OVER: dict[str, Label] = {
    HandOver.VEILIG_THUIS: ("Veilig Thuis", "Veilig Thuis"),
    HandOver.WIJKTEAM: ("wijkteam", "neighbourhood team"),
    HandOver.HUISARTS: ("huisarts", "general practitioner"),
}

# What `DischargeChecklist.missing_items` names, as the thing still to do.
DISCHARGE_ITEM: dict[str, Label] = {
    "safe_home_answer": (
        "Vraag „Kunt u veilig naar huis?” en leg het antwoord vast",
        "Ask “Can you go home safely?”",
    ),
    "destination": (
        "Kies waar de patiënt heen gaat (naar huis alleen als het antwoord ja is)",
        "Choose where the patient goes (home only when the answer is yes)",
    ),
    "safety_plan_agreed": ("Spreek een veiligheidsplan af", "Agree a safety plan"),
    "huisverbod_considered": ("Overweeg een tijdelijk huisverbod", "Consider a temporary restraining order"),
    "children_safety_arranged": ("Regel de veiligheid van de kinderen", "Arrange the children's safety"),
    "follow_up_appointment": ("Maak een vervolgafspraak", "Make a follow-up appointment"),
    "hand_over_to": ("Kies aan wie u overdraagt", "Choose who takes over"),
}

ROUTE: dict[str, Label] = {
    Route.ONE_STOP_SHOP: ("gezamenlijke intake (one-stop-shop)", "joint intake (one-stop shop)"),
    Route.CSG_ACUTE: ("acute route Centrum Seksueel Geweld", "acute Sexual Assault Centre route"),
}

REQUIRED_BECAUSE: dict[str, Label] = {
    RequiredBecause.INJURIES: ("letsel", "injuries"),
    RequiredBecause.MELDEN_DECIDED: ("besluit te melden", "decision to report"),
    RequiredBecause.CHILD_INVOLVED: ("kind betrokken", "child involved"),
    RequiredBecause.SEXUAL_VIOLENCE_RECENT: ("seksueel geweld < 7 dagen", "sexual violence < 7 days"),
    RequiredBecause.CONSENT: ("toestemming gegeven", "consent given"),
    RequiredBecause.ACUTE_DANGER: ("acuut gevaar", "acute danger"),
}

PARTY_STATUS: dict[str, Label] = {
    PartyStatus.REQUESTED: ("gevraagd, wacht op antwoord", "asked, awaiting answer"),
    PartyStatus.ACKNOWLEDGED: ("komt", "coming"),
    PartyStatus.CANCELLED: ("afgemeld", "stood down"),
}

PAGE_STATE: dict[str, Label] = {
    PageState.ACTIVE: ("loopt (escaleert)", "running (escalating)"),
    PageState.ACKNOWLEDGED: ("bevestigd", "acknowledged"),
    PageState.DECLINED: ("afgewezen", "declined"),
    PageState.EXHAUSTED: ("onbeantwoord", "unanswered"),
    PageState.DONE: ("verstuurd", "sent"),
    PageState.CANCELLED: ("ingetrokken", "withdrawn"),
    PageState.SUPPRESSED: ("niet verstuurd: geen grondslag", "not sent: no ground"),
    PageState.EXPIRED: ("verlopen", "expired"),
}

ATTEMPT_STATE: dict[str, Label] = {
    AttemptState.QUEUED: ("in de wachtrij", "queued"),
    AttemptState.SENDING: ("wordt verstuurd", "sending"),
    AttemptState.RETRY: ("opnieuw proberen", "retrying"),
    AttemptState.ACCEPTED: ("verstuurd", "sent"),
    AttemptState.DELIVERED: ("afgeleverd", "delivered"),
    AttemptState.SENT: ("verstuurd", "sent"),
    AttemptState.FAILED: ("mislukt", "failed"),
    AttemptState.UNDELIVERED: ("niet afgeleverd", "not delivered"),
    AttemptState.CANCELLED: ("ingetrokken", "withdrawn"),
}

ANSWER: dict[str, Label] = {
    "acknowledged": ("komt", "coming"),
    "declined": ("kan niet", "cannot come"),
}

URGENCY: dict[str, Label] = {
    Urgency.EMERGENCY: ("spoed", "emergency"),
    Urgency.NORMAL: ("normaal", "normal"),
}

ALERT: dict[str, Label] = {
    AlertReason.DISCHARGED_WITHOUT_CHECK: (
        "ontslag zonder veiligheidscheck",
        "discharged without safety check",
    ),
    AlertReason.ACK_OVERDUE: ("oproep niet op tijd bevestigd", "page not acknowledged in time"),
    AlertReason.INTAKE_OVERDUE: ("intake over tijd", "intake overdue"),
    AlertReason.CASE_OPEN_TOO_LONG: ("casus staat te lang open", "case open too long"),
    AlertReason.PAGE_UNANSWERED: (
        "oproep onbeantwoord na alle escalatiestappen",
        "page unanswered after escalation",
    ),
}

TIMER: dict[str, Label] = {
    TimerKind.ACK_DEADLINE: ("termijn voor bevestiging", "acknowledgement deadline"),
    TimerKind.INTAKE_OVERDUE: ("intake over tijd", "intake overdue"),
    TimerKind.CASE_OPEN_TOO_LONG: ("casus te lang open", "case open too long"),
}

MELDING_STATUS: dict[str, Label] = {
    MeldingStatus.DRAFT: ("concept", "draft"),
    MeldingStatus.APPROVED: ("goedgekeurd, wordt verstuurd", "approved, being sent"),
    MeldingStatus.SENT: ("verstuurd", "sent"),
    MeldingStatus.DELIVERED: ("afgeleverd bij Veilig Thuis", "delivered to Veilig Thuis"),
    MeldingStatus.FAILED: ("verzending mislukt", "delivery failed"),
}

ACTION: dict[str, Label] = {
    Action.CONFIRM: ("Casus bevestigd", "Case confirmed"),
    Action.DISMISS: ("Signaal afgewezen", "Flag dismissed"),
    Action.REOPEN: ("Casus heropend", "Case reopened"),
    Action.REQUEST_INTAKE: ("Gezamenlijke intake aangevraagd", "Joint intake requested"),
    Action.SCHEDULE_INTAKE: ("Intaketijd afgesproken", "Intake time agreed"),
    Action.COMPLETE_INTAKE: ("Intake afgerond", "Intake completed"),
    Action.CANCEL_INTAKE: ("Intake geannuleerd", "Intake cancelled"),
    Action.COMPLETE_DISCHARGE_CHECK: ("Veilig ontslag vastgesteld", "Safe discharge established"),
    Action.CLOSE: ("Casus gesloten", "Case closed"),
}

CHANNEL: dict[str, Label] = {
    "sms": ("sms", "SMS"),
    "email": ("e-mail", "e-mail"),
    "smtp": ("e-mail", "e-mail"),
    "webhook": ("berichtkoppeling", "webhook"),
    "fhir": ("EPD-bericht", "EHR message"),
    "voice": ("telefoon", "phone"),
}

YES_NO: dict[str, Label] = {"true": ("ja", "yes"), "false": ("nee", "no"), "": ("onbekend", "unknown")}

TABLES: dict[str, dict[str, Label]] = {
    "state": STATE,
    "severity": SEVERITY,
    "dismiss_reason": DISMISS_REASON,
    "event": EVENT,
    "party": PARTY,
    "role": ROLE,
    "consent_decision": CONSENT_DECISION,
    "consenter": CONSENTER,
    "legal_basis": LEGAL_BASIS,
    "subject": SUBJECT,
    "disclosure_field": DISCLOSURE_FIELD,
    "disclosure_ground": DISCLOSURE_GROUND,
    "meldcode_step": MELDCODE_STEP,
    "meldcode_decision": MELDCODE_DECISION,
    "kindcheck_answer": KINDCHECK_ANSWER,
    "safe_home_answer": SAFE_HOME_ANSWER,
    "destination": DESTINATION,
    "hand_over": HAND_OVER,
    "discharge_item": DISCHARGE_ITEM,
    "route": ROUTE,
    "required_because": REQUIRED_BECAUSE,
    "party_status": PARTY_STATUS,
    "page_state": PAGE_STATE,
    "attempt_state": ATTEMPT_STATE,
    "answer": ANSWER,
    "urgency": URGENCY,
    "alert": ALERT,
    "timer": TIMER,
    "melding_status": MELDING_STATUS,
    "action": ACTION,
    "channel": CHANNEL,
    "yes_no": YES_NO,
}

# Which enum each table must cover completely (the test walks this).
ENUM_TABLES: dict[str, type[StrEnum]] = {
    "state": CaseState,
    "dismiss_reason": DismissReason,
    "event": EventKind,
    "party": Party,
    "consent_decision": ConsentDecision,
    "consenter": Consenter,
    "legal_basis": LegalBasisKind,
    "disclosure_field": DisclosureField,
    "disclosure_ground": DisclosureGround,
    "meldcode_decision": MeldcodeDecision,
    "kindcheck_answer": KindcheckAnswer,
    "safe_home_answer": SafeHomeAnswer,
    "destination": Destination,
    "hand_over": HandOver,
    "route": Route,
    "required_because": RequiredBecause,
    "party_status": PartyStatus,
    "page_state": PageState,
    "attempt_state": AttemptState,
    "urgency": Urgency,
    "alert": AlertReason,
    "timer": TimerKind,
    "melding_status": MeldingStatus,
    "action": Action,
}

_UNKNOWN: Label = ("onbekend", "unknown")


def label(kind: str, code: object, lang: str = "nl") -> str:
    """The word for `code` in table `kind`; an unknown code shows as "onbekend", never as itself."""
    key = str(code.value if isinstance(code, StrEnum) else code)
    pair = TABLES.get(kind, {}).get(key, _UNKNOWN)
    return pair[1] if lang == "en" else pair[0]


def options(kind: str, lang: str = "nl") -> list[tuple[str, str]]:
    """(code, word) pairs of a table, in its order, for a select or a group of radio buttons."""
    return [(str(code), pair[1] if lang == "en" else pair[0]) for code, pair in TABLES[kind].items()]


def _dutch(kind: str) -> dict[str, str]:
    return {code: pair[0] for code, pair in TABLES[kind].items()}


# The Dutch-only tables of before; kept so callers that import them keep working.
STATE_NL = _dutch("state")
SEVERITY_NL = _dutch("severity")
EVENT_NL = _dutch("event")
DISMISS_REASON_NL: dict[DismissReason, str] = {
    DismissReason(k): v for k, v in _dutch("dismiss_reason").items()
}
