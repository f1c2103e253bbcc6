"""The case timeline: appending events (who, when, what, why) and reading them back decrypted."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from store.crypto import FieldCipher
from store.db import utcnow
from workflows.models import EVENT_AAD, Case, CaseEvent, EventKind, EventSeverity


def touch(case: Case) -> None:
    """Every workflow change bumps the case's version, so a concurrent change on the same version fails."""
    case.updated_at = utcnow()


def add_event(
    session: Session,
    cipher: FieldCipher,
    case: Case,
    *,
    kind: EventKind,
    actor: str,
    action: str = "",
    from_state: str = "",
    to_state: str = "",
    severity: EventSeverity = EventSeverity.INFO,
    code: str = "",
    detail: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> CaseEvent:
    """Append one event; with a `dedupe_key` a second call returns the first event instead."""
    if dedupe_key is not None:
        existing = session.execute(
            select(CaseEvent).where(CaseEvent.dedupe_key == dedupe_key)
        ).scalar_one_or_none()
        if existing is not None:
            return existing
    event = CaseEvent(
        case_id=case.id,
        at=utcnow(),
        actor=actor,
        kind=kind.value,
        action=action,
        from_state=from_state,
        to_state=to_state or case.state,
        severity=severity.value,
        code=code,
        detail=cipher.encrypt(json.dumps(detail, default=str).encode(), EVENT_AAD) if detail else None,
        dedupe_key=dedupe_key,
    )
    session.add(event)
    touch(case)
    session.flush()
    return event


def read_detail(cipher: FieldCipher, event: CaseEvent) -> dict[str, Any]:
    if event.detail is None:
        return {}
    loaded: dict[str, Any] = json.loads(cipher.decrypt(event.detail, EVENT_AAD))
    return loaded


def events(session: Session, case_id: int) -> list[CaseEvent]:
    return list(
        session.execute(
            select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
        ).scalars()
    )
