"""R-SI: sentinel injuries in a pre-cruising infant (Sheets, Pediatrics 2013)."""

from __future__ import annotations

from detection.configuration import DetectionConfig
from detection.facts import Facts
from detection.models import Evidence, Finding
from detection.rules.base import age_evidence, collect, make_finding

FAMILY = "R-SI"


def is_pre_cruising(facts: Facts, config: DetectionConfig) -> bool:
    months = facts.age_months
    if months is None:
        return False
    ages = config.ages
    if months < ages.sentinel_max_months_exclusive:
        return True
    return facts.has_signal("non_mobile") and months < ages.sentinel_non_mobile_max_months_exclusive


def evaluate(facts: Facts, config: DetectionConfig) -> list[Finding]:
    if not is_pre_cruising(facts, config) or facts.confirmed_accident:
        return []
    if facts.birth_related and (facts.age_days or 0) <= config.ages.birth_related_max_days:
        return []
    mobility: list[Evidence] = [h.evidence() for h in facts.signals.get("non_mobile", [])]
    base = [age_evidence(facts), *mobility]
    out = []
    bruises = [] if facts.has_mechanism("skin_mimic") else facts.injuries_of("bruise")  # as in R-BR
    if bruises:
        out.append(
            make_finding(
                facts,
                config,
                "R-SI-1",
                [*(b.evidence() for b in bruises), *base],
                sites=[w for b in bruises for w in b.sites.values()] or [b.words for b in bruises],
            )
        )
    intraoral_sites = config.site_groups["intraoral"]
    oral = [i for i in facts.injuries_of("intraoral", "bruise", "other") if intraoral_sites & i.sites.keys()]
    oral = [i for i in oral if i.kind == "intraoral" or "frenulum" in i.sites]
    if oral:
        out.append(make_finding(facts, config, "R-SI-2", [*(i.evidence() for i in oral), *base]))
    # Violent coughing (pertussis) explains a subconjunctival bleed; it explains no bruise or burn.
    subconj = [] if facts.has_mechanism("cough_cause") else facts.injuries_of("subconjunctival")
    if subconj:
        out.append(make_finding(facts, config, "R-SI-3", [*(i.evidence() for i in subconj), *base]))
    burns = facts.injuries_of("burn")
    if burns:
        out.append(make_finding(facts, config, "R-SI-4", [*(i.evidence() for i in burns), *base]))
    return collect(*out)
