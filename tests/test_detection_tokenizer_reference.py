"""The fast tokenizer (regular-expression passes, no Python loop per token) gives exactly the tokens of
the plain one it replaced (issue 11, detection speed): the plain one is kept here as the reference, and
hypothesis writes texts from the pieces that make tokenizing hard (abbreviation stops, runs of breaks,
decimals, `#`, diacritics, control characters).
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from detection.configuration import default_config
from detection.text.normalize import fold, tokenize

# The tokenizer as it was before the speed work: a regular expression for tokens, then a loop that
# decides for each full stop whether it ends the clause.
_ABBREVIATION_DOT = re.compile(
    r"\b(dr|drs|dhr|mw|mevr|mr|mrs|ms|prof|ca|bijv|vs|st|nr|o\.a|i\.v\.m|z\.n|m\.n|e\.c)\."
)
_DOTTED = re.compile(r"\b([a-z])\.([a-z])\.(?:([a-z])\.)?")
_DECIMAL = re.compile(r"(\d)[.,](\d)")
_TOKEN = re.compile(r"[a-z0-9]+|#|[.;!?\n]")
_BREAKS = frozenset(".;!?\n")


def reference_tokenize(text: str, abbreviations: frozenset[str] = frozenset()) -> list[str]:
    folded = _ABBREVIATION_DOT.sub(r"\1", fold(text))
    folded = _DOTTED.sub(lambda m: "".join(g for g in m.groups() if g), folded)
    folded = _DECIMAL.sub(r"\1d\2", folded)
    out: list[str] = []
    previous = ""
    for tok in _TOKEN.findall(folded):
        if tok in _BREAKS:
            if (
                tok == "."
                and previous
                and (previous in abbreviations or (len(previous) == 1 and previous.isalpha()))
            ):
                previous = ""
                continue
            if out and out[-1] == ".":
                continue
            out.append(".")
            previous = ""
            continue
        out.append(tok)
        previous = tok
    return out


PIECES = [
    *("g", "gn", "a", "x", "ab", "ivm", "echtg", "pt", "dr", "Dr.", "_dr.", "ms.", "st", "ca.", "bp", "c."),
    *("i.v.m.", "i.v.", "Z.N.", "o.a.", "m.", "mn.", "e.c.", "1", "12", "1.5", "3,2", "1.", ".5", "x1", "3e"),
    *("#", "#radius", ".", ". ", "..", ";", "!", "?", "\n", "\r\n", "\t", "\x0b", "\x1c", " ", "  ", "-"),
    *("/", ":", ",", "(", ")", "'", "é", "ë", "AE", "ae", "\u2028", "\x85", "\ufb01", "\xb2", "\u0130"),
]
ABBREVIATIONS: tuple[frozenset[str], ...] = (
    frozenset(),
    default_config().lexicon.abbreviations,
    frozenset({"#", "ab", "1", "a-b", "x1"}),
)


@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=14), st.sampled_from(ABBREVIATIONS))
def test_the_fast_tokenizer_gives_the_reference_tokens(
    pieces: list[str], abbreviations: frozenset[str]
) -> None:
    text = "".join(pieces)
    assert tokenize(text, abbreviations) == reference_tokenize(text, abbreviations)


def test_the_reference_sees_what_the_comparison_is_about() -> None:
    # Not a comparison of two empty lists: stops, abbreviations and decimals make a difference.
    assert reference_tokenize("g. blauwe plek. val van 1.5 m", frozenset()) == [
        "g", "blauwe", "plek", ".", "val", "van", "1d5", "m",
    ]  # fmt: skip
    assert tokenize("echtg. heeft", frozenset({"echtg"})) == ["echtg", "heeft"]
    assert tokenize("echtg. heeft", frozenset()) == ["echtg", ".", "heeft"]
