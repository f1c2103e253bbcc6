"""Read a Presentation once into the facts every rule family needs.

Free text becomes injuries (kind, body sites, descriptors such as linear/parietal/patterned),
mechanisms (fall and its height, confirmed accident, birth) and signals (no explanation, partner
violence, …), each with the field and words it came from. Coded diagnoses and observations become
normalised codes; screening observations become yes/no answers. Rules read only these facts.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass
from dataclasses import field as default

from detection.configuration import Answer, Combination, DetectionConfig, ScreeningQuestion, normalise_code
from detection.models import CodingSystem, Evidence, Presentation, Sex
from detection.text.matcher import Mention, match_text

# A site or descriptor belongs to the nearest injury in its clause, at most this many words away.
MAX_ATTACH_DISTANCE = 8
# What one presentation's texts contribute at most: the first injuries and the first hits of each
# mechanism or signal. Far above any real note (a handful of each); a note that repeats injury words
# thousands of times adds nothing after these, and the rules (and the evidence they quote) stay small.
MAX_INJURIES = 200
MAX_HITS_PER_KIND = 50
# A height token ("2", "1d5" for 1.5, "80cm"), found among tokens joined by " ". The pattern starts
# at a digit (the engine skips ahead to digits) whose previous character is a space or the start.
_HEIGHT_TOKEN = re.compile(r"(\d(?<![^ ]\d)\d*)(?:d(\d+))?(cm|m|meter|meters|metre|metres)?(?![^ ])")
_UNITS = {"cm": 0.01, "m": 1.0, "meter": 1.0, "meters": 1.0, "metre": 1.0, "metres": 1.0}
_ICD_SHAPE = re.compile(r"^[A-Z]\d\d")
_ORDINAL = re.compile(r"^(\d{1,2})(?:e|de|ste|th|rd|nd)$")  # 4e, 3de, 8ste; 4th, 3rd
# Every token _ORDINAL matches (tokens are ASCII), to see in one set look-up per token whether any is there.
_ORDINAL_WORDS = frozenset(
    f"{number}{suffix}"
    for number in [*map(str, range(10)), *(f"{n:02d}" for n in range(100))]
    for suffix in ("e", "de", "ste", "th", "rd", "nd")
)
_REPEATED_ORDINAL_MIN = 3
_VISIT_WORDS = frozenset({"bezoek", "seh", "sehbezoek", "presentatie", "visit", "keer"})
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
    "healing": frozenset({"fracture", "bruise", "burn"}),
}
# History signals are about the story of the child's injury; who tells it ("moeder heeft geen
# verklaring") or that it was told before does not change them. Every other mention counts only when
# ConText says it is about the patient, now, and not negated or hypothetical.
STORY_SIGNALS = frozenset(
    {
        "no_explanation",
        "no_trauma_history",
        "vague_explanation",
        "changing_explanation",
        "mismatch",
        "development_mismatch",
        "delay",
        "interaction",
        "earlier_injuries",
        "repeated_visits",
        "other_child_blamed",
        "non_mobile",
        "cruising",
    }
)
# Screening instruments written in a note ("EASI: vr 4 ja", "SPUTOVAMO-R3: interactie niet adequaat").
INSTRUMENTS = {
    "sputovamo": ("SPUTOVAMO", "R-SCR-1"),
    "escape": ("ESCAPE", "R-SCR-2"),
    "easi": ("EASI", "R-EA-1"),
}
_ITEM_WORDS = frozenset({"vr", "vraag", "vragen", "item", "q", "question"})
_YES = frozenset({"ja", "yes", "j", "positief", "pos", "afwijkend", "afwijkende", "abnormal"})
_NO = frozenset({"nee", "no", "n", "neg", "negatief", "normaal", "gb", "nb"})
_NOT_FINE = frozenset({"adequaat", "passend", "normaal", "goed", "pluis"})
_SCREEN_LOOKAHEAD = 40
_SCREEN_LOOKAHEAD_LIST = 60  # the line after a header such as "Escape ingevuld door VPK:"
_HEADER_TAIL = 6  # an instrument's name this close to a line's end announces a list on the next line


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
    # Fall objects named per text and clause ("van klimrek gevallen" … "nee, van bed gevallen").
    fall_accounts: dict[str, tuple[str, str]] = default(default_factory=dict)  # object → (field, words)
    derived: list[tuple[Combination, str, Hit]] = default(default_factory=list)
    pending_checklist: tuple[str, str] | None = None  # an instrument named at the end of the last text

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
        where = dx.source_field or f"diagnosis[{i}]"
        _add_code(facts, dx.coding.code, dx.coding.system, where)
        # The code's own words ("Fractuur van humerusschacht", a local code "Letsel hals na geweld")
        # say what was found as much as a note does.
        display = dx.coding.display.strip()
        if display and display not in seen_texts:
            seen_texts.add(display)
            _read_text(facts, display, where, config)
    _from_codes(facts, config)
    _conclude(facts)
    return facts


def _from_codes(facts: Facts, config: DetectionConfig) -> None:
    """Codes that are a Kindcheck trigger (self-harm, substance use, psychosis) or a strangulation."""
    for code in facts.icd10:
        for signal, patterns in config.kindcheck_codes:
            if any(p.matches(code.code) for p in patterns):
                facts.signals.setdefault(signal, []).append(Hit(code.field, code.raw))
                break
        if any(p.matches(code.code) for p in config.strangulation_codes):
            facts.signals.setdefault("strangulation", []).append(Hit(code.field, code.raw))
    for code in facts.snomed:
        entry = config.snomed.get(code.code)
        if entry is not None and code.code in _SNOMED_STRANGULATION:
            facts.signals.setdefault("strangulation", []).append(Hit(code.field, code.raw))


_SNOMED_STRANGULATION = frozenset({"269734009"})


def _conclude(facts: Facts) -> None:
    """What only the whole presentation shows: combinations that depend on other signals, a story
    that names two different falls, and earlier injuries seen on imaging."""
    for combination, _, hit in facts.derived:
        if combination.unless & facts.signals.keys():
            continue
        bucket = facts.mechanisms if combination.kind == "mechanism" else facts.signals
        bucket.setdefault(combination.value, []).append(hit)
    if len(facts.fall_accounts) >= 2:
        hits = [Hit(where, words) for where, words in facts.fall_accounts.values()]
        facts.signals.setdefault("changing_explanation", []).extend(hits)
    healing = [i for i in facts.injuries if "healing" in i.descriptors]
    if healing:
        facts.signals.setdefault("earlier_injuries", []).extend(
            Hit(i.field, i.evidence().text) for i in healing
        )


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
    _screening_in_text(facts, match.tokens, where, config)
    if not mentions:
        _visit_ordinal(facts, match.tokens, where)
        return
    injuries: list[tuple[Mention, Injury]] = []
    for m in mentions:
        if m.kind == "injury" and not (m.negated or m.hypothetical or m.other_person):
            injury = Injury(m.value, where, m.text)
            if m.site:
                injury.sites[m.site] = m.text
            injuries.append((m, injury))
    starts = [m.start for m, _ in injuries]
    for m in mentions:
        if m.kind == "mechanism":
            if m.asserted:
                _add_hit(facts.mechanisms, m.value, Hit(where, m.text))
        elif m.kind == "signal":
            if _counts(m):
                _add_hit(facts.signals, m.value, Hit(where, m.text))
        elif m.kind == "part":
            if m.value == "mobility_milestone" and m.negated and not m.other_person:
                facts.signals.setdefault("non_mobile", []).append(Hit(where, f"niet {m.text}"))
        elif m.kind == "descriptor" and m.value in _FALL_CLASS:
            facts.fall_class.add(m.value)
        elif m.kind in ("site", "descriptor") and injuries:
            owner = _nearest(m, injuries, starts)
            if owner is not None:
                bucket = owner.sites if m.kind == "site" else owner.descriptors
                bucket.setdefault(m.value, m.text)
    # "Zwelling sleutelbeen, fractuur": a siteless injury takes the site of a swelling or wound in its clause.
    first_with_sites: dict[int, Injury] = {}
    for m, injury in injuries:
        if injury.kind == "other" and injury.sites:
            first_with_sites.setdefault(m.clause, injury)
    for m, injury in injuries:
        if not injury.sites:
            donor = first_with_sites.get(m.clause)
            if donor is not None:
                injury.sites.update(donor.sites)
    for m, injury in injuries:
        if m.historical:
            # An injury of an earlier visit is not today's injury, but it is an earlier injury.
            if injury.kind in ("fracture", "bruise", "burn"):
                facts.signals.setdefault("earlier_injuries", []).append(Hit(where, injury.evidence().text))
            continue
        if len(facts.injuries) < MAX_INJURIES:
            facts.injuries.append(injury)
    _combinations(facts, mentions, where, config)
    _fall_accounts(facts, mentions, where)
    _visit_ordinal(facts, match.tokens, where)
    if "fall" in facts.mechanisms and facts.fall_height_m is None:
        facts.fall_height_m = _height(match.tokens)


def _visit_ordinal(facts: Facts, tokens: list[str], where: str) -> None:
    """ "4e SEH-bezoek in 8 mnd", "3e bezoek dit jaar": the note counts this visit. From the third on,
    as the vocabulary's "derde keer" / "third visit" (a feed's count of earlier visits uses
    `repeated_visits_min`, which counts visits of any kind)."""
    if _ORDINAL_WORDS.isdisjoint(tokens):
        return  # most texts hold no ordinal: one set look-up per token (in C), no loop
    for i, token in enumerate(tokens):
        if not token[:1].isdigit():
            continue
        found = _ORDINAL.match(token)
        if found is None or int(found.group(1)) < _REPEATED_ORDINAL_MIN:
            continue
        if any(t in _VISIT_WORDS for t in tokens[i + 1 : i + 4]):
            _add_hit(facts.signals, "repeated_visits", Hit(where, " ".join(tokens[i : i + 3])))
            return


def _add_hit(hits: dict[str, list[Hit]], value: str, hit: Hit) -> None:
    found = hits.setdefault(value, [])
    if len(found) < MAX_HITS_PER_KIND:
        found.append(hit)


def _counts(m: Mention) -> bool:
    """Whether a signal mention counts: story signals only need to be affirmed, not about the patient."""
    if m.value in STORY_SIGNALS:
        return not (m.negated or m.hypothetical)
    return m.asserted


def _combinations(facts: Facts, mentions: list[Mention], where: str, config: DetectionConfig) -> None:
    """Two concepts in one clause, close enough: "vriend … duwde", "greep … keel", "leidster zag het".

    Mentions are in text order, so for each combination the nearest partner of each first part is found
    with a bisection over the second part's positions: linear-logarithmic in the number of mentions.
    """
    if not config.combinations:
        return
    wanted = config.combination_concepts
    by_concept: dict[str, list[Mention]] = {}
    for m in mentions:
        if m.concept in wanted and m.asserted:
            by_concept.setdefault(m.concept, []).append(m)
    if len(by_concept) < 2:
        return
    sex = facts.presentation.patient.sex
    for combination in config.combinations:
        if combination.patient_sex and sex is not Sex(combination.patient_sex):
            continue
        first, second = (
            sorted((m for c in side for m in by_concept.get(c, ())), key=lambda m: m.start)
            for side in combination.parts
        )
        if not first or not second:
            continue
        if combination.same_text:
            a, b = first[0], second[0]
        else:
            pair = _first_pair(first, second, [m.start for m in second], combination.window)
            if pair is None:
                continue
            a, b = pair
        words = f"{a.text} … {b.text}" if a.start < b.start else f"{b.text} … {a.text}"
        facts.derived.append((combination, where, Hit(where, words)))


def _first_pair(
    first: list[Mention], second: list[Mention], positions: list[int], window: int
) -> tuple[Mention, Mention] | None:
    for a in first:
        k = bisect_left(positions, a.start - window - 8)
        while k < len(second):
            b = second[k]
            if b.start > a.end + window:
                break
            gap = b.start - a.end if b.start >= a.end else a.start - b.end
            if b is not a and b.clause == a.clause and 0 <= gap <= window:
                return a, b
            k += 1
    return None


def _fall_accounts(facts: Facts, mentions: list[Mention], where: str) -> None:
    """Remember which object each clause says the child fell from; two different ones = two stories."""
    falls = {m.clause for m in mentions if m.kind == "mechanism" and m.value == "fall" and m.asserted}
    if not falls:
        return
    for m in mentions:
        if (
            m.kind == "descriptor"
            and m.value in _FALL_CLASS
            and m.clause in falls
            and m.asserted
            and m.text not in facts.fall_accounts
        ):
            facts.fall_accounts.setdefault(m.text, (where, m.text))


def _screening_in_text(facts: Facts, tokens: list[str], where: str, config: DetectionConfig) -> None:
    """Checklist answers typed in a note: "EASI: vr 4 ja, vr 6 ja", "SPUTOVAMO: afwijkend", "Escape vr 6: ja".

    After an instrument's name, within a few words: item numbers ("vr 4", "vraag 1 en 2", a bare
    "2." that starts an item) or an item's own words ("vertraging ja", "interactie adequaat: nee",
    `topics` in codes.yaml) followed by their answer, or a verdict for the whole list ("afwijkend",
    "interactie niet adequaat" = abnormal; "gb", "neg", "geen bijzonderheden", "alle vragen nee" =
    normal). A name at the end of a line ("Escape ingevuld door VPK:") announces the next line's list.
    """
    pending = facts.pending_checklist
    facts.pending_checklist = None
    if pending is not None:
        _read_instrument(facts, tokens, 0, min(len(tokens), _SCREEN_LOOKAHEAD_LIST), pending, where, config)
    if INSTRUMENTS.keys().isdisjoint(tokens):
        return  # most texts name no checklist: one set look-up per token (in C), no loop
    n = len(tokens)
    for i, token in enumerate(tokens):
        instrument = INSTRUMENTS.get(token)
        if instrument is not None:
            stop = min(n, i + 1 + _SCREEN_LOOKAHEAD)
            _read_instrument(facts, tokens, i + 1, stop, instrument, where, config)
            if n - i <= _HEADER_TAIL:
                facts.pending_checklist = instrument


def _topic_item(prefix: str, word: str, config: DetectionConfig) -> ScreeningQuestion | None:
    for question in config.instrument_items.get(prefix, ()):
        if word in question.topics:
            return question
    return None


def _read_instrument(
    facts: Facts,
    tokens: list[str],
    start: int,
    stop: int,
    instrument: tuple[str, str],
    where: str,
    config: DetectionConfig,
) -> None:
    prefix, rule_id = instrument
    items: list[str] = []
    numbered = False  # items came from "vr 4": a following number is another item ("vr 1 en 2")
    topic: ScreeningQuestion | None = None
    item_count = len(config.instrument_items.get(prefix, ()))
    abnormal = False
    j = start
    while j < stop:
        word = tokens[j]
        following = tokens[j + 1] if j + 1 < len(tokens) else ""
        if word in INSTRUMENTS:
            break
        if word in _ITEM_WORDS and following.isdigit():
            items, numbered, topic = [following], True, None
            j += 2
            continue
        if word.isdigit():
            if items and numbered:
                items.append(word)
            elif 1 <= int(word) <= item_count + 1 and following and not following.isdigit():
                # A bare number starts an item ("2. anamnese consistent? nee"); "(3 dgn)" is read the
                # same way but gets no answer before the next item starts.
                items, topic = [word], None
        elif word == "niet" and following in _NOT_FINE:
            if items or topic is not None:  # "vr 2 niet passend": the item's answer is no
                _answer_items(facts, prefix, items, topic, Answer.NO, where, config)
                items, numbered, topic = [], False, None
            else:
                abnormal = True
            j += 2
            continue
        elif word in ("geen", "alle") and not items and topic is None:
            break  # "geen bijzonderheden", "alle vragen nee": a normal checklist
        elif word in _YES or word in _NO:
            if items or topic is not None:
                answer = Answer.YES if word in _YES else Answer.NO
                _answer_items(facts, prefix, items, topic, answer, where, config)
                items, numbered, topic = [], False, None
            elif word in _YES and word not in ("ja", "yes", "j"):
                abnormal = True
            elif word in _NO:
                break
        elif topic is None and not items:
            topic = _topic_item(prefix, word, config)
        j += 1
    if abnormal:
        question = ScreeningQuestion(
            rule_id,
            prefix.lower(),
            prefix,
            Answer.YES,
            "Uitkomst afwijkend (vrije tekst)",
            "Abnormal result (free text)",
        )
        facts.answers.append(ScreeningAnswer(question, Answer.YES, where))


def _answer_items(
    facts: Facts,
    prefix: str,
    items: list[str],
    topic: ScreeningQuestion | None,
    answer: Answer,
    where: str,
    config: DetectionConfig,
) -> None:
    if items:
        _add_item_answers(facts, prefix, items, answer, where, config)
    elif topic is not None:
        facts.answers.append(ScreeningAnswer(topic, answer, where))


def _add_item_answers(
    facts: Facts, prefix: str, items: list[str], answer: Answer, where: str, config: DetectionConfig
) -> None:
    for item in items:
        question = config.screening.get(f"{prefix}-{item}")
        if question is not None:
            facts.answers.append(ScreeningAnswer(question, answer, where))


def _nearest(m: Mention, injuries: list[tuple[Mention, Injury]], starts: list[int]) -> Injury | None:
    """The injury a site or descriptor belongs to: same clause, nearest, at most MAX_ATTACH_DISTANCE away.

    Only injuries whose start lies within reach are looked at (a bisection over their positions), so a
    note with thousands of injuries still costs a constant per site: linear in the note's length.
    """
    best: Injury | None = None
    best_key: tuple[int, int] | None = None
    kinds = DESCRIPTOR_KINDS.get(m.value) if m.kind == "descriptor" else None
    low = bisect_left(starts, m.start - MAX_ATTACH_DISTANCE - 8)
    for index in range(low, len(injuries)):
        inj_mention, injury = injuries[index]
        if inj_mention.start > m.end + MAX_ATTACH_DISTANCE:
            break
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
    """The first height in the text: "1d5 m", "80cm". A regular expression finds the number tokens in
    the joined tokens, so the other tokens cost no Python work."""
    joined = " ".join(tokens)
    for found in _HEIGHT_TOKEN.finditer(joined):
        i = joined.count(" ", 0, found.start(1))  # the token's index: tokens hold no spaces
        whole, frac, unit = found.groups()
        if unit is None and i + 1 < len(tokens) and tokens[i + 1] in _UNITS:
            unit = tokens[i + 1]
        if unit is None:
            continue
        value = float(f"{whole}.{frac}" if frac else whole)
        return value * _UNITS[unit]
    return None
