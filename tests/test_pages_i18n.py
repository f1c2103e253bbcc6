"""The pages' languages: how the language is chosen, every enum has a word in both languages, and the
timeline reads as sentences without a raw code."""

from __future__ import annotations

import re

import pytest

from gateway.pages import i18n, labels
from gateway.pages.timeline_text import describe
from workflows.models import CaseEvent, EventKind


@pytest.mark.parametrize(
    ("query", "cookie", "accept", "expected"),
    [
        (None, None, None, ("nl", False)),
        ("en", None, "nl-NL", ("en", True)),
        (None, "en", "nl-NL,nl;q=0.9", ("en", False)),
        (None, None, "en-GB,en;q=0.9,nl;q=0.8", ("en", False)),
        (None, None, "de-DE,nl;q=0.4,en;q=0.7", ("en", False)),
        (None, None, "fr-FR", ("nl", False)),
        ("xx", "yy", "en;q=0", ("nl", False)),
        (None, None, "en;q=abc, nl", ("nl", False)),
    ],
)
def test_the_language_comes_from_the_query_then_the_cookie_then_the_browser(
    query: str | None, cookie: str | None, accept: str | None, expected: tuple[str, bool]
) -> None:
    assert i18n.choose(query, cookie, accept) == expected


def test_every_enum_value_has_a_dutch_and_an_english_word() -> None:
    for kind, enum in labels.ENUM_TABLES.items():
        for member in enum:
            nl = labels.label(kind, member, "nl")
            en = labels.label(kind, member, "en")
            assert nl != "onbekend" and en != "unknown", (kind, member)
            assert nl and en


def test_an_unknown_code_never_reaches_the_page_as_itself() -> None:
    assert labels.label("party", "secret_code_x", "nl") == "onbekend"
    assert labels.label("party", "secret_code_x", "en") == "unknown"


def test_every_message_has_both_languages_and_the_same_placeholders() -> None:
    for key, (nl, en) in i18n.MESSAGES.items():
        assert nl and en, key
        assert set(re.findall(r"{(\w+)}", nl)) == set(re.findall(r"{(\w+)}", en)), key


CODES = {
    EventKind.CONSENT: "police:deny",
    EventKind.LEGAL_BASIS: "veilig_thuis:meldrecht:revoked",
    EventKind.MELDCODE_STEP: "step5:melden",
    EventKind.KINDCHECK: "yes",
    EventKind.INTAKE_PARTY_ADDED: "forensic",
    EventKind.INTAKE_ACKNOWLEDGED: "forensic",
    EventKind.PAGE_SENT: "forensic:sms",
    EventKind.PAGE_ESCALATED: "police:2",
    EventKind.PAGE_ACKNOWLEDGED: "forensic:forensic",
    EventKind.TIMER_FIRED: "ack_overdue:police",
    EventKind.MELDING: "edited:2",
    EventKind.DISCHARGE_CHECK: "incomplete",
    EventKind.PAGE_DELIVERED: "police:sms",
    EventKind.PAGE_FAILED: "police:email",
    EventKind.PAGE_DECLINED: "police:police",
    EventKind.PAGE_EXHAUSTED: "police",
    EventKind.PAGE_SUPPRESSED: "police",
    EventKind.MELDING_DELIVERY: "delivered",
    EventKind.INTAKE_PARTY_CANCELLED: "csg",
    EventKind.DISCHARGED_WITHOUT_CHECK: "hl7-discharge",
}


@pytest.mark.parametrize("kind", list(EventKind))
@pytest.mark.parametrize("lang", ["nl", "en"])
def test_each_timeline_event_is_a_sentence_without_codes(kind: EventKind, lang: str) -> None:
    event = CaseEvent(kind=kind.value, code=CODES.get(kind, ""), action="", from_state="", to_state="flagged")
    sentence = describe(event, lang)
    assert sentence and sentence[0].isupper()
    assert "_" not in sentence and "onbekend" not in sentence and "unknown" not in sentence
    assert "{" not in sentence


def test_a_declined_page_shows_the_reason_the_party_gave() -> None:
    declined = CaseEvent(kind=EventKind.PAGE_DECLINED.value, code="police:police")
    assert describe(declined, "nl") == "Politie kan niet komen"
    said = describe(declined, "nl", {"reason": "Al bij een ander incident"})
    assert said == "Politie kan niet komen (reden: Al bij een ander incident)"
    said = describe(declined, "en", {"reason": "On another call"})
    assert said == "Police cannot come (reason: On another call)"


def test_the_timeline_speaks_plain_dutch_and_english() -> None:
    consent = CaseEvent(kind=EventKind.CONSENT.value, code="police:deny")
    assert describe(consent, "nl") == "Toestemming voor politie: geweigerd"
    assert describe(consent, "en") == "Consent for police: refused"
    step = CaseEvent(kind=EventKind.MELDCODE_STEP.value, code="step5:melden")
    assert describe(step, "nl") == "Meldcode stap 5 vastgelegd: melden bij Veilig Thuis"
    dismissed = CaseEvent(kind=EventKind.TRANSITION.value, action="dismiss", code="medical_explanation")
    assert describe(dismissed, "nl") == "Signaal afgewezen (Medische verklaring)"
