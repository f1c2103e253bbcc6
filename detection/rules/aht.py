"""R-AHT: PediBIRN-4 for children under 3 with an acute head injury (Hymel, Pediatrics 2014)."""

from __future__ import annotations

from detection.configuration import DetectionConfig
from detection.facts import Facts, Injury
from detection.models import Finding
from detection.rules.base import age_evidence, collect, make_finding

FAMILY = "R-AHT"
HEAD_INJURY_KINDS = ("subdural", "intracranial", "head_injury")


def is_skull_fracture(injury: Injury) -> bool:
    return injury.kind == "fracture" and ("skull" in injury.sites or "parietal" in injury.descriptors)


def is_simple_skull_fracture(injury: Injury) -> bool:
    """Isolated, unilateral, non-diastatic, linear and parietal: the one kind PediBIRN-4 does not count."""
    d = injury.descriptors
    return "linear" in d and "parietal" in d and not ({"bilateral", "complex", "multiple"} & d.keys())


def evaluate(facts: Facts, config: DetectionConfig) -> list[Finding]:
    if facts.age_years is None or facts.age_years >= config.ages.pedibirn_max_years_exclusive:
        return []
    if facts.confirmed_accident:
        return []
    skull = [i for i in facts.injuries if is_skull_fracture(i)]
    head = facts.injuries_of(*HEAD_INJURY_KINDS) + skull
    if not head:
        return []
    out = []
    if facts.has_signal("respiratory_compromise"):
        hits = facts.signals["respiratory_compromise"]
        out.append(
            make_finding(
                facts,
                config,
                "R-AHT-1",
                [*(h.evidence() for h in hits), head[0].evidence(), age_evidence(facts)],
                words=[h.words for h in hits],
            )
        )
    regions = config.site_groups["pedibirn_bruise"]
    bruised = [(b, s) for b in facts.injuries_of("bruise") for s in b.sites if s in regions]
    if bruised:
        out.append(
            make_finding(
                facts,
                config,
                "R-AHT-2",
                [*(b.evidence(s) for b, s in bruised), head[0].evidence()],
                sites=[b.sites[s] for b, s in bruised],
            )
        )
    sdh = [
        i for i in facts.injuries_of("subdural") if {"bilateral", "interhemispheric"} & i.descriptors.keys()
    ]
    if sdh:
        out.append(
            make_finding(facts, config, "R-AHT-3", [i.evidence() for i in sdh], words=[i.words for i in sdh])
        )
    complex_skull = [i for i in skull if not is_simple_skull_fracture(i)]
    if complex_skull:
        out.append(
            make_finding(
                facts,
                config,
                "R-AHT-4",
                [i.evidence() for i in complex_skull],
                words=[i.evidence().text for i in complex_skull],
            )
        )
    return collect(*out)
