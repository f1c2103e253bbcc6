"""The words of the coordinator's pages (board, case list, pilot figures) in Dutch and English.

Kept beside the pages that use them and added to the one catalogue (`i18n.MESSAGES`) on import, so the
board and the case page can grow their words without editing the same dictionary.
"""

from __future__ import annotations

from gateway.pages import i18n

MESSAGES: dict[str, tuple[str, str]] = {
    # navigation and access
    "coord_nav": ("Coördinatie", "Coordination"),
    "nav_board": ("Bord", "Board"),
    "nav_cases": ("Casussen", "Cases"),
    "nav_figures": ("Pilotcijfers", "Pilot figures"),
    "ed_only_title": ("Alleen voor SEH-medewerkers", "For ED staff only"),
    "ed_only": (
        "Deze pagina is voor de coördinator en de artsen van de SEH. Gebruikt u de link uit uw oproep om "
        "de casus te openen.",
        "This page is for the ED's coordinator and physicians. Please use the link in your page to open "
        "the case.",
    ),
    # filters
    "filter": ("Filter", "Filter"),
    "filter_state": ("Status", "State"),
    "filter_period": ("Geopend in", "Opened in"),
    "filter_show": ("Toon", "Show"),
    "state_open": ("alle open casussen", "all open cases"),
    "period_24u": ("laatste 24 uur", "last 24 hours"),
    "period_7d": ("laatste 7 dagen", "last 7 days"),
    "period_30d": ("laatste 30 dagen", "last 30 days"),
    "period_alle": ("alles", "everything"),
    "err_filter_state": ("Kies een status uit de lijst.", "Choose a state from the list."),
    "err_filter_period": ("Kies een periode uit de lijst.", "Choose a period from the list."),
    # the board
    "board_title": ("Bord", "Board"),
    "board_live": ("Live bijgewerkt.", "Updated live."),
    "board_live_open": ("Live verbonden om", "Live since"),
    "board_live_updated": ("Bijgewerkt om", "Updated at"),
    "board_live_lost": (
        "Verbinding verbroken; opnieuw verbinden… sinds",
        "Connection lost; reconnecting… since",
    ),
    "board_live_expired": (
        "U bent niet meer ingelogd; laad de pagina opnieuw om in te loggen.",
        "You are no longer logged in; reload the page to log in.",
    ),
    "board_caption": (
        "{count} casussen, de langst wachtende bovenaan. Tijden: hoe lang geleden.",
        "{count} cases, the longest waiting first. Times: how long ago.",
    ),
    "col_case": ("Casus", "Case"),
    "col_since_arrival": ("Sinds aankomst", "Since arrival"),
    "col_steps": ("Stappen (geleden)", "Steps (ago)"),
    "col_parties": ("Partijen", "Parties"),
    "col_attention": ("Let op", "Attention"),
    "step_flagged": ("Gesignaleerd", "Flagged"),
    "step_ago": ("{step}: {ago}", "{step}: {ago}"),
    "party_acked": (
        "{party}: {status} (bevestigd {ago} geleden)",
        "{party}: {status} (acknowledged {ago} ago)",
    ),
    "party_line": ("{party}: {status}", "{party}: {status}"),
    "page_progress": ("oproep: {state}", "page: {state}"),
    "no_parties": ("nog niemand gevraagd", "nobody asked yet"),
    "discharge_unchecked": (
        "Ontslag zonder veilig-ontslagcheck",
        "Discharged without a safe-discharge check",
    ),
    "overdue_party": ("{timer}: {party}", "{timer}: {party}"),
    "board_empty": ("Geen casussen voor dit filter.", "No cases for this filter."),
    "ago_minutes": ("{m} min", "{m} min"),
    "ago_hours": ("{h} u {m} min", "{h} h {m} min"),
    "ago_days": ("{d} d {h} u", "{d} d {h} h"),
    # the case list
    "cases_title": ("Casussen", "Cases"),
    "cases_caption": ("Nieuwste eerst; pagina {page}.", "Newest first; page {page}."),
    "col_opened_ago": ("{time} ({ago} geleden)", "{time} ({ago} ago)"),
    "pages_nav": ("Pagina's", "Pages"),
    "page_previous": ("Vorige pagina", "Previous page"),
    "page_next": ("Volgende pagina", "Next page"),
    # the figures
    "figures_title": ("Pilotcijfers", "Pilot figures"),
    "figures_period": ("Periode kiezen", "Choose the period"),
    "figures_from": ("Vanaf (datum)", "From (date)"),
    "figures_to": ("Tot en met (datum)", "Up to and including (date)"),
    "err_figures_date": ("Vul een datum in als JJJJ-MM-DD.", "Enter a date as YYYY-MM-DD."),
    "err_figures_order": (
        "De einddatum moet na de begindatum liggen.",
        "The end date must be after the start date.",
    ),
    "figures_summary": (
        "{cases} casussen, {visits} SEH-bezoeken in deze periode.",
        "{cases} cases, {visits} ED visits in this period.",
    ),
    "figures_downloads": ("Downloaden:", "Download:"),
    "figures_csv": ("geanonimiseerde CSV", "anonymised CSV"),
    "figures_json": ("cijfers als JSON (met API-token)", "figures as JSON (with an API token)"),
    "figures_times": ("Tijden vanaf aankomst", "Times from arrival"),
    "figures_times_caption": ("Mediaan en p90 (minuten) per stap", "Median and p90 (minutes) per step"),
    "col_step": ("Stap", "Step"),
    "col_count": ("Aantal", "Count"),
    "col_median": ("Mediaan", "Median"),
    "col_p90": ("p90", "p90"),
    "figures_shares": ("Naleving en signaallast", "Compliance and alert burden"),
    "figures_shares_caption": ("Teller, noemer en uitkomst", "Numerator, denominator and result"),
    "col_figure": ("Cijfer", "Figure"),
    "col_numerator": ("Teller", "Numerator"),
    "col_denominator": ("Noemer", "Denominator"),
    "col_result": ("Uitkomst", "Result"),
    "col_definition": ("Definitie", "Definition"),
    "figures_rules": ("Per regel", "Per rule"),
    "figures_rules_caption": (
        "Signalen per regel en wat ermee gebeurde",
        "Flags per rule and what became of them",
    ),
    "col_rule": ("Regel", "Rule"),
    "col_flags": ("Signalen", "Flags"),
    "col_confirmed": ("Bevestigd", "Confirmed"),
    "col_dismissed": ("Afgewezen", "Dismissed"),
    "col_by_card": ("waarvan via EPD-kaart", "of which by EHR card"),
    "col_open": ("Open", "Open"),
    "col_ppv": ("PPV", "PPV"),
    "col_dismiss_rate": ("Afgewezen %", "Dismissed %"),
    "figures_no_rules": ("Geen signalen in deze periode.", "No flags in this period."),
    "figures_weeks": ("Per week, met de stille modus", "Per week, with silent mode"),
    "figures_silent": (
        "Stille modus: {flags} signalen bij {encounters} bezoeken ({per} per 1.000 SEH-bezoeken). In de "
        "stille modus draait de signalering wel, maar ziet de arts geen kaart en wordt geen casus geopend.",
        "Silent mode: {flags} flags at {encounters} visits ({per} per 1,000 ED visits). In silent mode "
        "detection runs, but the physician sees no card and no case is opened.",
    ),
    "figures_silent_caption": ("Stille signalen per regel", "Silent flags per rule"),
    # figure names and definitions (the API carries the English definitions of workflows/figures.py)
    "fig_arrival_to_flag": ("Aankomst → signaal", "Arrival → flag"),
    "fig_arrival_to_confirmation": ("Aankomst → bevestiging", "Arrival → confirmation"),
    "fig_arrival_to_all_acknowledged": (
        "Aankomst → alle partijen bevestigd",
        "Arrival → all parties acknowledged",
    ),
    "fig_arrival_to_intake": ("Aankomst → intake gedaan", "Arrival → intake done"),
    "fig_safe_discharge_checked": (
        "Gesloten casussen met veilig-ontslagcheck",
        "Closed cases with a safe-discharge check",
    ),
    "def_safe_discharge_checked": (
        "Van de gesloten casussen: het deel waarvan de checklist 'Kunt u veilig naar huis?' is ingevuld.",
        "Of the closed cases, the share whose 'Can you safely go home?' checklist was completed.",
    ),
    "fig_flags_per_1000_visits": ("Signalen per 1.000 SEH-bezoeken", "Flags per 1,000 ED visits"),
    "def_flags_per_1000_visits": (
        "Geopende casussen per 1.000 SEH-bezoeken in dezelfde periode.",
        "Cases opened per 1,000 ED visits in the same period.",
    ),
    "fig_dismiss_rate": ("Afgewezen signalen", "Dismissed flags"),
    "def_dismiss_rate": (
        "Van de beoordeelde casussen: het deel dat is afgewezen (op de casus, of elke kaart in het EPD "
        "weggeklikt en geen geaccepteerd).",
        "Of the decided cases, the share dismissed (on the case, or every EHR card overridden and none "
        "accepted).",
    ),
    "fig_kindcheck_answered": ("Kindcheck beantwoord", "Kindcheck answered"),
    "def_kindcheck_answered": (
        "Van de casussen met een Kindcheck-vraag (regel R-PAR): het deel waarin de vraag is beantwoord.",
        "Of the cases with a Kindcheck prompt (rule R-PAR), the share where the question was answered.",
    ),
    "chart_times": ("Tijden vanaf aankomst (minuten)", "Times from arrival (minutes)"),
    "chart_times_desc": (
        "Mediaan en p90 per stap, in minuten; de tabel eronder geeft dezelfde getallen.",
        "Median and p90 per step, in minutes; the table below holds the same numbers.",
    ),
    "chart_shares": ("Naleving en signaallast (%)", "Compliance and alert burden (%)"),
    "chart_shares_desc": (
        "Percentages; de tabel eronder geeft teller en noemer.",
        "Percentages; the table below gives numerator and denominator.",
    ),
    "chart_rules": ("Per regel: PPV en afgewezen signalen (%)", "Per rule: PPV and dismissed flags (%)"),
    "chart_rules_desc": (
        "Per regel de PPV en het deel afgewezen signalen; open casussen tellen niet mee.",
        "Per rule the PPV and the share dismissed; undecided cases are not counted.",
    ),
    "chart_weeks": ("Signalen per week", "Flags per week"),
    "chart_weeks_desc": (
        "Geopende casussen en stille signalen per ISO-week.",
        "Cases opened and silent flags per ISO week.",
    ),
    "series_median": ("mediaan", "median"),
    "series_p90": ("p90", "p90"),
    "series_percent": ("%", "%"),
    "series_ppv": ("PPV", "PPV"),
    "series_dismissed": ("afgewezen", "dismissed"),
    "series_cases": ("casussen", "cases"),
    "series_silent": ("stil", "silent"),
    "minutes_value": ("{value} min", "{value} min"),
    # break-the-glass: the reason form and the coordinator's list
    "nav_break_glass": ("Noodtoegang", "Break-the-glass"),
    "bg_title": ("Noodtoegang tot deze casus", "Emergency access to this case"),
    "bg_intro": (
        "Deze casus valt buiten uw gewone toegang (hij is langer geleden afgesloten). U kunt hem openen "
        "als dat nodig is voor de zorg: geef de reden op. De reden, uw naam en het tijdstip worden "
        "vastgelegd en zijn zichtbaar voor de coördinator. De toegang geldt {minutes} minuten, zolang u "
        "ingelogd blijft.",
        "This case is outside your everyday access (it was closed some time ago). You can open it when "
        "care requires it: give the reason. The reason, your name and the time are recorded and shown to "
        "the coordinator. Access lasts {minutes} minutes, as long as you stay logged in.",
    ),
    "bg_fix": ("Pas het volgende aan:", "Please fix:"),
    "bg_reason": ("Reden (minstens {min} tekens)", "Reason (at least {min} characters)"),
    "bg_reason_missing": (
        "Geef de reden op waarom u deze casus opent.",
        "Give the reason for opening this case.",
    ),
    "bg_reason_short": (
        "De reden is te kort: schrijf minstens {min} tekens.",
        "The reason is too short: write at least {min} characters.",
    ),
    "bg_submit": ("Casus openen met noodtoegang", "Open the case with emergency access"),
    "bg_hint": (
        "Twijfelt u? Open de casus niet en overleg met de coördinator.",
        "In doubt? Do not open the case; ask the coordinator.",
    ),
    "bgl_title": ("Noodtoegang: wie opende welke casus", "Break-the-glass: who opened which case"),
    "bgl_intro": (
        "Casussen die buiten de gewone toegang zijn geopend, met de opgegeven reden (nieuwste eerst).",
        "Cases opened outside everyday access, with the reason given (newest first).",
    ),
    "bgl_caption": ("{count} keer noodtoegang", "{count} break-the-glass accesses"),
    "bgl_when": ("Wanneer", "When"),
    "bgl_who": ("Wie", "Who"),
    "bgl_why": ("Reden", "Reason"),
    "bgl_empty": ("Nog geen noodtoegang.", "No break-the-glass access yet."),
}

i18n.MESSAGES.update(MESSAGES)
