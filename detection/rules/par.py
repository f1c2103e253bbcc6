"""R-PAR: Haags protocol / Kindcheck — adults whose situation means children at home must be asked about."""

from __future__ import annotations

from detection.configuration import DetectionConfig
from detection.facts import Facts, Hit
from detection.models import Evidence, Finding, Presentation
from detection.rules.base import collect, make_finding

FAMILY = "R-PAR"
TRIGGERS = (
    ("R-PAR-1", ("partner_violence",)),
    ("R-PAR-2", ("intoxication",)),
    ("R-PAR-3", ("suicide_attempt",)),
    ("R-PAR-4", ("psychiatric",)),
)
CHILD_RELATIONSHIPS = frozenset({"CHD", "SON", "DAU", "NCHILD", "STPCHLD", "FCH", "CHILD"})


def children_known(presentation: Presentation) -> list[Evidence]:
    """Related persons the feed names as minors or children: shown as evidence for the Kindcheck."""
    out = []
    for i, person in enumerate(presentation.related_persons):
        if person.is_minor or person.relationship.upper() in CHILD_RELATIONSHIPS:
            out.append(Evidence(field=f"related_persons[{i}]", text=person.relationship or "minor"))
    return out


def evaluate(facts: Facts, config: DetectionConfig) -> list[Finding]:
    if facts.age_years is None or facts.age_years < config.ages.adult_min_years:
        return []
    out = []
    children = None
    for rule_id, signals in TRIGGERS:
        hits = [h for s in signals for h in facts.signals.get(s, [])]
        if rule_id == "R-PAR-1" and not hits and facts.has_signal("partner_ref"):
            # "gewurgd door haar man", "assaulted by her boyfriend": violence plus a partner named.
            violence = [h for s in ("assault", "strangulation") for h in facts.signals.get(s, [])]
            if violence:
                hits = [*violence, *facts.signals["partner_ref"]]
        if rule_id == "R-PAR-1":
            partner_codes = [
                Hit(c.field, c.raw)
                for c in facts.icd10
                if any(p.matches(c.code) for p in config.partner_codes)
            ]
            hits = [*hits, *partner_codes]
        if not hits:
            continue
        if children is None:
            children = children_known(facts.presentation)
        out.append(
            make_finding(
                facts,
                config,
                rule_id,
                [*(h.evidence() for h in hits), *children],
                words=[h.words for h in hits],
            )
        )
    return collect(*out)
