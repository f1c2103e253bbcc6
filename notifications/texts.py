"""The words of every page, in Dutch: the opaque case reference, the urgency, the role asked, what to do,
and a link. Nothing else — no name, no date of birth, no address, no complaint, no finding.

Kept to one SMS where possible (160 GSM characters is one part; the link makes most pages two).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from notifications.models import Page, PagePurpose, Urgency

ROLE_NL = {
    "forensic": "forensisch arts",
    "kinder_forensisch": "kinder-forensisch arts",
    "veilig_thuis": "Veilig Thuis",
    "police": "politie",
    "csg": "Centrum Seksueel Geweld",
    "coordinator": "coördinator",
}

ALERT_NL = {
    "discharged_without_check": "ontslag zonder veiligheidscheck",
    "ack_overdue": "oproep niet op tijd bevestigd",
    "intake_overdue": "intake over tijd",
    "case_open_too_long": "casus staat te lang open",
    "page_unanswered": "oproep onbeantwoord na alle escalatiestappen",
}


def role_nl(role: str, display: str = "") -> str:
    return display or ROLE_NL.get(role, role)


def local_time(at: datetime, zone: ZoneInfo) -> str:
    local = at.astimezone(zone)
    return local.strftime("%d-%m %H:%M")


def subject(page: Page) -> str:
    urgent = "SPOED " if page.urgency == Urgency.EMERGENCY else ""
    return f"{urgent}Spoedplein {page.case_reference or ''}".strip()


def page_text(page: Page, *, role_display: str, reply_code: str, link: str, zone: ZoneInfo) -> str:
    """The message body for `page` to one person; every variant ends with the link."""
    ref = page.case_reference or "-"
    urgent = "SPOED " if page.urgency == Urgency.EMERGENCY else ""
    purpose = PagePurpose(page.purpose)
    if purpose is PagePurpose.INTAKE:
        return (
            f"{urgent}Spoedplein ETZ: casus {ref}, gezamenlijke intake. U bent opgeroepen als "
            f"{role_display}. Antwoord OK {reply_code} (evt. met tijd: OK {reply_code} 14:30) "
            f"of NEE {reply_code}. {link}"
        )
    if purpose is PagePurpose.ALERT:
        what = ALERT_NL.get(page.reason, page.reason)
        return f"{urgent}Spoedplein ETZ: casus {ref}: {what}. Bevestig met OK {reply_code}. {link}"
    if purpose is PagePurpose.INTAKE_TIME:
        at = datetime.fromisoformat(str(page.info["at"]))
        word = "afgesproken" if page.info.get("kind") == "agreed" else "voorgesteld"
        return (
            f"Spoedplein ETZ: casus {ref}, gezamenlijke intake {word}: {local_time(at, zone)} (SEH). {link}"
        )
    if purpose is PagePurpose.MELDING:
        return (
            f"Melding aan Veilig Thuis, casus {ref}, versie {page.info.get('revision', '')}: "
            "zie de bijlage (PDF). Verstuurd door de Spoedplein-gateway van het ETZ."
        )
    since = str(page.info.get("last_tick_at", "onbekend"))
    return f"Spoedplein ETZ: de pager loopt niet (laatste ronde {since}). Controleer de gateway nu."
