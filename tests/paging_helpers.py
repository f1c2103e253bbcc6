"""What the pager did for a case, read from its rows: pages per party, alerts, the melding hand-off."""

from __future__ import annotations

from sqlalchemy import select

from core.runtime import Runtime
from notifications.models import Page, PagePurpose
from workflows.models import CaseEvent, EventKind


def party_pages(runtime: Runtime, case_id: int) -> dict[str, str]:
    """{party: page state} of the case's intake pages (the latest page per party)."""
    with runtime.db.read() as session:
        rows = session.execute(
            select(Page).where(Page.case_id == case_id, Page.purpose == PagePurpose.INTAKE).order_by(Page.id)
        ).scalars()
        return {row.party: row.state for row in rows}


def alert_reasons(runtime: Runtime, case_id: int | None = None) -> list[str]:
    with runtime.db.read() as session:
        query = select(Page.reason).where(Page.purpose == PagePurpose.ALERT).order_by(Page.id)
        if case_id is not None:
            query = query.where(Page.case_id == case_id)
        return list(session.execute(query).scalars())


def alerts(runtime: Runtime) -> list[tuple[int, str]]:
    with runtime.db.read() as session:
        rows = session.execute(
            select(Page.case_id, Page.reason).where(Page.purpose == PagePurpose.ALERT)
        ).all()
        return sorted((int(r.case_id), r.reason) for r in rows)


def melding_hand_off(runtime: Runtime, case_id: int) -> list[str]:
    """The codes of the case's melding-delivery timeline entries (prepared, suppressed, sent …)."""
    with runtime.db.read() as session:
        return list(
            session.execute(
                select(CaseEvent.code)
                .where(CaseEvent.case_id == case_id, CaseEvent.kind == EventKind.MELDING_DELIVERY)
                .order_by(CaseEvent.id)
            ).scalars()
        )
