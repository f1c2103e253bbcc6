"""Read a Presentation once into the facts every rule family needs.

Free text becomes injuries (kind, body sites, descriptors such as linear/parietal/patterned),
mechanisms (fall and its height, confirmed accident, birth) and signals (no explanation, partner
violence, …), each with the field and words it came from. Coded diagnoses and observations become
normalised codes; screening observations become yes/no answers. Rules read only these facts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from dataclasses import field as default

from detection.configuration import Answer, DetectionConfig, ScreeningQuestion, normalise_code
from detection.models import CodingSystem, Evidence, Presentation
from detection.text.matcher import Mention, match_text

# A site or descriptor belongs to the nearest injury in its clause, at most this many words away.
MAX_ATTACH_DISTANCE = 8
_HEIGHT = re.compile(r"^(\d+)(?:d(\d+))?(cm|m|meter|meters|metre|metres)?$")
_UNITS = {"cm": 0.01, "m": 1.0, "meter": 1.0, "meters": 1.0, "metre": 1.0, "metres": 1.0}
_ICD_SHAPE = re.compile(r"^[A-Z]\d\d")
_FALL_CLASS = frozenset({"short_fall", "tall_fall"})
_FRACTURE_LIKE = frozenset({"fracture", "subdural", "intracranial", "head_injury"})
_SKIN = frozenset({"bruise", "burn", "petechiae", "ligature_mark", "other", "intraoral"})
# A descriptor only describes injuries it can belong to: "depressed" goes to the skull fracture, not to
# the "head trauma" next to it; "multiple" to bruises and burns.
DESCRIPTOR_KINDS: dict[str, frozenset[str]] = {
    "linear": frozenset({"fracture"}),
    "parietal": frozenset({"fracture"}),
    "complex": frozenset({"fracture"}),
    "buckle": frozenset({"fracture"}),
    "spiral": frozenset({"fracture"}),
    "distal": frozenset({"fracture"}),
    "shaft": frozenset({"fracture"}),
    "bilateral": _FRACTURE_LIKE | _SKIN,
    "interhemispheric": frozenset({"subdural", "intracranial"}),
    "patterned": _SKIN,
    "object": _SKIN,
    "multiple": _SKIN | frozenset({"fracture"}),
    "cigarette": _SKIN,
    "contact": _SKIN,
    "immersion": _SKIN,
    "splash": _SKIN,
    "no_splash": _SKIN,
    "symmetric": _SKIN,
}


@dataclass(slots=True)
class Injury:
    kind: str  # bruise, burn, fracture, subdural, intracranial, head_injury, subconjunctival, …
    field: str
    words: str  # the injury words as written (folded)
    sites: dict[str, str] = default(default_factory=dict)  # site key → words
    descriptors: dict[str, str] = default(default_factory=dict)  # descriptor → words

    def evidence(self, site: str = "") -> Evidence:
        extra = [w for w in (*self.descriptors.values(), *self.sites.values()) if w != self.words]
        text = " ".join([self.words, *extra])
        return Evidence(field=self.field, text=text, body_site=site or ", ".join(self.sites))


@dataclass(slots=True)
class Hit:
    """A mechanism or signal found in text: where and which words."""

    field: str
    words: str

    def evidence(self) -> Evidence:
        return Evidence(field=self.field, text=self.words)


@dataclass(slots=True)
class Code:
    code: str  # normalised: ICD-10 without dot, upper case; SNOMED digits
    raw: str
    system: CodingSystem
    field: str


@dataclass(slots=True)
class ScreeningAnswer:
    question: ScreeningQuestion
    answer: Answer
    field: str

    @property
    def abnormal(self) -> bool:
        return self.answer is self.question.abnormal


@dataclass(slots=True)
class Facts:
    presentation: Presentation
    age_days: int | None
    age_months: float | None
    age_years: int | None
    injuries: list[Injury] = default(default_factory=list)
    mechanisms: dict[str, list[Hit]] = default(default_factory=dict)
    signals: dict[str, list[Hit]] = default(default_factory=dict)
    fall_height_m: float | None = None
    fall_class: set[str] = default(default_factory=set)  # short_fall / tall_fall
    icd10: list[Code] = default(default_factory=list)
    snomed: list[Code] = default(default_factory=list)
    answers: list[ScreeningAnswer] = default(default_factory=list)

    # ---------------------------------------------------------------- convenience for the rules
    def injuries_of(self, *kinds: str) -> list[Injury]:
        return [i for i in self.injuries if i.kind in kinds]

    def has_signal(self, name: str) -> bool:
        return name in self.signals

    def has_mechanism(self, name: str) -> bool:
        return name in self.mechanisms

    @property
    def confirmed_accident(self) -> bool:
        return "confirmed_accident" in self.mechanisms

    @property
    def birth_related(self) -> bool:
        return "birth_related" in self.mechanisms

    @property
    def has_fall(self) -> bool:
        return "fall" in self.mechanisms

    def age_text(self, language: str) -> str:
        if self.age_days is None:
            return "onbekende leeftijd" if language == "nl" else "unknown age"
        if self.age_days < 31:
            return f"{self.age_days} dagen" if language == "nl" else f"{self.age_days} days"
        if self.age_months is not None and self.age_months < 24:
            months = int(self.age_months)
            return f"{months} maanden" if language == "nl" else f"{months} months"
        years = self.age_years or 0
        return f"{years} jaar" if language == "nl" else f"{years} years"


def extract_facts(presentation: Presentation, config: DetectionConfig) -> Facts:
    facts = Facts(
        presentation=presentation,
        age_days=presentation.age_at_arrival_days,
        age_months=presentation.age_at_arrival_months,
        age_years=presentation.age_at_arrival_years,
    )
    seen_texts: set[str] = set()
    for note in presentation.texts():
        seen_texts.add(note.text)
        _read_text(facts, note.text, note.source_field, config)
    for i, obs in enumerate(presentation.observations):
        where = obs.source_field or f"observation[{i}]"
        question = config.screening.get(obs.coding.code.upper())
        if question is not None:
            answer = _answer(obs.value_coding.code if obs.value_coding else "", config) or _answer(
                obs.value_coding.display if obs.value_coding else "", config
            )
            answer = answer or _answer(obs.value, config)
            if answer is not None:
                facts.answers.append(ScreeningAnswer(question, answer, where))
            continue
        _add_code(facts, obs.coding.code, obs.coding.system, where)
        if obs.value_coding is not None:
            _add_code(facts, obs.value_coding.code, obs.value_coding.system, where)
        elif obs.value and " " in obs.value and obs.value not in seen_texts:
            # Free text in an OBX/Observation value that the mapper did not also give as a note.
            seen_texts.add(obs.value)
            _read_text(facts, obs.value, where, config)
    for i, dx in enumerate(presentation.diagnoses):
        _add_code(facts, dx.coding.code, dx.coding.system, dx.source_field or f"diagnosis[{i}]")
    return facts


def _answer(raw: str, config: DetectionConfig) -> Answer | None:
    if not raw:
        return None
    return config.answers.get(raw.split("^", 1)[0].strip().lower())


def _add_code(facts: Facts, raw: str, system: CodingSystem, where: str) -> None:
    code = raw.strip()
    if not code:
        return
    if system is CodingSystem.SNOMED or (
        system in (CodingSystem.OTHER, CodingSystem.LOCAL) and code.isdigit()
    ):
        facts.snomed.append(Code(code, raw, CodingSystem.SNOMED, where))
        return
    norm = normalise_code(code)
    if system is CodingSystem.ICD10 or (
        system in (CodingSystem.OTHER, CodingSystem.LOCAL) and _ICD_SHAPE.match(norm)
    ):
        facts.icd10.append(Code(norm, raw, CodingSystem.ICD10, where))


def _read_text(facts: Facts, text: str, where: str, config: DetectionConfig) -> None:
    match = match_text(text, config.lexicon)
    mentions = match.mentions
    if not mentions:
        return
    injuries: list[tuple[Mention, Injury]] = []
    for m in mentions:
        if m.kind == "injury":
            injury = Injury(m.value, where, m.text)
            if m.site:
                injury.sites[m.site] = m.text
            injuries.append((m, injury))
    for m in mentions:
        if m.kind == "mechanism" and not m.negated:
            facts.mechanisms.setdefault(m.value, []).append(Hit(where, m.text))
        elif m.kind == "signal" and not m.negated:
            facts.signals.setdefault(m.value, []).append(Hit(where, m.text))
        elif m.kind == "descriptor" and m.value in _FALL_CLASS:
            facts.fall_class.add(m.value)
        elif m.kind in ("site", "descriptor") and injuries:
            owner = _nearest(m, injuries)
            if owner is not None:
                bucket = owner.sites if m.kind == "site" else owner.descriptors
                bucket.setdefault(m.value, m.text)
    # "Zwelling sleutelbeen, fractuur": a siteless injury takes the site of a swelling or wound in its clause.
    for m, injury in injuries:
        if not injury.sites:
            for other_m, other in injuries:
                if other.kind == "other" and other.sites and other_m.clause == m.clause:
                    injury.sites.update(other.sites)
                    break
    facts.injuries.extend(injury for m, injury in injuries if not m.negated)
    if "fall" in facts.mechanisms and facts.fall_height_m is None:
        facts.fall_height_m = _height(match.tokens)


def _nearest(m: Mention, injuries: list[tuple[Mention, Injury]]) -> Injury | None:
    best: Injury | None = None
    best_key: tuple[int, int] | None = None
    kinds = DESCRIPTOR_KINDS.get(m.value) if m.kind == "descriptor" else None
    for inj_mention, injury in injuries:
        if inj_mention.clause != m.clause or (kinds is not None and injury.kind not in kinds):
            continue
        if m.start >= inj_mention.end:
            distance, after = m.start - inj_mention.end, 0
        elif m.end <= inj_mention.start:
            distance, after = inj_mention.start - m.end, 1
        else:
            distance, after = 0, 0  # the same compound word
        if distance > MAX_ATTACH_DISTANCE:
            continue
        key = (distance, after)  # ties go to the injury before the site: "blauwe plek op de wang"
        if best_key is None or key < best_key:
            best, best_key = injury, key
    return best


def _height(tokens: list[str]) -> float | None:
    for i, tok in enumerate(tokens):
        found = _HEIGHT.match(tok)
        if found is None:
            continue
        whole, frac, unit = found.groups()
        if unit is None and i + 1 < len(tokens) and tokens[i + 1] in _UNITS:
            unit = tokens[i + 1]
        if unit is None:
            continue
        value = float(f"{whole}.{frac}" if frac else whole)
        return value * _UNITS[unit]
    return None
