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

CLAUSE_BREAK = "."

# "Dr. Burns", "i.v.m." and decimal numbers must not split a clause at their full stop.
_ABBREVIATION_DOT = re.compile(
    r"\b(dr|drs|dhr|mw|mevr|mr|mrs|ms|prof|ca|bijv|vs|st|nr|o\.a|i\.v\.m|z\.n|m\.n|e\.c)\."
)
_DOTTED = re.compile(r"\b([a-z])\.([a-z])\.(?:([a-z])\.)?")  # "i.v.m." → "ivm", "z.n." → "zn"
_DECIMAL = re.compile(r"(\d)[.,](\d)")
_TOKEN = re.compile(r"[a-z0-9]+|#|[.;!?\n]")
_BREAKS = frozenset(".;!?\n")


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
    stop, not the end of the clause. One pass over the text: linear in its length.
    """
    folded = _ABBREVIATION_DOT.sub(r"\1", fold(text))
    folded = _DOTTED.sub(lambda m: "".join(g for g in m.groups() if g), folded)
    folded = _DECIMAL.sub(r"\1d\2", folded)  # 1.5 → "1d5": one token, no clause break
    out: list[str] = []
    previous = ""
    for tok in _TOKEN.findall(folded):
        if tok in _BREAKS:
            if (
                tok == "."
                and previous
                and (previous in abbreviations or (len(previous) == 1 and previous.isalpha()))
            ):
                previous = ""  # the abbreviation's own full stop
                continue
            if out and out[-1] == CLAUSE_BREAK:
                continue  # "?." or ". \n": one break is enough
            out.append(CLAUSE_BREAK)
            previous = ""
            continue
        out.append(tok)
        previous = tok
    return out
