"""CDS Hooks cards: neutral on the screen, specific behind the link.

Whoever stands at the screen may be the person a signal is about, so the summary and the detail say
only that Spoedplein asks for a look, how urgent it is and the opaque case reference — no rule names, no
findings, no patient data. The findings are on the case page behind the link (login required).
Card uuids are stable per service, case and rule set: the same situation gives the same card, and
feedback on it is counted once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from typing import Any

from adapters.fhir import resources
from detection.models import Severity

CARD_NAMESPACE = uuid.UUID("5b0d7f3e-6a43-4f2b-9a59-2f1c1c5e0a11")
OVERRIDE_SYSTEM = f"{resources.SYSTEM_BASE}/CodeSystem/cds-override-reason"
SOURCE = {
    "label": "Spoedplein (ETZ)",
    # Neutral on purpose: some EHRs show the topic next to the card.
    "topic": {
        "system": f"{resources.SYSTEM_BASE}/CodeSystem/cds-topic",
        "code": "spoedplein",
        "display": "Spoedplein",
    },
}
MAX_SUMMARY = 139


class Indicator(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class OverrideReason(StrEnum):
    CLINICALLY_EXPLAINED = "clinically-explained"
    ALREADY_HANDLED = "already-handled"
    NOT_APPLICABLE = "not-applicable"
    FALSE_SIGNAL = "false-signal"


OVERRIDE_DISPLAY = {
    # Shown when the card is dismissed, maybe with others watching: no word about injuries or violence.
    OverrideReason.CLINICALLY_EXPLAINED: "Klinisch verklaard",
    OverrideReason.ALREADY_HANDLED: "Al in behandeling",
    OverrideReason.NOT_APPLICABLE: "Niet van toepassing op deze patiënt",
    OverrideReason.FALSE_SIGNAL: "Onterecht signaal",
}
_INDICATOR = {Severity.CRITICAL: Indicator.CRITICAL, Severity.WARNING: Indicator.WARNING}

SIGNALS_SUMMARY = "Spoedplein vraagt om een aanvullende beoordeling"
DISCHARGE_SUMMARY = "Spoedplein: rond de controle vóór ontslag af"
# The Kindcheck is the routine question of the Haags protocol for every adult in these situations: the
# summary says which question to ask, not why, so a bystander learns nothing about the patient.
KINDCHECK_SUMMARY = "Kindcheck: vraag of de patiënt zorgt voor minderjarige kinderen"
KINDCHECK_QUESTION = "Zorgt u voor minderjarige kinderen, of wonen er kinderen bij u in huis?"


@dataclass(frozen=True)
class CaseRef:
    id: int
    reference: str
    severity: Severity
    opened_at: datetime


def card_uuid(service_id: str, case_reference: str, rule_ids: Iterable[str]) -> str:
    return _card_uuid(service_id, case_reference, tuple(sorted(rule_ids)))


@lru_cache(maxsize=4096)
def _card_uuid(service_id: str, case_reference: str, rule_ids: tuple[str, ...]) -> str:
    # Asked on every hook call to look up whether the card was issued; uuid5 is a SHA-1 and an object.
    return str(uuid.uuid5(CARD_NAMESPACE, f"{service_id}|{case_reference}|{','.join(rule_ids)}"))


def _override_reasons() -> list[dict[str, str]]:
    return [
        {"system": OVERRIDE_SYSTEM, "code": r.value, "display": OVERRIDE_DISPLAY[r]} for r in OverrideReason
    ]


def _link(case_url: str, case_reference: str, launch_url: str | None) -> dict[str, str]:
    """The card's way to the case: a SMART app link when the EHR launches us (`launch_url`: the EHR
    adds `iss` and `launch`, and may hand `appContext` back in the token response), else the plain URL."""
    if launch_url:
        return {
            "label": "Open de Spoedplein-casus",
            "url": launch_url,
            "type": "smart",
            "appContext": case_reference,
        }
    return {"label": "Open de Spoedplein-casus", "url": case_url, "type": "absolute"}


def _suggestion(card: str, label: str, resource: dict[str, Any], *, recommended: bool) -> dict[str, Any]:
    return {
        "label": label,
        "uuid": str(uuid.uuid5(CARD_NAMESPACE, f"{card}|{resource['resourceType']}")),
        "isRecommended": recommended,
        "actions": [{"type": "create", "description": label, "resource": resource}],
    }


def signals_card(
    *,
    service_id: str,
    case: CaseRef,
    rule_ids: list[str],
    patient_id: str,
    case_url: str,
    launch_url: str | None = None,
) -> dict[str, Any]:
    """The card for a presentation whose signals opened (or joined) a case."""
    uid = card_uuid(service_id, case.reference, rule_ids)
    subject = {"reference": f"Patient/{patient_id}"}
    flag = resources.flag(
        id=f"sp-flag-{case.id}",
        subject=subject,
        case_reference=case.reference,
        active=True,
        start=case.opened_at,
    )
    task = resources.task(
        id=f"sp-task-review-{case.id}",
        code=resources.TaskCode.REVIEW_SIGNALS,
        status=resources.TaskStatus.REQUESTED,
        patient=subject,
        case_reference=case.reference,
        authored=case.opened_at,
    )
    detail = (
        f"Spoedplein heeft bij deze presentatie **{len(rule_ids)} aandachtspunt(en)** gevonden "
        "die om een beoordeling door de behandelend arts vragen.\n\n"
        f"- Casus: `{case.reference}`\n"
        "- De onderbouwing staat in de casus (inloggen vereist); bespreek die niet waar anderen meekijken.\n"
        "- Niet van toepassing? Kies een reden bij het afwijzen: dat verbetert de signalering."
    )
    return {
        "uuid": uid,
        "summary": SIGNALS_SUMMARY[:MAX_SUMMARY],
        "detail": detail,
        "indicator": _INDICATOR.get(case.severity, Indicator.INFO).value,
        "source": SOURCE,
        "suggestions": [
            _suggestion(uid, "Markering in het dossier plaatsen", flag, recommended=True),
            _suggestion(uid, "Taak: signalen beoordelen", task, recommended=False),
        ],
        "selectionBehavior": "any",
        "overrideReasons": _override_reasons(),
        "links": [_link(case_url, case.reference, launch_url)],
    }


def discharge_card(
    *,
    service_id: str,
    case: CaseRef,
    missing_items: int,
    patient_id: str,
    case_url: str,
    now: datetime,
    launch_url: str | None = None,
) -> dict[str, Any]:
    """The critical card for a discharge while the case's safe-discharge check is not complete."""
    uid = card_uuid(service_id, case.reference, [])
    subject = {"reference": f"Patient/{patient_id}"}
    task = resources.task(
        id=f"sp-task-discharge-{case.id}",
        code=resources.TaskCode.SAFE_DISCHARGE_CHECK,
        status=resources.TaskStatus.REQUESTED,
        patient=subject,
        case_reference=case.reference,
        authored=now,
    )
    detail = (
        "Voor deze patiënt loopt een Spoedplein-casus waarvan de **veilig-naar-huischeck** nog niet is "
        f"afgerond ({missing_items} onderdeel/onderdelen open).\n\n"
        f"- Casus: `{case.reference}`\n"
        "- Rond de check af in de casus vóór het ontslag; de coördinator is gewaarschuwd."
    )
    return {
        "uuid": uid,
        "summary": DISCHARGE_SUMMARY[:MAX_SUMMARY],
        "detail": detail,
        "indicator": Indicator.CRITICAL.value,
        "source": SOURCE,
        "suggestions": [_suggestion(uid, "Taak: veilig-naar-huischeck afronden", task, recommended=True)],
        "selectionBehavior": "any",
        "overrideReasons": _override_reasons(),
        "links": [_link(case_url, case.reference, launch_url)],
    }


def kindcheck_card(*, service_id: str, encounter_key: str, rule_ids: list[str], url: str) -> dict[str, Any]:
    """The `info` card for a Kindcheck (Haags protocol, R-PAR) prompt: the question to ask and where to go
    next. No case is opened for a prompt; the link leads to the encounter's open case when there is one,
    else to the Kindcheck guidance page."""
    rules = ",".join(sorted(rule_ids))
    uid = str(uuid.uuid5(CARD_NAMESPACE, f"{service_id}|kindcheck|{encounter_key}|{rules}"))
    detail = (
        "Bij deze presentatie hoort de **Kindcheck**. Stel de patiënt de vraag:\n\n"
        f"> {KINDCHECK_QUESTION}\n\n"
        "- Zo ja: leg vast welke kinderen, en overleg met Veilig Thuis (0800-2000) — de link zegt hoe.\n"
        "- Leg het antwoord vast, ook als het nee is."
    )
    return {
        "uuid": uid,
        "summary": KINDCHECK_SUMMARY[:MAX_SUMMARY],
        "detail": detail,
        "indicator": Indicator.INFO.value,
        "source": SOURCE,
        "links": [{"label": "Kindcheck: wat te doen", "url": url, "type": "absolute"}],
    }
