"""The worker's job for each stored message: map it, keep the `Presentation`, detect, open or update a case.

Registered as the batch handler of the `inbox.process` outbox topic. It runs inside the transaction that
also marks the outbox rows done, and it is idempotent: a message that is no longer `received` is left
alone, so a redelivered task does nothing the second time.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.hl7.errors import HL7Error
from core.runtime import Runtime
from detection.engine import detect, is_flagged
from detection.models import EventType, Presentation
from presentations import service as presentations
from presentations.models import PresentationRecord
from store.crypto import DecryptionError
from store.db import utcnow
from store.handlers import handles_batch
from store.inbox import PROCESS_TOPIC, Channel, InboxMessage, MessageStatus, read_raw
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


@handles_batch(PROCESS_TOPIC)
def process_messages(runtime: Runtime, session: Session, payloads: list[dict[str, Any]]) -> None:
    """Map, store, detect and open/update cases for a batch of stored messages.

    Messages that are no longer `received` (an earlier delivery did them) are skipped. Presentations of
    the batch are inserted in one flush; the case work runs only for messages with findings.
    """
    rows = (
        session.execute(
            select(InboxMessage)
            .where(
                InboxMessage.id.in_([p["message_id"] for p in payloads]),
                InboxMessage.status == MessageStatus.RECEIVED.value,
            )
            .order_by(InboxMessage.id)
            .with_for_update()
        )
        .scalars()
        .all()
    )
    now = utcnow()
    systems = presentations.IdentifierSystems.of(runtime.settings)
    mapped: list[tuple[InboxMessage, Presentation, PresentationRecord]] = []
    for row in rows:
        try:
            presentation = to_presentation(runtime, row)
        except (UnprocessableMessage, DecryptionError) as exc:
            row.status, row.status_reason, row.processed_at = MessageStatus.FAILED, str(exc)[:2000], now
            log.warning("message %s failed: %s", row.id, type(exc).__name__)
            continue
        if presentation is None:
            row.status, row.processed_at = MessageStatus.IGNORED, now
            row.status_reason = f"{row.message_type} is not used by the ED flow"
            continue
        record = presentations.new_record(
            cipher=runtime.cipher,
            pseudonyms=runtime.pseudonyms,
            presentation=presentation,
            inbox_message_id=row.id,
            systems=systems,
        )
        mapped.append((row, presentation, record))
    session.add_all(record for _, _, record in mapped)
    session.flush()  # one multi-row insert for the batch's presentations
    case_open_limit = timedelta(seconds=runtime.settings.case_open_limit_s)
    for row, presentation, record in mapped:
        findings = detect(presentation)
        # Info-only findings (e.g. a Kindcheck prompt) join an open case but do not open one themselves.
        if is_flagged(findings) or (findings and open_case_for_encounter(session, record.encounter_ref)):
            record_findings(
                session,
                cipher=runtime.cipher,
                presentation=record,
                findings=findings,
                case_open_limit=case_open_limit,
            )
        if presentation.event is EventType.DISCHARGE:
            on_discharge(session, runtime, record)  # open case without a safe-discharge check: alert
        row.status, row.status_reason, row.processed_at = MessageStatus.PROCESSED, "", now
