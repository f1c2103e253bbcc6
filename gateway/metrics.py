"""`GET /metrics`: Prometheus text format, for a token of an admin or integration user (the shared
`SPOEDPLEIN_API_TOKEN` is the bootstrap admin's) or a client in `SPOEDPLEIN_METRICS_ALLOW`.

Two sources, one answer:
- the process counters and histograms of every part (`core/metrics.py`, multiprocess mode: summed from
  the files in `SPOEDPLEIN_METRICS_DIR`): messages per channel and outcome, ACK latency, CDS latency;
- gauges of state read from the database at scrape time, so every replica answers the same and nothing
  is lost when a part restarts: processing lag, outbox depth, messages by channel and status, reused
  control ids, findings (flags) by rule, cases by state, pages by state, page messages by state,
  escalation steps fired, timer lag.

No label carries patient data: channels, states, topics, rule ids and service ids only. A scrape costs a
handful of grouped counts on indexed or small tables (the inbox count is the largest; it is bounded by
retention).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.metrics import multiprocess_dir
from core.runtime import Runtime
from identity.deps import client_of, principal_from_token
from identity.models import Role
from notifications.models import Page, PageAttempt, PageStep, StepState
from store.inbox import InboxMessage, MessageStatus
from store.outbox import OutboxItem
from workflows.models import Case, CaseFinding, CaseTimer

log = logging.getLogger(__name__)
router = APIRouter(tags=["operations"])


def _age_s(now: datetime, oldest: datetime | None) -> float:
    if oldest is None:
        return 0.0
    if oldest.tzinfo is None:  # SQLite hands back naive UTC
        oldest = oldest.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - oldest).total_seconds())


class DatabaseCollector(Collector):
    """Gauges read from the store at scrape time (one short read transaction)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[GaugeMetricFamily]:
        started = time.perf_counter()
        now = self.runtime.clock.now()
        with self.runtime.db.read() as session:
            yield from self._inbox(session, now)
            yield from self._outbox(session)
            yield from self._workflow(session, now)
            yield from self._paging(session, now)
        took = GaugeMetricFamily("spoedplein_metrics_scrape_seconds", "Time the database gauges took")
        took.add_metric([], time.perf_counter() - started)
        yield took

    def _inbox(self, session: Session, now: datetime) -> Iterable[GaugeMetricFamily]:
        stored = GaugeMetricFamily(
            "spoedplein_inbox_messages", "Stored messages by channel and status", labels=["channel", "status"]
        )
        rows = session.execute(
            select(InboxMessage.channel, InboxMessage.status, func.count()).group_by(
                InboxMessage.channel, InboxMessage.status
            )
        )
        for channel, status, count in rows:
            stored.add_metric([channel, status], count)
        reused = GaugeMetricFamily(
            "spoedplein_inbox_control_id_reused",
            "Stored messages whose control id had been used for other content",
            labels=["channel"],
        )
        reused_rows = session.execute(
            select(InboxMessage.channel, func.count())
            .where(InboxMessage.control_id_reused.is_(True))
            .group_by(InboxMessage.channel)
        )
        for channel, count in reused_rows:
            reused.add_metric([channel], count)
        oldest = session.scalar(
            select(func.min(InboxMessage.received_at)).where(
                InboxMessage.status == MessageStatus.RECEIVED.value
            )
        )
        lag = GaugeMetricFamily(
            "spoedplein_processing_lag_seconds", "Age of the oldest stored message not yet processed"
        )
        lag.add_metric([], _age_s(now, oldest))
        # The lowest id is the oldest row (an indexed look-up, no scan): with retention running it stays
        # under SPOEDPLEIN_RETENTION_RAW_MESSAGE_DAYS plus a day, so a higher value says retention stopped.
        first = session.scalar(select(InboxMessage.received_at).order_by(InboxMessage.id).limit(1))
        kept = GaugeMetricFamily(
            "spoedplein_oldest_stored_message_age_seconds",
            "Age of the oldest raw message still stored (retention deletes them after their period)",
        )
        kept.add_metric([], _age_s(now, first))
        return (stored, reused, lag, kept)

    def _outbox(self, session: Session) -> Iterable[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "spoedplein_outbox_depth", "Outbox work not yet done, by topic", labels=["topic"]
        )
        rows = session.execute(
            select(OutboxItem.topic, func.count())
            .where(OutboxItem.done_at.is_(None))
            .group_by(OutboxItem.topic)
        )
        for topic, count in rows:
            depth.add_metric([topic], count)
        return (depth,)

    def _workflow(self, session: Session, now: datetime) -> Iterable[GaugeMetricFamily]:
        cases = GaugeMetricFamily("spoedplein_cases", "Cases by state", labels=["state"])
        for state, count in session.execute(select(Case.state, func.count()).group_by(Case.state)):
            cases.add_metric([state], count)
        findings = GaugeMetricFamily(
            "spoedplein_findings", "Findings (flags) on cases, by rule", labels=["rule"]
        )
        rows = session.execute(select(CaseFinding.rule_id, func.count()).group_by(CaseFinding.rule_id))
        for rule, count in rows:
            findings.add_metric([rule], count)
        oldest_timer = session.scalar(
            select(func.min(CaseTimer.due_at)).where(
                CaseTimer.due_at <= now, CaseTimer.fired_at.is_(None), CaseTimer.cancelled_at.is_(None)
            )
        )
        oldest_step = session.scalar(
            select(func.min(PageStep.due_at)).where(
                PageStep.due_at <= now, PageStep.state == StepState.PENDING.value
            )
        )
        timer_lag = GaugeMetricFamily(
            "spoedplein_timer_lag_seconds",
            "How late the most overdue timer is (0 when none is due), by kind",
            labels=["timer"],
        )
        timer_lag.add_metric(["case"], _age_s(now, oldest_timer))
        timer_lag.add_metric(["page_step"], _age_s(now, oldest_step))
        return (cases, findings, timer_lag)

    def _paging(self, session: Session, now: datetime) -> Iterable[GaugeMetricFamily]:
        pages = GaugeMetricFamily(
            "spoedplein_pages", "Pages by purpose and state", labels=["purpose", "state"]
        )
        rows = session.execute(
            select(Page.purpose, Page.state, func.count()).group_by(Page.purpose, Page.state)
        )
        for purpose, state, count in rows:
            pages.add_metric([purpose, state], count)
        attempts = GaugeMetricFamily(
            "spoedplein_page_messages",
            "Messages of pages (one per person and channel) by channel and delivery state: sent, "
            "delivered, failed …",
            labels=["channel", "state"],
        )
        rows = session.execute(
            select(PageAttempt.channel, PageAttempt.state, func.count()).group_by(
                PageAttempt.channel, PageAttempt.state
            )
        )
        for channel, state, count in rows:
            attempts.add_metric([channel, state], count)
        escalated = GaugeMetricFamily(
            "spoedplein_page_escalations", "Escalation steps fired after the first step of a page"
        )
        escalated.add_metric(
            [],
            session.scalar(
                select(func.count()).where(
                    PageStep.state == StepState.FIRED.value, (PageStep.step_index > 0) | (PageStep.round > 0)
                )
            )
            or 0,
        )
        return (pages, attempts, escalated)


def _allowed_network(runtime: Runtime, host: str) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in runtime.settings.metrics_allow)


def exposition(runtime: Runtime) -> bytes:
    """The process metrics of every part (or of this process) followed by the database gauges."""
    directory = multiprocess_dir()
    if directory:
        processes = CollectorRegistry()
        multiprocess.MultiProcessCollector(processes, path=directory)
        head = generate_latest(processes)
    else:
        head = generate_latest(REGISTRY)
    database = CollectorRegistry(auto_describe=False)
    database.register(DatabaseCollector(runtime))
    try:
        tail = generate_latest(database)
    except Exception as exc:  # the store being down must not hide the process metrics
        log.warning("metrics: database gauges unavailable (%s)", type(exc).__name__)
        tail = b"# database gauges unavailable\n"
    return head + tail


# Who may read metrics with a token: operators and machines, not every clinician's API token.
METRICS_ROLES = frozenset({Role.ADMIN, Role.INTEGRATION})


def _token_may_read(runtime: Runtime, authorization: str) -> bool:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return False
    principal = principal_from_token(runtime, token.strip(), "")
    return principal is not None and principal.role in METRICS_ROLES


@router.get(
    "/metrics",
    summary="Prometheus metrics (an admin or integration token, or a client in SPOEDPLEIN_METRICS_ALLOW)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def metrics(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    if not _allowed_network(runtime, client_of(request)):
        authorization = request.headers.get("authorization", "")
        if not await run_in_threadpool(_token_may_read, runtime, authorization):
            raise HTTPException(
                401,
                detail="an admin or integration token is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
    body: Any = await run_in_threadpool(exposition, runtime)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
