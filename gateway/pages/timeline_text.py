"""The case timeline in plain words: one sentence per event, from its kind, its code and its states.

Codes are written by the services (`forensic:permit`, `step5:melden`, `police:sms`, …); this module
reads them and never shows one as it is: an unknown part becomes "onbekend" through labels.label.
"""

from __future__ import annotations

from typing import Any

from gateway.pages.labels import ACTION, DISMISS_REASON, label
from workflows.models import CaseEvent, EventKind

# kind: (Dutch, English) with {a} and {b} the first two parts of the code, already turned into words.
_SENTENCES: dict[str, tuple[str, str]] = {
    EventKind.FACTS: ("Feiten bij de bevestiging vastgelegd", "Facts recorded on confirmation"),
    EventKind.MELDCODE_STEP: ("Meldcode stap {a} vastgelegd{b}", "Meldcode step {a} recorded{b}"),
    EventKind.KINDCHECK: ("Kindcheck: {a}", "Kindcheck: {a}"),
    EventKind.CONSENT: ("Toestemming voor {a}: {b}", "Consent for {a}: {b}"),
    EventKind.LEGAL_BASIS: (
        "Grondslag zonder toestemming voor {a}: {b}",
        "Legal basis without consent for {a}: {b}",
    ),
    EventKind.INTAKE_PARTY_ADDED: (
        "{a} gevraagd voor de gezamenlijke intake",
        "{a} asked to the joint intake",
    ),
    EventKind.INTAKE_PARTY_CANCELLED: ("{a} afgemeld voor de intake", "{a} stood down from the intake"),
    EventKind.INTAKE_ACKNOWLEDGED: ("{a} komt naar de intake", "{a} is coming to the intake"),
    EventKind.INTAKE_TIME_PROPOSED: ("Intaketijd voorgesteld", "Intake time proposed"),
    EventKind.DISCHARGE_CHECK: (
        "Veiligheidscheck bij ontslag opgeslagen: {a}",
        "Safe-discharge check saved: {a}",
    ),
    EventKind.DISCHARGED_WITHOUT_CHECK: (
        "Ontslagen zonder veiligheidscheck (gemeld door het EPD)",
        "Discharged without a safety check (reported by the EHR)",
    ),
    EventKind.TIMER_FIRED: ("Termijn verstreken: {a}{b}", "Deadline passed: {a}{b}"),
    EventKind.MELDING: ("Melding Veilig Thuis: {a}", "Veilig Thuis report: {a}"),
    EventKind.PAGE_SENT: ("Oproep aan {a} verstuurd per {b}", "Page to {a} sent by {b}"),
    EventKind.PAGE_DELIVERED: ("Oproep aan {a} afgeleverd per {b}", "Page to {a} delivered by {b}"),
    EventKind.PAGE_FAILED: ("Oproep aan {a} niet afgeleverd per {b}", "Page to {a} not delivered by {b}"),
    EventKind.PAGE_ACKNOWLEDGED: ("{a} bevestigt de oproep", "{a} acknowledges the page"),
    EventKind.PAGE_DECLINED: ("{a} kan niet komen", "{a} cannot come"),
    EventKind.PAGE_ESCALATED: (
        "Oproep aan {a} geëscaleerd naar stap {b}",
        "Page to {a} escalated to step {b}",
    ),
    EventKind.PAGE_EXHAUSTED: (
        "Oproep aan {a} onbeantwoord na alle stappen",
        "Page to {a} unanswered after all steps",
    ),
    EventKind.PAGE_SUPPRESSED: (
        "Oproep aan {a} niet verstuurd: geen toestemming of grondslag",
        "Page to {a} not sent: no consent or legal basis",
    ),
    EventKind.MELDING_DELIVERY: ("Verzending melding Veilig Thuis: {a}", "Veilig Thuis report delivery: {a}"),
}

_MELDING_CODE: dict[str, tuple[str, str]] = {
    "draft": ("concept gemaakt", "draft prepared"),
    "edited": ("aangepast", "edited"),
    "approved": ("goedgekeurd door de arts", "approved by the physician"),
    "sent": ("verstuurd", "sent"),
    "delivered": ("afgeleverd", "delivered"),
    "failed": ("verzending mislukt", "delivery failed"),
}
_CHECK_CODE: dict[str, tuple[str, str]] = {
    "complete": ("compleet", "complete"),
    "incomplete": ("nog niet compleet", "not complete yet"),
}


def _word(pair: tuple[str, str] | None, lang: str) -> str:
    if pair is None:
        return "onbekend" if lang != "en" else "unknown"
    return pair[1] if lang == "en" else pair[0]


def describe(event: CaseEvent, lang: str = "nl", detail: dict[str, Any] | None = None) -> str:
    """One sentence for a timeline event in `lang`; `detail` (the event's decrypted detail) adds what a
    person wrote, such as the reason a paged party gave for not coming."""
    kind = event.kind
    parts = event.code.split(":") if event.code else []
    first = parts[0] if parts else ""
    second = parts[1] if len(parts) > 1 else ""
    if kind == EventKind.TRANSITION:
        said = (
            _word(ACTION.get(event.action), lang)
            if event.action in ACTION
            else label("event", kind, lang).capitalize()
        )
        if event.code in DISMISS_REASON:
            said += f" ({label('dismiss_reason', event.code, lang)})"
        return said
    a = b = ""
    if kind in (EventKind.CONSENT, EventKind.LEGAL_BASIS):
        a = label("party", first, lang)
        b = label("consent_decision" if kind == EventKind.CONSENT else "legal_basis", second, lang)
        if len(parts) > 2 and parts[2] == "revoked":
            b += " — " + ("ingetrokken" if lang != "en" else "revoked")
    elif kind == EventKind.MELDCODE_STEP:
        a = first.removeprefix("step")
        b = f": {label('meldcode_decision', second, lang)}" if second else ""
    elif kind == EventKind.KINDCHECK:
        a = label("kindcheck_answer", first, lang)
    elif kind in (
        EventKind.INTAKE_PARTY_ADDED,
        EventKind.INTAKE_PARTY_CANCELLED,
        EventKind.INTAKE_ACKNOWLEDGED,
    ):
        a = label("party", first, lang).capitalize()
    elif kind == EventKind.DISCHARGE_CHECK:
        a = _word(_CHECK_CODE.get(first), lang)
    elif kind == EventKind.TIMER_FIRED:
        a = label("alert", first, lang)
        b = f" ({label('role', second, lang)})" if second else ""
    elif kind in (EventKind.MELDING, EventKind.MELDING_DELIVERY):
        a = _word(_MELDING_CODE.get(first), lang)
        if first == "edited" and second:
            a += f" ({'versie' if lang != 'en' else 'revision'} {second})"
    elif kind in (EventKind.PAGE_SENT, EventKind.PAGE_DELIVERED, EventKind.PAGE_FAILED):
        a = label("role", first, lang)
        b = label("channel", second, lang)
    elif kind in (EventKind.PAGE_ACKNOWLEDGED, EventKind.PAGE_DECLINED):
        a = label("role", second or first, lang).capitalize()
    elif kind == EventKind.PAGE_ESCALATED:
        a = label("role", first, lang)
        b = second if second.isdigit() else "?"
    elif kind in (EventKind.PAGE_EXHAUSTED, EventKind.PAGE_SUPPRESSED):
        a = label("role", first, lang)
    sentence = _SENTENCES.get(kind)
    if sentence is None:
        return label("event", kind, lang).capitalize()
    said = _word(sentence, lang).format(a=a, b=b)
    reason = str((detail or {}).get("reason") or "").strip()
    if kind == EventKind.PAGE_DECLINED and reason:
        said += f" ({'reden' if lang != 'en' else 'reason'}: {reason})"
    return said
