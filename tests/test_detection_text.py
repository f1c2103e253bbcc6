"""Free-text matching, word by word: negation, false friends, diacritics, spelling variants, compounds."""

from __future__ import annotations

import pytest

from detection.configuration import default_config
from detection.text import fold, match_text, tokenize


def mentions(text: str) -> list[tuple[str, str, bool]]:
    return [(m.kind, m.value, m.negated) for m in match_text(text, default_config().lexicon).mentions]


def positive(text: str, value: str) -> bool:
    return any(v == value and not negated for _, v, negated in mentions(text))


def negated(text: str, value: str) -> bool:
    return any(v == value and neg for _, v, neg in mentions(text))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("geen blauwe plekken", "bruise"),
        ("Geen blauwe plekken op romp, oren of hals", "bruise"),
        ("no bruising", "bruise"),
        ("No bruises on ears, neck or torso", "bruise"),
        ("denies strangulation", "strangulation"),
        ("Patiënte ontkent wurging", "strangulation"),
        ("zonder brandwonden", "burn"),
        ("without fractures", "fracture"),
        ("Fractuur uitgesloten op de röntgenfoto", "fracture"),
        ("subdural haemorrhage ruled out", "subdural"),
        ("niet gevallen", "fall"),
        ("negatief voor petechiën", "petechiae"),
        ("no signs of intoxication", "intoxication"),
    ],
)
def test_negation_cancels_the_signal_it_covers(text: str, value: str) -> None:
    assert negated(text, value)
    assert not positive(text, value)


def test_zonder_letsel_leaves_no_injury() -> None:
    assert not any(
        kind == "injury" and not neg for kind, _, neg in mentions("Gevallen van de bank zonder letsel")
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("geen blauwe plekken op de romp, wel een hematoom op het oor", "bruise"),
        ("no bruising on the arms but a bruise behind the ear", "bruise"),
        ("Geen koorts. Blauwe plek op de wang.", "bruise"),
        ("fractuur niet uitgesloten", "fracture"),
        ("not ruled out: skull fracture", "fracture"),
    ],
)
def test_negation_stops_at_a_terminator_or_clause_and_pseudo_negation_does_not_negate(
    text: str, value: str
) -> None:
    assert positive(text, value)


def test_negation_reaches_only_its_window() -> None:
    # "geen" covers five words; the bruise eight words later is a new statement.
    assert positive("geen koorts gehad volgens moeder in het weekend, blauwe plek wang", "bruise")


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        ("fell asleep on the couch", "fall"),
        ("In slaap gevallen tijdens de voeding", "fall"),
        ("koorts gezakt na paracetamol", "loss_of_consciousness"),
        ("Seen by Dr. Burns", "burn"),
        ("seen by Dr Burns", "burn"),
        ("broke out in a rash", "fracture"),
        ("liesbreuk rechts", "fracture"),
        ("navelbreuk", "fracture"),
        ("brandend gevoel bij het plassen", "burn"),
        ("heartburn", "burn"),
        ("sunburn on the shoulders", "burn"),
        ("gebroken nachten door hoesten", "fracture"),
        ("choked on a piece of meat", "strangulation"),
        ("blauwe lippen bij huilen", "bruise"),
        ("burn-out", "burn"),
        ("door haar partner naar de SEH gebracht", "partner_ref"),
        ("came back with ear pain", "back"),
    ],
)
def test_false_friends_are_not_signals(text: str, absent: str) -> None:
    assert not positive(text, absent)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Lineaire pariëtale fractuur", "parietal"),
        ("lineaire parietale fractuur", "parietal"),
        ("Suïcidepoging", "suicide_attempt"),
        ("suicidepoging", "suicide_attempt"),
        ("PETECHIËN in het gezicht", "petechiae"),
        ("Haematoom op de wang", "bruise"),
        ("hematoom op de wang", "bruise"),
        ("haemorrhage subdural", "subdural"),
        ("subdural hemorrhage", "subdural"),
        ("blauwe plekjes", "bruise"),
        ("bruised cheek", "bruise"),
        ("Echymose", "bruise"),
        ("auto-ongeluk", "confirmed_accident"),
        ("auto ongeluk", "confirmed_accident"),
    ],
)
def test_diacritics_case_and_spelling_variants_match_the_same_concept(text: str, value: str) -> None:
    assert positive(text, value)


@pytest.mark.parametrize(
    ("word", "site"),
    [
        ("ribfractuur", "rib"),
        ("schedelfractuur", "skull"),
        ("oorhematoom", "ear"),
        ("sleutelbeenbreuk", "clavicle"),
    ],
)
def test_a_dutch_compound_names_its_body_site(word: str, site: str) -> None:
    found = match_text(word, default_config().lexicon).mentions
    assert [(m.kind, m.site) for m in found] == [("injury", site)]


def test_fold_strips_accents_and_unifies_ae() -> None:
    assert fold("Pariëtaal HAEMATOOM à") == "parietaal hematoom a"
    assert tokenize("Dr. Burns; val van 1.5 m") == ["dr", "burns", ".", "val", "van", "1d5", "m"]
