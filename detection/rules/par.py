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
# HL7 table 0063 / v3 RoleCode for a spouse or partner (SPO spouse, DOM life partner).
PARTNER_RELATIONSHIPS = frozenset({"SPO", "DOM", "DOMPART", "HUSB", "WIFE", "SIGOTHR"})
PARTNER_ACTS = ("assault", "strangulation", "violence_to_patient")


def partner_relations(presentation: Presentation) -> list[Hit]:
    """The partner the feed names as a related person (NK1 spouse): who "hij" in "hij duwde me" may be."""
    return [
        Hit(f"related_persons[{i}]", person.relationship_display or person.relationship)
        for i, person in enumerate(presentation.related_persons)
        if person.relationship.upper() in PARTNER_RELATIONSHIPS
    ]


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
        partner = facts.signals.get("partner_ref", []) + partner_relations(facts.presentation)
        if rule_id == "R-PAR-1" and not hits and partner:
            # "gewurgd door haar man", "assaulted by her boyfriend": violence plus a partner named;
            # "hij duwde me" with her husband named anywhere (in the note or as the NK1 spouse).
            violence = [h for s in PARTNER_ACTS for h in facts.signals.get(s, [])]
            if violence:
                hits = [*violence, *partner]
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
