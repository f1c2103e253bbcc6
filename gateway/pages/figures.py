"""The pilot figures: the page `/figures` (charts), `GET /api/figures` (JSON) and `GET /api/figures.csv`.

The numbers come from `workflows.figures` (pure queries, each figure with its definition); this module
adds the CDS card feedback (the adapter above workflows owns it), parses the period, draws the charts
and writes the anonymised CSV: codes, counts and minutes, dates coarsened to ISO week and month, no case
reference, no name, BSN, birth date or free text.

Failure modes: a `from`/`to` that is not a date (YYYY-MM-DD) or an ISO date-time, or a `to` before
`from`, is answered 422 naming the parameter (the page shows the message next to the field).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from adapters.fhir.models import CdsCard, CdsFeedback, FeedbackOutcome
from core.deps import RuntimeDep
from gateway.pages import board_access, figures_texts, i18n
from gateway.pages.figures_charts import Bar, columns, hbars
from gateway.pages.rendering import translator
from identity.deps import CurrentPrincipalDep
from workflows import figures as pilot
from workflows.figures import Figures, Period

router = APIRouter(tags=["figures"])
FromQuery = Annotated[str, Query(alias="from", max_length=40)]
_LOCAL = ZoneInfo("Europe/Amsterdam")


# --- the period ----------------------------------------------------------------------------------------


class PeriodError(ValueError):
    def __init__(self, field: str, message: str, *, order: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
        self.order = order  # the dates are fine, but `to` is not after `from`


def _moment(raw: str, field: str, *, end: bool) -> datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        day = None
    if day is not None:
        # A date is a whole day in the hospital's zone; `to` includes its day (the period ends after it).
        start = datetime.combine(day + timedelta(days=1) if end else day, time(0), _LOCAL)
        return start.astimezone(UTC)
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise PeriodError(field, f"{field}: not a date (YYYY-MM-DD) or ISO date-time: {raw[:40]!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_LOCAL)
    return moment.astimezone(UTC)


def parse_period(from_: str, to: str) -> Period:
    """`from` and `to` as dates (local, `to` inclusive) or ISO date-times (half-open); either may be empty."""
    start = _moment(from_, "from", end=False)
    end = _moment(to, "to", end=True)
    if start is not None and end is not None and end <= start:
        raise PeriodError("to", "to: must be after from", order=True)
    return Period(start, end)


# --- the figures with the card feedback ----------------------------------------------------------------


def card_dismissed_case_ids(session: Session) -> frozenset[int]:
    """Cases whose cards were overridden, every one, and none accepted: the physician said no in the EHR."""
    outcomes: dict[int, set[str]] = {}
    for case_id, outcome in session.execute(
        select(CdsCard.case_id, CdsFeedback.outcome).join(CdsFeedback, CdsFeedback.card_uuid == CdsCard.uuid)
    ):
        outcomes.setdefault(case_id, set()).add(outcome)
    return frozenset(
        case_id for case_id, seen in outcomes.items() if seen == {FeedbackOutcome.OVERRIDDEN.value}
    )


def compute(session: Session, period: Period) -> Figures:
    return pilot.compute(session, period, card_dismissed_case_ids=card_dismissed_case_ids(session))


def _period_or_422(from_: str, to: str) -> Period:
    try:
        return parse_period(from_, to)
    except PeriodError as exc:
        raise HTTPException(
            422, detail=[{"loc": ["query", exc.field], "msg": exc.message, "type": "value_error"}]
        ) from None


@router.get("/api/figures", summary="Pilot figures, each with its definition")
def figures_json(
    request: Request,
    runtime: RuntimeDep,
    _caller: CurrentPrincipalDep,
    from_: FromQuery = "",
    to: str = "",
    lang: Annotated[str, Query(pattern="^(nl|en)?$", description="nl: Dutch titles and definitions")] = "",
) -> JSONResponse:
    """Every pilot figure for `[from, to)`: times to flag, confirmation, acknowledgements and intake
    (median, p90), safe-discharge compliance, flags per 1,000 ED visits, dismiss rate and PPV per rule,
    Kindcheck prompts answered, and the silent-mode counts. No patient data. Titles and definitions in
    English, or in Dutch with `lang=nl` (or `Accept-Language: nl` without `lang`)."""
    period = _period_or_422(from_, to)
    with runtime.db.read() as session:
        answer = compute(session, period).as_json()
    # An API client gets English unless it asks: `lang`, or an Accept-Language header that prefers Dutch.
    accept = request.headers.get("accept-language")
    wanted = lang or (i18n.choose(None, None, accept)[0] if accept else "en")
    return JSONResponse(figures_texts.in_dutch(answer) if wanted == "nl" else answer)


CSV_COLUMNS = (
    "row",
    "kind",
    "week",
    "month",
    "state",
    "severity",
    "rule_ids",
    "minutes_arrival_to_flag",
    "minutes_arrival_to_confirmation",
    "minutes_arrival_to_all_acknowledged",
    "minutes_arrival_to_intake",
    "safe_discharge_check_completed",
    "kindcheck_prompted",
    "kindcheck_answered",
)


def _week(moment: datetime) -> str:
    year, week, _ = moment.astimezone(_LOCAL).isocalendar()
    return f"{year}-W{week:02d}"


def _month(moment: datetime) -> str:
    return moment.astimezone(_LOCAL).strftime("%Y-%m")


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def csv_text(figures: Figures) -> str:
    """One line per case and per silent flag, in an order that does not follow the case ids (rows are
    sorted by week, then by what they hold), so a row cannot be matched to a case by its position."""
    lines: list[list[str]] = []
    for row in figures.rows:
        lines.append(
            [
                "case",
                _week(row.opened_at),
                _month(row.opened_at),
                row.state,
                row.highest_severity,
                ";".join(row.rule_ids),
                _cell(row.minutes_to_flag),
                _cell(row.minutes_to_confirmation),
                _cell(row.minutes_to_all_acknowledged),
                _cell(row.minutes_to_intake),
                str(row.discharge_check_completed).lower(),
                str(row.kindcheck_prompted).lower(),
                str(row.kindcheck_answered).lower(),
            ]
        )
    for at, rule_id, severity in figures.silent.rows:
        lines.append(["silent", _week(at), _month(at), "", severity, rule_id, "", "", "", "", "", "", ""])
    lines.sort(key=lambda line: (line[1], line))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for number, line in enumerate(lines, start=1):
        writer.writerow([str(number), *line])
    return out.getvalue()


@router.get("/api/figures.csv", summary="Pilot figures per case, anonymised (CSV)")
def figures_csv(
    runtime: RuntimeDep, _caller: CurrentPrincipalDep, from_: FromQuery = "", to: str = ""
) -> Response:
    """Per case and per silent flag: codes, minutes and the ISO week and month. No case reference, name,
    BSN, birth date or free text."""
    period = _period_or_422(from_, to)
    with runtime.db.read() as session:
        text = csv_text(compute(session, period))
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="spoedplein-figures.csv"'},
    )


# --- the page ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShareView:
    key: str
    title: str
    definition: str
    numerator: int
    denominator: int
    shown: str


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.0f}%"


def _weeks(figures: Figures) -> tuple[list[str], list[int], list[int]]:
    cases = Counter(_week(r.opened_at) for r in figures.rows)
    silent = Counter(_week(at) for at, _, _ in figures.silent.rows)
    weeks = sorted(set(cases) | set(silent))
    return weeks, [cases[w] for w in weeks], [silent[w] for w in weeks]


def page_context(figures: Figures, tr: i18n.Translator) -> dict[str, Any]:
    """What the figures template shows: the charts (SVG markup) and the same numbers as tables."""

    def minutes(value: float | None) -> str:
        return "—" if value is None else tr.t("minutes_value", value=f"{value:g}")

    durations = figures.durations
    duration_chart = hbars(
        chart_id="chart-durations",
        title=tr.t("chart_times"),
        description=tr.t("chart_times_desc"),
        series=(tr.t("series_median"), tr.t("series_p90")),
        bars=[
            Bar(
                tr.t(f"fig_{d.key}"),
                (d.median_minutes, d.p90_minutes),
                (minutes(d.median_minutes), minutes(d.p90_minutes)),
            )
            for d in durations
        ],
    )
    shares = [
        ShareView(
            s.key,
            tr.t(f"fig_{s.key}"),
            tr.t(f"def_{s.key}"),
            s.numerator,
            s.denominator,
            ("—" if s.value is None else f"{s.value:g}") if s.per != 1 else _percent(s.value),
        )
        for s in figures.shares
    ]
    percent_shares = [s for s in figures.shares if s.per == 1]
    share_chart = hbars(
        chart_id="chart-shares",
        title=tr.t("chart_shares"),
        description=tr.t("chart_shares_desc"),
        series=(tr.t("series_percent"),),
        bars=[
            Bar(tr.t(f"fig_{s.key}"), (None if s.value is None else s.value * 100,), (_percent(s.value),))
            for s in percent_shares
        ],
        maximum=100.0,
    )
    rule_chart = hbars(
        chart_id="chart-rules",
        title=tr.t("chart_rules"),
        description=tr.t("chart_rules_desc"),
        series=(tr.t("series_ppv"), tr.t("series_dismissed")),
        bars=[
            Bar(
                r.rule_id,
                (
                    None if r.ppv is None else r.ppv * 100,
                    None if r.dismiss_rate is None else r.dismiss_rate * 100,
                ),
                (_percent(r.ppv), _percent(r.dismiss_rate)),
            )
            for r in figures.rules
        ],
        maximum=100.0,
    )
    weeks, case_counts, silent_counts = _weeks(figures)
    week_chart = columns(
        chart_id="chart-weeks",
        title=tr.t("chart_weeks"),
        description=tr.t("chart_weeks_desc"),
        series=(tr.t("series_cases"), tr.t("series_silent")),
        labels=weeks,
        values=(case_counts, silent_counts),
    )
    per_1000 = figures.silent.per_1000_visits.value
    return {
        "figures": figures,
        "durations": durations,
        "shares": shares,
        "minutes": minutes,
        "percent": _percent,
        "charts": {
            "durations": duration_chart,
            "shares": share_chart,
            "rules": rule_chart,
            "weeks": week_chart,
        },
        "silent_per_1000": "—" if per_1000 is None else f"{per_1000:g}",
    }


@router.get("/figures", include_in_schema=False)
def figures_page(request: Request, runtime: RuntimeDep, from_: FromQuery = "", to: str = "") -> Response:
    viewer = board_access.viewer(request, runtime)
    if isinstance(viewer, Response):
        return viewer
    raw_from = from_
    tr = translator(request)
    errors: dict[str, str] = {}
    try:
        period = parse_period(raw_from, to)
    except PeriodError as exc:
        errors[exc.field] = tr.t("err_figures_order" if exc.order else "err_figures_date")
        period = Period()
    with runtime.db.read() as session:
        context = page_context(compute(session, period), tr)
    return board_access.page(
        request,
        "figures.html",
        422 if errors else 200,
        viewer=viewer,
        body_class="wide",
        nav="figures",
        values={"from": raw_from, "to": to},
        errors=errors,
        **context,
    )
