"""Measure the detector like a diagnostic test on a labelled set. Pure: cases in, a report out.

Overall: a presentation is *flagged* when a finding reaches `flag_min_severity` (thresholds.yaml);
flagged is compared with the ground truth `maltreatment`. Per family: the family fired or not,
compared with whether the label expects it. Per rule id: how often it fired and on how many truly
maltreated cases (its PPV). Every mis-classified case is listed with what was expected and what fired.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from detection.models import Finding, Severity

SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
CHILD_ABUSE_CATEGORY = "child-physical-abuse"
NEGATION_CATEGORIES = ("negation-trap", "false-friend")


@dataclass(frozen=True)
class Label:
    case_id: str
    maltreatment: bool
    expected_families: frozenset[str]
    category: str = ""
    description: str = ""


@dataclass(frozen=True)
class CaseResult:
    label: Label
    findings: tuple[Finding, ...] = ()
    error: str = ""  # the file could not be read or mapped; counted, never silently dropped

    def fired_families(self) -> frozenset[str]:
        return frozenset(f.family for f in self.findings)

    def flagged(self, min_severity: Severity) -> bool:
        threshold = SEVERITY_RANK[min_severity]
        return any(SEVERITY_RANK[f.severity] >= threshold for f in self.findings)


@dataclass
class Confusion:
    tp: int = 0
    fp: int = 0
    tn: int = 0
    fn: int = 0

    def add(self, predicted: bool, actual: bool) -> None:
        if predicted and actual:
            self.tp += 1
        elif predicted:
            self.fp += 1
        elif actual:
            self.fn += 1
        else:
            self.tn += 1

    @property
    def n(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def sensitivity(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def specificity(self) -> float | None:
        return _ratio(self.tn, self.tn + self.fp)

    @property
    def ppv(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def flags_per_1000(self) -> float | None:
        return _ratio(1000 * (self.tp + self.fp), self.n)


@dataclass
class Miss:
    case_id: str
    category: str
    description: str
    kind: str  # "false negative" / "false positive" / "family missed" / "family extra"
    expected: list[str]
    fired: list[str]


@dataclass
class Report:
    cases: int
    errors: list[tuple[str, str]]
    overall: Confusion
    families: dict[str, Confusion]
    rules: dict[str, tuple[int, int]]  # rule id → (fired, fired on maltreatment)
    categories: dict[str, tuple[int, int]]  # category → (cases, flagged)
    child_abuse: Confusion
    negation_false_positives: int
    negation_cases: int
    misses: list[Miss] = field(default_factory=list)


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else numerator / denominator


def evaluate(results: Iterable[CaseResult], *, min_severity: Severity = Severity.WARNING) -> Report:
    results = list(results)
    ok = [r for r in results if not r.error]
    all_families = sorted({f for r in ok for f in r.label.expected_families | r.fired_families()})
    overall, child = Confusion(), Confusion()
    families = {f: Confusion() for f in all_families}
    rules: Counter[str] = Counter()
    rules_true: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    categories_flagged: Counter[str] = Counter()
    misses: list[Miss] = []
    negation_fp = negation_n = 0
    for r in ok:
        label = r.label
        flagged = r.flagged(min_severity)
        fired = r.fired_families()
        overall.add(flagged, label.maltreatment)
        if label.category == CHILD_ABUSE_CATEGORY:
            child.add(flagged, label.maltreatment)
        if label.category in NEGATION_CATEGORIES:
            negation_n += 1
            negation_fp += bool(r.findings)
        categories[label.category] += 1
        categories_flagged[label.category] += flagged
        for family in all_families:
            families[family].add(family in fired, family in label.expected_families)
        for rule_id in {f.rule_id for f in r.findings}:
            rules[rule_id] += 1
            rules_true[rule_id] += label.maltreatment
        expected, got = sorted(label.expected_families), sorted(f.rule_id for f in r.findings)
        if flagged != label.maltreatment:
            kind = "false positive" if flagged else "false negative"
            misses.append(Miss(label.case_id, label.category, label.description, kind, expected, got))
        elif fired != label.expected_families:
            kind = "family extra" if fired > label.expected_families else "family missed"
            if not (fired >= label.expected_families or fired <= label.expected_families):
                kind = "family differs"
            misses.append(Miss(label.case_id, label.category, label.description, kind, expected, got))
    return Report(
        cases=len(results),
        errors=[(r.label.case_id, r.error) for r in results if r.error],
        overall=overall,
        families=families,
        rules={rid: (rules[rid], rules_true[rid]) for rid in sorted(rules)},
        categories={c: (categories[c], categories_flagged[c]) for c in sorted(categories)},
        child_abuse=child,
        negation_false_positives=negation_fp,
        negation_cases=negation_n,
        misses=misses,
    )


def _fmt(value: float | None) -> str:
    return "   -  " if value is None else f"{value:6.3f}"


def format_report(report: Report, *, title: str = "") -> str:
    """A plain-text report for the terminal (and for a note)."""
    lines: list[str] = []
    if title:
        lines.append(title)
    o = report.overall
    lines.append(f"cases: {report.cases}   unreadable: {len(report.errors)}")
    lines.append("")
    lines.append(f"{'':28} {'sens':>6} {'spec':>6} {'PPV':>6} {'flags/1000':>10}   TP   FP   TN   FN")

    def row(name: str, c: Confusion) -> str:
        flags = "    -" if c.flags_per_1000 is None else f"{c.flags_per_1000:10.1f}"
        return (
            f"{name:28} {_fmt(c.sensitivity)} {_fmt(c.specificity)} {_fmt(c.ppv)} {flags} "
            f"{c.tp:4} {c.fp:4} {c.tn:4} {c.fn:4}"
        )

    lines.append(row("OVERALL (vs maltreatment)", o))
    lines.append(row("child physical abuse", report.child_abuse))
    lines.append("")
    lines.append("per family (fired vs expected by the label):")
    for family, c in report.families.items():
        lines.append(row(f"  {family}", c))
    lines.append("")
    lines.append(f"{'per rule id':28} {'fired':>6} {'on maltreatment':>16} {'PPV':>6}")
    for rule_id, (fired, true) in report.rules.items():
        lines.append(f"  {rule_id:26} {fired:6} {true:16} {_fmt(_ratio(true, fired))}")
    lines.append("")
    lines.append(f"{'per category':28} {'cases':>6} {'flagged':>8}")
    for category, (n, flagged) in report.categories.items():
        lines.append(f"  {category:26} {n:6} {flagged:8}")
    lines.append("")
    lines.append(
        f"negation traps and false friends: {report.negation_false_positives} with any finding "
        f"out of {report.negation_cases}"
    )
    if report.errors:
        lines.append("")
        lines.append("unreadable:")
        lines.extend(f"  {case_id}: {error}" for case_id, error in report.errors)
    if report.misses:
        lines.append("")
        lines.append("mis-classified (id, category, kind, expected families → fired rules):")
        for m in report.misses:
            lines.append(
                f"  {m.case_id} [{m.category}] {m.kind}: {m.description}; "
                f"expected {m.expected or '-'} → fired {m.fired or '-'}"
            )
    return "\n".join(lines)
