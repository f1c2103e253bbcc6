"""What the pager tells the case workflow, without importing it (workflows sits above notifications).

The workflow installs one `CaseHooks` object when it is imported (`workflows.timeline`): the pager calls
`event` for every send, delivery report, failure, answer and escalation (a timeline entry in the same
transaction; `events` writes a batch of them at once), and `party_answered` when a party's page is
acknowledged or declined (the intake records it — one model of acknowledgement: the workflow's
`IntakeParty`). A pager event with no hooks installed is a programming error and raises: an event is
never silently dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy.orm import Session

from store.crypto import FieldCipher


class PageEventKind(StrEnum):
    """Timeline entries the pager writes (workflows.models.EventKind has the same values)."""

    PAGE_SENT = "page_sent"
    PAGE_DELIVERED = "page_delivered"
    PAGE_FAILED = "page_failed"
    PAGE_ACKNOWLEDGED = "page_acknowledged"
    PAGE_DECLINED = "page_declined"
    PAGE_ESCALATED = "page_escalated"
    PAGE_EXHAUSTED = "page_exhausted"
    PAGE_SUPPRESSED = "page_suppressed"
    MELDING_DELIVERY = "melding_delivery"


@dataclass(frozen=True)
class PageEvent:
    """One timeline entry for `CaseHooks.events` (the arguments `CaseHooks.event` takes)."""

    case_id: int
    kind: PageEventKind
    code: str
    detail: dict[str, Any] | None
    dedupe_key: str
    warning: bool = False


class CaseHooks(Protocol):
    def event(
        self,
        session: Session,
        cipher: FieldCipher,
        *,
        case_id: int,
        kind: PageEventKind,
        code: str,
        detail: dict[str, Any] | None,
        dedupe_key: str,
        warning: bool = False,
    ) -> None:
        """Append one timeline entry (no-op when `dedupe_key` was written before)."""
        ...

    def events(self, session: Session, cipher: FieldCipher, items: Sequence[PageEvent]) -> None:
        """Append many timeline entries with a few statements for all (each a no-op when its
        `dedupe_key` was written before)."""
        ...

    def party_answered(
        self,
        session: Session,
        cipher: FieldCipher,
        *,
        case_id: int,
        party: str,
        acknowledged: bool,
        earliest_at: datetime | None,
        actor: str,
    ) -> None:
        """A party's page was answered for the party as a whole (acknowledged, or declined by all)."""
        ...

    def melding_delivered(
        self, session: Session, cipher: FieldCipher, *, case_id: int, reference: str
    ) -> None:
        """The melding went out by e-mail (the workflow moves it to `sent`)."""
        ...


_installed: list[CaseHooks] = []


def install(hooks: CaseHooks) -> None:
    _installed[:] = [hooks]


def hooks() -> CaseHooks:
    if not _installed:
        raise RuntimeError("no case hooks installed: import workflows before running the pager")
    return _installed[0]
