"""Load and validate the clinician-readable YAML configuration of the detector.

Five files in `detection/config/`: `rules.yaml` (families, rules, severities, texts, sources),
`thresholds.yaml` (age bands, limits, site groups), `vocabulary.yaml` (words), `lexicon.yaml` (how
clinical Dutch is written: abbreviations, diminutives, spelling tolerance, ConText triggers and
word combinations, each with its source) and `codes.yaml` (ICD-10, SNOMED CT, screening answers).
`parse_config` is pure (file name → text); `load_config` reads a directory once at start-up: the
only file access in `detection/`, besides the list of ordinary Dutch and English words the spelling
tolerance must leave alone (package data of pyspellchecker, read once per process). `detect()`
itself never does I/O. Any problem raises `ConfigError` naming the file and the key, so a clinician
who edits a file knows exactly what to fix.
"""

from __future__ import annotations

import gzip
import json
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from detection.models import Severity
from detection.text.matcher import CATEGORIES, Expansion, Lexicon, PhraseSpec
from detection.text.normalize import tokenize
from detection.text.spelling import Speller

_M = TypeVar("_M", bound=BaseModel)
CONFIG_DIR = Path(__file__).parent / "config"
FILES = ("rules.yaml", "thresholds.yaml", "vocabulary.yaml", "lexicon.yaml", "codes.yaml")
PLACEHOLDERS = frozenset({"age", "sites", "words", "codes"})
REQUIRED_SITE_GROUPS = (
    "ten4_faces",
    "pedibirn_bruise",
    "intraoral",
    "burn_high_risk",
    "contact_burn_usual",
    "strangulation_petechiae",
)


class ConfigError(ValueError):
    """A configuration file is wrong; the message says which file, which key and what is wrong."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file, self.key, self.problem = file, key, problem
        super().__init__(f"{file}: {key or '(top level)'}: {problem}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ------------------------------------------------------------------------------------ rules.yaml
class FamilySpec(_Strict):
    active: bool = True
    name: str
    source: str = Field(min_length=1)


class RuleSpec(_Strict):
    active: bool = True
    severity: Severity
    explanation_nl: str = Field(min_length=1)
    explanation_en: str = Field(min_length=1)
    next_step_nl: str = ""
    next_step_en: str = ""
    source: str = ""

    @field_validator("explanation_nl", "explanation_en", "next_step_nl", "next_step_en")
    @classmethod
    def _known_placeholders(cls, text: str) -> str:
        for _, name, _, _ in string.Formatter().parse(text):
            if name is not None and name not in PLACEHOLDERS:
                raise ValueError(f"unknown placeholder {{{name}}}; use one of {sorted(PLACEHOLDERS)}")
        return text


class RulesFile(_Strict):
    families: dict[str, FamilySpec]
    rules: dict[str, RuleSpec]


# ------------------------------------------------------------------------------- thresholds.yaml
class Ages(_Strict):
    ten4_max_years_exclusive: int = Field(gt=0)
    ten4_any_bruise_max_months: float = Field(gt=0)
    pedibirn_max_years_exclusive: int = Field(gt=0)
    sentinel_max_months_exclusive: float = Field(gt=0)
    sentinel_non_mobile_max_months_exclusive: float = Field(gt=0)
    fracture_infant_max_months_exclusive: float = Field(gt=0)
    fracture_toddler_max_months_exclusive: float = Field(gt=0)
    toddler_spiral_min_months_exclusive: float = Field(ge=0)
    skull_linear_min_months: float = Field(ge=0)
    birth_related_max_days: int = Field(ge=0)
    child_max_years_exclusive: int = Field(gt=0)
    adult_min_years: int = Field(gt=0)
    strangulation_min_years: int = Field(ge=0)
    elder_min_years: int = Field(gt=0)


class Limits(_Strict):
    short_fall_max_metres: float = Field(gt=0)
    repeated_visits_min: int = Field(gt=0)
    flag_min_severity: Severity


class ThresholdsFile(_Strict):
    ages: Ages
    limits: Limits
    site_groups: dict[str, list[str]]


# ------------------------------------------------------------------------------- vocabulary.yaml
class ConceptKind(StrEnum):
    INJURY = "injury"
    SITE = "site"
    DESCRIPTOR = "descriptor"
    MECHANISM = "mechanism"
    SIGNAL = "signal"
    NEGATION_PRE = "negation_pre"
    NEGATION_POST = "negation_post"
    PSEUDO_NEGATION = "pseudo_negation"
    TERMINATOR = "terminator"
    FALSE_FRIEND = "false_friend"
    PART = "part"  # counts only inside a combination of lexicon.yaml ("vriend" + "duwde")


class Language(StrEnum):
    NL = "nl"
    EN = "en"


class Concept(_Strict):
    kind: ConceptKind
    value: str = ""
    site: str = ""
    terms: dict[Language, list[str]]


class VocabularySettings(_Strict):
    negation_window: int = Field(ge=1, le=20)
    post_negation_window: int = Field(ge=1, le=20)


class VocabularyFile(_Strict):
    settings: VocabularySettings
    concepts: dict[str, Concept]


# ---------------------------------------------------------------------------------- lexicon.yaml
class SpellingSettings(_Strict):
    min_length: int = Field(ge=3, le=20)
    long_from: int = Field(ge=4, le=30)
    dictionaries: list[str] = Field(default_factory=list)
    min_count: int = Field(ge=0)
    source: str = Field(min_length=1)


class Window(_Strict):
    forward: int = Field(ge=0, le=30)
    backward: int = Field(ge=0, le=30)


class LexiconSettings(_Strict):
    spelling: SpellingSettings
    context_windows: dict[str, Window]


class AbbreviationEntry(_Strict):
    means: str = Field(min_length=1)
    source: str = Field(min_length=1)
    not_before_number: bool = False


class ContextTriggers(_Strict):
    forward: list[str] = Field(default_factory=list)
    backward: list[str] = Field(default_factory=list)
    ends_at: list[str] = Field(default_factory=list)  # words that end this category's forward scope
    source: str = Field(min_length=1)


class Makes(_Strict):
    kind: ConceptKind
    value: str = Field(min_length=1)


class CombinationSpec(_Strict):
    makes: Makes
    parts: list[list[str]] = Field(min_length=2, max_length=2)
    window: int = Field(ge=1, le=20)
    same: str = "clause"
    patient_sex: str = ""
    unless: list[str] = Field(default_factory=list)
    source: str = Field(min_length=1)


class LexiconFile(_Strict):
    settings: LexiconSettings
    abbreviations: dict[str, AbbreviationEntry]
    keep_full_stop_after: list[str] = Field(default_factory=list)
    diminutives: list[str] = Field(default_factory=list)
    not_diminutives: list[str] = Field(default_factory=list)
    context: dict[str, ContextTriggers]
    combinations: dict[str, CombinationSpec] = Field(default_factory=dict)


# ------------------------------------------------------------------------------------ codes.yaml
class IcdEntry(_Strict):
    rule: str
    codes: list[str] = Field(min_length=1)
    label: str = ""


class AgeCodes(_Strict):
    max_months_exclusive: float = Field(gt=0)
    codes: list[str] = Field(min_length=1)


class SnomedEntry(_Strict):
    rule: str
    code: str = Field(pattern=r"^\d{6,18}$")
    label: str = ""


class Answer(StrEnum):
    YES = "yes"
    NO = "no"


class ScreeningItem(_Strict):
    code: str = Field(min_length=1)
    abnormal: Answer
    question_nl: str
    question_en: str
    # Words that name this item when a checklist is typed in a note ("vertraging ja", "interactie: nee").
    topics: list[str] = Field(default_factory=list)


class Screening(_Strict):
    rule: str
    items: list[ScreeningItem] = Field(min_length=1)


class KindcheckCodes(_Strict):
    signal: str = Field(min_length=1)
    codes: list[str] = Field(min_length=1)
    label: str = ""


class CodesFile(_Strict):
    icd10: list[IcdEntry]
    kindcheck: list[KindcheckCodes] = Field(default_factory=list)
    strangulation_codes: list[str] = Field(default_factory=list)
    perpetrator_4th: dict[str, str] = Field(default_factory=dict)
    place_4th: dict[str, str] = Field(default_factory=dict)
    partner_codes: list[str] = Field(default_factory=list)
    age_specific: list[AgeCodes]
    snomed: list[SnomedEntry]
    answers: dict[Answer, list[str]]
    screening: dict[str, Screening]


# --------------------------------------------------------------------------------- compiled form
_CODE_TOKEN = re.compile(r"^[A-Z][0-9?]{2}[0-9A-Z?]{0,4}$")


def normalise_code(code: str) -> str:
    """ICD-10 codes compare without dot or spaces, in capitals: `t74.1` → `T741`."""
    return code.replace(".", "").replace(" ", "").upper()


@dataclass(frozen=True, slots=True)
class CodePattern:
    """One entry of codes.yaml: a prefix (with `?` wildcards) or an inclusive range of equal length."""

    text: str
    low: str
    high: str

    def matches(self, code: str) -> bool:
        n = len(self.low)
        head = code[:n]
        if len(head) < n:
            return False
        if self.low == self.high:
            return all(p == "?" or p == c for p, c in zip(self.low, head, strict=True))
        return self.low <= head <= self.high

    @classmethod
    def parse(cls, text: str) -> CodePattern:
        low, _, high = text.partition("-")
        low, high = normalise_code(low), normalise_code(high or low)
        if not _CODE_TOKEN.match(low) or not _CODE_TOKEN.match(high) or len(low) != len(high):
            raise ValueError(f"{text!r} is not an ICD-10 code, prefix or range of equal length")
        return cls(text, low, high)


@dataclass(frozen=True, slots=True)
class Combination:
    """Two vocabulary concepts in one clause, at most `window` words apart, make a signal or mechanism."""

    name: str
    kind: str  # "signal" or "mechanism"
    value: str
    parts: tuple[frozenset[str], frozenset[str]]  # concept names of vocabulary.yaml, per side
    window: int
    same_text: bool = False  # anywhere in the same text instead of the same clause
    patient_sex: str = ""  # "male"/"female": only for a patient of this sex
    unless: frozenset[str] = frozenset()  # not when the presentation has one of these signals


@dataclass(frozen=True, slots=True)
class ScreeningQuestion:
    rule_id: str
    instrument: str
    code: str
    abnormal: Answer
    question_nl: str
    question_en: str
    topics: tuple[str, ...] = ()


MAX_REMEMBERED_CODES = 50_000
_UNKNOWN = object()  # not looked up yet (None is an answer)


@dataclass(frozen=True)
class DetectionConfig:
    """Everything `detect()` needs, validated and compiled once."""

    families: Mapping[str, FamilySpec]
    rules: Mapping[str, RuleSpec]
    ages: Ages
    limits: Limits
    site_groups: Mapping[str, frozenset[str]]
    lexicon: Lexicon
    icd10: tuple[tuple[str, tuple[CodePattern, ...]], ...]  # (rule id, patterns), first match wins
    perpetrator_4th: Mapping[str, str]
    place_4th: Mapping[str, str]
    partner_codes: tuple[CodePattern, ...]
    age_codes: tuple[tuple[float, tuple[CodePattern, ...]], ...]
    snomed: Mapping[str, tuple[str, str]]  # code → (rule id, label)
    answers: Mapping[str, Answer]
    screening: Mapping[str, ScreeningQuestion]  # observation code (upper case) → question
    combinations: tuple[Combination, ...] = ()
    kindcheck_codes: tuple[tuple[str, tuple[CodePattern, ...]], ...] = ()  # (signal, patterns)
    strangulation_codes: tuple[CodePattern, ...] = ()
    # Instrument (upper case, as in "ESCAPE-2") → its items in order: for checklists typed in a note.
    instrument_items: Mapping[str, tuple[ScreeningQuestion, ...]] = field(default_factory=dict)
    # What `icd10_rule` and `age_code_limits` found per code: a presentation with forty coded items
    # asked the same pattern lists the same questions hundreds of times. Only ever added to.
    _code_answers: dict[tuple[str, str], Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def combination_concepts(self) -> frozenset[str]:
        """Every concept a combination needs: the only mentions worth grouping for them."""
        found = self._code_answers.get(("combinations", ""), _UNKNOWN)
        if found is _UNKNOWN:
            found = frozenset(
                c for combination in self.combinations for side in combination.parts for c in side
            )
            self._code_answers[("combinations", "")] = found
        return found

    def icd10_rule(self, code: str) -> str | None:
        """The rule of the first `icd10` entry with a pattern matching `code` (normalised), if any."""
        known = self._code_answers.get(("icd10", code), _UNKNOWN)
        if known is not _UNKNOWN:
            return known
        matching = (rule for rule, patterns in self.icd10 if any(p.matches(code) for p in patterns))
        rule: str | None = next(matching, None)
        self._remember(("icd10", code), rule)
        return rule

    def age_code_limits(self, code: str) -> tuple[float, ...]:
        """The age limits (months) of the `age_codes` entries with a pattern matching `code`, in order."""
        known = self._code_answers.get(("age", code), _UNKNOWN)
        if known is not _UNKNOWN:
            return known
        limits = tuple(limit for limit, patterns in self.age_codes if any(p.matches(code) for p in patterns))
        self._remember(("age", code), limits)
        return limits

    def _remember(self, key: tuple[str, str], answer: object) -> None:
        if len(self._code_answers) >= MAX_REMEMBERED_CODES:  # a flood of made-up codes stays bounded
            self._code_answers.clear()
        self._code_answers[key] = answer

    def rule_active(self, rule_id: str) -> bool:
        rule = self.rules.get(rule_id)
        if rule is None or not rule.active:
            return False
        family = self.families.get(family_of(rule_id))
        return family is not None and family.active

    def family_active(self, family: str) -> bool:
        spec = self.families.get(family)
        return spec is not None and spec.active

    def source_of(self, rule_id: str) -> str:
        rule = self.rules[rule_id]
        return rule.source or self.families[family_of(rule_id)].source

    def active_rules(self) -> list[tuple[str, RuleSpec, str]]:
        """(rule id, spec, source) of every active rule, in file order."""
        return [(rid, spec, self.source_of(rid)) for rid, spec in self.rules.items() if self.rule_active(rid)]


def family_of(rule_id: str) -> str:
    """`R-CODE-T74` → `R-CODE`; `R-BR-1` → `R-BR`."""
    parts = rule_id.split("-")
    return "-".join(parts[:2])


# ------------------------------------------------------------------------------------- parsing
class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true/false. `no`, `yes`, `on` stay words (the English cue "no")."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def _load_yaml(file: str, text: str) -> Any:
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(file, where, f"not valid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise ConfigError(file, "", "must be a mapping of keys to values")
    return data


def _validate(model: type[_M], file: str, data: Any) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise ConfigError(file, key, first["msg"]) from None


def parse_config(sources: Mapping[str, str]) -> DetectionConfig:
    """Validate and compile the five files given as {file name: text}. Pure."""
    missing = [f for f in FILES if f not in sources]
    if missing:
        raise ConfigError(missing[0], "", "file is missing")
    rules = _validate(RulesFile, "rules.yaml", _load_yaml("rules.yaml", sources["rules.yaml"]))
    thresholds = _validate(
        ThresholdsFile, "thresholds.yaml", _load_yaml("thresholds.yaml", sources["thresholds.yaml"])
    )
    vocabulary = _validate(
        VocabularyFile, "vocabulary.yaml", _load_yaml("vocabulary.yaml", sources["vocabulary.yaml"])
    )
    codes = _validate(CodesFile, "codes.yaml", _load_yaml("codes.yaml", sources["codes.yaml"]))
    lexicon_file = _validate(LexiconFile, "lexicon.yaml", _load_yaml("lexicon.yaml", sources["lexicon.yaml"]))

    for rule_id in rules.rules:
        if family_of(rule_id) not in rules.families:
            raise ConfigError(
                "rules.yaml", f"rules.{rule_id}", "rule id does not start with a known family id"
            )
    lexicon, sites = _compile_vocabulary(vocabulary, lexicon_file)
    combinations = _compile_combinations(vocabulary, lexicon_file)
    for name in REQUIRED_SITE_GROUPS:
        if name not in thresholds.site_groups:
            raise ConfigError("thresholds.yaml", f"site_groups.{name}", "required site group is missing")
    for name, members in thresholds.site_groups.items():
        for i, site in enumerate(members):
            if site not in sites:
                raise ConfigError(
                    "thresholds.yaml", f"site_groups.{name}.{i}", f"{site!r} is not a site in vocabulary.yaml"
                )

    def rule_ref(key: str, rule_id: str) -> str:
        if rule_id not in rules.rules:
            raise ConfigError("codes.yaml", key, f"rule {rule_id!r} is not defined in rules.yaml")
        return rule_id

    def patterns(key: str, texts: list[str]) -> tuple[CodePattern, ...]:
        out = []
        for i, text in enumerate(texts):
            try:
                out.append(CodePattern.parse(text))
            except ValueError as exc:
                raise ConfigError("codes.yaml", f"{key}.{i}", str(exc)) from None
        return tuple(out)

    icd10 = tuple(
        (rule_ref(f"icd10.{i}.rule", e.rule), patterns(f"icd10.{i}.codes", e.codes))
        for i, e in enumerate(codes.icd10)
    )
    rule_ref("age_specific", "R-CODE-AGE")
    age_codes = tuple(
        (e.max_months_exclusive, patterns(f"age_specific.{i}.codes", e.codes))
        for i, e in enumerate(codes.age_specific)
    )
    snomed = {e.code: (rule_ref(f"snomed.{i}.rule", e.rule), e.label) for i, e in enumerate(codes.snomed)}
    answers: dict[str, Answer] = {}
    for answer, words in codes.answers.items():
        for word in words:
            answers[word.strip().lower()] = answer
    screening: dict[str, ScreeningQuestion] = {}
    for name, block in codes.screening.items():
        rule_ref(f"screening.{name}.rule", block.rule)
        for item in block.items:
            screening[item.code.upper()] = ScreeningQuestion(
                block.rule,
                name,
                item.code,
                item.abnormal,
                item.question_nl,
                item.question_en,
                tuple(t.strip().lower() for t in item.topics),
            )
    return DetectionConfig(
        families=rules.families,
        rules=rules.rules,
        ages=thresholds.ages,
        limits=thresholds.limits,
        site_groups={k: frozenset(v) for k, v in thresholds.site_groups.items()},
        lexicon=lexicon,
        icd10=icd10,
        perpetrator_4th=codes.perpetrator_4th,
        place_4th=codes.place_4th,
        partner_codes=patterns("partner_codes", codes.partner_codes),
        age_codes=age_codes,
        snomed=snomed,
        answers=answers,
        screening=screening,
        combinations=combinations,
        kindcheck_codes=tuple(
            (e.signal, patterns(f"kindcheck.{i}.codes", e.codes)) for i, e in enumerate(codes.kindcheck)
        ),
        strangulation_codes=patterns("strangulation_codes", codes.strangulation_codes),
        instrument_items={
            name.upper(): tuple(q for q in screening.values() if q.instrument == name)
            for name in codes.screening
        },
    )


def _compile_combinations(vocabulary: VocabularyFile, lexicon: LexiconFile) -> tuple[Combination, ...]:
    out = []
    for name, spec in lexicon.combinations.items():
        for i, side in enumerate(spec.parts):
            for j, part in enumerate(side):
                if part not in vocabulary.concepts:
                    raise ConfigError(
                        "lexicon.yaml",
                        f"combinations.{name}.parts.{i}.{j}",
                        f"{part!r} is not a concept in vocabulary.yaml",
                    )
        if spec.same not in ("clause", "text"):
            raise ConfigError("lexicon.yaml", f"combinations.{name}.same", "must be clause or text")
        if spec.makes.kind not in (ConceptKind.SIGNAL, ConceptKind.MECHANISM):
            raise ConfigError(
                "lexicon.yaml", f"combinations.{name}.makes.kind", "must be signal or mechanism"
            )
        if spec.patient_sex not in ("", "male", "female"):
            raise ConfigError("lexicon.yaml", f"combinations.{name}.patient_sex", "must be male or female")
        out.append(
            Combination(
                name,
                spec.makes.kind.value,
                spec.makes.value,
                (frozenset(spec.parts[0]), frozenset(spec.parts[1])),
                spec.window,
                spec.same == "text",
                spec.patient_sex,
                frozenset(spec.unless),
            )
        )
    return tuple(out)


@lru_cache(maxsize=4)
def common_words(languages: tuple[str, ...], min_count: int) -> frozenset[str]:
    """Ordinary words of `languages` (pyspellchecker's frequency lists), folded: never "corrected"."""
    words: set[str] = set()
    for language in languages:
        data = (resources.files("spellchecker") / "resources" / f"{language}.json.gz").read_bytes()
        counts: dict[str, int] = json.loads(gzip.decompress(data))
        words.update(fold_word for word, n in counts.items() if n >= min_count for fold_word in _folded(word))
    return frozenset(words)


def _folded(word: str) -> list[str]:
    tokens = tokenize(word)
    return tokens if len(tokens) == 1 else []


def _compile_vocabulary(vocabulary: VocabularyFile, lexicon_file: LexiconFile) -> tuple[Lexicon, set[str]]:
    specs: list[PhraseSpec] = []
    owner: dict[tuple[str, ...], str] = {}
    sites: set[str] = set()
    for name, concept in vocabulary.concepts.items():
        value = concept.value or name
        if concept.kind is ConceptKind.SITE:
            sites.add(value)
        for language, terms in concept.terms.items():
            for i, term in enumerate(terms):
                key = f"concepts.{name}.terms.{language.value}.{i}"
                words = tuple(_term_words(term))
                if not words or words[0] == "_":
                    raise ConfigError("vocabulary.yaml", key, f"{term!r} must start with a word")
                previous = owner.get(words)
                if previous is not None and previous != name:
                    raise ConfigError(
                        "vocabulary.yaml", key, f"{term!r} is already listed under {previous!r}"
                    )
                if previous is None:
                    owner[words] = name
                    specs.append(PhraseSpec(words, name, concept.kind.value, value, concept.site))
    for name, concept in vocabulary.concepts.items():
        if concept.site and concept.site not in sites:
            raise ConfigError(
                "vocabulary.yaml", f"concepts.{name}.site", f"{concept.site!r} is not a known site"
            )
    scope_ends: dict[str, set[str]] = {}
    for category, triggers in lexicon_file.context.items():
        if category not in CATEGORIES:
            raise ConfigError("lexicon.yaml", f"context.{category}", f"must be one of {list(CATEGORIES)}")
        for direction, kind in (("forward", "context_pre"), ("backward", "context_post")):
            for i, term in enumerate(getattr(triggers, direction)):
                words = tuple(_term_words(term))
                key = f"context.{category}.{direction}.{i}"
                if not words or words[0] == "_":
                    raise ConfigError("lexicon.yaml", key, f"{term!r} must start with a word")
                if words in owner:
                    raise ConfigError(
                        "lexicon.yaml", key, f"{term!r} is already listed under {owner[words]!r}"
                    )
                owner[words] = f"context.{category}"
                specs.append(PhraseSpec(words, f"context_{category}", kind, category))
        for term in triggers.ends_at:
            words = tuple(_term_words(term))
            if words in owner:
                # A word that is already something else keeps that meaning and also ends the scope.
                scope_ends.setdefault(" ".join(words), set()).add(category)
                continue
            owner[words] = f"context.{category}.ends_at"
            specs.append(PhraseSpec(words, f"context_{category}_end", "context_end", category))
    expansions: dict[str, Expansion] = {}
    for short, entry in lexicon_file.abbreviations.items():
        written = [t for t in tokenize(short) if t != "."]
        means = tuple(t for t in tokenize(entry.means) if t != ".")
        if len(written) != 1 or not means:
            raise ConfigError(
                "lexicon.yaml",
                f"abbreviations.{short}",
                "an abbreviation must be one word that stands for words",
            )
        expansions[written[0]] = Expansion(means, entry.not_before_number)
    spelling = lexicon_file.settings.spelling
    targets = [
        w.strip("*")
        for spec in specs
        if spec.kind not in ("false_friend", "pseudo_negation", "context_pre", "context_post", "terminator")
        for w in spec.words
        if w != "_" and not w.startswith("*")
    ]
    speller = Speller(
        targets,
        common_words(tuple(spelling.dictionaries), spelling.min_count)
        if spelling.dictionaries
        else frozenset(),
        min_length=spelling.min_length,
        long_from=spelling.long_from,
    )
    lexicon = Lexicon(
        specs,
        window=vocabulary.settings.negation_window,
        post_window=vocabulary.settings.post_negation_window,
        context_windows={
            k: (w.forward, w.backward) for k, w in lexicon_file.settings.context_windows.items()
        },
        expansions=expansions,
        abbreviations=frozenset(lexicon_file.keep_full_stop_after),
        diminutives=tuple(lexicon_file.diminutives),
        not_diminutives=frozenset(lexicon_file.not_diminutives),
        corrector=speller,
        scope_ends={words: frozenset(categories) for words, categories in scope_ends.items()},
    )
    return lexicon, sites


def _term_words(term: str) -> list[str]:
    """Fold a vocabulary term the same way text is folded, keeping `*` and `_` markers."""
    words = []
    for raw in term.split():
        lead = "*" if raw.startswith("*") else ""
        tail = "*" if raw.endswith("*") and len(raw) > 1 else ""
        if raw == "_":
            words.append("_")
            continue
        core = [t for t in tokenize(raw.strip("*")) if t != "."]
        if not core:
            continue
        # A hyphenated term ("auto-ongeluk") becomes several words, as it does in text.
        core[0] = lead + core[0]
        core[-1] = core[-1] + tail
        words.extend(core)
    return words


def load_config(directory: Path | None = None) -> DetectionConfig:
    """Read and validate the five files of `directory` (default: the packaged configuration)."""
    folder = directory or CONFIG_DIR
    sources: dict[str, str] = {}
    for name in FILES:
        path = folder / name
        try:
            sources[name] = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(name, "", f"cannot be read from {folder}: {exc.strerror}") from None
    return parse_config(sources)


@lru_cache(maxsize=1)
def default_config() -> DetectionConfig:
    """The packaged configuration, loaded once per process."""
    return load_config()
