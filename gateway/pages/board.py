"""The coordinator's board (`/board`), the case list (`/cases`) and `/`, which leads ED staff to the board.

The board lists open cases with the time since arrival and since each step, overdue timers and discharges
without a safe-discharge check highlighted, and per party how far its page got and whether it answered.
It updates live over server-sent events (`/board/events`): each event carries the change feed's cursor
as its id (`workflows.board.cursor`), so a browser that reconnects sends `Last-Event-ID` and gets the
current board at once if anything moved while it was away; a periodic full refresh (`/board/table`)
catches what time alone changes (a timer falling due). The feed is read from the database, so a change
the worker commits reaches every HTTP process and every open board.

Failure modes: no session → the login page (the event stream answers 401, and the page's script shows
"niet meer ingelogd"); an unknown state or period filter → 422 with the message next to the field.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from core.deps import RuntimeDep
from core.runtime import Runtime
from gateway.pages import board_access
from gateway.pages.case_common import current_session
from gateway.pages.labels import SEVERITY_NL, STATE_NL
from identity.deps import COOKIE_NAME, principal_from_cookie
from store.db import utcnow
from workflows import board as board_data
from workflows.models import OPEN_STATES, Case, CaseState

router = APIRouter(tags=["pages"], include_in_schema=False)

POLL_SECONDS = 1.0  # how often an open event stream looks at the change feed (two indexed max() queries)
REFRESH_SECONDS = 60  # the page's periodic full refresh
PING_SECONDS = 15

PERIODS: dict[str, tuple[str, timedelta | None]] = {
    "24u": ("laatste 24 uur", timedelta(hours=24)),
    "7d": ("laatste 7 dagen", timedelta(days=7)),
    "30d": ("laatste 30 dagen", timedelta(days=30)),
    "alle": ("alles", None),
}
STATE_FILTERS: dict[str, str] = {"open": "alle open casussen", **{s.value: STATE_NL[s] for s in CaseState}}

ACTION_NL = {
    "confirm": "bevestigd",
    "dismiss": "afgewezen",
    "reopen": "heropend",
    "request_intake": "intake aangevraagd",
    "schedule_intake": "intake gepland",
    "complete_intake": "intake gedaan",
    "cancel_intake": "intake geannuleerd",
    "complete_discharge_check": "ontslagcheck gedaan",
    "close": "gesloten",
}
TIMER_NL = {
    "ack_deadline": "geen bevestiging van {party}",
    "intake_overdue": "intake over tijd",
    "case_open_too_long": "casus te lang open",
}
PARTY_NL = {
    "forensic": "forensisch arts",
    "veilig_thuis": "Veilig Thuis",
    "police": "politie",
    "csg": "Centrum Seksueel Geweld",
}
PARTY_STATUS_NL = {"requested": "gevraagd", "acknowledged": "bevestigd", "cancelled": "afgemeld"}
PAGE_STATE_NL = {
    "active": "oproep loopt",
    "acknowledged": "oproep bevestigd",
    "declined": "oproep geweigerd",
    "exhausted": "niemand bereikt",
    "done": "verstuurd",
    "cancelled": "oproep ingetrokken",
    "suppressed": "niet opgeroepen (geen grondslag)",
    "expired": "verlopen",
}
DELIVERY_NL = {
    "delivered": "afgeleverd",
    "accepted": "verzonden",
    "sent": "verzonden",
    "sending": "wordt verzonden",
    "queued": "in de wachtrij",
    "retry": "opnieuw proberen",
    "failed": "mislukt",
    "undelivered": "niet afgeleverd",
    "cancelled": "ingetrokken",
}


@dataclass(frozen=True)
class Filter:
    state: str
    period: str

    @property
    def states(self) -> frozenset[str]:
        if self.state == "open":
            return frozenset(s.value for s in OPEN_STATES)
        return frozenset({self.state})

    def since(self, now: datetime) -> datetime | None:
        span = PERIODS[self.period][1]
        return None if span is None else now - span

    @property
    def query(self) -> str:
        return urlencode({"state": self.state, "period": self.period})


def _filter(state: str, period: str) -> tuple[Filter, dict[str, str]]:
    errors: dict[str, str] = {}
    if state not in STATE_FILTERS:
        errors["state"] = "Kies een status uit de lijst."
        state = "open"
    if period not in PERIODS:
        errors["period"] = "Kies een periode uit de lijst."
        period = "7d"
    return Filter(state, period), errors


def since_text(start: datetime | None, now: datetime) -> str:
    """How long ago, the way a coordinator says it: "12 min", "3 u 05 min", "2 d 4 u"."""
    if start is None:
        return "—"
    minutes = max(0, int((now - start).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} u {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} u"


def _labels() -> dict[str, Any]:
    return {
        "state": STATE_NL,
        "severity": SEVERITY_NL,
        "action": ACTION_NL,
        "party": PARTY_NL,
        "party_status": PARTY_STATUS_NL,
        "page_state": PAGE_STATE_NL,
        "delivery": DELIVERY_NL,
    }


def overdue_text(item: board_data.Overdue) -> str:
    return TIMER_NL.get(item.kind, item.kind).format(party=PARTY_NL.get(item.party, item.party))


def _table_context(runtime: Runtime, chosen: Filter) -> dict[str, Any]:
    now = utcnow()
    with runtime.db.read() as session:
        cursor = board_data.cursor(session)  # first: a change after it is sent again, never lost
        rows = board_data.rows(session, now=now, states=chosen.states, since=chosen.since(now))
    return {
        "rows": rows,
        "now": now,
        "cursor": cursor,
        "since": since_text,
        "overdue_text": overdue_text,
        "labels": _labels(),
        "filter": chosen,
    }


def render_table(runtime: Runtime, chosen: Filter, changed: list[int] | None = None) -> tuple[str, str]:
    """The board's table as HTML, and the cursor it reflects."""
    context = _table_context(runtime, chosen)
    context["changed"] = set(changed or ())
    html = board_access.templates.get_template("board_table.html").render(**context)
    return html, context["cursor"]


@router.get("/")
def home(request: Request, runtime: RuntimeDep) -> Response:
    viewer = board_access.viewer(request, runtime)
    if isinstance(viewer, Response):
        return RedirectResponse("/login?next=/board", status_code=303, headers=board_access.HEADERS)
    return RedirectResponse("/board", status_code=303, headers=board_access.HEADERS)


StateQuery = Annotated[str, Query(max_length=32)]
PeriodQuery = Annotated[str, Query(max_length=8)]


@router.get("/board")
def board_page(
    request: Request, runtime: RuntimeDep, state: StateQuery = "open", period: PeriodQuery = "7d"
) -> Response:
    viewer = board_access.viewer(request, runtime)
    if isinstance(viewer, Response):
        return viewer
    chosen, errors = _filter(state, period)
    table, cursor = render_table(runtime, chosen)
    return board_access.page(
        request,
        "board.html",
        422 if errors else 200,
        viewer=viewer,
        nav="board",
        table=table,
        cursor=cursor,
        filter=chosen,
        errors=errors,
        states=STATE_FILTERS,
        periods={key: label for key, (label, _) in PERIODS.items()},
        refresh_seconds=REFRESH_SECONDS,
    )


@router.get("/board/table")
def board_table(
    request: Request, runtime: RuntimeDep, state: StateQuery = "open", period: PeriodQuery = "7d"
) -> Response:
    """The table alone, for the page's periodic full refresh; its cursor in the `X-Board-Cursor` header."""
    if current_session(request, runtime) is None:
        return Response(status_code=401, headers=board_access.HEADERS)
    chosen, _ = _filter(state, period)
    table, cursor = render_table(runtime, chosen)
    return HTMLResponse(table, headers={**board_access.HEADERS, "X-Board-Cursor": cursor})


@router.get("/board/events")
async def board_events(
    request: Request,
    runtime: RuntimeDep,
    state: StateQuery = "open",
    period: PeriodQuery = "7d",
    cursor: Annotated[str, Query(max_length=40)] = "",
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=40)] = None,
) -> Response:
    """Server-sent events: `board` events whose data is `{"html": …, "changed": [case ids]}` and whose id
    is the change-feed cursor. The starting point is `Last-Event-ID` (a reconnect), else `cursor` (the
    cursor the page was rendered with), else now; a start behind the feed gets the current board at once."""
    session = current_session(request, runtime)
    if session is None:
        return Response(status_code=401, headers=board_access.HEADERS)
    chosen, _ = _filter(state, period)
    start = board_data.parse_cursor(last_event_id) or board_data.parse_cursor(cursor)

    def position() -> tuple[str, list[int]]:
        with runtime.db.read() as db:
            now_at = board_data.cursor(db)
            moved = board_data.changed_since(db, last) if last is not None and now_at != _text(last) else []
            return now_at, moved

    last = start
    cookie = request.cookies.get(COOKIE_NAME)

    def still_live() -> bool:
        # Watching the board is not activity: the check does not extend the session's idle time.
        return principal_from_cookie(runtime, cookie, session.client, touch=False) is not None

    async def stream() -> AsyncIterator[ServerSentEvent]:
        nonlocal last
        if last is None:
            current, _ = await run_in_threadpool(position)
            last = board_data.parse_cursor(current)
        while True:
            # The stream ends with the session: logged out, revoked, idle or past its absolute limit.
            if not await run_in_threadpool(still_live):
                yield ServerSentEvent(event="expired", data="{}")
                return
            current, moved = await run_in_threadpool(position)
            if last is not None and current != _text(last):
                html, at = await run_in_threadpool(render_table, runtime, chosen, moved)
                yield ServerSentEvent(
                    id=at, event="board", data=json.dumps({"html": html, "changed": moved}), retry=2000
                )
                last = board_data.parse_cursor(at)
            await asyncio.sleep(POLL_SECONDS)

    return EventSourceResponse(
        stream(), ping=PING_SECONDS, headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )


def _text(position: tuple[int, int]) -> str:
    return f"{position[0]}-{position[1]}"


# --- the case list -------------------------------------------------------------------------------------

CASES_PAGE = 100


@router.get("/cases")
def case_list(
    request: Request,
    runtime: RuntimeDep,
    state: StateQuery = "open",
    period: PeriodQuery = "30d",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """Every case (not only the open ones, with `state`), newest first, a hundred a page, each a link."""
    viewer = board_access.viewer(request, runtime)
    if isinstance(viewer, Response):
        return viewer
    chosen, errors = _filter(state, period)
    now = utcnow()
    query = select(Case).where(Case.state.in_(sorted(chosen.states)))
    since = chosen.since(now)
    if since is not None:
        query = query.where(Case.opened_at >= since)
    with runtime.db.read() as db:
        found = list(
            db.execute(
                query.order_by(Case.opened_at.desc(), Case.id.desc())
                .offset((page - 1) * CASES_PAGE)
                .limit(CASES_PAGE + 1)
            ).scalars()
        )
    return board_access.page(
        request,
        "cases.html",
        422 if errors else 200,
        viewer=viewer,
        nav="cases",
        cases=found[:CASES_PAGE],
        more=len(found) > CASES_PAGE,
        page_number=page,
        filter=chosen,
        errors=errors,
        states=STATE_FILTERS,
        periods={key: label for key, (label, _) in PERIODS.items()},
        labels=_labels(),
        since=since_text,
        now=now,
    )
