"""Dutch by default, English available: the message catalogue of the web pages and the choice of language.

The language comes from `?lang=` (and is then remembered in a cookie), else that cookie, else the
browser's Accept-Language, else Dutch. Templates call `t("key", name=value)` for sentences and
`label("kind", code)` for enum words (gateway/pages/labels.py). A missing key raises: a test renders
every page in both languages, so a sentence without a translation fails there instead of showing a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.pages import labels

DEFAULT = "nl"
LANGUAGES = labels.LANGUAGES
COOKIE = "spoedplein_taal"
COOKIE_SECONDS = 365 * 24 * 3600

# key: (Dutch, English). Placeholders use str.format names.
MESSAGES: dict[str, tuple[str, str]] = {
    # layout
    "brand": ("Spoedplein", "Spoedplein"),
    "skip_to_content": ("Naar de inhoud", "Skip to content"),
    "language": ("Taal", "Language"),
    "logged_in_as": ("Ingelogd als {name}", "Logged in as {name}"),
    "log_out": ("Uitloggen", "Log out"),
    "log_in": ("Inloggen", "Log in"),
    "nav": ("Hoofdmenu", "Main menu"),
    # login
    "login_title": ("Inloggen", "Log in"),
    "login_already": (
        "U bent ingelogd als {name}. Open een casus via de link in het EPD.",
        "You are logged in as {name}. Open a case from the link in the EHR.",
    ),
    "login_failed": ("Inloggen is niet gelukt. Pas het volgende aan:", "Logging in failed. Please fix:"),
    "login_username": ("Gebruikersnaam", "Username"),
    "login_password": ("Wachtwoord", "Password"),
    "login_hint": (
        "Alles wat u bekijkt of wijzigt, komt op uw naam in het toegangslog.",
        "Everything you view or change is recorded under your name in the access log.",
    ),
    "err_username_missing": ("Vul uw gebruikersnaam in.", "Fill in your username."),
    "err_password_missing": ("Vul uw wachtwoord in.", "Fill in your password."),
    "err_login_wrong": (
        "Gebruikersnaam of wachtwoord klopt niet. Controleer beide en probeer het opnieuw.",
        "The username or password is not right. Check both and try again.",
    ),
    "err_login_locked": (
        "Dit account is tijdelijk geblokkeerd na te veel mislukte pogingen. Probeer het later opnieuw "
        "of neem contact op met de beheerder.",
        "This account is locked for a while after too many failed attempts. Try again later or contact "
        "the administrator.",
    ),
    # generic messages
    "form_expired_title": ("Formulier verlopen", "Form expired"),
    "form_expired": (
        "Dit formulier hoort niet bij uw huidige sessie. Laad de pagina opnieuw en probeer het nog eens.",
        "This form does not belong to your current session. Reload the page and try again.",
    ),
    "not_found_title": ("Casus niet gevonden", "Case not found"),
    "not_found": (
        "Er is geen casus met nummer {case_id}. Misschien is de link onvolledig; open de casus opnieuw "
        "via het EPD.",
        "There is no case number {case_id}. The link may be incomplete; open the case again from the EHR.",
    ),
    "bounce_title": ("Casus openen…", "Opening the case…"),
    "bounce_link": ("Gaat het niet vanzelf? Open de casus.", "Not opening by itself? Open the case."),
    # Kindcheck card page
    "kindcheck_title": ("Kindcheck", "Kindcheck"),
    "kindcheck_intro": (
        "Bij deze presentatie hoort de Kindcheck (Haags protocol, verplicht op de SEH). Stel de patiënt "
        "de vraag:",
        "This presentation calls for the Kindcheck (Hague protocol, mandatory in the ED). Ask the patient:",
    ),
    "kindcheck_if_yes": ("Zo ja", "If yes"),
    "kindcheck_yes_1": (
        "Leg vast om welke kinderen het gaat (naam, leeftijd, school of opvang als bekend).",
        "Record which children (name, age, school or day care if known).",
    ),
    "kindcheck_yes_2": (
        "Overleg met Veilig Thuis: 0800-2000 (dag en nacht bereikbaar).",
        "Consult Veilig Thuis: 0800-2000 (day and night).",
    ),
    "kindcheck_yes_3": (
        "Loopt er voor deze patiënt een Spoedplein-casus, leg de Kindcheck dan daar vast: dan wordt "
        "Veilig Thuis bij de gezamenlijke intake betrokken.",
        "If this patient has a Spoedplein case, record the Kindcheck there: Veilig Thuis then joins "
        "the joint intake.",
    ),
    "kindcheck_if_no": ("Zo nee", "If no"),
    "kindcheck_no": (
        "Leg het antwoord vast in het dossier; ook dat hoort bij de Kindcheck.",
        "Record the answer in the record; that is part of the Kindcheck too.",
    ),
    # case page: header and findings
    "case_title": ("Casus {reference}", "Case {reference}"),
    "case_state": ("Status", "State"),
    "case_severity": ("Ernst", "Severity"),
    "case_opened": ("Geopend", "Opened"),
    "case_version": ("Versie", "Version"),
    "findings_title": ("Signalen ({count})", "Findings ({count})"),
    "evidence": ("Bewijs uit het dossier", "Evidence from the record"),
    "evidence_codes": ("codes", "codes"),
    "evidence_site": ("locatie", "site"),
    "next_step": ("Volgende stap:", "Next step:"),
    "source": ("Bron: {source}", "Source: {source}"),
    "done_confirmed": ("De casus is bevestigd.", "The case is confirmed."),
    "done_dismissed": ("Het signaal is afgewezen.", "The flag is dismissed."),
    "done_saved": ("Opgeslagen.", "Saved."),
    # confirm / dismiss
    "assessment": ("Beoordeling", "Assessment"),
    "confirm": ("Bevestigen", "Confirm"),
    "confirm_help": (
        "U deelt de zorg. U wordt vastgelegd als melder; de casus gaat verder volgens de meldcode.",
        "You share the concern. You are recorded as the reporter; the case follows the meldcode.",
    ),
    "confirm_reason": ("Toelichting (optioneel)", "Note (optional)"),
    "dismiss": ("Afwijzen", "Dismiss"),
    "dismiss_help": (
        "Het signaal klopt niet of is al opgepakt. Uw reden telt mee in de evaluatie van de regels.",
        "The flag is wrong or already taken care of. Your reason counts in the evaluation of the rules.",
    ),
    "dismiss_reason": ("Reden", "Reason"),
    "choose_reason": ("— kies een reden —", "— choose a reason —"),
    "dismiss_note": ("Toelichting (verplicht)", "Note (required)"),
    "err_reason_code": ("Kies een reden waarom u het signaal afwijst.", "Choose why you dismiss the flag."),
    "err_note_missing": (
        "Licht in een paar woorden toe waarom u het signaal afwijst; dat is verplicht.",
        "Explain in a few words why you dismiss the flag; this is required.",
    ),
    "err_too_long": (
        "De tekst is te lang: gebruik ten hoogste {max} tekens.",
        "The text is too long: use at most {max} characters.",
    ),
    "err_reload": (
        "Het formulier mist de versie van de casus. Laad de pagina opnieuw en probeer het nog eens.",
        "The form lacks the case version. Reload the page and try again.",
    ),
    "err_stale": (
        "Iemand anders heeft deze casus intussen gewijzigd. Hieronder ziet u de actuele stand; kijk die "
        "na en kies opnieuw.",
        "Someone else changed this case in the meantime. The current state is below; check it and "
        "choose again.",
    ),
    "err_gone": ("Deze casus bestaat niet (meer).", "This case does not exist (any more)."),
    "err_state": (
        "Deze actie kan niet in de huidige status van de casus. Hieronder ziet u de actuele stand.",
        "This action is not possible in the case's current state. The current state is below.",
    ),
    "err_generic": (
        "De actie is niet uitgevoerd: controleer de invoer en probeer het opnieuw.",
        "The action was not carried out: check your input and try again.",
    ),
    # timeline
    "err_invalid": ("Deze waarde klopt niet; pas haar aan.", "This value is not valid; please correct it."),
    "timeline": ("Tijdlijn", "Timeline"),
    "timeline_empty": (
        "Nog geen gebeurtenissen: de casus is geopend door de signalering en nog niet beoordeeld.",
        "No events yet: the case was opened by detection and has not been assessed.",
    ),
    "col_time": ("Tijd", "Time"),
    "col_who": ("Wie", "Who"),
    "col_what": ("Wat", "What"),
    "col_state": ("Status", "State"),
    "actor_system": ("Spoedplein", "Spoedplein"),
}


@dataclass(frozen=True)
class Translator:
    """The words of one language; templates get `t` and `label` from it."""

    lang: str = DEFAULT

    def t(self, key: str, **values: Any) -> str:
        pair = MESSAGES[key]
        text = pair[1] if self.lang == "en" else pair[0]
        return text.format(**values) if values else text

    def label(self, kind: str, code: object) -> str:
        return labels.label(kind, code, self.lang)

    def options(self, kind: str) -> list[tuple[str, str]]:
        return labels.options(kind, self.lang)


def _accept_language(header: str) -> str | None:
    """The first of our languages in an Accept-Language header, by its q-value (ties keep header order)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else None


def choose(query: str | None, cookie: str | None, accept_language: str | None) -> tuple[str, bool]:
    """The language to use and whether it was asked for explicitly (then the cookie should remember it)."""
    if query in LANGUAGES:
        return str(query), True
    if cookie in LANGUAGES:
        return str(cookie), False
    return _accept_language(accept_language or "") or DEFAULT, False
