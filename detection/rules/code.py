"""R-CODE: coded diagnoses — ICD-10 maltreatment/assault codes, age-specific injury codes, SNOMED CT."""

from __future__ import annotations

from detection.configuration import DetectionConfig
from detection.facts import Code, Facts
from detection.models import Evidence, Finding
from detection.rules.base import collect, make_finding
from detection.rules.fx import unexplained_fractures

FAMILY = "R-CODE"


def _evidence(code: Code, label: str = "") -> Evidence:
    return Evidence(field=code.field, text=label or code.raw, codes=[code.raw])


def _fourth_character_label(code: Code, rule_id: str, config: DetectionConfig) -> str:
    """Y06/Y07: who did it; X85–Y09: where. Empty when the code has no 4th character."""
    if len(code.code) < 4:
        return ""
    fourth = code.code[3]
    if code.code[:3] in ("Y06", "Y07"):
        who = config.perpetrator_4th.get(fourth, "")
        return f"{code.raw}: pleger {who}" if who else ""
    if rule_id in ("R-CODE-ASSAULT", "R-CODE-X91", "R-CODE-Y05"):
        where = config.place_4th.get(fourth, "")
        return f"{code.raw}: {where}" if where else ""
    return ""


def evaluate(facts: Facts, config: DetectionConfig) -> list[Finding]:
    if not facts.icd10 and not facts.snomed:
        return []
    by_rule: dict[str, list[Code]] = {}
    labels: dict[str, str] = {}
    for code in facts.icd10:
        rule_id = config.icd10_rule(code.code)
        if rule_id is not None:
            by_rule.setdefault(rule_id, []).append(code)
            labels[code.code] = _fourth_character_label(code, rule_id, config)
    for code in facts.snomed:
        entry = config.snomed.get(code.code)
        if entry is not None:
            by_rule.setdefault(entry[0], []).append(code)
            labels[code.code] = f"{code.raw}: {entry[1]}"
    age_codes = _age_specific(facts, config)
    if age_codes:
        by_rule.setdefault("R-CODE-AGE", []).extend(age_codes)
    out = []
    for rule_id, codes in by_rule.items():
        out.append(
            make_finding(
                facts,
                config,
                rule_id,
                [_evidence(c, labels.get(c.code, "")) for c in codes],
                codes=[c.raw for c in codes],
            )
        )
    return collect(*out)


def _age_specific(facts: Facts, config: DetectionConfig) -> list[Code]:
    months = facts.age_months
    if months is None or facts.confirmed_accident or not facts.icd10:
        return []
    # A fracture that an R-FX exception explains (buckle, toddler's, linear skull with a fall, birth
    # clavicle) must not come back through its injury code.
    fractures = facts.injuries_of("fracture")
    explained = bool(fractures) and not unexplained_fractures(facts, config) and months < 12
    if facts.birth_related and (facts.age_days or 0) <= config.ages.birth_related_max_days:
        explained = True
    if explained:
        return []
    return [c for c in facts.icd10 if any(months < limit for limit in config.age_code_limits(c.code))]
