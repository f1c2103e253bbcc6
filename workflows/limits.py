"""How long the workflow waits before it alerts: read from the settings once per call site."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any


@dataclass(frozen=True)
class Limits:
    ack_deadline: timedelta = timedelta(minutes=15)
    intake_overdue: timedelta = timedelta(hours=1)
    case_open: timedelta = timedelta(hours=48)

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        return cls(
            ack_deadline=timedelta(seconds=settings.ack_deadline_s),
            intake_overdue=timedelta(seconds=settings.intake_overdue_s),
            case_open=timedelta(seconds=settings.case_open_limit_s),
        )


DEFAULT_LIMITS = Limits()
