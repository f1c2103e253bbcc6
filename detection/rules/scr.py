"""R-SCR: SPUTOVAMO-R3 and Escape checklist answers sent by the EHR; any abnormal answer is positive."""

from __future__ import annotations

from detection.configuration import DetectionConfig
from detection.facts import Facts
from detection.models import Evidence, Finding
from detection.rules.base import collect, make_finding

FAMILY = "R-SCR"
RULES = ("R-SCR-1", "R-SCR-2")


def evaluate(facts: Facts, config: DetectionConfig) -> list[Finding]:
    out = []
    for rule_id in RULES:
        abnormal = [a for a in facts.answers if a.question.rule_id == rule_id and a.abnormal]
        if not abnormal:
            continue
        evidence = [
            Evidence(field=a.field, text=f"{a.question.code} = {a.answer.value}", codes=[a.question.code])
            for a in abnormal
        ]
        out.append(
            make_finding(
                facts,
                config,
                rule_id,
                evidence,
                words=[f"{a.question.question_nl} → {a.answer.value}" for a in abnormal],
            )
        )
    return collect(*out)
