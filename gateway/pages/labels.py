"""Dutch words for the codes the case page shows: states, severities, dismiss reasons, timeline kinds."""

from __future__ import annotations

from workflows.models import CaseState, EventKind
from workflows.schemas import DismissReason

STATE_NL: dict[str, str] = {
    CaseState.FLAGGED: "gesignaleerd",
    CaseState.DISMISSED: "afgewezen",
    CaseState.CONFIRMED: "bevestigd",
    CaseState.INTAKE_REQUESTED: "intake aangevraagd",
    CaseState.INTAKE_SCHEDULED: "intake gepland",
    CaseState.INTAKE_DONE: "intake gedaan",
    CaseState.SAFE_DISCHARGE: "veilig ontslag",
    CaseState.CLOSED: "gesloten",
}

SEVERITY_NL: dict[str, str] = {"info": "informatie", "warning": "waarschuwing", "critical": "kritiek"}

DISMISS_REASON_NL: dict[DismissReason, str] = {
    DismissReason.ACCIDENTAL_MECHANISM_CONFIRMED: "Ongevalsmechanisme past bij het letsel",
    DismissReason.MEDICAL_EXPLANATION: "Medische verklaring",
    DismissReason.DETECTION_ERROR: "Onjuiste signalering (bijv. ontkenning in de tekst)",
    DismissReason.ALREADY_KNOWN: "Al bekend of al gemeld bij Veilig Thuis",
    DismissReason.OTHER: "Anders",
}

EVENT_NL: dict[str, str] = {
    EventKind.TRANSITION: "statuswijziging",
    EventKind.FACTS: "feiten vastgelegd",
    EventKind.MELDCODE_STEP: "stap meldcode",
    EventKind.KINDCHECK: "kindcheck",
    EventKind.CONSENT: "toestemming",
    EventKind.LEGAL_BASIS: "grondslag zonder toestemming",
    EventKind.INTAKE_PARTY_ADDED: "partij gevraagd voor intake",
    EventKind.INTAKE_PARTY_CANCELLED: "partij afgemeld",
    EventKind.INTAKE_ACKNOWLEDGED: "partij bevestigt intake",
    EventKind.INTAKE_TIME_PROPOSED: "intaketijd voorgesteld",
    EventKind.DISCHARGE_CHECK: "ontslagcheck",
    EventKind.DISCHARGED_WITHOUT_CHECK: "ontslag zonder check",
    EventKind.TIMER_FIRED: "termijn verstreken",
    EventKind.MELDING: "melding Veilig Thuis",
    EventKind.PAGE_SENT: "oproep verstuurd",
    EventKind.PAGE_DELIVERED: "oproep afgeleverd",
    EventKind.PAGE_FAILED: "oproep niet afgeleverd",
    EventKind.PAGE_ACKNOWLEDGED: "oproep bevestigd",
    EventKind.PAGE_DECLINED: "oproep afgewezen",
    EventKind.PAGE_ESCALATED: "oproep geëscaleerd",
    EventKind.PAGE_EXHAUSTED: "oproep onbeantwoord",
    EventKind.PAGE_SUPPRESSED: "oproep niet verstuurd (geen grondslag)",
    EventKind.MELDING_DELIVERY: "melding Veilig Thuis: verzending",
}

# What a `?gedaan=` after a successful action says; only these keys are shown, never the raw parameter.
DONE_NL: dict[str, str] = {
    "bevestigd": "De casus is bevestigd.",
    "afgewezen": "Het signaal is afgewezen.",
}
