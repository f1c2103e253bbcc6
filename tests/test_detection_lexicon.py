"""How clinical Dutch is written (lexicon.yaml): abbreviations, symbols, full stops, diminutives, d/t, typos.

Each test names one mechanism and would fail without it.
"""

from __future__ import annotations

import pytest

from detection.configuration import common_words, default_config
from detection.text import match_text, tokenize
from detection.text.spelling import Speller
from tests.detection_helpers import presentation, rule_ids


def found(text: str) -> list[tuple[str, str, bool]]:
    return [(m.kind, m.value, m.negated) for m in match_text(text, default_config().lexicon).mentions]


def positive(text: str, value: str) -> bool:
    return any(v == value and not negated for _, v, negated in found(text))


def test_an_abbreviation_is_read_as_the_words_it_stands_for() -> None:
    assert default_config().lexicon.prepare("HG door partner") == ["huiselijk", "geweld", "door", "partner"]
    assert positive("Slachtoffer HG door partner", "partner_violence")
    assert positive("TS met medicatie", "suicide_attempt")


def test_a_one_letter_g_with_its_full_stop_negates_what_follows() -> None:
    assert found("g. blauwe plekken") == [("injury", "bruise", True)]


def test_an_abbreviations_full_stop_does_not_end_the_clause_but_a_sentence_does() -> None:
    assert tokenize("g. blauwe plek", frozenset()) == ["g", "blauwe", "plek"]
    assert tokenize("echtg. heeft", frozenset({"echtg"})) == ["echtg", "heeft"]
    assert tokenize("koorts. blauwe plek", frozenset()) == ["koorts", ".", "blauwe", "plek"]


def test_a_colon_after_a_heading_does_not_cut_the_heading_from_its_finding() -> None:
    assert "." not in tokenize("LO: hematoom wang")


@pytest.mark.parametrize("text", ["# pols li", "#radius", "X: distale radius # re", "fx femur"])
def test_the_fracture_symbol_is_a_fracture(text: str) -> None:
    assert positive(text, "fracture")


def test_hash_against_a_word_keeps_both_the_fracture_and_the_site() -> None:
    assert [(m.kind, m.value) for m in match_text("#radius", default_config().lexicon).mentions] == [
        ("injury", "fracture"),
        ("site", "radius_ulna"),
    ]


def test_bp_is_a_bruise_but_not_before_a_blood_pressure() -> None:
    assert positive("BP wang", "bruise")
    assert not positive("BP 120/80", "bruise")


@pytest.mark.parametrize(
    ("word", "value"), [("brandwondjes", "burn"), ("scheurtje", "other"), ("wondje", "other")]
)
def test_a_diminutive_is_the_word_itself(word: str, value: str) -> None:
    assert positive(word, value)


def test_a_listed_exception_is_not_read_as_a_diminutive() -> None:
    assert default_config().lexicon.normalise("beetje") == ("beetje",)


@pytest.mark.parametrize(
    ("typed", "meant"), [("geduwt", "geduwd"), ("vervuilt", "vervuild"), ("verslaaft", "verslaafd")]
)
def test_a_d_t_error_in_a_participle_is_read_as_the_vocabulary_word(typed: str, meant: str) -> None:
    assert default_config().lexicon.normalise(typed) == (meant,)


@pytest.mark.parametrize(
    ("typed", "value"),
    [("verbrading", "burn"), ("hematmen", "bruise"), ("wurge", "strangulation"), ("onderam", "radius_ulna")],
)
def test_a_typo_in_a_key_word_is_read_as_that_word(typed: str, value: str) -> None:
    assert positive(typed, value)


@pytest.mark.parametrize("word", ["worden", "vullen", "geslaagd", "wanden"])
def test_an_ordinary_dutch_word_is_never_corrected_into_a_key_word(word: str) -> None:
    assert default_config().lexicon.normalise(word) == (word,)


def test_the_speller_corrects_by_length_one_edit_below_nine_letters_two_from_nine() -> None:
    speller = Speller(["wonden", "verbranding"])
    assert speller("wondn") == "wonden"
    assert speller("wndn") is None  # four letters: too short to correct
    assert speller("woondenn") is None  # two edits on a short word
    assert speller("vrbrandng") == "verbranding"  # two edits on a long word


def test_the_common_word_list_is_folded_and_read_once() -> None:
    assert "worden" in common_words(("nl", "en"), 100)
    assert common_words(("nl", "en"), 100) is common_words(("nl", "en"), 100)


def test_a_typed_note_with_shorthand_fires_the_rule_its_words_mean() -> None:
    note = "vlgs moeder val. LO: bp oorschelp li, g. andere letsels"
    assert "R-BR-1" in rule_ids(presentation("val", years=2, note=note))
