"""CDS Hooks feedback: what the physician did with a card, stored once per card and outcome, and the
per-rule figures it feeds (how often a rule's card was accepted or overridden, and why)."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adapters.fhir.models import CdsCard, CdsFeedback, FeedbackOutcome, json_list
from adapters.fhir.outcome import FhirError, IssueType


class ReasonCoding(BaseModel):
    code: str = Field(min_length=1, max_length=64)
    system: str = ""
    display: str = ""


class OverrideReasonIn(BaseModel):
    reason: ReasonCoding | None = None
    userComment: str | None = Field(default=None, max_length=2000)


class SuggestionRef(BaseModel):
    id: str


class FeedbackItem(BaseModel):
    card: str = Field(min_length=1, max_length=36)
    outcome: FeedbackOutcome
    outcomeTimestamp: datetime
    acceptedSuggestions: list[SuggestionRef] = Field(default_factory=list)
    overrideReason: OverrideReasonIn | None = None


class FeedbackRequest(BaseModel):
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=100)


def record(session: Session, service_id: str, request: FeedbackRequest) -> int:
    """Store each new (card, outcome); returns how many were new. Unknown cards → 404, nothing stored."""
    new = 0
    for index, item in enumerate(request.feedback):
        card = session.get(CdsCard, item.card)
        if card is None or card.service_id != service_id:
            raise FhirError.one(
                404, IssueType.NOT_FOUND, "no such card from this service", f"feedback[{index}].card"
            )
        if item.outcomeTimestamp.tzinfo is None:
            raise FhirError.one(
                400, IssueType.VALUE, "outcomeTimestamp needs a zone", f"feedback[{index}].outcomeTimestamp"
            )
        exists = session.execute(
            select(CdsFeedback.id).where(
                CdsFeedback.card_uuid == item.card, CdsFeedback.outcome == item.outcome
            )
        ).first()
        if exists is not None:
            continue
        reason = item.overrideReason
        comment = reason.userComment if reason else None
        try:
            with session.begin_nested():
                session.add(
                    CdsFeedback(
                        card_uuid=item.card,
                        outcome=item.outcome.value,
                        override_reason=reason.reason.code if reason and reason.reason else "",
                        accepted_suggestions=[s.id for s in item.acceptedSuggestions],
                        user_comment=comment.encode() if comment else None,  # the column encrypts
                        outcome_at=item.outcomeTimestamp,
                    )
                )
            new += 1
        except IntegrityError:
            continue  # the same feedback arrived concurrently
    return new


def rule_statistics(session: Session) -> dict[str, dict[str, Any]]:
    """Per rule id: cards issued, accepted, overridden, and override reasons with their counts."""
    stats: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"cards": 0, "accepted": 0, "overridden": 0, "override_reasons": Counter()}
    )
    rules_of: dict[str, list[str]] = {}
    for uid, rule_ids in session.execute(select(CdsCard.uuid, CdsCard.rule_ids)):
        rules_of[uid] = json_list(rule_ids)
        for rule in rules_of[uid]:
            stats[rule]["cards"] += 1
    for uid, outcome, reason in session.execute(
        select(CdsFeedback.card_uuid, CdsFeedback.outcome, CdsFeedback.override_reason)
    ):
        for rule in rules_of.get(uid, []):
            stats[rule][outcome] += 1
            if outcome == FeedbackOutcome.OVERRIDDEN and reason:
                stats[rule]["override_reasons"][reason] += 1
    return {rule: {**s, "override_reasons": dict(s["override_reasons"])} for rule, s in sorted(stats.items())}
