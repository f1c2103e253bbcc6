"""Retention: what the gateway stops keeping, and when (docs/operations.md "Retention").

Four categories, each with its period in the settings (`SPOEDPLEIN_RETENTION_*`):
- raw messages: the received HL7/FHIR text is deleted `retention_raw_message_days` (30) after receipt;
  a message still waiting for the worker is never deleted. A resend of a message inside the period is
  still recognised (its row is there); the presentation a case needs stays, only its link to the raw
  message is cleared.
- presentations no case refers to (the mapped, encrypted copy of a message that raised no flag): deleted
  with the raw messages' period.
- dismissed flags: `retention_dismissed_days` (90) after the dismissal the case is pseudonymised: its
  patient and encounter references become a random pseudonym, the findings lose their evidence words,
  the presentations keep only channel, event and times, the timeline loses its free text. Rule ids,
  severities, dismiss reason codes and times stay: the figures (dismiss rate per rule) still count it.
- closed cases: `retention_closed_case_days` (730; 0 = never) after closing, the case is deleted with
  every row that refers to it (timeline, findings, pages, consents, cards), found by foreign key.

The audit log is not a category: the product never deletes an audit entry (NEN 7513 asks at least five
years; the hospital archives or prunes it outside the product, after `spoedplein audit verify`).

Each category is worked in batches of `retention_batch_size`, one short write transaction each (SQLite's
one write lock is never held for long). A run writes one audit entry with its counts. `spoedplein
retention` runs it from the command line (`--dry-run` counts only); the beat's job below runs it daily.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, Table, and_, false, func, select, update
from sqlalchemy.orm import Session

from core.settings import Settings
from detection.models import Finding
from presentations import service as presentations
from presentations.models import DATA_AAD, PresentationRecord
from store import audit
from store.crypto import FieldCipher
from store.db import Base, Database
from store.inbox import InboxMessage, MessageStatus
from store.periodic import every
from store.prune import clear_free_text, delete_with_dependents
from workflows.models import FINDING_AAD, PSEUDONYM_PREFIX, Case, CaseFinding, CaseState

CHECK_S = 60.0  # how often the beat looks whether a run is due
INTERVAL = timedelta(days=1)  # a finished run is followed by the next one a day later
BUDGET_S = 1.0  # per beat turn: a backlog (the first run on an old installation) continues next minute


class Category(StrEnum):
    CLOSED_CASES = "closed_cases"
    DISMISSED_FLAGS = "dismissed_flags"
    RAW_MESSAGES = "raw_messages"
    UNLINKED_PRESENTATIONS = "unlinked_presentations"


# Cases first: a deleted or pseudonymised case leaves presentations no case refers to any more, which
# the last category then deletes in the same run.
ORDER = (
    Category.CLOSED_CASES,
    Category.DISMISSED_FLAGS,
    Category.RAW_MESSAGES,
    Category.UNLINKED_PRESENTATIONS,
)


@dataclass(frozen=True)
class Policy:
    raw_message_days: int = 30
    dismissed_days: int = 90
    closed_case_days: int = 730  # 0: closed cases are kept
    batch_size: int = 200  # SQLite: about 12 ms of write lock per batch (bench/retention.py)

    @classmethod
    def of(cls, settings: Settings) -> Policy:
        return cls(
            raw_message_days=settings.retention_raw_message_days,
            dismissed_days=settings.retention_dismissed_days,
            closed_case_days=settings.retention_closed_case_days,
            batch_size=settings.retention_batch_size,
        )

    def cutoff(self, category: Category, now: datetime) -> datetime | None:
        """Rows of `category` older than this are due; None: the category is kept."""
        days = {
            Category.CLOSED_CASES: self.closed_case_days,
            Category.DISMISSED_FLAGS: self.dismissed_days,
            Category.RAW_MESSAGES: self.raw_message_days,
            Category.UNLINKED_PRESENTATIONS: self.raw_message_days,
        }[category]
        return now - timedelta(days=days) if days > 0 else None


def _due(category: Category, cutoff: datetime | None) -> tuple[Any, ColumnElement[bool]]:
    """The id column of the category's rows and the condition that makes one due."""
    if category is Category.RAW_MESSAGES:
        column: Any = InboxMessage.id
        condition = and_(
            InboxMessage.received_at < cutoff, InboxMessage.status != MessageStatus.RECEIVED.value
        )
    elif category is Category.UNLINKED_PRESENTATIONS:
        column = PresentationRecord.id
        condition = and_(
            PresentationRecord.created_at < cutoff,
            PresentationRecord.id.not_in(select(CaseFinding.presentation_id)),
            PresentationRecord.encounter_ref.not_in(select(Case.encounter_ref)),
        )
    elif category is Category.DISMISSED_FLAGS:
        column = Case.id
        condition = and_(
            Case.state == CaseState.DISMISSED.value,
            Case.updated_at < cutoff,
            Case.patient_ref.not_like(f"{PSEUDONYM_PREFIX}%"),
        )
    else:
        column = Case.id
        condition = and_(Case.state == CaseState.CLOSED.value, Case.updated_at < cutoff)
    return column, condition if cutoff is not None else false()


def count_due(session: Session, policy: Policy, now: datetime) -> dict[Category, int]:
    """How many rows of each category a run now would delete or pseudonymise (reads no patient data)."""
    counts = {}
    for category in ORDER:
        column, condition = _due(category, policy.cutoff(category, now))
        counts[category] = int(session.execute(select(func.count(column)).where(condition)).scalar_one())
    return counts


def _table(model: type[Base]) -> Table:
    return Base.metadata.tables[model.__tablename__]


def _pseudonymise(
    session: Session, cipher: FieldCipher, condition: ColumnElement[bool], ids: list[int]
) -> int:
    """Pseudonymise the dismissed cases `ids` (see the module docstring). The case row is changed only if
    it is still due (compare-and-set on its version), and without a new version or change time: nothing
    a person did, so the EHR write-back and the figures see no change."""
    cases = session.execute(select(Case).where(Case.id.in_(ids), condition)).scalars().all()
    done = 0
    for case in cases:
        pseudonym = PSEUDONYM_PREFIX + secrets.token_hex(16)
        changed = session.execute(
            update(Case)
            .where(Case.id == case.id, Case.version == case.version, condition)
            .values(patient_ref=pseudonym, encounter_ref=pseudonym, updated_at=Case.updated_at)
            .execution_options(synchronize_session=False)
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            continue  # reopened (or changed) meanwhile: no longer due
        done += 1
        for row in session.execute(select(CaseFinding).where(CaseFinding.case_id == case.id)).scalars():
            finding = Finding.model_validate_json(cipher.decrypt(row.data, FINDING_AAD))
            stripped = finding.model_copy(update={"evidence": []})
            row.data = cipher.encrypt(stripped.model_dump_json().encode(), FINDING_AAD)
        shared = select(CaseFinding.presentation_id).where(CaseFinding.case_id != case.id)
        records = session.execute(
            select(PresentationRecord).where(
                PresentationRecord.id.in_(
                    select(CaseFinding.presentation_id).where(CaseFinding.case_id == case.id)
                ),
                PresentationRecord.id.not_in(shared),
            )
        ).scalars()
        for record in records:
            kept = presentations.pseudonymised(presentations.load(cipher, record))
            record.data = cipher.encrypt(kept.model_dump_json().encode(), DATA_AAD)
            record.patient_ref = record.encounter_ref = pseudonym
        clear_free_text(session, Base.metadata, _table(Case), Case.id == case.id)
    session.flush()
    return done


def _batch(
    session: Session, cipher: FieldCipher, category: Category, cutoff: datetime, size: int
) -> tuple[int, int]:
    """One batch of one category inside the caller's transaction: how many rows it chose, and how many it
    deleted or pseudonymised (fewer when another run, a second beat, took some of them first)."""
    column, condition = _due(category, cutoff)
    ids = list(session.execute(select(column).where(condition).order_by(column).limit(size)).scalars())
    if not ids:
        return 0, 0
    # The condition is applied again on the change itself: a row that stopped being due is left alone.
    chosen = and_(column.in_(ids), condition)
    if category is Category.DISMISSED_FLAGS:
        return len(ids), _pseudonymise(session, cipher, condition, ids)
    if category is Category.RAW_MESSAGES:
        done = delete_with_dependents(
            session,
            Base.metadata,
            _table(InboxMessage),
            chosen,
            clear=frozenset({"presentation.inbox_message_id"}),
        )
        return len(ids), done
    table = _table(Case if category is Category.CLOSED_CASES else PresentationRecord)
    return len(ids), delete_with_dependents(session, Base.metadata, table, chosen)


@dataclass
class RunResult:
    counts: dict[Category, int] = field(default_factory=lambda: dict.fromkeys(ORDER, 0))
    finished: bool = True  # False: stopped at its time budget, rows are left for the next run

    def summary(self) -> str:
        return ";".join(f"{category.value}={self.counts[category]}" for category in ORDER)


def apply(
    db: Database,
    cipher: FieldCipher,
    policy: Policy,
    now: datetime,
    *,
    budget_s: float | None = None,
) -> RunResult:
    """Work every category in batches until none is due (or `budget_s` has passed)."""
    result = RunResult()
    deadline = None if budget_s is None else time.monotonic() + budget_s
    for category in ORDER:
        cutoff = policy.cutoff(category, now)
        if cutoff is None:
            continue
        while True:
            with db.write() as session:
                chosen, done = _batch(session, cipher, category, cutoff, policy.batch_size)
            result.counts[category] += done
            if chosen < policy.batch_size:
                break
            # Checked after a batch, so even a tiny budget moves a backlog forward by one batch.
            if deadline is not None and time.monotonic() > deadline:
                result.finished = False
                return result
    return result


def record_run(
    session: Session, result: RunResult, *, actor: str, actor_name: str, client: str, source: str
) -> None:
    """The run's audit entry: who ran it, and how many rows of each category it deleted or pseudonymised."""
    audit.record(
        session,
        actor=actor,
        actor_role="system" if actor.startswith("system:") else "admin",
        actor_name=actor_name,
        action=audit.AuditAction.DELETE,
        resource_type="Retention",
        resource_id=result.summary(),
        client=client,
        source=source,
        purpose="retention policy" + ("" if result.finished else " (continues next run)"),
    )


_next_run: dict[str, datetime] = {}  # the beat process's own schedule: a restarted beat runs at once


@every(CHECK_S, name="workflows.retention")
def retention_job(runtime: Any) -> None:
    """The beat's daily run (runtime typed loosely, like the other jobs); a run cut short by its time
    budget continues at the next check, a minute later, until nothing is due."""
    now = runtime.clock.now()
    due = _next_run.get("at")
    if due is not None and now < due:
        return
    result = apply(runtime.db, runtime.cipher, Policy.of(runtime.settings), now, budget_s=BUDGET_S)
    with runtime.db.write() as session:
        record_run(session, result, actor="system:beat", actor_name="beat", client="", source="beat")
    _next_run["at"] = now + INTERVAL if result.finished else now
