"""Find vocabulary phrases in folded tokens, then mark which ones a negation cue cancels.

A phrase is a sequence of token patterns: `word` (exact), `word*` (prefix), `*word` (suffix, for
Dutch compounds such as `schedelfractuur`) or `_` (any one word). At each position the longest
phrase wins, so `fell asleep` (a false friend) beats `fell` (a fall), `geen verklaring` (a history
signal) beats the cue `geen`, and `subduraal hematoom` beats `hematoom`. False friends and
pseudo-negations are matched only to consume their words.

Negation works like NegEx, limited to one clause: a pre-negation cue (`geen`, `zonder`, `no`,
`denies`) cancels the mentions that start within `window` words after it; a post-negation cue
(`uitgesloten`, `ruled out`, `afwezig`) cancels those that end within `post_window` words before it.
A terminator (`maar`, `wel`, `but`) ends the reach of a cue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from detection.text.normalize import CLAUSE_BREAK, tokenize

# Kinds whose matches are never evidence themselves.
CUE_PRE = "negation_pre"
CUE_POST = "negation_post"
TERMINATOR = "terminator"
CONSUME_ONLY = frozenset({"false_friend", "pseudo_negation"})
STRUCTURAL = frozenset({CUE_PRE, CUE_POST, TERMINATOR}) | CONSUME_ONLY

_EXACT, _PREFIX, _SUFFIX, _ANY = 0, 1, 2, 3
_CACHE_LIMIT = 50_000


@dataclass(frozen=True, slots=True)
class PhraseSpec:
    """One vocabulary entry as the configuration gives it (already split into words)."""

    words: tuple[str, ...]
    concept: str  # the configuration key, e.g. "bruise", "site_ear", "ff_fell_asleep"
    kind: str  # injury, site, descriptor, mechanism, signal, negation_pre, …
    value: str  # what the concept stands for: "bruise", "ear", "linear", "fall", …
    site: str = ""  # a body site implied by the phrase itself ("black eye" → eyelid)


@dataclass(frozen=True, slots=True)
class _Phrase:
    patterns: tuple[tuple[int, str], ...]
    spec: PhraseSpec
    rank: int  # longer first; exact beats wildcard at equal length


@dataclass(slots=True)
class Mention:
    """A phrase found in a text: what it stands for, where, and whether it is negated."""

    kind: str
    value: str
    start: int  # token index
    end: int  # token index, exclusive
    clause: int
    text: str  # the matched words, folded
    site: str = ""
    negated: bool = False


@dataclass(slots=True)
class TextMatch:
    tokens: list[str]
    mentions: list[Mention] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[Mention]:
        return [m for m in self.mentions if m.kind == kind]


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


class Lexicon:
    """The compiled vocabulary: an index from a token to the phrases that can start there."""

    def __init__(self, specs: list[PhraseSpec], *, window: int = 5, post_window: int = 3) -> None:
        self.window = window
        self.post_window = post_window
        self._exact: dict[str, list[_Phrase]] = {}
        self._prefix: dict[str, list[_Phrase]] = {}
        self._suffix: list[_Phrase] = []
        self._single_word: dict[str, PhraseSpec] = {}  # for reading the first half of a compound
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
        self._suffixes = tuple(p.patterns[0][1] for p in self._suffix)
        self._min_prefix = 3
        self._cache: dict[str, tuple[_Phrase, ...]] = {}

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

    def scan(self, tokens: list[str]) -> list[Mention]:
        """Greedy longest-match from left to right; returns every phrase found, before negation."""
        mentions: list[Mention] = []
        cache = self._cache
        clause = 0
        i = 0
        n = len(tokens)
        while i < n:
            token = tokens[i]
            if token == CLAUSE_BREAK:
                clause += 1
                i += 1
                continue
            candidates = cache.get(token)
            if candidates is None:
                candidates = self._candidates(token)
            if not candidates:
                i += 1
                continue
            best: _Phrase | None = None
            for phrase in candidates:  # best first: the first that matches wins
                patterns = phrase.patterns
                length = len(patterns)
                if i + length > n:
                    continue
                k = 1
                while k < length:
                    mode, word = patterns[k]
                    other = tokens[i + k]
                    if not (other == word if mode == _EXACT else _token_matches(patterns[k], other)):
                        break
                    k += 1
                if k == length:
                    best = phrase
                    break
            if best is None:
                i += 1
                continue
            length = len(best.patterns)
            spec = best.spec
            site = spec.site
            value = spec.value
            if best.patterns[0][0] == _SUFFIX and spec.kind == "injury":
                part = self.compound_part(token, best.patterns[0][1])
                if part is not None and part.kind == "site":
                    site = site or part.value
                elif part is not None:
                    mentions.append(Mention(part.kind, part.value, i, i + 1, clause, token, negated=False))
            mentions.append(
                Mention(spec.kind, value, i, i + length, clause, " ".join(tokens[i : i + length]), site)
            )
            i += length
        return mentions

    def negate(self, mentions: list[Mention]) -> list[Mention]:
        """Mark negated mentions and drop cues, terminators, false friends and pseudo-negations."""
        pre_reach = -1  # token index up to which a pre-cue still reaches
        pre_clause = -1
        kept: list[Mention] = []
        for m in mentions:
            if m.kind == CUE_PRE:
                pre_reach, pre_clause = m.end + self.window - 1, m.clause
                continue
            if m.kind == TERMINATOR:
                pre_reach = -1
                continue
            if m.kind == CUE_POST:
                for earlier in reversed(kept):
                    if earlier.clause != m.clause or m.start - earlier.end >= self.post_window:
                        break
                    earlier.negated = True
                continue
            if m.kind in CONSUME_ONLY:
                continue
            if m.clause == pre_clause and m.start <= pre_reach:
                m.negated = True
            kept.append(m)
        return kept


def match_text(text: str, lexicon: Lexicon) -> TextMatch:
    """Tokenise `text` and return the non-structural mentions with their negation marked."""
    tokens = tokenize(text)
    return TextMatch(tokens, lexicon.negate(lexicon.scan(tokens)))
