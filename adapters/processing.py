"""The worker's job for each stored message: map it, keep the `Presentation`, detect, open or update a case.

Registered for the `inbox.process` outbox topic in two halves. `prepare_messages` runs first, outside
any write transaction: it decrypts, maps and detects (the CPU-heavy part; on SQLite a write transaction
would hold the one write lock of the database, which the MLLP ACK path needs, for all of that time).
`process_messages` then runs inside the short transaction that also marks the outbox rows done: it only
writes what was prepared. It is idempotent: a message that is no longer `received` is left alone, so a
redelivered task does nothing the second time.

A message whose free text is larger than `SPOEDPLEIN_MAX_FREE_TEXT_BYTES` is processed without its free
text (the structured part is still mapped and detected) and marked `needs_review` with the reason, for a
person to read. A message whose processing keeps failing is given up after `MAX_ATTEMPTS`: marked
`failed` and `needs_review`, never retried for ever.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.fhir import writeback
from adapters.hl7.errors import HL7Error
from core.logs import CORRELATION_ID, message_correlation
from core.runtime import Runtime
from detection.engine import detect, is_flagged
from detection.models import EventType, Finding, Presentation
from detection.visit import MAX_VISIT_MESSAGES, combine
from presentations import service as presentations
from presentations.models import PresentationRecord
from store.crypto import DecryptionError
from store.db import utcnow
from store.handlers import PREPARED, gives_up, handles_batch, prepares
from store.inbox import PROCESS_TOPIC, Channel, InboxMessage, MessageStatus, read_raw
from workflows import silent
from workflows.cases import open_case_for_encounter, record_findings
from workflows.discharge import on_discharge

log = logging.getLogger(__name__)


class UnprocessableMessage(Exception):
    """The stored message can never be mapped as it is; retrying will not help (status `failed`)."""


def to_presentation(runtime: Runtime, row: InboxMessage) -> Presentation | None:
    raw = read_raw(runtime.cipher, row)
    if row.channel == Channel.HL7V2:
        from adapters.hl7.to_presentation import MappingError, message_to_presentation

        try:
            return message_to_presentation(
                raw,
                default_charset=runtime.settings.hl7_default_charset,
                timezone=runtime.settings.timezone,
            )
        except (HL7Error, MappingError) as exc:
            raise UnprocessableMessage(str(exc)) from exc
    if row.channel == Channel.FHIR:
        from adapters.fhir.to_presentation import FhirMappingError, bundle_to_presentation

        try:
            # Validated as R4B before it was stored (FHIR ingest); the mapper checks what it reads.
            return bundle_to_presentation(raw, default_zone=runtime.settings.timezone, validate=False)
        except FhirMappingError as exc:
            raise UnprocessableMessage(str(exc)) from exc
    raise UnprocessableMessage(f"unknown channel {row.channel!r}")


def free_text_bytes(presentation: Presentation) -> int:
    """How much free text a presentation carries: notes, the chief complaint, text observation values."""
    texts = [note.text for note in presentation.texts()]
    texts += [o.value for o in presentation.observations if o.value_coding is None and " " in o.value]
    return sum(len(text.encode("utf-8")) for text in texts)


def without_free_text(presentation: Presentation) -> Presentation:
    return presentation.model_copy(
        update={
            "chief_complaint": "",
            "notes": [],
            "observations": [
                o for o in presentation.observations if o.value_coding is not None or " " not in o.value
            ],
        }
    )


@dataclass(frozen=True)
class Prepared:
    """What one message came to, worked out before the write transaction."""

    status: MessageStatus
    reason: str = ""
    needs_review: bool = False
    presentation: Presentation | None = None
    record: PresentationRecord | None = None  # not yet in a session
    findings: tuple[Finding, ...] = ()


def visit_so_far(runtime: Runtime, encounter: str) -> list[Presentation]:
    """The encounter's presentations stored before this message (the most recent ones), oldest first.

    One that cannot be decrypted (a retired key) is left out: the visit is judged without it."""
    with runtime.db.read() as session:
        rows = (
            session.execute(
                select(PresentationRecord)
                .where(PresentationRecord.encounter_ref == encounter)
                .order_by(PresentationRecord.id.desc())
                .limit(MAX_VISIT_MESSAGES - 1)
            )
            .scalars()
            .all()
        )
        out = []
        for record in reversed(rows):
            try:
                out.append(presentations.load(runtime.cipher, record))
            except DecryptionError:
                log.warning("presentation %s of an encounter could not be decrypted; left out", record.id)
        return out


def prepare_one(
    runtime: Runtime, row: InboxMessage, batch: dict[str, list[Presentation]] | None = None
) -> Prepared:
    """Decrypt, map, bound the free text and detect: everything but the writes.

    Detection reads the visit so far: this message together with the encounter's earlier ones (stored,
    or earlier in the same batch, `batch`), so an ORU's fracture meets the A04's story (detection/visit.py).
    """
    try:
        presentation = to_presentation(runtime, row)
    except (UnprocessableMessage, DecryptionError) as exc:
        log.warning(
            "message %s failed: %s",
            row.id,
            type(exc).__name__,
            extra={CORRELATION_ID: message_correlation(row.dedupe_key)},
        )
        return Prepared(MessageStatus.FAILED, str(exc)[:2000])
    if presentation is None:
        return Prepared(MessageStatus.IGNORED, f"{row.message_type} is not used by the ED flow")
    reason, needs_review = "", False
    size = free_text_bytes(presentation)
    if size > runtime.settings.max_free_text_bytes:
        presentation = without_free_text(presentation)
        reason = (
            f"free text of {size} bytes is over the limit of {runtime.settings.max_free_text_bytes}: "
            "processed without it; a person should read the message"
        )
        needs_review = True
        log.warning(
            "message %s: free text over the limit, processed without it",
            row.id,
            extra={CORRELATION_ID: message_correlation(row.dedupe_key)},
        )
    record = presentations.new_record(
        cipher=runtime.cipher,
        pseudonyms=runtime.pseudonyms,
        presentation=presentation,
        inbox_message_id=row.id,
        systems=presentations.IdentifierSystems.of(runtime.settings),
    )
    earlier = visit_so_far(runtime, record.encounter_ref)
    if batch is not None:
        earlier += batch.get(record.encounter_ref, [])
        batch.setdefault(record.encounter_ref, []).append(presentation)
    visit = combine([*earlier, presentation]) if earlier else presentation
    return Prepared(MessageStatus.PROCESSED, reason, needs_review, presentation, record, tuple(detect(visit)))


@prepares(PROCESS_TOPIC)
def prepare_messages(runtime: Runtime, payloads: list[dict[str, Any]]) -> list[Prepared | None]:
    """The prepared outcome of each payload's message, or None for one that is no longer `received`."""
    ids = [int(p["message_id"]) for p in payloads]
    with runtime.db.read() as session:
        rows = {
            row.id: row
            for row in session.execute(
                select(InboxMessage).where(
                    InboxMessage.id.in_(ids), InboxMessage.status == MessageStatus.RECEIVED.value
                )
            ).scalars()
        }
    batch: dict[str, list[Presentation]] = {}  # messages of one visit in this batch, in order
    return [prepare_one(runtime, rows[i], batch) if i in rows else None for i in ids]


@handles_batch(PROCESS_TOPIC)
def process_messages(runtime: Runtime, session: Session, payloads: list[dict[str, Any]]) -> None:
    """Write what was prepared for a batch of stored messages: presentations, cases, statuses.

    Messages that are no longer `received` (an earlier delivery did them) are skipped. A payload that
    was not prepared (a row that became pending after the preparation) is prepared here.
    """
    prepared = {int(p["message_id"]): p.get(PREPARED) for p in payloads}
    rows = (
        session.execute(
            select(InboxMessage)
            .where(
                InboxMessage.id.in_(list(prepared)),
                InboxMessage.status == MessageStatus.RECEIVED.value,
            )
            .order_by(InboxMessage.id)
            .with_for_update()
        )
        .scalars()
        .all()
    )
    now = utcnow()
    done = [(row, prepared[row.id] or prepare_one(runtime, row)) for row in rows]
    session.add_all(p.record for _, p in done if p.record is not None)
    session.flush()  # one multi-row insert for the batch's presentations
    case_open_limit = timedelta(seconds=runtime.settings.case_open_limit_s)
    for row, outcome in done:
        row.status, row.status_reason, row.processed_at = outcome.status, outcome.reason, now
        row.needs_review = outcome.needs_review
        if outcome.record is None or outcome.presentation is None:
            continue
        findings = list(outcome.findings)
        record = outcome.record
        if runtime.settings.silent_mode:
            # Measured, not acted on: no case, so no card, page or write-back follows from it.
            silent.record(
                session, encounter_ref=record.encounter_ref, findings=findings, source=record.channel
            )
        # Info-only findings (e.g. a Kindcheck prompt) join an open case but do not open one themselves.
        elif is_flagged(findings) or (findings and open_case_for_encounter(session, record.encounter_ref)):
            case = record_findings(
                session,
                cipher=runtime.cipher,
                presentation=record,
                findings=findings,
                case_open_limit=case_open_limit,
            )
            if case is not None:
                writeback.request(session, runtime.settings, case)  # sooner than the sweep would
        if outcome.presentation.event is EventType.DISCHARGE:
            on_discharge(session, runtime, record)  # open case without a safe-discharge check: alert


@gives_up(PROCESS_TOPIC)
def give_up_on_message(_runtime: Runtime, session: Session, payload: dict[str, Any], error: str) -> None:
    """Processing failed every time: the message is `failed` and waits for a person (`needs_review`)."""
    row = session.get(InboxMessage, int(payload["message_id"]))
    if row is None or row.status != MessageStatus.RECEIVED:
        return
    row.status, row.processed_at, row.needs_review = MessageStatus.FAILED, utcnow(), True
    row.status_reason = f"processing failed repeatedly and was stopped ({error.split(':', 1)[0]})"
