"""Outbox handlers of notifications: record each request durably, after one more disclosure check.

Sending over a channel (pager, SMS, e-mail, the Veilig Thuis portal) is a later step that reads these
rows. Each handler is idempotent on the outbox key: a redelivered or re-run item finds its request row
and adds nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import Party
from consent.service import DisclosureField, decide_disclosure
from notifications.models import NotificationKind, NotificationRequest, RequestStatus
from notifications.topics import ALERT_COORDINATOR, PAGE_PARTY, SEND_MELDING
from store import audit
from store.handlers import handles

log = logging.getLogger(__name__)


def _existing(session: Session, key: str) -> NotificationRequest | None:
    return session.execute(
        select(NotificationRequest).where(NotificationRequest.key == key)
    ).scalar_one_or_none()


def _record(
    session: Session,
    *,
    key: str,
    kind: NotificationKind,
    case_id: int,
    party: str = "",
    reason: str = "",
    status: RequestStatus = RequestStatus.REQUESTED,
    status_reason: str = "",
) -> NotificationRequest:
    existing = _existing(session, key)
    if existing is not None:
        return existing
    row = NotificationRequest(
        key=key,
        kind=kind.value,
        case_id=case_id,
        party=party,
        reason=reason,
        status=status.value,
        status_reason=status_reason,
    )
    session.add(row)
    session.flush()
    return row


@handles(PAGE_PARTY)
def page_party(_runtime: Any, session: Session, payload: dict[str, Any]) -> None:
    """A page carries only the case reference; even that needs a ground for this party, checked now."""
    case_id, party = int(payload["case_id"]), Party(payload["party"])
    key = str(payload["key"])
    if _existing(session, key) is not None:
        return
    decision = decide_disclosure(session, case_id=case_id, party=party, field=DisclosureField.CASE_REFERENCE)
    if not decision.allowed:
        _record(
            session,
            key=key,
            kind=NotificationKind.PAGE_PARTY,
            case_id=case_id,
            party=party.value,
            reason=str(payload.get("reason", "")),
            status=RequestStatus.SUPPRESSED,
            status_reason=decision.reason,
        )
        log.info("page for case %s to %s suppressed: no disclosure ground", case_id, party.value)
        return
    _record(
        session,
        key=key,
        kind=NotificationKind.PAGE_PARTY,
        case_id=case_id,
        party=party.value,
        reason=str(payload.get("reason", "")),
    )
    audit.record(
        session,
        actor="spoedplein",
        action=audit.AuditAction.DISCLOSE,
        resource_type="Case",
        resource_id=case_id,
        client="notifications",
        purpose=f"page {party.value}: case reference ({decision.ground.value if decision.ground else ''})",
    )


@handles(ALERT_COORDINATOR)
def alert_coordinator(_runtime: Any, session: Session, payload: dict[str, Any]) -> None:
    _record(
        session,
        key=str(payload["key"]),
        kind=NotificationKind.ALERT_COORDINATOR,
        case_id=int(payload["case_id"]),
        reason=str(payload["reason"]),
    )


@handles(SEND_MELDING)
def send_melding(_runtime: Any, session: Session, payload: dict[str, Any]) -> None:
    case_id = int(payload["case_id"])
    key = str(payload["key"])
    decision = decide_disclosure(
        session, case_id=case_id, party=Party.VEILIG_THUIS, field=DisclosureField.MELDING
    )
    _record(
        session,
        key=key,
        kind=NotificationKind.SEND_MELDING,
        case_id=case_id,
        party=Party.VEILIG_THUIS.value,
        reason=f"melding revision {payload['revision']}",
        status=RequestStatus.REQUESTED if decision.allowed else RequestStatus.SUPPRESSED,
        status_reason="" if decision.allowed else decision.reason,
    )
