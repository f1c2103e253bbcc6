"""Find vocabulary phrases in folded tokens, then mark their context the way ConText does.

Before matching, each token is normalised once (and remembered): an abbreviation from the lexicon is
expanded (`g` → `geen`, `#` → `fractuur`, `echtg` → `echtgenoot`); a word the vocabulary does not
know is read as its stem when it is a Dutch diminutive (`brandwondjes` → `brandwond`), as the other
spelling of a d/t-error in a participle (`geduwt` → `geduwd`), or — if it is long enough and not an
ordinary Dutch or English word — as the vocabulary word within a small edit distance (`verbrading`
→ `verbranding`; see `spelling.py`).

A phrase is a sequence of token patterns: `word` (exact), `word*` (prefix), `*word` (suffix, for
Dutch compounds such as `schedelfractuur`) or `_` (any one word). At each position the longest
phrase wins, so `fell asleep` (a false friend) beats `fell` (a fall), `geen verklaring` (a history
signal) beats the cue `geen`, and `subduraal hematoom` beats `hematoom`. False friends and
pseudo-negations are matched only to consume their words.

Context, after ConText (Harkema et al., J Biomed Inform 2009) with Dutch triggers after ContextD
(Afzal et al., BMC Bioinformatics 2014): a trigger marks the mentions in its scope as negated,
historical, hypothetical or about another person (experiencer). A forward trigger (`geen`, `VG`,
`ter uitsluiting van`, `moeder heeft`) reaches the mentions that start within its window after it; a
backward trigger (`uitgesloten`, `in de voorgeschiedenis`, `overwogen`) those that end within its
window before it. Scope never crosses a clause boundary (see normalize.py: an abbreviation's full
stop is not one), and a terminator (`maar`, `wel`, `but`) ends every open forward scope.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import chain, compress
from typing import cast

from detection.text.normalize import CLAUSE_BREAK, tokenize

# Kinds whose matches are never evidence themselves.
CUE_PRE = "negation_pre"
CUE_POST = "negation_post"
CONTEXT_PRE = "context_pre"  # value: the category (historical, hypothetical, experiencer, negated)
CONTEXT_POST = "context_post"
CONTEXT_END = "context_end"  # value: the category whose forward scope it ends ("moeder heeft hem …")
TERMINATOR = "terminator"
CONSUME_ONLY = frozenset({"false_friend", "pseudo_negation"})
STRUCTURAL = frozenset({CUE_PRE, CUE_POST, CONTEXT_PRE, CONTEXT_POST, CONTEXT_END, TERMINATOR}) | CONSUME_ONLY

NEGATED = "negated"
HISTORICAL = "historical"
HYPOTHETICAL = "hypothetical"
EXPERIENCER = "experiencer"
CATEGORIES = (NEGATED, HISTORICAL, HYPOTHETICAL, EXPERIENCER)

_EXACT, _PREFIX, _SUFFIX, _ANY = 0, 1, 2, 3
_CACHE_LIMIT = 50_000
# A text is read up to this many vocabulary matches. A real note has tens; a text that repeats
# vocabulary words thousands of times has said all it will say long before this, and stopping keeps the
# work after the scan (context, facts, rules) small however long the text is.
MAX_MENTIONS = 2_000


@dataclass(frozen=True, slots=True)
class PhraseSpec:
    """One vocabulary entry as the configuration gives it (already split into words)."""

    words: tuple[str, ...]
    concept: str  # the configuration key, e.g. "bruise", "site_ear", "ff_fell_asleep"
    kind: str  # injury, site, descriptor, mechanism, signal, part, negation_pre, context_pre, …
    value: str  # what the concept stands for: "bruise", "ear", "linear", "fall", "historical", …
    site: str = ""  # a body site implied by the phrase itself ("black eye" → eyelid)


@dataclass(frozen=True, slots=True)
class Expansion:
    """An abbreviation from the lexicon: the words it stands for."""

    words: tuple[str, ...]
    not_before_number: bool = False  # "BP 120/80" is a blood pressure, "BP wang" a bruise


@dataclass(frozen=True, slots=True)
class _Phrase:
    patterns: tuple[tuple[int, str], ...]
    spec: PhraseSpec
    rank: int  # longer first; exact beats wildcard at equal length


@dataclass(slots=True)
class Mention:
    """A phrase found in a text: what it stands for, where, and its context."""

    kind: str
    value: str
    start: int  # token index
    end: int  # token index, exclusive
    clause: int
    text: str  # the matched words, folded and normalised
    site: str = ""
    negated: bool = False
    historical: bool = False
    hypothetical: bool = False
    other_person: bool = False  # ConText "experiencer: other"
    concept: str = ""

    @property
    def asserted(self) -> bool:
        """About the patient, now, and not negated or hypothetical."""
        return not (self.negated or self.historical or self.hypothetical or self.other_person)

    def mark(self, category: str) -> None:
        if category == NEGATED:
            self.negated = True
        elif category == HISTORICAL:
            self.historical = True
        elif category == HYPOTHETICAL:
            self.hypothetical = True
        elif category == EXPERIENCER:
            self.other_person = True


@dataclass(slots=True)
class TextMatch:
    tokens: list[str]
    mentions: list[Mention] = field(default_factory=list)


# What scan() sees at a clause break: not a phrase (never matched), but truthy, so `compress` stops there.
_BREAK: tuple[_Phrase, ...] = (_Phrase((), PhraseSpec((), "", "", ""), rank=0),)


def _pattern(word: str) -> tuple[int, str]:
    if word == "_":
        return (_ANY, "")
    if word.endswith("*") and len(word) > 1:
        return (_PREFIX, word[:-1])
    if word.startswith("*") and len(word) > 1:
        return (_SUFFIX, word[1:])
    return (_EXACT, word)


def _token_matches(pattern: tuple[int, str], token: str) -> bool:
    mode, s = pattern
    if token == CLAUSE_BREAK:
        return False
    if mode == _EXACT:
        return token == s
    if mode == _PREFIX:
        return token.startswith(s)
    if mode == _SUFFIX:
        return token.endswith(s) and len(token) > len(s)
    return True


Corrector = Callable[[str], "str | None"]


class Lexicon:
    """The compiled vocabulary: an index from a token to the phrases that can start there."""

    def __init__(
        self,
        specs: list[PhraseSpec],
        *,
        window: int = 5,
        post_window: int = 3,
        context_windows: Mapping[str, tuple[int, int]] | None = None,
        expansions: Mapping[str, Expansion] | None = None,
        abbreviations: frozenset[str] = frozenset(),
        diminutives: tuple[str, ...] = (),
        not_diminutives: frozenset[str] = frozenset(),
        corrector: Corrector | None = None,
        scope_ends: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self.window = window
        # Words that close a forward scope and are also a concept of their own ("hem" ends the
        # experiencer scope of "moeder heeft hem geslagen" and is the patient in "sloeg hem"):
        # matched text → the categories whose scope it ends.
        self.scope_ends = dict(scope_ends or {})
        self.post_window = post_window
        self.context_windows = dict(context_windows or {})
        self.context_windows.setdefault(NEGATED, (window, post_window))
        self.expansions = dict(expansions or {})
        self.abbreviations = abbreviations
        self.diminutives = tuple(sorted(diminutives, key=len, reverse=True))
        self.not_diminutives = not_diminutives
        self.corrector = corrector
        self._exact: dict[str, list[_Phrase]] = {}
        self._prefix: dict[str, list[_Phrase]] = {}
        self._suffix: list[_Phrase] = []
        self._single_word: dict[str, PhraseSpec] = {}  # for reading the first half of a compound
        self._one_word: set[str] = set()  # exact one-word terms: what a diminutive or d/t form may become
        for spec in specs:
            patterns = tuple(_pattern(w) for w in spec.words)
            exactness = sum(1 for mode, _ in patterns if mode == _EXACT)
            phrase = _Phrase(patterns, spec, rank=len(patterns) * 10 + exactness)
            mode, s = patterns[0]
            if mode == _EXACT:
                self._exact.setdefault(s, []).append(phrase)
            elif mode == _PREFIX:
                self._prefix.setdefault(s[:3], []).append(phrase)
            elif mode == _SUFFIX:
                self._suffix.append(phrase)
            else:
                raise ValueError(f"phrase {' '.join(spec.words)!r} may not start with '_'")
            if len(patterns) == 1 and mode == _EXACT and spec.kind in {"site", "descriptor"}:
                self._single_word.setdefault(s, spec)
            if len(patterns) == 1 and mode != _ANY and spec.kind not in STRUCTURAL:
                self._one_word.add(s)
        self._suffixes = tuple(p.patterns[0][1] for p in self._suffix)
        self._min_prefix = 3
        self._cache: dict[str, tuple[_Phrase, ...]] = {}
        self._normal: dict[str, tuple[str, ...]] = {CLAUSE_BREAK: (CLAUSE_BREAK,)}
        self._guarded = frozenset(k for k, e in self.expansions.items() if e.not_before_number)
        # prepare(): raw token → the words it stands for (guarded abbreviations are never in it).
        self._words: dict[str, tuple[str, ...]] = {CLAUSE_BREAK: (CLAUSE_BREAK,)}
        # scan(): token → the phrases that can start there; a clause break maps to _BREAK.
        self._starts: dict[str, tuple[_Phrase, ...]] = {CLAUSE_BREAK: _BREAK}
        # scan(): (token, next token) → the phrases that can start there and whose second word fits.
        self._followers: dict[tuple[str, str | None], tuple[_Phrase, ...]] = {}

    # ------------------------------------------------------------------------------ lookup
    def _candidates(self, token: str) -> tuple[_Phrase, ...]:
        """Phrases that can start at `token`, best (longest, most exact) first; memoised per word."""
        cached = self._cache.get(token)
        if cached is not None:
            return cached
        found = list(self._exact.get(token, ()))
        if len(token) >= self._min_prefix:
            for phrase in self._prefix.get(token[:3], ()):
                if token.startswith(phrase.patterns[0][1]):
                    found.append(phrase)
        if token.endswith(self._suffixes):
            found.extend(p for p in self._suffix if _token_matches(p.patterns[0], token))
        # Stable sort: at equal rank the configuration's order decides, as it always did.
        result = tuple(sorted(found, key=lambda p: -p.rank))
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()  # words of free text are unbounded; the vocabulary is not
        self._cache[token] = result
        return result

    def _known_word(self, token: str) -> bool:
        """A one-word vocabulary term matches `token` on its own (exact, prefix or compound)."""
        return any(len(p.patterns) == 1 and p.spec.kind not in STRUCTURAL for p in self._candidates(token))

    def normalise(self, token: str) -> tuple[str, ...]:
        """The word(s) `token` stands for: expansion, diminutive stem, d/t spelling or correction."""
        known = self._normal.get(token)
        if known is not None:
            return known
        result = self._normalise(token)
        if len(self._normal) >= _CACHE_LIMIT:
            self._normal.clear()
            self._normal[CLAUSE_BREAK] = (CLAUSE_BREAK,)
        self._normal[token] = result
        return result

    def _normalise(self, token: str) -> tuple[str, ...]:
        expansion = self.expansions.get(token)
        if expansion is not None:
            return expansion.words
        if self._candidates(token) or len(token) < 4 or not token.isalpha():
            return (token,)
        for suffix in () if token in self.not_diminutives else self.diminutives:
            stem = token[: -len(suffix)]  # "brandwondjes" → "brandwond", "vriendje" → "vriend"
            if token.endswith(suffix) and len(stem) >= 3 and stem in self._one_word:
                return (stem,)
        # A d/t error in a participle or verb: "geduwt" → "geduwd", "vervuilt" → "vervuild".
        options: tuple[str, ...]
        if token.endswith("dt"):
            options = (token[:-1], token[:-2] + "t")
        elif token.endswith("t"):
            options = (token[:-1] + "d",)
        elif token.endswith("d"):
            options = (token[:-1] + "t",)
        else:
            options = ()
        for option in options:
            if self._known_word(option):
                return (option,)
        if self.corrector is not None:
            corrected = self.corrector(token)
            if corrected is not None:
                return (corrected,)
        return (token,)

    def prepare(self, text: str) -> list[str]:
        """Tokenise and normalise a text: the tokens the phrases are matched against.

        Each distinct word is normalised once and remembered, so a text whose words have been seen
        costs one dictionary look-up per word (`map`, in C) and no Python work per token.
        """
        raw = tokenize(text, self.abbreviations)
        words = list(map(self._words.get, raw))
        if None in words:
            self._fill_words(raw, words)
        return list(chain.from_iterable(cast(list[tuple[str, ...]], words)))  # no None left

    def _fill_words(self, raw: list[str], words: list[tuple[str, ...] | None]) -> None:
        """Normalise the words `prepare` has not seen; an abbreviation that may not stand before a
        number ("BP 120/80": a blood pressure, not a bruise) is judged in place and never remembered."""
        cache = self._words
        guarded = self._guarded
        for i, token in enumerate(raw):
            if words[i] is not None:
                continue
            normal = self.normalise(token)
            if token in guarded:
                if len(normal) > 1 and i + 1 < len(raw) and raw[i + 1][:1].isdigit():
                    normal = (token,)
            else:
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                    cache[CLAUSE_BREAK] = (CLAUSE_BREAK,)
                cache[token] = normal
            words[i] = normal

    def compound_part(self, token: str, suffix: str) -> PhraseSpec | None:
        """The site or descriptor in front of a compound: `ribfractuur` → rib, `oorhematoom` → ear."""
        head = token[: len(token) - len(suffix)]
        for candidate in (
            head,
            head[:-1] if head.endswith("s") else "",
            head[:-2] if head.endswith("en") else "",
        ):
            if candidate and candidate in self._single_word:
                return self._single_word[candidate]
        return None

    # ------------------------------------------------------------------------------ matching
    def scan(self, tokens: list[str], *, limit: int = MAX_MENTIONS) -> list[Mention]:
        """Greedy longest-match from left to right; returns the phrases found (at most `limit`, from the
        start of the text), before context.

        The phrases that can start at each token come from one look-up per token (`map`, in C); only the
        tokens where a phrase can start, and the clause breaks, are visited in Python.
        """
        mentions: list[Mention] = []
        found = list(map(self._starts.get, tokens))
        if None in found:
            self._fill_starts(tokens, found)
        starts = cast(list[tuple[_Phrase, ...]], found)  # no None left
        followers = self._followers
        clause = 0
        free = 0  # the first token not inside an earlier match
        n = len(tokens)
        for i in compress(range(n), starts):
            candidates = starts[i]
            if candidates is _BREAK:
                clause += 1
                continue
            if i < free:
                continue
            if len(mentions) >= limit:
                break
            # Only the phrases whose second word fits the next token (one look-up per pair, remembered).
            pair = (tokens[i], tokens[i + 1] if i + 1 < n else None)
            fitting = followers.get(pair)
            if fitting is None:
                fitting = self._fitting(pair, candidates)
            best: _Phrase | None = None
            for phrase in fitting:  # best first: the first that matches wins
                patterns = phrase.patterns
                length = len(patterns)
                if i + length > n:
                    continue
                k = 2
                while k < length:
                    mode, word = patterns[k]
                    other = tokens[i + k]
                    if not (other == word if mode == _EXACT else _token_matches(patterns[k], other)):
                        break
                    k += 1
                if k >= length:
                    best = phrase
                    break
            if best is None:
                continue
            token = tokens[i]
            length = len(best.patterns)
            spec = best.spec
            site = spec.site
            if best.patterns[0][0] == _SUFFIX and spec.kind == "injury":
                part = self.compound_part(token, best.patterns[0][1])
                if part is not None and part.kind == "site":
                    site = site or part.value
                elif part is not None:
                    mentions.append(
                        Mention(part.kind, part.value, i, i + 1, clause, token, concept=part.concept)
                    )
            mentions.append(
                Mention(
                    spec.kind,
                    spec.value,
                    i,
                    i + length,
                    clause,
                    token if length == 1 else " ".join(tokens[i : i + length]),
                    site,
                    concept=spec.concept,
                )
            )
            free = i + length
        return mentions

    def _fitting(self, pair: tuple[str, str | None], candidates: tuple[_Phrase, ...]) -> tuple[_Phrase, ...]:
        """Of the phrases that can start at `pair[0]`, those of one word and those whose second word
        matches `pair[1]` (None: the text ends), in the same order."""
        following = pair[1]
        fitting = tuple(
            p
            for p in candidates
            if len(p.patterns) == 1 or (following is not None and _token_matches(p.patterns[1], following))
        )
        if len(self._followers) >= _CACHE_LIMIT:
            self._followers.clear()
        self._followers[pair] = fitting
        return fitting

    def _fill_starts(self, tokens: list[str], starts: list[tuple[_Phrase, ...] | None]) -> None:
        """The phrases that can start at the tokens `scan` has not seen, remembered per word."""
        cache = self._starts
        for i, token in enumerate(tokens):
            if starts[i] is None:
                found = self._candidates(token)
                if len(cache) >= _CACHE_LIMIT:
                    cache.clear()
                    cache[CLAUSE_BREAK] = _BREAK
                cache[token] = starts[i] = found

    def context(self, mentions: list[Mention]) -> list[Mention]:
        """Mark each mention's context; drop triggers, terminators, false friends and pseudo-negations.

        One pass: each forward trigger keeps (reach, clause) per category; a backward trigger walks
        back over at most its window of mentions of the same clause. Linear in the number of mentions.
        """
        reach: dict[str, tuple[int, int]] = {}  # category → (last token index reached, clause)
        kept: list[Mention] = []
        for m in mentions:
            kind = m.kind
            if kind in (CUE_PRE, CONTEXT_PRE):
                category = NEGATED if kind == CUE_PRE else m.value
                forward = self.context_windows.get(category, (self.window, 0))[0]
                reach[category] = (m.end + forward - 1, m.clause)
                continue
            if kind == TERMINATOR:
                reach.clear()
                continue
            if kind == CONTEXT_END:
                reach.pop(m.value, None)
                continue
            if kind in (CUE_POST, CONTEXT_POST):
                category = NEGATED if kind == CUE_POST else m.value
                backward = self.context_windows.get(category, (0, self.post_window))[1]
                for earlier in reversed(kept):
                    if earlier.clause != m.clause or m.start - earlier.end >= backward:
                        break
                    earlier.mark(category)
                continue
            if kind in CONSUME_ONLY:
                continue
            for category, (last, clause) in reach.items():
                if m.clause == clause and m.start <= last:
                    m.mark(category)
            kept.append(m)
            for category in self.scope_ends.get(m.text, ()):
                reach.pop(category, None)
        return kept


def match_text(text: str, lexicon: Lexicon) -> TextMatch:
    """Tokenise and normalise `text`; return the non-structural mentions with their context marked."""
    tokens = lexicon.prepare(text)
    return TextMatch(tokens, lexicon.context(lexicon.scan(tokens)))
