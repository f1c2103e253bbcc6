"""The pilot figures' titles and definitions in Dutch, for `/api/figures?lang=nl` (or `Accept-Language: nl`).

`workflows/figures.py` holds each figure's definition in English, next to the query that computes it;
the same definitions are here in Dutch, for the regional centre's reports. A test walks the whole
answer and fails on any definition without a translation here.
"""

from __future__ import annotations

from typing import Any

_TIME_BASIS = (
    " Aankomst is de vroegste aankomsttijd van de presentaties van het bezoek (de ontvangsttijd als het "
    "bericht er geen had). Mediaan en p90 (nearest rank) over de casussen die de stap bereikten, in minuten."
)

# A figure's key: (title, definition).
KEYED: dict[str, tuple[str, str]] = {
    "arrival_to_flag": ("Aankomst tot signaal", "Van aankomst tot het openen van de casus." + _TIME_BASIS),
    "arrival_to_confirmation": (
        "Aankomst tot bevestiging",
        "Van aankomst tot de arts het signaal bevestigde (eerste bevestiging)." + _TIME_BASIS,
    ),
    "arrival_to_all_acknowledged": (
        "Aankomst tot alle bevestigingen",
        "Van aankomst tot de laatste bevestiging, voor casussen waarin elke partij die voor de gezamenlijke "
        "intake is gevraagd (en niet afgemeld) heeft bevestigd." + _TIME_BASIS,
    ),
    "arrival_to_intake": (
        "Aankomst tot intake",
        "Van aankomst tot de gezamenlijke intake als gedaan is vastgelegd." + _TIME_BASIS,
    ),
    "safe_discharge_checked": (
        "Gesloten casussen met veilig-ontslagcheck",
        "Van de in de periode geopende casussen die nu gesloten zijn: het deel waarvan de checklist "
        "'Kunt u veilig naar huis?' is ingevuld.",
    ),
    "flags_per_1000_visits": (
        "Signalen per 1.000 SEH-bezoeken",
        "In de periode geopende casussen per 1.000 SEH-bezoeken in dezelfde periode.",
    ),
    "dismiss_rate": (
        "Afwijspercentage (alle regels)",
        "Van de beoordeelde casussen (bevestigd of afgewezen): het deel dat is afgewezen. Een casus telt als "
        "afgewezen als de arts hem afwees en nooit bevestigde, of als hij nooit is beoordeeld en elke "
        "CDS-kaart ervoor is weggeklikt zonder dat er een is geaccepteerd.",
    ),
    "kindcheck_answered": (
        "Kindcheck-vragen beantwoord",
        "Van de casussen met een Kindcheck-vraag (een bevinding van regel R-PAR*): het deel waarin de "
        "Kindcheck-vraag (kinderen onder de 18 thuis?) is beantwoord en vastgelegd.",
    ),
    "silent_flags_per_1000_visits": (
        "Stille signalen per 1.000 SEH-bezoeken",
        "Bezoeken die de stille modus zou hebben gesignaleerd, per 1.000 SEH-bezoeken in de periode.",
    ),
}

# A section of the answer (its name in the JSON): its definition.
SECTIONS: dict[str, str] = {
    "period": (
        "Halfopen [van, tot) in UTC. Casussen tellen op het moment van openen (signaal), SEH-bezoeken op het "
        "moment dat de gateway het bezoek voor het eerst zag, stille signalen op het moment van vastleggen."
    ),
    "ed_visits": "Verschillende SEH-bezoeken waarvoor de gateway in de periode een presentatie ontving.",
    "cases": "In de periode geopende (gesignaleerde) casussen, wat er daarna ook mee gebeurde.",
    "rules": (
        "Per regel: de in de periode geopende casussen met een bevinding van die regel. Bevestigd: de arts "
        "bevestigde de casus. Afgewezen: zie het afwijspercentage. PPV = bevestigd / (bevestigd + "
        "afgewezen); afwijspercentage = afgewezen / (bevestigd + afgewezen); niet-beoordeelde casussen "
        "tellen in geen van beide."
    ),
    "silent": (
        "Stille modus (SPOEDPLEIN_SILENT_MODE): de signalering draaide en zou hebben gesignaleerd, maar er "
        "werd geen kaart getoond en geen casus geopend. Eén telling per bezoek en regel; per 1.000 "
        "SEH-bezoeken in dezelfde periode."
    ),
}


def in_dutch(answer: dict[str, Any]) -> dict[str, Any]:
    """`answer` (Figures.as_json()) with every title and definition in Dutch; the numbers untouched."""

    def figure(item: dict[str, Any]) -> dict[str, Any]:
        title, definition = KEYED[item["key"]]
        return {**item, "title": title, "definition": definition}

    out = dict(answer)
    for name, definition in SECTIONS.items():
        out[name] = {**answer[name], "definition": definition}
    out["durations"] = [figure(d) for d in answer["durations"]]
    out["shares"] = [figure(s) for s in answer["shares"]]
    out["silent"]["per_1000_visits"] = figure(answer["silent"]["per_1000_visits"])
    return out
