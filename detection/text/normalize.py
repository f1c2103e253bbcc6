"""Fold clinical free text to comparable tokens: lower case, no diacritics, one spelling of `ae`.

Clause boundaries (. ; : ! ? and new lines) are kept as the token "." so that negation and the
link between an injury and its body site never cross a sentence.
"""

from __future__ import annotations

import re
import unicodedata

CLAUSE_BREAK = "."

# "Dr. Burns", "i.v.m." and decimal numbers must not split a clause at their full stop.
_ABBREVIATION_DOT = re.compile(
    r"\b(dr|drs|dhr|mw|mevr|mr|mrs|ms|prof|ca|bijv|vs|st|nr|o\.a|i\.v\.m|z\.n|m\.n|e\.c)\."
)
_DECIMAL = re.compile(r"(\d)[.,](\d)")
_TOKEN = re.compile(r"[a-z0-9]+|[.;:!?\n]")


def fold(text: str) -> str:
    """Lower-case, strip diacritics (pariëtaal → parietaal, suïcide → suicide) and write `ae` as `e`.

    `ae` → `e` makes British and Latin spellings meet the Dutch/US ones (haematoom/hematoom,
    haemorrhage/hemorrhage, paediatric/pediatric); vocabulary terms are folded the same way.
    """
    if not text.isascii():
        text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return text.lower().replace("ae", "e")


def tokenize(text: str) -> list[str]:
    """Folded word tokens, with CLAUSE_BREAK wherever a sentence or clause ends."""
    folded = _ABBREVIATION_DOT.sub(r"\1", fold(text))
    folded = _DECIMAL.sub(r"\1d\2", folded)  # 1.5 → "1d5": one token, no clause break
    return [CLAUSE_BREAK if tok in ".;:!?\n" else tok for tok in _TOKEN.findall(folded)]
