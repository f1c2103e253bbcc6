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
    "err_login_rate": (
        "Te veel inlogpogingen kort na elkaar. Wacht een minuut en probeer het dan opnieuw.",
        "Too many login attempts in a short time. Wait a minute and try again.",
    ),
    "err_login_locked": (
        "Dit account is tijdelijk geblokkeerd na te veel mislukte pogingen. Probeer het later opnieuw "
        "of neem contact op met de beheerder.",
        "This account is locked for a while after too many failed attempts. Try again later or contact "
        "the administrator.",
    ),
    # the second step of a local login: a TOTP code (identity/totp.py)
    "totp_code_title": ("Code uit uw authenticator-app", "Code from your authenticator app"),
    "totp_code_intro": (
        "Uw wachtwoord klopt. Vul de code van 6 cijfers in die uw authenticator-app nu toont.",
        "Your password is right. Enter the 6-digit code your authenticator app shows now.",
    ),
    "totp_code_label": ("Code (6 cijfers)", "Code (6 digits)"),
    "totp_code_submit": ("Bevestigen", "Confirm"),
    "totp_code_failed": (
        "Inloggen is nog niet gelukt. Pas het volgende aan:",
        "Not logged in yet. Please fix:",
    ),
    "err_code_missing": ("Vul de code in.", "Enter the code."),
    "err_code_wrong": (
        "Deze code klopt niet (of is al gebruikt). Wacht op de volgende code en probeer het opnieuw.",
        "This code is not right (or was used already). Wait for the next code and try again.",
    ),
    "err_code_expired": (
        "Het inloggen duurde te lang. Log opnieuw in met uw gebruikersnaam en wachtwoord.",
        "Logging in took too long. Log in again with your username and password.",
    ),
    "err_login_no_totp": (
        "Voor uw account is een code uit een authenticator-app verplicht, maar er is nog geen ingesteld. "
        "Neem contact op met de beheerder.",
        "Your account requires a code from an authenticator app, and none is set up yet. Contact the "
        "administrator.",
    ),
    # logging in through the hospital (OpenID Connect) or from the EHR (SMART launch): gateway/pages/sso.py
    "login_oidc": ("Inloggen via het ziekenhuis", "Log in through the hospital"),
    "login_or_local": ("Of log in met een Spoedplein-account:", "Or log in with a Spoedplein account:"),
    "login_already_role": (
        "U bent ingelogd als {name} ({role}). Open een casus via de link in het EPD.",
        "You are logged in as {name} ({role}). Open a case from the link in the EHR.",
    ),
    "sso_continue_title": ("U bent ingelogd", "You are logged in"),
    "sso_continue_link": ("Gaat het niet vanzelf? Ga verder.", "Not moving on by itself? Continue."),
    "sso_not_configured_title": (
        "Inloggen via het ziekenhuis is niet ingesteld",
        "Hospital login not set up",
    ),
    "sso_not_configured": (
        "Deze installatie gebruikt geen inlogdienst van het ziekenhuis. Log in met uw gebruikersnaam en "
        "wachtwoord.",
        "This installation does not use the hospital's login service. Log in with your username and "
        "password.",
    ),
    "sso_provider_down_title": ("Inlogdienst niet bereikbaar", "Login service unavailable"),
    "sso_provider_down": (
        "De inlogdienst van het ziekenhuis of het EPD antwoordt nu niet zoals verwacht. Probeer het over een "
        "paar minuten opnieuw; lukt het dan nog niet, meld het bij de servicedesk.",
        "The hospital's login service or the EHR does not answer as expected. Try again in a few minutes; "
        "if it still fails, tell the service desk.",
    ),
    "sso_start_again_title": ("Inlogpoging verlopen", "Login attempt expired"),
    "sso_start_again": (
        "Deze inlogpoging is verlopen of hoort niet bij deze browser. Er is niets gewijzigd. Begin opnieuw "
        "bij de inlogpagina of de link in het EPD.",
        "This login attempt has expired or does not belong to this browser. Nothing was changed. Start "
        "again from the login page or the link in the EHR.",
    ),
    "sso_failed_title": ("Inloggen is niet gelukt", "Logging in failed"),
    "sso_failed": (
        "De inlogdienst heeft uw inlog niet bevestigd. Er is niets gewijzigd. Begin opnieuw; lukt het dan "
        "nog niet, meld het bij de servicedesk.",
        "The login service did not confirm your login. Nothing was changed. Start again; if it still "
        "fails, tell the service desk.",
    ),
    "sso_cancelled_title": ("Inloggen afgebroken", "Login cancelled"),
    "sso_cancelled": (
        "De inlogdienst meldt dat het inloggen is afgebroken of geweigerd. Begin opnieuw als u wilt "
        "inloggen.",
        "The login service reports that the login was cancelled or refused. Start again to log in.",
    ),
    "sso_no_role_title": ("Geen toegang tot Spoedplein", "No access to Spoedplein"),
    "sso_no_role": (
        "U bent bij het ziekenhuis bekend, maar u heeft geen rol in Spoedplein. Toegang krijgt u via de "
        "functionele beheerder, die uw groep aan een Spoedplein-rol koppelt.",
        "The hospital knows you, but you have no role in Spoedplein. The application administrator can "
        "link your group to a Spoedplein role.",
    ),
    "sso_disabled_title": ("Account geblokkeerd", "Account disabled"),
    "sso_disabled": (
        "Uw Spoedplein-account is door de beheerder geblokkeerd. Neem contact op met de functionele "
        "beheerder.",
        "Your Spoedplein account has been disabled. Contact the application administrator.",
    ),
    "sso_launch_refused_title": ("Openen vanuit het EPD geweigerd", "Opening from the EHR refused"),
    "sso_launch_refused": (
        "Spoedplein accepteert deze start vanuit het EPD niet: het EPD is niet als toegestaan ingesteld, of "
        "de link is onvolledig. Er is niets gewijzigd. Open de casus opnieuw via de kaart in het EPD; "
        "blijft dit gebeuren, meld het bij de servicedesk.",
        "Spoedplein does not accept this launch from the EHR: the EHR is not configured as allowed, or the "
        "link is incomplete. Nothing was changed. Open the case again from the card in the EHR; if this "
        "keeps happening, tell the service desk.",
    ),
    "sso_not_a_practitioner_title": ("Alleen voor zorgverleners", "Care professionals only"),
    "sso_not_a_practitioner": (
        "Het EPD meldt niet dat u als zorgverlener bent ingelogd. Spoedplein opent een casus alleen voor "
        "zorgverleners.",
        "The EHR does not report you as logged in as a care professional. Spoedplein opens a case only "
        "for care professionals.",
    ),
    "sso_no_case_title": ("Geen Spoedplein-casus", "No Spoedplein case"),
    "sso_no_case": (
        "Er is voor deze patiënt en dit bezoek geen open Spoedplein-casus. U bent ingelogd; er is niets "
        "gewijzigd.",
        "There is no open Spoedplein case for this patient and visit. You are logged in; nothing was "
        "changed.",
    ),
    # generic messages
    "forbidden_title": ("Geen toegang", "No access"),
    "forbidden": (
        "U heeft geen toegang tot deze pagina. Deze poging is vastgelegd in het toegangslog.",
        "You have no access to this page. This attempt is recorded in the access log.",
    ),
    "store_unavailable_title": ("Even niet beschikbaar", "Briefly unavailable"),
    "store_unavailable": (
        "De gegevens zijn even niet bereikbaar. Er is niets gewijzigd; probeer het over een paar seconden "
        "opnieuw.",
        "The data cannot be reached just now. Nothing was changed; try again in a few seconds.",
    ),
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
    # the paged party's pages
    "party_title": ("Spoedplein-oproep", "Spoedplein page"),
    "party_intro": (
        "U bent opgeroepen via Spoedplein. Vraag een eenmalige code aan; die komt per SMS naar uw "
        "geregistreerde nummer. Daarna ziet u de oproep.",
        "You were paged through Spoedplein. Ask for a one-time code; it comes by SMS to your registered "
        "number. Then you see the page.",
    ),
    "send_code": ("Stuur mij een code", "Send me a code"),
    "or_log_in": ("Of log in", "Or log in"),
    "code_sent": ("Er is een code naar uw nummer gestuurd.", "A code was sent to your number."),
    "code_label": ("Code uit de SMS", "Code from the SMS"),
    "code_confirm": ("Code bevestigen", "Confirm the code"),
    "code_wrong": (
        "Die code klopt niet of is verlopen. Controleer de zes cijfers of vraag een nieuwe code aan.",
        "That code is wrong or expired. Check the six digits or ask for a new code.",
    ),
    "code_no_number": (
        "Er is geen nummer om een code naar te sturen. Log in.",
        "There is no number to send a code to. Please log in.",
    ),
    "code_too_many": (
        "Er zijn te veel codes aangevraagd. Probeer het over een kwartier opnieuw, of log in.",
        "Too many codes were requested. Try again in a quarter of an hour, or log in.",
    ),
    "code_first": ("Bevestig eerst met een code, of log in.", "Confirm with a code first, or log in."),
    "link_expired": (
        "Deze link is verlopen (een link is 10 minuten geldig).",
        "This link has expired (a link is valid for 10 minutes).",
    ),
    "link_used": (
        "Deze link is al gebruikt (een link werkt één keer).",
        "This link was used already (a link works once).",
    ),
    "link_invalid": ("Deze link is niet geldig.", "This link is not valid."),
    "link_again": (
        "Open de link uit uw oproep opnieuw, of log in.",
        "Open the link in your page again, or log in.",
    ),
    "page_gone": ("Deze oproep bestaat niet meer.", "This page no longer exists."),
    "party_case": ("Casus", "Case"),
    "party_urgency": ("Urgentie", "Urgency"),
    "party_role": ("Opgeroepen als", "Paged as"),
    "withheld": ("niet gedeeld", "not shared"),
    "party_withheld": (
        "Zonder toestemming of wettelijke grondslag voor uw organisatie wordt niet gedeeld:",
        "Without consent or a legal basis for your organisation, this is not shared:",
    ),
    "party_patient": ("Patiënt", "Patient"),
    "party_your_answer": ("Uw antwoord", "Your answer"),
    "party_coming": ("U komt, vanaf {at}.", "You are coming, from {at}."),
    "party_coming_now": ("U komt.", "You are coming."),
    "party_not_coming": ("U kunt niet komen.", "You cannot come."),
    "party_closed": ("Deze oproep is al afgehandeld.", "This page has been dealt with already."),
    "party_earliest": ("Ik kan er zijn vanaf (uu:mm)", "I can be there from (hh:mm)"),
    "party_ack": ("Ik kom", "I am coming"),
    "party_decline_reason": ("Ik kan niet, want…", "I cannot come, because…"),
    "party_decline": ("Ik kan niet", "I cannot come"),
    "err_arrival": (
        "Vul de tijd in waarop u er kunt zijn, als uu:mm.",
        "Fill in the time you can be there, as hh:mm.",
    ),
    "err_decline_reason": (
        "Zeg kort waarom u niet kunt; dan weet de coördinator wie hij nu moet vragen.",
        "Say briefly why you cannot come; the coordinator then knows whom to ask next.",
    ),
    "party_where": ("Waar en wanneer", "Where and when"),
    "party_intake_at": ("Afgesproken intaketijd:", "Agreed intake time:"),
    "party_intake_not_yet": ("nog niet afgesproken", "not agreed yet"),
    "party_proposed": ("voorgesteld: {at}", "proposed: {at}"),
    # case page: table of contents and the critical banner
    "toc": ("Onderdelen van de casus", "Parts of the case"),
    "critical_discharge_title": ("Ontslag zonder veiligheidscheck.", "Discharged without a safety check."),
    "critical_discharge": (
        "Het EPD meldde om {at} dat de patiënt is ontslagen terwijl de veiligheidscheck niet compleet was. "
        "De coördinator is opgeroepen.",
        "At {at} the EHR reported the patient discharged while the safety check was not complete. "
        "The coordinator has been paged.",
    ),
    "critical_discharge_todo": (
        "Neem contact op met de patiënt en vul de veiligheidscheck hieronder alsnog in.",
        "Contact the patient and complete the safety check below.",
    ),
    "critical_discharge_after": (
        "De veiligheidscheck is daarna alsnog afgerond.",
        "The safety check was completed afterwards.",
    ),
    "done_intake": (
        "De gezamenlijke intake is aangevraagd; de partijen worden opgeroepen.",
        "The joint intake is requested; the parties are being paged.",
    ),
    "done_time": (
        "De intaketijd is afgesproken en aan de partijen doorgegeven.",
        "The intake time is agreed and passed on to the parties.",
    ),
    "done_melding": ("Het concept van de melding staat klaar.", "The draft report is ready."),
    "done_approved": (
        "De melding is goedgekeurd en wordt naar Veilig Thuis verstuurd.",
        "The report is approved and is being sent to Veilig Thuis.",
    ),
    "done_discharge": ("Veilig ontslag is vastgesteld.", "Safe discharge is established."),
    "done_closed": ("De casus is gesloten.", "The case is closed."),
    "live_changed": ("De casus is intussen gewijzigd.", "The case changed in the meantime."),
    "reload": ("Laad de pagina opnieuw", "Reload the page"),
    # generic words
    "choose": ("— kies —", "— choose —"),
    "and": ("en", "and"),
    "recorded": ("vastgelegd", "recorded"),
    "to_do": ("nog te doen", "to do"),
    "not_yet": ("nog niet", "not yet"),
    "nothing_recorded": ("niets vastgelegd", "nothing recorded"),
    "one_per_line": ("Eén per regel.", "One per line."),
    "revoke": ("Intrekken", "Revoke"),
    # meldcode
    "meldcode_title": ("Meldcode: vijf stappen", "Meldcode: five steps"),
    "meldcode_help": (
        "De KNMG-meldcode: leg per stap vast wat u deed. Bij stap 5 „melden” komt Veilig Thuis erbij en "
        "kunt u de melding voorbereiden.",
        "The KNMG meldcode: record what you did per step. Deciding to report in step 5 brings in Veilig "
        "Thuis and lets you prepare the report.",
    ),
    "step_n": ("Stap {n}", "Step {n}"),
    "record_step": ("Stap vastleggen", "Record this step"),
    "correct_step": ("Stap aanpassen", "Correct this step"),
    "step_summary": ("Wat heeft u gedaan? (verplicht)", "What did you do? (required)"),
    "step_observed": ("Wat heeft u gezien of gehoord?", "What did you see or hear?"),
    "step_consulted": ("Wie heeft u geraadpleegd?", "Whom did you consult?"),
    "step_discussed": ("Besproken met de patiënt of het gezin?", "Discussed with the patient or family?"),
    "step_reaction": ("Reactie van de patiënt of het gezin", "Reaction of the patient or family"),
    "step_network": ("Steunnetwerk", "Support network"),
    "step_assessment": ("Uw afweging", "Your weighing"),
    "step_decision": ("Besluit (afwegingskader)", "Decision (assessment framework)"),
    "save_step": ("Stap {n} opslaan", "Save step {n}"),
    "err_summary": (
        "Schrijf in een paar woorden wat u in deze stap deed.",
        "Write in a few words what you did in this step.",
    ),
    "err_long": (
        "Deze tekst is te lang (ten hoogste 4000 tekens).",
        "This text is too long (at most 4000 characters).",
    ),
    "err_decision": ("Kies bij stap 5 een besluit.", "Choose a decision in step 5."),
    # Kindcheck on the case
    "kindcheck_question": (
        "Zorgt de patiënt voor minderjarige kinderen?",
        "Does the patient care for minor children?",
    ),
    "kindcheck_answered": ("Antwoord:", "Answer:"),
    "children_count": ("{n} kind(eren) vastgelegd", "{n} child(ren) recorded"),
    "children_legend": ("Gegevens van de kinderen", "The children's details"),
    "children_hint": (
        "Alleen als het antwoord ja is: vul per kind in wat u weet.",
        "Only when the answer is yes: fill in what you know per child.",
    ),
    "child_name": ("Naam kind {n}", "Name of child {n}"),
    "child_birth": ("Geboortedatum", "Date of birth"),
    "child_school": ("School of opvang", "School or day care"),
    "save_kindcheck": ("Kindcheck opslaan", "Save the Kindcheck"),
    "err_kindcheck_answer": (
        "Kies een antwoord op de Kindcheck-vraag.",
        "Choose an answer to the Kindcheck question.",
    ),
    "err_children_yes": (
        "Bij „ja”: vul de gegevens van ten minste één kind in.",
        "With “yes”: fill in the details of at least one child.",
    ),
    "err_children_no": (
        "Kindergegevens horen alleen bij het antwoord „ja”: kies „ja” of maak de velden leeg.",
        "Children's details belong only with the answer “yes”: choose “yes” or empty the fields.",
    ),
    "err_date": ("Vul de datum in als dd-mm-jjjj.", "Fill in the date as dd-mm-yyyy."),
    # consent and legal basis
    "consent_title": ("Toestemming en grondslag per partij", "Consent and legal basis per party"),
    "wgbo_title": ("Wie beslist over toestemming? (WGBO)", "Who decides on consent? (WGBO)"),
    "wgbo_rule": (
        "Jonger dan 12 jaar: de ouders of voogd. Van 12 tot en met 15 jaar: de patiënt én de ouders of "
        "voogd. Vanaf 16 jaar: de patiënt zelf.",
        "Under 12: the parents or guardian. From 12 to 15: the patient and the parents or guardian. "
        "From 16: the patient alone.",
    ),
    "wgbo_this_patient": (
        "Deze patiënt is {age} jaar; toestemming komt van:",
        "This patient is {age}; consent comes from:",
    ),
    "wgbo_age_unknown": (
        "De leeftijd van de patiënt is onbekend: vul die in bij het vastleggen.",
        "The patient's age is unknown: fill it in when recording.",
    ),
    "wgbo_police": (
        "Politie komt alleen met toestemming of bij acuut gevaar; Veilig Thuis mag ook op grond van het "
        "meldrecht, zonder toestemming.",
        "Police come only with consent or in acute danger; Veilig Thuis may also be informed under the "
        "right to report, without consent.",
    ),
    "consent_table": ("Toestemming en grondslag per partij", "Consent and legal basis per party"),
    "col_party": ("Partij", "Party"),
    "col_consent": ("Toestemming", "Consent"),
    "col_basis": ("Grondslag zonder toestemming", "Legal basis without consent"),
    "col_needed": ("Nodig voor de intake", "Needed for the intake"),
    "col_status": ("Stand", "Status"),
    "col_paged": ("Oproep", "Page"),
    "col_earliest": ("Kan er zijn vanaf", "Available from"),
    "needed_because": ("nodig: {why}", "needed: {why}"),
    "ground_is": ("grond: {ground}", "ground: {ground}"),
    "no_ground_yet": ("nog geen toestemming of grondslag", "no consent or legal basis yet"),
    "not_needed": ("niet nodig", "not needed"),
    "consent_record": ("Toestemming vastleggen", "Record consent"),
    "consent_subject": ("Over wie", "About whom"),
    "consent_decision": ("Besluit", "Decision"),
    "consent_given_by": ("Gegeven of geweigerd door", "Given or refused by"),
    "consent_given_by_hint": ("Zie de WGBO-regel hierboven.", "See the WGBO rule above."),
    "consent_age": ("Leeftijd van de betrokkene (jaren)", "Age of the person concerned (years)"),
    "consent_age_hint": (
        "Leeg laten voor de patiënt: dan geldt de leeftijd uit het dossier.",
        "Leave empty for the patient: the age in the record applies.",
    ),
    "consent_note": ("Toelichting (optioneel)", "Note (optional)"),
    "consent_save": ("Toestemming opslaan", "Save consent"),
    "basis_record": ("Grondslag zonder toestemming", "Legal basis without consent"),
    "basis_help": (
        "Alleen als toestemming niet kan of geweigerd is: meldrecht (alleen Veilig Thuis) of acuut gevaar.",
        "Only when consent is not possible or refused: right to report (Veilig Thuis only) or acute danger.",
    ),
    "basis_kind": ("Grondslag", "Legal basis"),
    "basis_justification": ("Onderbouwing (verplicht)", "Justification (required)"),
    "basis_save": ("Grondslag opslaan", "Save legal basis"),
    "err_party": ("Kies een partij.", "Choose a party."),
    "err_consent_decision": (
        "Kies of toestemming is gegeven of geweigerd.",
        "Choose whether consent was given or refused.",
    ),
    "err_given_by": (
        "Wie beslist, hangt af van de leeftijd (zie de WGBO-regel hierboven): kies precies wie toestemming "
        "gaf of weigerde.",
        "Who decides depends on the age (see the WGBO rule above): choose exactly who gave or refused.",
    ),
    "err_age": ("Vul de leeftijd in jaren in (0 tot 130).", "Fill in the age in years (0 to 130)."),
    "err_basis": (
        "Kies een grondslag die bij deze partij past: meldrecht geldt alleen voor Veilig Thuis.",
        "Choose a legal basis that fits this party: the right to report is for Veilig Thuis only.",
    ),
    "err_justification": (
        "Onderbouw waarom u zonder toestemming gegevens deelt; dat is verplicht.",
        "Justify why you share without consent; this is required.",
    ),
    # intake
    "intake_title": ("Gezamenlijke intake", "Joint intake"),
    "intake_plan": ("Nodig bij de intake:", "Needed at the intake:"),
    "intake_no_plan": (
        "Nog geen partij nodig: dat volgt uit het letsel, de meldcode, de Kindcheck en de toestemming.",
        "No party needed yet: that follows from the injuries, the meldcode, the Kindcheck and consent.",
    ),
    "intake_request": ("Intake aanvragen en partijen oproepen", "Request the intake and page the parties"),
    "intake_request_needs": (
        "Er kan nog niemand worden opgeroepen: leg eerst toestemming of een grondslag vast.",
        "Nobody can be paged yet: record consent or a legal basis first.",
    ),
    "err_intake_no_ground": (
        "Er kan nog niemand worden opgeroepen: leg eerst toestemming of een grondslag vast.",
        "Nobody can be paged yet: record consent or a legal basis first.",
    ),
    "intake_proposed": ("Voorgestelde tijd:", "Proposed time:"),
    "intake_agreed": ("Afgesproken tijd:", "Agreed time:"),
    "intake_done_at": ("Intake gedaan:", "Intake done:"),
    "paging_caption": ("Wie is opgeroepen en wat antwoordde", "Who was paged and what they answered"),
    "escalated_n": ("{n} keer geëscaleerd", "escalated {n} times"),
    "not_paged_yet": ("nog niet opgeroepen", "not paged yet"),
    "agree_title": ("Intaketijd afspreken", "Agree the intake time"),
    "agree_at": ("Datum en tijd van de intake", "Date and time of the intake"),
    "agree_hint": (
        "Voorgevuld met de voorgestelde tijd: het vroegste moment dat iedereen kan.",
        "Filled in with the proposed time: the earliest everyone can make.",
    ),
    "agree_save": ("Tijd afspreken", "Agree this time"),
    "err_agreed_at": (
        "Kies een tijd waarop iedereen kan: niet vóór de vroegste tijd die een partij opgaf.",
        "Choose a time everyone can make: not before the earliest time a party gave.",
    ),
    "err_waiting_acks": (
        "Nog niet alle partijen hebben bevestigd; spreek de tijd af als iedereen heeft geantwoord.",
        "Not every party has acknowledged; agree the time once everyone has answered.",
    ),
    "reason_required": ("Reden (verplicht)", "Reason (required)"),
    "reason_if_early": (
        "Reden (verplicht als de intake vóór de afgesproken tijd klaar is)",
        "Reason (required if done before the agreed time)",
    ),
    "do_complete_intake": ("Intake is gedaan", "Intake is done"),
    "do_cancel_intake": ("Intake annuleren", "Cancel the intake"),
    "err_reason": ("Geef een reden; die komt in de tijdlijn.", "Give a reason; it goes on the timeline."),
    "err_state_step": (
        "Dat kan nog niet: rond eerst de vorige stap af (zie hierboven).",
        "Not possible yet: finish the previous step first (see above).",
    ),
    # melding
    "melding_title": ("Melding Veilig Thuis", "Report to Veilig Thuis"),
    "melding_after_step5": (
        "De melding kunt u voorbereiden zodra bij meldcode-stap 5 „melden” is gekozen.",
        "You can prepare the report once “report” is chosen in meldcode step 5.",
    ),
    "melding_prepare": ("Melding voorbereiden", "Prepare the report"),
    "err_melding_step5": (
        "Kies eerst bij meldcode-stap 5 het besluit „melden”.",
        "First choose the decision “report” in meldcode step 5.",
    ),
    "melding_status": ("Stand:", "Status:"),
    "melding_revision": ("versie {n}", "revision {n}"),
    "melding_approved_by": ("goedgekeurd door {who} op {at}", "approved by {who} at {at}"),
    "melding_preview": ("Voorbeeld als PDF bekijken", "Preview as PDF"),
    "melding_edit": ("Melding aanpassen", "Edit the report"),
    "melding_melder": ("Melder (uw naam)", "Reporter (your name)"),
    "melding_phone": ("Telefoonnummer voor terugbellen", "Phone number for call-back"),
    "melding_facts": ("Feiten: wat is gezien, gehoord en gevonden", "Facts: what was seen, heard and found"),
    "melding_interpretation": ("Uw duiding", "Your interpretation"),
    "melding_other": ("Overige informatie", "Other information"),
    "melding_save": ("Melding opslaan", "Save the report"),
    "melding_approve_title": ("Melding goedkeuren", "Approve the report"),
    "melding_approve_help": (
        "U keurt versie {n} goed zoals in het voorbeeld; daarna gaat de melding naar Veilig Thuis.",
        "You approve revision {n} as in the preview; then the report goes to Veilig Thuis.",
    ),
    "melding_approve": ("Goedkeuren en versturen", "Approve and send"),
    "melding_missing": ("Nog in te vullen:", "Still to fill in:"),
    "melding_field_melder_name": ("de naam van de melder", "the reporter's name"),
    "melding_field_facts": ("de feiten", "the facts"),
    "melding_field_open_melden": (
        "de grond en uitleg voor niet open melden",
        "the ground and explanation for not reporting openly",
    ),
    "err_melding_incomplete": ("Vul eerst de ontbrekende onderdelen in.", "Fill in the missing parts first."),
    "err_melding_revision": (
        "De melding is intussen door iemand anders aangepast; bekijk de nieuwe versie.",
        "The report was changed by someone else meanwhile; look at the new revision.",
    ),
    # safe discharge
    "discharge_title": (
        "Veilig ontslag: „Kunt u veilig naar huis?”",
        "Safe discharge: “Can you go home safely?”",
    ),
    "discharge_complete": ("De veiligheidscheck is compleet.", "The safety check is complete."),
    "discharge_todo": ("Nog te doen voor veilig ontslag:", "Still to do for a safe discharge:"),
    "discharge_asked": ("Ik heb gevraagd: „Kunt u veilig naar huis?”", "I asked: “Can you go home safely?”"),
    "discharge_answer": ("Antwoord van de patiënt", "The patient's answer"),
    "discharge_destination": ("Waar gaat de patiënt heen?", "Where does the patient go?"),
    "discharge_plan": ("Veiligheidsplan afgesproken", "Safety plan agreed"),
    "discharge_huisverbod": ("Tijdelijk huisverbod overwogen", "Temporary restraining order considered"),
    "discharge_children": ("Veiligheid van de kinderen geregeld", "The children's safety arranged"),
    "discharge_follow_up": ("Vervolgafspraak", "Follow-up appointment"),
    "discharge_hand_over": ("Overdracht aan", "Hand over to"),
    "discharge_notes": ("Notities", "Notes"),
    "discharge_save": ("Veiligheidscheck opslaan", "Save the safety check"),
    "help_complete_discharge_check": (
        "Alles van de veiligheidscheck is ingevuld: stel veilig ontslag vast.",
        "The safety check is complete: establish the safe discharge.",
    ),
    "do_complete_discharge_check": ("Veilig ontslag vaststellen", "Establish safe discharge"),
    "help_close": (
        "De overdracht is gedaan: sluit de casus. Openstaande termijnen stoppen.",
        "The hand-over is done: close the case. Pending deadlines stop.",
    ),
    "do_close": ("Casus sluiten", "Close the case"),
    "err_checklist": (
        "De veiligheidscheck is nog niet compleet: zie „Nog te doen” hierboven.",
        "The safety check is not complete yet: see “Still to do” above.",
    ),
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
