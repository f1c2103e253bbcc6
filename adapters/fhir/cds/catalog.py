"""The CDS services this gateway offers: ids, hooks, titles and prefetch templates (what discovery shows)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from adapters.fhir.cds import prefetch
from adapters.fhir.cds.prefetch import PrefetchKey


class Hook(StrEnum):
    PATIENT_VIEW = "patient-view"
    ENCOUNTER_START = "encounter-start"
    ENCOUNTER_DISCHARGE = "encounter-discharge"


class ServiceKind(StrEnum):
    SIGNALS = "signals"
    SAFE_DISCHARGE = "safe-discharge"


@dataclass(frozen=True)
class Service:
    id: str
    hook: Hook
    kind: ServiceKind
    title: str
    description: str
    prefetch: dict[str, str]

    def discovery(self) -> dict[str, Any]:
        return {
            "hook": self.hook.value,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "prefetch": self.prefetch,
        }


_SIGNALS_TEXT = "Spoedplein: signalen die om een beoordeling vragen (neutrale kaart, details in de casus)."
SERVICES: dict[str, Service] = {
    s.id: s
    for s in (
        Service(
            "spoedplein-signals-patient-view",
            Hook.PATIENT_VIEW,
            ServiceKind.SIGNALS,
            "Spoedplein signalen",
            _SIGNALS_TEXT,
            prefetch.templates(with_encounter=False),
        ),
        Service(
            "spoedplein-signals-encounter-start",
            Hook.ENCOUNTER_START,
            ServiceKind.SIGNALS,
            "Spoedplein signalen bij aanvang",
            _SIGNALS_TEXT,
            prefetch.templates(with_encounter=True),
        ),
        Service(
            "spoedplein-safe-discharge",
            Hook.ENCOUNTER_DISCHARGE,
            ServiceKind.SAFE_DISCHARGE,
            "Spoedplein veilig-naar-huischeck",
            "Waarschuwt bij ontslag als de veilig-naar-huischeck van een open casus niet is afgerond.",
            {
                k: v
                for k, v in prefetch.templates(with_encounter=True).items()
                if k in (PrefetchKey.PATIENT, PrefetchKey.ENCOUNTER)
            },
        ),
    )
}


def discovery() -> dict[str, Any]:
    return {"services": [s.discovery() for s in SERVICES.values()]}
