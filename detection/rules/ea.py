"""R-EA: elder abuse (EASI) from 65 — structured EASI answers and observed or reported signs in text."""

from __future__ import annotations

from detection.configuration import DetectionConfig
from detection.facts import Facts, Hit
from detection.models import Evidence, Finding
from detection.rules.base import age_evidence, collect, make_finding

FAMILY = "R-EA"


def evaluate(facts: Facts, config: DetectionConfig) -> list[Finding]:
    if facts.age_years is None or facts.age_years < config.ages.elder_min_years:
        return []
    out = []
    easi = [a for a in facts.answers if a.question.rule_id == "R-EA-1" and a.abnormal]
    if easi:
        evidence = [
            Evidence(field=a.field, text=f"{a.question.code} = {a.answer.value}", codes=[a.question.code])
            for a in easi
        ]
        out.append(
            make_finding(
                facts,
                config,
                "R-EA-1",
                [*evidence, age_evidence(facts)],
                words=[a.question.code for a in easi],
            )
        )
    # EASI Q5 asks whether anyone hurt the patient: "hij heeft me geslagen" told by the patient is a yes.
    signs = ("elder_neglect", "elder_fear", "elder_harm", "violence_to_patient")
    hits = [h for name in signs for h in facts.signals.get(name, [])]
    # EASI Q6, the clinician sees bruises: grip marks or circular marks (restraint) are not a fall's.
    patterned = [i for i in facts.injuries_of("bruise") if "patterned" in i.descriptors]
    hits += [Hit(i.field, i.evidence().text) for i in patterned]
    # Bruises count only when nothing explains them: most bruises of older people come from falls.
    if not facts.has_fall and not facts.confirmed_accident and facts.has_signal("no_explanation"):
        hits += facts.signals["no_explanation"]
    if hits:
        out.append(
            make_finding(
                facts,
                config,
                "R-EA-2",
                [*(h.evidence() for h in hits), age_evidence(facts)],
                words=[h.words for h in hits],
            )
        )
    return collect(*out)
