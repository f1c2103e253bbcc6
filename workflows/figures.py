"""The pilot figures: what the regional centre needs to judge the Spoedplein, as pure read-only queries.

Every figure carries its definition (`Figure.definition`) so a page, the JSON API and the CSV say the
same thing. A period is half-open, `[start, end)`, and selects cases by the time they were opened (the
flag), ED visits by the first time the gateway saw the encounter, and silent flags by when they were
recorded. Times are minutes; the median is the middle value (mean of the two middle ones for an even
count) and p90 is the nearest-rank 90th percentile (the value at rank ⌈0.9·n⌉ of the sorted list), so a
figure can be checked by hand.

Card feedback lives in the CDS adapter (above this package): the caller passes the ids of cases whose
every card was overridden and none accepted, and those count as dismissed where the case itself was
never decided. Nothing here returns or reads patient data: only codes, counts, times and ids.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from presentations.models import PresentationRecord
from workflows.models import (
    Case,
    CaseEvent,
    CaseFinding,
    CaseState,
    DischargeCheckRecord,
    EventKind,
    Intake,
    IntakeParty,
    KindcheckRecord,
    SilentFlag,
)

KINDCHECK_RULE_PREFIX = "R-PAR"  # the Haags protocol / Kindcheck prompt


@dataclass(frozen=True)
class Period:
    """`[start, end)`; either side open when None."""

    start: datetime | None = None
    end: datetime | None = None

    def holds(self, moment: datetime | None) -> bool:
        if moment is None:
            return False
        return (self.start is None or moment >= self.start) and (self.end is None or moment < self.end)


@dataclass(frozen=True)
class Duration:
    """A time-to figure: how many cases reached the step, and the median and p90 in minutes."""

    key: str
    title: str
    definition: str
    count: int
    median_minutes: float | None
    p90_minutes: float | None

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "definition": self.definition,
            "count": self.count,
            "median_minutes": self.median_minutes,
            "p90_minutes": self.p90_minutes,
        }


@dataclass(frozen=True)
class Share:
    """A fraction: `numerator / denominator` (None when nothing was counted)."""

    key: str
    title: str
    definition: str
    numerator: int
    denominator: int
    per: int = 1  # 1 for a share, 1000 for "per 1,000 ED visits"

    @property
    def value(self) -> float | None:
        if self.denominator == 0:
            return None
        return round(self.numerator * self.per / self.denominator, 4)

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "definition": self.definition,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "per": self.per,
            "value": self.value,
        }


@dataclass(frozen=True)
class RuleFigures:
    """One rule's flags and what became of them."""

    rule_id: str
    flagged: int
    confirmed: int
    dismissed: int  # by the physician on the case, or every card of an undecided case overridden
    dismissed_by_card: int  # the part of `dismissed` that only the card feedback says
    undecided: int

    @property
    def decided(self) -> int:
        return self.confirmed + self.dismissed

    @property
    def dismiss_rate(self) -> float | None:
        return round(self.dismissed / self.decided, 4) if self.decided else None

    @property
    def ppv(self) -> float | None:
        return round(self.confirmed / self.decided, 4) if self.decided else None

    def as_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "flagged": self.flagged,
            "confirmed": self.confirmed,
            "dismissed": self.dismissed,
            "dismissed_by_card": self.dismissed_by_card,
            "undecided": self.undecided,
            "dismiss_rate": self.dismiss_rate,
            "ppv": self.ppv,
        }


@dataclass(frozen=True)
class CaseRow:
    """One case, anonymised, for the CSV: codes, coarse dates and minutes only."""

    opened_at: datetime
    state: str
    highest_severity: str
    rule_ids: tuple[str, ...]
    minutes_to_flag: float | None
    minutes_to_confirmation: float | None
    minutes_to_all_acknowledged: float | None
    minutes_to_intake: float | None
    discharge_check_completed: bool
    kindcheck_prompted: bool
    kindcheck_answered: bool


@dataclass(frozen=True)
class SilentFigures:
    """What detection would have flagged in silent mode: no card, no case, only this count."""

    flags: int
    encounters: int
    per_1000_visits: Share
    by_rule: dict[str, int]
    rows: tuple[tuple[datetime, str, str], ...]  # (recorded at, rule id, severity)

    def as_json(self) -> dict[str, Any]:
        return {
            "definition": SILENT_DEFINITION,
            "flags": self.flags,
            "encounters": self.encounters,
            "per_1000_visits": self.per_1000_visits.as_json(),
            "by_rule": self.by_rule,
        }


@dataclass(frozen=True)
class Figures:
    period: Period
    ed_visits: int
    cases: int
    durations: tuple[Duration, ...]
    shares: tuple[Share, ...]
    rules: tuple[RuleFigures, ...]
    silent: SilentFigures
    rows: tuple[CaseRow, ...] = field(repr=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "period": {
                "from": self.period.start.isoformat() if self.period.start else None,
                "to": self.period.end.isoformat() if self.period.end else None,
                "definition": PERIOD_DEFINITION,
            },
            "ed_visits": {"value": self.ed_visits, "definition": VISITS_DEFINITION},
            "cases": {"value": self.cases, "definition": CASES_DEFINITION},
            "durations": [d.as_json() for d in self.durations],
            "shares": [s.as_json() for s in self.shares],
            "rules": {
                "definition": RULES_DEFINITION,
                "items": [r.as_json() for r in self.rules],
            },
            "silent": self.silent.as_json(),
        }


PERIOD_DEFINITION = (
    "Half-open [from, to) in UTC. Cases count by the time they were opened (flagged), ED visits by the "
    "first time the gateway saw the encounter, silent flags by when they were recorded."
)
VISITS_DEFINITION = "Distinct ED encounters the gateway received a presentation for in the period."
CASES_DEFINITION = "Cases opened (flagged) in the period, whatever became of them."
_TIME_BASIS = (
    " Arrival is the earliest arrival time of the encounter's presentations (their receipt time when "
    "the message had none). Median and nearest-rank p90 over the cases that reached the step, in minutes."
)
DURATION_DEFINITIONS = {
    "arrival_to_flag": ("Arrival to flag", "From arrival to the case being opened." + _TIME_BASIS),
    "arrival_to_confirmation": (
        "Arrival to confirmation",
        "From arrival to the physician confirming the flag (first confirmation)." + _TIME_BASIS,
    ),
    "arrival_to_all_acknowledged": (
        "Arrival to all acknowledgements",
        "From arrival to the last acknowledgement, for cases where every party asked to the joint intake "
        "(not stood down) acknowledged." + _TIME_BASIS,
    ),
    "arrival_to_intake": (
        "Arrival to intake",
        "From arrival to the joint intake being recorded as done." + _TIME_BASIS,
    ),
}
SHARE_DEFINITIONS = {
    "safe_discharge_checked": (
        "Closed cases with a safe-discharge check",
        "Of the cases opened in the period that are now closed, the share whose safe-discharge checklist "
        "('Kunt u veilig naar huis?') was completed.",
        1,
    ),
    "flags_per_1000_visits": (
        "Flags per 1,000 ED visits",
        "Cases opened in the period per 1,000 ED visits in the period.",
        1000,
    ),
    "dismiss_rate": (
        "Dismiss rate (all rules)",
        "Of the decided cases (confirmed or dismissed), the share dismissed. A case counts as dismissed "
        "when the physician dismissed it and never confirmed it, or when it was never decided and every "
        "CDS card for it was overridden with none accepted.",
        1,
    ),
    "kindcheck_answered": (
        "Kindcheck prompts answered",
        "Of the cases with a Kindcheck prompt (a finding of rule R-PAR*), the share where the Kindcheck "
        "question (children under 18 at home?) was answered and recorded.",
        1,
    ),
}
RULES_DEFINITION = (
    "Per rule id, the cases opened in the period with a finding of that rule. Confirmed: the physician "
    "confirmed the case. Dismissed: see the dismiss rate. PPV = confirmed / (confirmed + dismissed); "
    "dismiss rate = dismissed / (confirmed + dismissed); undecided cases are in neither."
)
SILENT_DEFINITION = (
    "Silent mode (SPOEDPLEIN_SILENT_MODE): detection ran and would have flagged, but no card was shown "
    "and no case opened. One count per encounter and rule; per 1,000 ED visits in the same period."
)


def median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def p90(values: Sequence[float]) -> float | None:
    """Nearest rank: the value at rank ⌈0.9·n⌉ (1-based) of the sorted values."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(1, math.ceil(0.9 * len(ordered))) - 1], 2)


def _minutes(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds() / 60.0, 2)


def _arrivals(session: Session, encounter_refs: Iterable[str]) -> dict[str, datetime]:
    """Each encounter's arrival: the earliest arrival time of its presentations, or their receipt time."""
    refs = list(set(encounter_refs))
    arrivals: dict[str, datetime] = {}
    for start in range(0, len(refs), 500):  # bounded IN lists
        for ref, arrival_at, created_at in session.execute(
            select(
                PresentationRecord.encounter_ref, PresentationRecord.arrival_at, PresentationRecord.created_at
            ).where(PresentationRecord.encounter_ref.in_(refs[start : start + 500]))
        ):
            moment = arrival_at or created_at
            if ref not in arrivals or moment < arrivals[ref]:
                arrivals[ref] = moment
    return arrivals


def ed_visits(session: Session, period: Period) -> int:
    """Distinct encounters whose first presentation falls in the period."""
    first_seen = (
        select(PresentationRecord.encounter_ref, func.min(PresentationRecord.created_at).label("first"))
        .group_by(PresentationRecord.encounter_ref)
        .subquery()
    )
    query = select(func.count()).select_from(first_seen)
    if period.start is not None:
        query = query.where(first_seen.c.first >= period.start)
    if period.end is not None:
        query = query.where(first_seen.c.first < period.end)
    return int(session.execute(query).scalar_one())


def _cases(session: Session, period: Period) -> list[Case]:
    query = select(Case).order_by(Case.id)
    if period.start is not None:
        query = query.where(Case.opened_at >= period.start)
    if period.end is not None:
        query = query.where(Case.opened_at < period.end)
    return list(session.execute(query).scalars())


def compute(
    session: Session, period: Period, *, card_dismissed_case_ids: frozenset[int] = frozenset()
) -> Figures:
    """Every pilot figure for the period (see the module docstring and each definition)."""
    cases = _cases(session, period)
    ids = [c.id for c in cases]
    arrivals = _arrivals(session, (c.encounter_ref for c in cases))

    rules_of: dict[int, set[str]] = defaultdict(set)
    first_confirm: dict[int, datetime] = {}
    dismissed_ever: set[int] = set()
    parties: dict[int, list[IntakeParty]] = defaultdict(list)
    intake_done: dict[int, datetime] = {}
    checked: set[int] = set()
    kindcheck_answered: set[int] = set()
    if ids:
        for case_id, rule_id in session.execute(
            select(CaseFinding.case_id, CaseFinding.rule_id).where(CaseFinding.case_id.in_(ids))
        ):
            rules_of[case_id].add(rule_id)
        for case_id, action, at in session.execute(
            select(CaseEvent.case_id, CaseEvent.action, CaseEvent.at)
            .where(
                CaseEvent.case_id.in_(ids),
                CaseEvent.kind == EventKind.TRANSITION.value,
                CaseEvent.action.in_(["confirm", "dismiss"]),
            )
            .order_by(CaseEvent.id)
        ):
            if action == "confirm":
                first_confirm.setdefault(case_id, at)
            else:
                dismissed_ever.add(case_id)
        for party in session.execute(select(IntakeParty).where(IntakeParty.case_id.in_(ids))).scalars():
            parties[party.case_id].append(party)
        for case_id, done_at in session.execute(
            select(Intake.case_id, Intake.done_at).where(Intake.case_id.in_(ids), Intake.done_at.is_not(None))
        ):
            if done_at is not None:
                intake_done[case_id] = done_at
        checked = set(
            session.execute(
                select(DischargeCheckRecord.case_id).where(
                    DischargeCheckRecord.case_id.in_(ids), DischargeCheckRecord.completed.is_(True)
                )
            ).scalars()
        )
        kindcheck_answered = set(
            session.execute(select(KindcheckRecord.case_id).where(KindcheckRecord.case_id.in_(ids))).scalars()
        )

    rows: list[CaseRow] = []
    series: dict[str, list[float]] = {key: [] for key in DURATION_DEFINITIONS}
    for case in cases:
        arrival = arrivals.get(case.encounter_ref)
        asked = [p for p in parties[case.id] if p.status != "cancelled"]
        all_acked = (
            max(p.acknowledged_at for p in asked if p.acknowledged_at is not None)
            if asked and all(p.acknowledged_at is not None for p in asked)
            else None
        )
        kindcheck_prompted = any(r.startswith(KINDCHECK_RULE_PREFIX) for r in rules_of[case.id])
        row = CaseRow(
            opened_at=case.opened_at,
            state=case.state,
            highest_severity=case.highest_severity,
            rule_ids=tuple(sorted(rules_of[case.id])),
            minutes_to_flag=_minutes(arrival, case.opened_at),
            minutes_to_confirmation=_minutes(arrival, first_confirm.get(case.id)),
            minutes_to_all_acknowledged=_minutes(arrival, all_acked),
            minutes_to_intake=_minutes(arrival, intake_done.get(case.id)),
            discharge_check_completed=case.id in checked,
            kindcheck_prompted=kindcheck_prompted,
            kindcheck_answered=kindcheck_prompted and case.id in kindcheck_answered,
        )
        rows.append(row)
        for key, value in (
            ("arrival_to_flag", row.minutes_to_flag),
            ("arrival_to_confirmation", row.minutes_to_confirmation),
            ("arrival_to_all_acknowledged", row.minutes_to_all_acknowledged),
            ("arrival_to_intake", row.minutes_to_intake),
        ):
            if value is not None:
                series[key].append(value)

    def outcome(case: Case) -> str:
        if case.id in first_confirm:
            return "confirmed"
        if case.id in dismissed_ever or case.id in card_dismissed_case_ids:
            return "dismissed"
        return "undecided"

    outcomes = {case.id: outcome(case) for case in cases}
    by_card_only = {c.id for c in cases if outcomes[c.id] == "dismissed" and c.id not in dismissed_ever}
    rule_counts: dict[str, Counter[str]] = defaultdict(Counter)
    for case in cases:
        for rule_id in rules_of[case.id]:
            rule_counts[rule_id]["flagged"] += 1
            rule_counts[rule_id][outcomes[case.id]] += 1
            if case.id in by_card_only:
                rule_counts[rule_id]["by_card"] += 1
    rules = tuple(
        RuleFigures(
            rule_id=rule_id,
            flagged=counts["flagged"],
            confirmed=counts["confirmed"],
            dismissed=counts["dismissed"],
            dismissed_by_card=counts["by_card"],
            undecided=counts["undecided"],
        )
        for rule_id, counts in sorted(rule_counts.items())
    )

    visits = ed_visits(session, period)
    closed = [c for c in cases if c.state == CaseState.CLOSED]
    decided = [c for c in cases if outcomes[c.id] != "undecided"]
    prompted = [r for r in rows if r.kindcheck_prompted]
    share_values = {
        "safe_discharge_checked": (sum(1 for c in closed if c.id in checked), len(closed)),
        "flags_per_1000_visits": (len(cases), visits),
        "dismiss_rate": (sum(1 for c in decided if outcomes[c.id] == "dismissed"), len(decided)),
        "kindcheck_answered": (sum(1 for r in prompted if r.kindcheck_answered), len(prompted)),
    }
    shares = tuple(
        Share(key, title, definition, *share_values[key], per=per)
        for key, (title, definition, per) in SHARE_DEFINITIONS.items()
    )
    durations = tuple(
        Duration(key, title, definition, len(series[key]), median(series[key]), p90(series[key]))
        for key, (title, definition) in DURATION_DEFINITIONS.items()
    )
    return Figures(
        period=period,
        ed_visits=visits,
        cases=len(cases),
        durations=durations,
        shares=shares,
        rules=rules,
        silent=silent_figures(session, period, visits),
        rows=tuple(rows),
    )


def silent_figures(session: Session, period: Period, visits: int) -> SilentFigures:
    query = select(SilentFlag.recorded_at, SilentFlag.rule_id, SilentFlag.severity, SilentFlag.encounter_ref)
    if period.start is not None:
        query = query.where(SilentFlag.recorded_at >= period.start)
    if period.end is not None:
        query = query.where(SilentFlag.recorded_at < period.end)
    found = session.execute(query.order_by(SilentFlag.id)).all()
    encounters = {ref for _, _, _, ref in found}
    return SilentFigures(
        flags=len(found),
        encounters=len(encounters),
        per_1000_visits=Share(
            "silent_flags_per_1000_visits",
            "Silent flags per 1,000 ED visits",
            "Encounters silent mode would have flagged per 1,000 ED visits in the period.",
            len(encounters),
            visits,
            per=1000,
        ),
        by_rule=dict(sorted(Counter(rule for _, rule, _, _ in found).items())),
        rows=tuple((at, rule, severity) for at, rule, severity, _ in found),
    )
