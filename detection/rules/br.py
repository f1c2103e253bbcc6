"""R-BR: TEN-4-FACESp bruising rule for children under 4 (Pierce, JAMA Netw Open 2021)."""

from __future__ import annotations

from detection.configuration import DetectionConfig
from detection.facts import Facts
from detection.models import Finding
from detection.rules.base import age_evidence, collect, make_finding

FAMILY = "R-BR"
PATTERN_DESCRIPTORS = frozenset({"patterned"})


def evaluate(facts: Facts, config: DetectionConfig) -> list[Finding]:
    ages = config.ages
    if (
        facts.age_years is None
        or facts.age_years >= ages.ten4_max_years_exclusive
        or facts.confirmed_accident
    ):
        return []
    if facts.birth_related and (facts.age_days or 0) <= ages.birth_related_max_days:
        return []
    # A diagnosis such as IgA vasculitis or dermal melanocytosis explains the "bruises" it describes.
    bruises = [] if facts.has_mechanism("skin_mimic") else facts.injuries_of("bruise")
    # An injury of the frenulum counts for the F of TEN-4-FACES even when it is not called a bruise.
    frenulum = [i for i in facts.injuries_of("intraoral", "other") if "frenulum" in i.sites]
    regions = config.site_groups["ten4_faces"]
    out = []
    in_region = [(b, s) for b in bruises for s in b.sites if s in regions]
    in_region += [(i, "frenulum") for i in frenulum]
    if not facts.has_mechanism("cough_cause"):  # violent coughing (pertussis) explains the eye, not a bruise
        in_region += [(i, "subconjunctiva") for i in facts.injuries_of("subconjunctival")]
    if in_region:
        out.append(
            make_finding(
                facts,
                config,
                "R-BR-1",
                [*(b.evidence(site) for b, site in in_region), age_evidence(facts)],
                sites=[b.sites.get(site, b.words) for b, site in in_region],
            )
        )
    if bruises and facts.age_months is not None and facts.age_months <= ages.ten4_any_bruise_max_months:
        out.append(
            make_finding(
                facts,
                config,
                "R-BR-2",
                [*(b.evidence() for b in bruises), age_evidence(facts)],
                sites=[w for b in bruises for w in b.sites.values()],
            )
        )
    patterned = [b for b in bruises if PATTERN_DESCRIPTORS & b.descriptors.keys()]
    if patterned:
        out.append(
            make_finding(
                facts,
                config,
                "R-BR-3",
                [b.evidence() for b in patterned],
                words=[b.descriptors["patterned"] for b in patterned],
            )
        )
    return collect(*out)
