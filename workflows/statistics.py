"""Figures the workflow feeds back to detection: how often each rule's flag was dismissed, and why."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflows.models import CaseEvent, CaseFinding, EventKind


def dismissals_by_rule(session: Session) -> dict[tuple[str, str], int]:
    """(rule id, dismiss reason) → how many dismissed flags carried a finding of that rule."""
    rows = session.execute(
        select(CaseFinding.rule_id, CaseEvent.code)
        .join(CaseEvent, CaseEvent.case_id == CaseFinding.case_id)
        .where(CaseEvent.kind == EventKind.TRANSITION, CaseEvent.action == "dismiss")
    ).all()
    return dict(Counter((rule_id, code) for rule_id, code in rows))
