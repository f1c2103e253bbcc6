"""`/api/messages`: where each received message stands (received, processed, ignored, failed and why).

Only metadata: sender application, control id, type, status, whether the control id was reused. The raw
message is patient data and is not served here. `/api/messages/counts` gives the totals.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel
from sqlalchemy import func, select

from core.deps import ReadSession
from core.paging import Before, Limit, page
from identity.deps import CurrentPrincipalDep
from store.db import get_by_id
from store.inbox import InboxMessage, MessageStatus, count_by_status

router = APIRouter(prefix="/api/messages", tags=["messages"])


class MessageRead(BaseModel):
    id: int
    channel: str
    sender: str
    control_id: str
    message_type: str
    received_at: datetime
    ack_code: str
    status: MessageStatus
    status_reason: str
    processed_at: datetime | None
    resend_count: int
    control_id_reused: bool  # the sender had used this control id for another message before
    needs_review: bool  # a person should look: processed without its free text, or given up on

    @classmethod
    def of(cls, row: InboxMessage) -> MessageRead:
        return cls(
            id=row.id,
            channel=row.channel,
            sender=row.sender,
            control_id=row.control_id,
            message_type=row.message_type,
            received_at=row.received_at,
            ack_code=row.ack_code,
            status=MessageStatus(row.status),
            status_reason=row.status_reason,
            processed_at=row.processed_at,
            resend_count=row.resend_count,
            control_id_reused=row.control_id_reused,
            needs_review=row.needs_review,
        )


class MessageCounts(BaseModel):
    by_status: dict[MessageStatus, int]
    control_id_reused: int  # messages taken in although their sender had used the control id before
    needs_review: int  # messages a person should look at (see their status_reason)
    resends: int  # resends recognised (and answered with the stored ACK) across all messages


@router.get("", response_model=list[MessageRead], summary="Messages, newest first (paged: see `Link`)")
def list_messages(
    request: Request,
    response: Response,
    session: ReadSession,
    _caller: CurrentPrincipalDep,
    status: MessageStatus | None = None,
    control_id_reused: bool | None = None,
    needs_review: bool | None = None,
    limit: Limit = 100,
    before: Before = None,
) -> list[MessageRead]:
    query = select(InboxMessage)
    if status is not None:
        query = query.where(InboxMessage.status == status.value)
    if control_id_reused is not None:
        query = query.where(InboxMessage.control_id_reused == control_id_reused)
    if needs_review is not None:
        query = query.where(InboxMessage.needs_review == needs_review)
    rows: Sequence[InboxMessage] = page(
        session, query, InboxMessage.id, limit=limit, before=before, request=request, response=response
    )
    return [MessageRead.of(row) for row in rows]


@router.get("/counts", response_model=MessageCounts, summary="How many messages stand where")
def message_counts(session: ReadSession, _caller: CurrentPrincipalDep) -> MessageCounts:
    by_status = {MessageStatus(k): v for k, v in count_by_status(session).items()}
    reused = session.scalar(select(func.count()).where(InboxMessage.control_id_reused.is_(True)))
    review = session.scalar(select(func.count()).where(InboxMessage.needs_review.is_(True)))
    resends = session.scalar(select(func.coalesce(func.sum(InboxMessage.resend_count), 0)))
    return MessageCounts(
        by_status=by_status,
        control_id_reused=int(reused or 0),
        needs_review=int(review or 0),
        resends=int(resends or 0),
    )


@router.get("/{message_id}", response_model=MessageRead)
def get_message(message_id: int, session: ReadSession, _caller: CurrentPrincipalDep) -> MessageRead:
    row = get_by_id(session, InboxMessage, message_id)
    if row is None:
        raise HTTPException(404, detail=f"no message {message_id}")
    return MessageRead.of(row)
