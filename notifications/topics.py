"""Outbox topics notifications handles, and the calls other domains use to ask for them.

Payloads carry ids and codes only. The request is written in the caller's transaction (transactional
outbox), so a state change and "page this party" commit together or not at all.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from store.outbox import enqueue

PAGE_PARTY = "notify.page_party"
ALERT_COORDINATOR = "notify.alert_coordinator"
SEND_MELDING = "notify.send_melding"
INTAKE_TIME = "notify.intake_time"


class AlertReason(StrEnum):
    DISCHARGED_WITHOUT_CHECK = "discharged_without_check"
    ACK_OVERDUE = "ack_overdue"
    INTAKE_OVERDUE = "intake_overdue"
    CASE_OPEN_TOO_LONG = "case_open_too_long"
    PAGE_UNANSWERED = "page_unanswered"


# Alerts that need the coordinator now; the others can wait for office hours' attention (still paged).
EMERGENCY_ALERTS = frozenset(
    {AlertReason.DISCHARGED_WITHOUT_CHECK, AlertReason.ACK_OVERDUE, AlertReason.PAGE_UNANSWERED}
)


def page_key(case_id: int, party: str, request_round: int) -> str:
    return f"page:{case_id}:{party}:{request_round}"


def request_page(
    session: Session, *, case_id: int, case_reference: str, party: str, request_round: int, reason: str
) -> str:
    """Ask for `party` to be paged for the joint intake of the case; one page per party and round."""
    key = page_key(case_id, party, request_round)
    enqueue(
        session,
        topic=PAGE_PARTY,
        key=key,
        payload={
            "key": key,
            "case_id": case_id,
            "case_reference": case_reference,
            "party": party,
            "round": request_round,
            "reason": reason,
        },
    )
    return key


def request_coordinator_alert(
    session: Session,
    *,
    case_id: int,
    case_reference: str,
    reason: AlertReason,
    key: str,
    event_id: int | None = None,
) -> str:
    """Ask for the Spoedplein coordinator to be alerted; `key` makes a repeat of the same cause a no-op."""
    outbox_key = f"alert:{key}"
    enqueue(
        session,
        topic=ALERT_COORDINATOR,
        key=outbox_key,
        payload={
            "key": outbox_key,
            "case_id": case_id,
            "case_reference": case_reference,
            "reason": reason.value,
            "event_id": event_id,
        },
    )
    return outbox_key


def request_intake_time(
    session: Session, *, case_id: int, case_reference: str, at: datetime, kind: str
) -> str:
    """Send the proposed (`kind="proposed"`) or agreed (`"agreed"`) intake time to everyone who
    acknowledged; a changed time is a new key, so it goes out again."""
    key = f"intake_time:{case_id}:{kind}:{at.isoformat()}"
    enqueue(
        session,
        topic=INTAKE_TIME,
        key=key,
        payload={
            "key": key,
            "case_id": case_id,
            "case_reference": case_reference,
            "at": at.isoformat(),
            "kind": kind,
        },
    )
    return key


def request_melding_delivery(
    session: Session, *, case_id: int, case_reference: str, melding_id: int, revision: int
) -> str:
    key = f"melding:{melding_id}:{revision}"
    enqueue(
        session,
        topic=SEND_MELDING,
        key=key,
        payload={
            "key": key,
            "case_id": case_id,
            "case_reference": case_reference,
            "melding_id": melding_id,
            "revision": revision,
        },
    )
    return key
