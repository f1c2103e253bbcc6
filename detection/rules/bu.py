"""R-BU: burn patterns that suggest inflicted burns in children (NVK; Maguire, BMJ 2004)."""

from __future__ import annotations

from detection.configuration import DetectionConfig
from detection.facts import Facts, Injury
from detection.models import Finding
from detection.rules.base import collect, make_finding

FAMILY = "R-BU"


def _is_multiple(burns: list[Injury]) -> bool:
    return len(burns) > 1 or any(
        "multiple" in b.descriptors or b.words.endswith(("wonden", "burns")) for b in burns
    )


def evaluate(facts: Facts, config: DetectionConfig) -> list[Finding]:
    burns = facts.injuries_of("burn")
    if not burns or facts.age_years is None or facts.age_years >= config.ages.child_max_years_exclusive:
        return []
    if facts.confirmed_accident:
        return []
    out = []
    if _is_multiple(burns) and not any("splash" in b.descriptors for b in burns):
        out.append(make_finding(facts, config, "R-BU-1", [b.evidence() for b in burns]))
    imprint = [b for b in burns if "patterned" in b.descriptors]
    if imprint:
        out.append(
            make_finding(
                facts,
                config,
                "R-BU-2",
                [b.evidence() for b in imprint],
                words=[
                    " ".join(filter(None, (b.descriptors["patterned"], b.descriptors.get("object"))))
                    for b in imprint
                ],
            )
        )
    usual = config.site_groups["contact_burn_usual"]
    contact = [b for b in burns if "contact" in b.descriptors and b.sites and not (b.sites.keys() <= usual)]
    if contact:
        out.append(
            make_finding(
                facts,
                config,
                "R-BU-3",
                [b.evidence() for b in contact],
                sites=[w for b in contact for s, w in b.sites.items() if s not in usual],
            )
        )
    cigarette = [b for b in burns if "cigarette" in b.descriptors]
    if cigarette:
        out.append(make_finding(facts, config, "R-BU-4", [b.evidence() for b in cigarette]))
    immersion = [
        b
        for b in burns
        if "immersion" in b.descriptors and ("no_splash" in b.descriptors or "splash" not in b.descriptors)
    ]
    if immersion:
        out.append(
            make_finding(
                facts,
                config,
                "R-BU-5",
                [b.evidence() for b in immersion],
                words=[b.descriptors["immersion"] for b in immersion],
            )
        )
    risky = config.site_groups["burn_high_risk"]
    at_site = [(b, s) for b in burns for s in b.sites if s in risky]
    if at_site:
        out.append(
            make_finding(
                facts,
                config,
                "R-BU-6",
                [b.evidence(s) for b, s in at_site],
                sites=[b.sites[s] for b, s in at_site],
            )
        )
    mirror = [b for b in burns if "symmetric" in b.descriptors or "bilateral" in b.descriptors]
    if mirror:
        out.append(make_finding(facts, config, "R-BU-7", [b.evidence() for b in mirror]))
    if facts.has_signal("delay"):
        out.append(
            make_finding(
                facts,
                config,
                "R-BU-8",
                [*(b.evidence() for b in burns), *(h.evidence() for h in facts.signals["delay"])],
            )
        )
    return collect(*out)
