"""The case timeline: appending events (who, when, what, why) and reading them back decrypted."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from notifications.hooks import PageEvent, PageEventKind
from notifications.hooks import install as install_pager_hooks
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


def add_pager_events(
    session: Session,
    cipher: FieldCipher,
    items: Sequence[PageEvent],
) -> int:
    """Pager events on the timelines of their cases: two reads and one multi-row insert for the whole
    batch; returns how many were written. An event whose `dedupe_key` was written before, or whose case is
    gone, is skipped. They do not bump the case's version: a delivery report arriving while the physician
    edits the case must not turn their change into a conflict."""
    if not items:
        return 0
    keys = [item.dedupe_key for item in items]
    seen = set(session.execute(select(CaseEvent.dedupe_key).where(CaseEvent.dedupe_key.in_(keys))).scalars())
    states = {
        case_id: state
        for case_id, state in session.execute(
            select(Case.id, Case.state).where(Case.id.in_({item.case_id for item in items}))
        )
    }
    rows: list[dict[str, Any]] = []
    for item in items:
        if item.dedupe_key in seen or item.case_id not in states:
            continue
        seen.add(item.dedupe_key)
        detail = item.detail
        rows.append(
            {
                "case_id": item.case_id,
                "at": utcnow(),
                "actor": "spoedplein-pager",
                "kind": EventKind(item.kind.value).value,
                "action": "",
                "from_state": "",
                "to_state": states[item.case_id],
                "severity": (EventSeverity.WARNING if item.warning else EventSeverity.INFO).value,
                "code": item.code,
                "detail": cipher.encrypt(json.dumps(detail, default=str).encode(), EVENT_AAD)
                if detail
                else None,
                "dedupe_key": item.dedupe_key,
            }
        )
    if rows:
        # A Core insert: no ORM objects to build and flush (the pager writes hundreds at once).
        session.execute(insert(CaseEvent), rows)
    return len(rows)


class _PagerHooks:
    """How the pager (notifications, below us) writes to the case: installed on import."""

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
        self.events(session, cipher, [PageEvent(case_id, kind, code, detail, dedupe_key, warning)])

    def events(self, session: Session, cipher: FieldCipher, items: Sequence[PageEvent]) -> None:
        add_pager_events(
            session,
            cipher,
            [
                PageEvent(i.case_id, i.kind, i.code, i.detail, f"pager:{i.dedupe_key}", i.warning)
                for i in items
            ],
        )

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
        from workflows import intake

        intake.acknowledged_by_page(
            session, cipher, case_id=case_id, party=party, earliest_available_at=earliest_at, actor=actor
        )

    def melding_delivered(
        self, session: Session, cipher: FieldCipher, *, case_id: int, reference: str
    ) -> None:
        from workflows import melding

        melding.delivered_by_email(session, cipher, case_id=case_id, reference=reference)


install_pager_hooks(_PagerHooks())


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
