"""R-STR: non-fatal strangulation — always critical (partner strangulation raises homicide risk ~7.5-fold)."""

from __future__ import annotations

from detection.configuration import DetectionConfig
from detection.facts import Facts
from detection.models import Evidence, Finding
from detection.rules.base import collect, make_finding

FAMILY = "R-STR"
SYMPTOM_SIGNALS = ("loss_of_consciousness", "voice_change", "dysphagia", "dyspnoea")


def evaluate(facts: Facts, config: DetectionConfig) -> list[Finding]:
    if facts.age_years is not None and facts.age_years < config.ages.strangulation_min_years:
        return []
    petechial_sites = config.site_groups["strangulation_petechiae"]
    signs: list[Evidence] = []
    sign_words: list[str] = []
    for name in SYMPTOM_SIGNALS:
        for hit in facts.signals.get(name, []):
            signs.append(hit.evidence())
            sign_words.append(hit.words)
    for injury in facts.injuries_of("petechiae"):
        if not injury.sites or petechial_sites & injury.sites.keys():
            signs.append(injury.evidence())
            sign_words.append(injury.evidence().text)
    neck = [i for i in facts.injuries_of("bruise", "ligature_mark") if "neck" in i.sites]
    neck_words = [i.evidence().text for i in neck]
    reported = facts.signals.get("strangulation", [])
    if reported:
        finding = make_finding(
            facts,
            config,
            "R-STR-1",
            [*(h.evidence() for h in reported), *signs, *(i.evidence() for i in neck)],
            words=[h.words for h in reported],
            sites=[*sign_words, *neck_words],
        )
        return collect(finding)
    if neck and (signs or any(i.kind == "ligature_mark" for i in neck)):
        finding = make_finding(
            facts,
            config,
            "R-STR-2",
            [*(i.evidence() for i in neck), *signs],
            sites=[*neck_words, *sign_words],
        )
        return collect(finding)
    return []
