"""R-STR: non-fatal strangulation — always critical (partner strangulation raises homicide risk ~7.5-fold).

R-STR-1 a strangulation reported (words, lay words, X91, SNOMED manual strangulation); R-STR-2 a neck
injury with signs; R-STR-3 the signs alone, without a visible mark (often there is none): signs of at
least three kinds, or of two kinds when the presentation also tells of violence.

One narrow exception: a choke in supervised sport (judo, wrestling…) with an official present and no
violence, partner or assault anywhere in the presentation. Weighed: the chokes of combat sport are
applied under rules, stopped by a referee, and are not maltreatment; the harm of flagging every such
visit is a critical alert the physician learns to ignore. The exception needs all three (sport, an
official, no violence), so a partner who strangles during a "training" still fires.
"""

from __future__ import annotations

from detection.configuration import DetectionConfig
from detection.facts import Facts
from detection.models import Evidence, Finding
from detection.rules.base import collect, make_finding

FAMILY = "R-STR"
SYMPTOM_SIGNALS = ("loss_of_consciousness", "voice_change", "dysphagia", "dyspnoea")
VIOLENCE_SIGNALS = ("assault", "partner_violence", "elder_harm")


def evaluate(facts: Facts, config: DetectionConfig) -> list[Finding]:
    if facts.age_years is not None and facts.age_years < config.ages.strangulation_min_years:
        return []
    violence = any(facts.has_signal(s) for s in VIOLENCE_SIGNALS)
    if facts.has_mechanism("supervised_sport") and not violence:
        return []
    petechial_sites = config.site_groups["strangulation_petechiae"]
    signs: list[Evidence] = []
    sign_words: list[str] = []
    kinds: set[str] = set()
    for name in SYMPTOM_SIGNALS:
        for hit in facts.signals.get(name, []):
            signs.append(hit.evidence())
            sign_words.append(hit.words)
            kinds.add(name)
    for injury in facts.injuries_of("petechiae"):
        if not injury.sites or petechial_sites & injury.sites.keys():
            signs.append(injury.evidence())
            sign_words.append(injury.evidence().text)
            kinds.add("petechiae")
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
    if len(kinds) >= 3 or (len(kinds) >= 2 and violence):
        return collect(make_finding(facts, config, "R-STR-3", signs, sites=sign_words))
    return []
