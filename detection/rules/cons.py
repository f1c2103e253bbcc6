"""R-CONS: history and consultation signals around a child's injury (NVK, Escape, SPUTOVAMO-R3)."""

from __future__ import annotations

from detection.configuration import DetectionConfig
from detection.facts import Facts, Hit
from detection.models import Evidence, Finding
from detection.rules.base import collect, make_finding

FAMILY = "R-CONS"


def evaluate(facts: Facts, config: DetectionConfig) -> list[Finding]:
    if facts.age_years is None or facts.age_years >= config.ages.child_max_years_exclusive:
        return []
    # History signals are about an injury: "geen verklaring voor de koorts" is not one.
    if not facts.injuries and not facts.has_fall:
        return []
    # A birth injury in the first weeks has its explanation (the birth), like in R-BR, R-SI and R-FX.
    if facts.birth_related and (facts.age_days or 0) <= config.ages.birth_related_max_days:
        return []

    def hits(*names: str) -> list[Hit]:
        return [h for n in names for h in facts.signals.get(n, [])]

    def fire(rule_id: str, found: list[Hit]) -> Finding | None:
        if not found:
            return None
        return make_finding(
            facts, config, rule_id, [h.evidence() for h in found], words=[h.words for h in found]
        )

    out = [
        fire(
            "R-CONS-1",
            hits("no_explanation", "vague_explanation", "changing_explanation", "no_trauma_history"),
        ),
        fire("R-CONS-2", hits("mismatch", "development_mismatch")),
        fire("R-CONS-3", hits("delay")),
        fire("R-CONS-4", hits("interaction")),
        fire("R-CONS-5", hits("earlier_injuries")),
        fire("R-CONS-7", hits("other_child_blamed")),
        fire("R-CONS-8", hits("carer_violence")),
    ]
    repeated = hits("repeated_visits")
    earlier = facts.presentation.earlier_ed_visits
    evidence = [h.evidence() for h in repeated]
    words = [h.words for h in repeated]
    if earlier is not None and earlier >= config.limits.repeated_visits_min:
        evidence.append(Evidence(field="earlier_ed_visits", text=str(earlier)))
        words.append(f"{earlier} earlier ED visits")
    if evidence:
        out.append(make_finding(facts, config, "R-CONS-6", evidence, words=words))
    return collect(*out)
