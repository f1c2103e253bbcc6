"""Spelling tolerance for the vocabulary's key words: a typo is read as the word it nearly is.

`Speller(targets, protected)` answers, for a word the vocabulary does not know, which target word it
is within a small Damerau–Levenshtein (optimal string alignment) distance of: 1 for words of 5 to 8
letters, 2 from 9 letters (`verbrading` → `verbranding`, `ruize` → `ruzie`, `hematmen` → `hematomen`).
Words shorter than `min_length` are never corrected (too many real words lie one letter from a short
term), nor is a word in `protected`: ordinary Dutch and English words, so that `worden` never
becomes `wonden` and `vullen` never `vallen`. Distances come from rapidfuzz (C++), and only targets
of a compatible length are compared, so one lookup costs microseconds; the lexicon remembers each
answer, so a note costs one lookup per distinct unknown word: linear in its length.
"""

from __future__ import annotations

from collections.abc import Iterable

from rapidfuzz.distance import OSA
from rapidfuzz.process import extractOne


class Speller:
    """Correct an unknown word to the nearest target word, or say there is none."""

    def __init__(
        self,
        targets: Iterable[str],
        protected: frozenset[str] = frozenset(),
        *,
        min_length: int = 5,
        long_from: int = 9,
    ) -> None:
        self.min_length = min_length
        self.long_from = long_from
        self.protected = protected
        by_length: dict[int, list[str]] = {}
        for word in sorted(set(targets)):
            if len(word) >= min_length and word.isalpha():
                by_length.setdefault(len(word), []).append(word)
        self._by_length = by_length
        self.targets = frozenset(w for words in by_length.values() for w in words)

    def max_distance(self, length: int) -> int:
        return 2 if length >= self.long_from else 1

    def __call__(self, word: str) -> str | None:
        n = len(word)
        if n < self.min_length or word in self.protected or word in self.targets:
            return None
        best: tuple[int, str] | None = None
        for length in range(n - 2, n + 3):
            choices = self._by_length.get(length)
            if not choices:
                continue
            limit = min(self.max_distance(length), self.max_distance(n))
            if abs(length - n) > limit:
                continue
            found = extractOne(word, choices, scorer=OSA.distance, score_cutoff=limit)
            if found is not None and (best is None or found[1] < best[0]):
                best = (int(found[1]), found[0])
        return None if best is None else best[1]
