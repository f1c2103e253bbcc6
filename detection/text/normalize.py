"""Fold clinical free text to comparable tokens: lower case, no diacritics, one spelling of `ae`.

Clause boundaries (. ; ! ? and new lines) are kept as the token "." so that context (negation,
history, another person) and the link between an injury and its body site never cross a sentence.
A colon does not end a clause: in telegram style it follows a heading ("LO: hematoom wang",
"VG: 2018 TS") whose words belong to what comes after it. A full stop after an abbreviation
("g. blauwe plekken", "echtg. heeft", "i.v.m.") or after a single letter does not end the clause
either: which abbreviations count is data (`lexicon.yaml`), passed in as `abbreviations`.
The symbol `#` (fracture) is kept as a token of its own, also when written against a word (`#radius`).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

CLAUSE_BREAK = "."

# The passes below are regular expressions (C), not Python work per token. Those that look at full
# stops start with the full stop, so that the engine jumps from one to the next instead of trying a
# match at every character of the text.

# "Dr. Burns", "i.v.m." and decimal numbers must not split a clause at their full stop: drop the stop.
# Matched in the reversed text ("dr." reads ".rd"), so that the pattern starts at the full stop.
_TITLES = ("dr", "drs", "dhr", "mw", "mevr", "mr", "mrs", "ms", "prof", "ca", "bijv", "vs", "st", "nr")
_DOTTED_TITLES = ("o.a", "i.v.m", "z.n", "m.n", "e.c")
_ABBREVIATION_DOT = re.compile(
    r"\.(?=(?:" + "|".join(re.escape(w[::-1]) for w in (*_TITLES, *_DOTTED_TITLES)) + r")\b)"
)
_DOTTED = re.compile(r"\b([a-z])\.([a-z])\.(?:([a-z])\.)?")  # "i.v.m." → "ivm", "z.n." → "zn"
_DOTTED_HINT = re.compile(r"\.[a-z]\.")  # every match of _DOTTED holds one
_DECIMAL = re.compile(r"(\d)[.,](\d)")
_DECIMAL_HINT = re.compile(r"[.,](?<=\d[.,])(?=\d)")  # the same, found from the separator
_WORD = re.compile(r"[a-z0-9]+|#")
# Last, every clause break becomes "." and every other character that is not part of a token a space;
# a run of breaks with only spaces between them is one break, written " . "; the text is split.
_TOKEN_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789#.")
_TO_SPACE = str.maketrans(
    {chr(i): "." if chr(i) in ";!?\n" else " " for i in range(128) if chr(i) not in _TOKEN_CHARS}
)
_BREAK_RUN = re.compile(r"\.[. ]*")


def fold(text: str) -> str:
    """Lower-case, strip diacritics (pariëtaal → parietaal, suïcide → suicide) and write `ae` as `e`.

    `ae` → `e` makes British and Latin spellings meet the Dutch/US ones (haematoom/hematoom,
    haemorrhage/hemorrhage, paediatric/pediatric); vocabulary terms are folded the same way.
    """
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return text.lower().replace("ae", "e")


def tokenize(text: str, abbreviations: frozenset[str] = frozenset()) -> list[str]:
    """Folded word tokens, with CLAUSE_BREAK wherever a sentence or clause ends.

    A "." right after a single letter or after one of `abbreviations` is the abbreviation's own full
    stop, not the end of the clause; several breaks in a row are one. A few regular-expression passes
    over the text and no Python work per token: linear in its length.
    """
    folded = _ABBREVIATION_DOT.sub("", fold(text)[::-1])[::-1]
    if _DOTTED_HINT.search(folded):
        folded = _DOTTED.sub(lambda m: "".join(g for g in m.groups() if g), folded)
    if _DECIMAL_HINT.search(folded):
        folded = _DECIMAL.sub(r"\1d\2", folded)  # 1.5 → "1d5": one token, no clause break
    # Reversed, each full stop comes before the word it follows: the pattern can start at the stop.
    folded = _own_stop(abbreviations).sub(" ", folded[::-1])[::-1]
    if "#" in folded:
        folded = folded.replace("#", " # ")
    return _BREAK_RUN.sub(" . ", folded.translate(_TO_SPACE)).split()


@lru_cache(maxsize=8)
def _own_stop(abbreviations: frozenset[str]) -> re.Pattern[str]:
    """In reversed text: a full stop that follows (past non-token characters) a single letter or one of
    `abbreviations` as a whole word — the abbreviation's own stop ("g. ", "echtg .")."""
    words = sorted((a[::-1] for a in abbreviations if _WORD.fullmatch(a) and a != "#"), key=len, reverse=True)
    alternatives = [rf"{re.escape(w)}(?![a-z0-9])" for w in words] + [r"[a-z](?![a-z0-9])"]
    if "#" in abbreviations:
        alternatives.append("#")
    return re.compile(r"\.(?=[^a-z0-9#.;!?\n]*(?:" + "|".join(alternatives) + "))")
