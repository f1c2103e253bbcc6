"""The worker's job for each stored message: map it, keep the `Presentation`, detect, open or update a case.

Registered as the handler of the `inbox.process` outbox topic. It runs inside the transaction that also
marks the outbox row done, and it is idempotent: a message that is no longer `received` is left alone,
so a redelivered task does nothing the second time.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.hl7.errors import HL7Error
from detection.engine import detect
from detection.models import EventType, Presentation
from store import presentations
from store.crypto import DecryptionError
from store.db import utcnow
from store.handlers import handles
from store.inbox import PROCESS_TOPIC, Channel, InboxMessage, MessageStatus, read_raw
from workflows.cases import record_findings
from workflows.discharge import on_discharge

if TYPE_CHECKING:
    from gateway.runtime import Runtime

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
            return bundle_to_presentation(raw, default_zone=runtime.settings.timezone)
        except FhirMappingError as exc:
            raise UnprocessableMessage(str(exc)) from exc
    raise UnprocessableMessage(f"unknown channel {row.channel!r}")


@handles(PROCESS_TOPIC)
def process_message(runtime: Runtime, session: Session, payload: dict[str, Any]) -> None:
    row = session.execute(
        select(InboxMessage).where(InboxMessage.id == payload["message_id"]).with_for_update()
    ).scalar_one_or_none()
    if row is None or row.status != MessageStatus.RECEIVED:
        return  # already handled by an earlier delivery
    try:
        presentation = to_presentation(runtime, row)
    except (UnprocessableMessage, DecryptionError) as exc:
        row.status, row.status_reason = MessageStatus.FAILED, str(exc)[:2000]
        row.processed_at = utcnow()
        log.warning("message %s failed: %s", row.id, type(exc).__name__)
        return
    if presentation is None:
        row.status, row.status_reason = (
            MessageStatus.IGNORED,
            f"{row.message_type} is not used by the ED flow",
        )
        row.processed_at = utcnow()
        return
    record = presentations.save(
        session,
        cipher=runtime.cipher,
        pseudonyms=runtime.pseudonyms,
        presentation=presentation,
        inbox_message_id=row.id,
    )
    record_findings(
        session,
        cipher=runtime.cipher,
        presentation=record,
        findings=detect(presentation),
        case_open_limit=timedelta(seconds=runtime.settings.case_open_limit_s),
    )
    if presentation.event is EventType.DISCHARGE:
        on_discharge(session, runtime, record)  # open case without a safe-discharge check: alert
    row.status, row.status_reason, row.processed_at = MessageStatus.PROCESSED, "", utcnow()
