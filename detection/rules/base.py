"""What every rule family shares: building a Finding from the configured texts and the evidence."""

from __future__ import annotations

from collections.abc import Iterable

from detection.configuration import DetectionConfig, family_of
from detection.facts import Facts
from detection.models import Evidence, Finding


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def make_finding(
    facts: Facts,
    config: DetectionConfig,
    rule_id: str,
    evidence: Iterable[Evidence],
    *,
    sites: Iterable[str] = (),
    words: Iterable[str] = (),
    codes: Iterable[str] = (),
) -> Finding | None:
    """The Finding for `rule_id`, or None when the rule (or its family) is switched off."""
    if not config.rule_active(rule_id):
        return None
    spec = config.rules[rule_id]
    shared = {
        "sites": ", ".join(dict.fromkeys(s for s in sites if s)),
        "words": ", ".join(dict.fromkeys(w for w in words if w)),
        "codes": ", ".join(dict.fromkeys(c for c in codes if c)),
    }
    nl = _Blank(shared, age=facts.age_text("nl"))
    en = _Blank(shared, age=facts.age_text("en"))
    return Finding(
        rule_id=rule_id,
        family=family_of(rule_id),
        severity=spec.severity,
        explanation_nl=spec.explanation_nl.format_map(nl),
        explanation_en=spec.explanation_en.format_map(en),
        evidence=list(evidence),
        source=config.source_of(rule_id),
        next_step_nl=spec.next_step_nl.format_map(nl),
        next_step_en=spec.next_step_en.format_map(en),
    )


def age_evidence(facts: Facts) -> Evidence:
    return Evidence(field="age", text=facts.age_text("en"))


def collect(*findings: Finding | None) -> list[Finding]:
    return [f for f in findings if f is not None]
