"""R-FX: fractures by age, with the listed exceptions (CHOP skeletal-survey pathway; Kemp, BMJ 2008).

0–11 months: any fracture, except a buckle fracture of the distal radius/ulna, a spiral distal
tibia/fibula fracture in a cruising child older than 9 months after a fall, a unilateral linear skull
fracture from 4 months with a plausible fall, and a clavicle fracture from birth. 12–23 months: rib
fracture, classic metaphyseal lesion, complex skull fracture, humeral fracture after a fall below
1 m, femoral shaft fracture. Under 24 months: any fracture with no trauma history, a delay, or other
unexplained injuries.
"""

from __future__ import annotations

from detection.configuration import DetectionConfig
from detection.facts import Facts, Injury
from detection.models import Finding
from detection.rules.aht import is_simple_skull_fracture, is_skull_fracture
from detection.rules.base import age_evidence, collect, make_finding

FAMILY = "R-FX"
OTHER_INJURY_KINDS = ("bruise", "burn", "subdural", "intracranial", "intraoral", "subconjunctival")


def is_cml(injury: Injury) -> bool:
    words = injury.words
    return any(
        w in words for w in ("metafys", "metaphys", "hoekfract", "corner", "bucket", "emmerhengsel", "cml")
    )


def exception_reason(injury: Injury, facts: Facts, config: DetectionConfig) -> str | None:
    """Why this fracture in an infant is explained, or None when it is not one of the exceptions."""
    ages = config.ages
    months = facts.age_months or 0.0
    sites, desc = injury.sites.keys(), injury.descriptors.keys()
    if "buckle" in desc and ("radius_ulna" in sites or ("distal" in desc and "tibia_fibula" not in sites)):
        return "buckle fracture of the distal radius/ulna"
    if (
        "tibia_fibula" in sites
        and "spiral" in desc
        and months > ages.toddler_spiral_min_months_exclusive
        and facts.has_signal("cruising")
        and facts.has_fall
    ):
        return "spiral distal tibia/fibula fracture in a cruising child after a fall"
    if (
        is_skull_fracture(injury)
        and is_simple_skull_fracture(injury)
        and months >= ages.skull_linear_min_months
        and facts.has_fall
    ):
        return "unilateral linear skull fracture with a plausible fall"
    if "clavicle" in sites and facts.birth_related and (facts.age_days or 0) <= ages.birth_related_max_days:
        return "clavicle fracture from birth"
    return None


def unexplained_fractures(facts: Facts, config: DetectionConfig) -> list[Injury]:
    """Fractures of an infant that none of the exceptions explains (also used by R-CODE-AGE)."""
    return [f for f in facts.injuries_of("fracture") if exception_reason(f, facts, config) is None]


def evaluate(facts: Facts, config: DetectionConfig) -> list[Finding]:
    ages = config.ages
    months = facts.age_months
    fractures = facts.injuries_of("fracture")
    if months is None or not fractures or months >= ages.fracture_toddler_max_months_exclusive:
        return []
    if facts.confirmed_accident:
        return []
    out = []
    considered = fractures
    if months < ages.fracture_infant_max_months_exclusive:
        unexplained = considered = unexplained_fractures(facts, config)
        if unexplained:
            out.append(
                make_finding(
                    facts,
                    config,
                    "R-FX-1",
                    [*(f.evidence() for f in unexplained), age_evidence(facts)],
                    words=[f.evidence().text for f in unexplained],
                )
            )
    else:
        ribs = [f for f in fractures if "rib" in f.sites]
        if ribs:
            out.append(
                make_finding(facts, config, "R-FX-2", [*(f.evidence() for f in ribs), age_evidence(facts)])
            )
        cml = [f for f in fractures if is_cml(f)]
        if cml:
            out.append(
                make_finding(facts, config, "R-FX-3", [*(f.evidence() for f in cml), age_evidence(facts)])
            )
        skull = [f for f in fractures if is_skull_fracture(f) and not is_simple_skull_fracture(f)]
        skull = [f for f in skull if "complex" in f.descriptors or "bilateral" in f.descriptors]
        if skull:
            out.append(
                make_finding(
                    facts,
                    config,
                    "R-FX-4",
                    [f.evidence() for f in skull],
                    words=[f.evidence().text for f in skull],
                )
            )
        humerus = [f for f in fractures if "humerus" in f.sites]
        if humerus and facts.has_fall and _short_fall(facts, config):
            falls = facts.mechanisms["fall"]
            out.append(
                make_finding(
                    facts,
                    config,
                    "R-FX-5",
                    [*(f.evidence() for f in humerus), *(h.evidence() for h in falls), age_evidence(facts)],
                )
            )
        femur = [f for f in fractures if "femur" in f.sites and "buckle" not in f.descriptors]
        if femur:
            out.append(
                make_finding(facts, config, "R-FX-6", [*(f.evidence() for f in femur), age_evidence(facts)])
            )
    reasons: list[str] = []
    evidence = []
    for signal in ("no_trauma_history", "no_explanation", "delay"):
        for hit in facts.signals.get(signal, []):
            reasons.append(hit.words)
            evidence.append(hit.evidence())
    # Other injuries count as unexplained only when no mechanism at all is described.
    others = [] if facts.has_fall else facts.injuries_of(*OTHER_INJURY_KINDS)
    if others:
        reasons.append(", ".join(o.words for o in others))
        evidence.extend(o.evidence() for o in others)
    if reasons and considered:
        out.append(
            make_finding(
                facts, config, "R-FX-7", [*(f.evidence() for f in considered), *evidence], words=reasons
            )
        )
    return collect(*out)


def _short_fall(facts: Facts, config: DetectionConfig) -> bool:
    if facts.fall_height_m is not None:
        return facts.fall_height_m < config.limits.short_fall_max_metres
    return "short_fall" in facts.fall_class and "tall_fall" not in facts.fall_class
