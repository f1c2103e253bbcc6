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
from gateway.pages import board_access, board_texts, i18n  # noqa: F401  (board_texts adds the pages' words)
from gateway.pages.case_common import current_session
from gateway.pages.rendering import translator
from identity.deps import COOKIE_NAME, login_url, principal_from_cookie
from store.db import utcnow
from workflows import board as board_data
from workflows.models import OPEN_STATES, Case, CaseState

router = APIRouter(tags=["pages"], include_in_schema=False)

POLL_SECONDS = 1.0  # how often an open event stream looks at the change feed (two indexed max() queries)
REFRESH_SECONDS = 60  # the page's periodic full refresh
PING_SECONDS = 15

PERIODS: dict[str, timedelta | None] = {
    "24u": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "alle": None,
}
STATE_FILTERS = ("open", *(s.value for s in CaseState))


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
        span = PERIODS[self.period]
        return None if span is None else now - span

    @property
    def query(self) -> str:
        return urlencode({"state": self.state, "period": self.period})


def _filter(state: str, period: str, tr: i18n.Translator) -> tuple[Filter, dict[str, str]]:
    errors: dict[str, str] = {}
    if state not in STATE_FILTERS:
        errors["state"] = tr.t("err_filter_state")
        state = "open"
    if period not in PERIODS:
        errors["period"] = tr.t("err_filter_period")
        period = "7d"
    return Filter(state, period), errors


def filter_options(tr: i18n.Translator) -> dict[str, dict[str, str]]:
    """The choices of the filter form, in the page's language."""
    states = {"open": tr.t("state_open"), **{s.value: tr.label("state", s) for s in CaseState}}
    return {"states": states, "periods": {key: tr.t(f"period_{key}") for key in PERIODS}}


def since_text(start: datetime | None, now: datetime, tr: i18n.Translator) -> str:
    """How long ago, the way a coordinator says it: "12 min", "3 u 05 min", "2 d 4 u"."""
    if start is None:
        return "—"
    minutes = max(0, int((now - start).total_seconds() // 60))
    if minutes < 60:
        return tr.t("ago_minutes", m=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return tr.t("ago_hours", h=hours, m=f"{minutes:02d}")
    days, hours = divmod(hours, 24)
    return tr.t("ago_days", d=days, h=hours)


def overdue_text(item: board_data.Overdue, tr: i18n.Translator) -> str:
    timer = tr.label("timer", item.kind)
    return tr.t("overdue_party", timer=timer, party=tr.label("party", item.party)) if item.party else timer


def _table_context(runtime: Runtime, chosen: Filter, tr: i18n.Translator) -> dict[str, Any]:
    now = utcnow()
    with runtime.db.read() as session:
        cursor = board_data.cursor(session)  # first: a change after it is sent again, never lost
        rows = board_data.rows(session, now=now, states=chosen.states, since=chosen.since(now))
    return {
        "rows": rows,
        "now": now,
        "cursor": cursor,
        "since": lambda start: since_text(start, now, tr),
        "overdue_text": lambda item: overdue_text(item, tr),
        "t": tr.t,
        "label": tr.label,
        "filter": chosen,
    }


def render_table(
    runtime: Runtime, chosen: Filter, tr: i18n.Translator, changed: list[int] | None = None
) -> tuple[str, str]:
    """The board's table as HTML in the viewer's language, and the cursor it reflects."""
    context = _table_context(runtime, chosen, tr)
    context["changed"] = set(changed or ())
    html = board_access.templates.get_template("board_table.html").render(**context)
    return html, context["cursor"]


@router.get("/")
def home(request: Request, runtime: RuntimeDep) -> Response:
    """ED staff start at the board; anyone else (a paged party) is told to use the link in their page."""
    viewer = board_access.viewer(request, runtime)
    if isinstance(viewer, Response):
        return RedirectResponse(login_url("/board"), status_code=303, headers=board_access.HEADERS)
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
    tr = translator(request)
    chosen, errors = _filter(state, period, tr)
    table, cursor = render_table(runtime, chosen, tr)
    return board_access.page(
        request,
        "board.html",
        422 if errors else 200,
        viewer=viewer,
        body_class="wide",
        nav="board",
        table=table,
        cursor=cursor,
        filter=chosen,
        errors=errors,
        options=filter_options(tr),
        refresh_seconds=REFRESH_SECONDS,
    )


@router.get("/board/table")
def board_table(
    request: Request, runtime: RuntimeDep, state: StateQuery = "open", period: PeriodQuery = "7d"
) -> Response:
    """The table alone, for the page's periodic full refresh; its cursor in the `X-Board-Cursor` header."""
    refused = board_access.refusal(current_session(request, runtime))
    if refused is not None:
        return refused
    tr = translator(request)
    chosen, _ = _filter(state, period, tr)
    table, cursor = render_table(runtime, chosen, tr)
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
    refused = board_access.refusal(session)
    if refused is not None or session is None:
        return refused or Response(status_code=401)
    tr = translator(request)
    chosen, _ = _filter(state, period, tr)
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
                html, at = await run_in_threadpool(render_table, runtime, chosen, tr, moved)
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
    tr = translator(request)
    chosen, errors = _filter(state, period, tr)
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
        options=filter_options(tr),
        since=lambda start: since_text(start, now, tr),
    )
