"""Detection stays fast however long a note is: linear in the text, and bounded in what it keeps.

An attack run sent one ~900 KB message whose free text repeated injury words; detection ran for minutes
(time grew with the square of the repeated words). CPU time of this process is measured, so other work
on the machine does not make the test flaky.
"""

from __future__ import annotations

import time

import pytest

from detection.engine import detect
from detection.text.matcher import MAX_MENTIONS
from tests.detection_helpers import presentation

MEGABYTE = 1_000_000
NOTES = {
    # injury words with sites and descriptors, sentence after sentence (the attack's shape)
    "repeated injuries": "blauwe plek op de wang, fractuur van de arm, brandwond op de rug, zwelling. ",
    # one endless clause of the same two words: every site or descriptor search sees every injury
    "one endless clause": "blauwe plek achter het oor en op de wang ",
    # ordinary words, hardly any vocabulary: the whole text is read
    "plain prose": "De patiënt kwam met zijn moeder naar de SEH omdat hij sinds gisteren pijn heeft. ",
}


def note_of(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


@pytest.mark.parametrize("unit", NOTES.values(), ids=NOTES.keys())
def test_a_one_megabyte_note_detects_in_well_under_a_second(unit: str) -> None:
    detect(presentation(unit, months=3))  # loading the configuration is start-up work, not per note
    infant = presentation(note_of(unit, MEGABYTE), months=3)
    started = time.process_time()
    findings = detect(infant)
    spent = time.process_time() - started
    assert spent < 1.0, f"{spent:.2f} s of CPU for a 1 MB note"
    # The long note says what its first sentences say: the same rules fire, with a bounded evidence list.
    assert {f.rule_id for f in findings} == {f.rule_id for f in detect(presentation(unit * 3, months=3))}
    assert all(len(f.evidence) <= 400 for f in findings)


def test_detection_time_grows_linearly_with_the_text_not_with_its_square() -> None:
    unit = NOTES["one endless clause"]
    small = note_of(unit, 20_000)  # below MAX_MENTIONS matches: the whole text is read at both sizes
    large = note_of(unit, 80_000)
    assert detect(presentation(large, months=3))  # reads it all, finds the bruises
    times = []
    for text in (small, large):
        started = time.process_time()
        for _ in range(3):
            detect(presentation(text, months=3))
        times.append(time.process_time() - started)
    assert times[1] < times[0] * 4 * 2.5, times  # 4× the text: ~4× the time (16× if quadratic)


def test_a_text_is_read_up_to_its_first_matches_and_a_signal_there_still_counts() -> None:
    filler = note_of("blauwe plek op de arm ", 200_000)
    late = detect(presentation(filler + " Gewurgd door partner, petechiën.", years=30))
    early = detect(presentation("Gewurgd door partner, petechiën. " + filler, years=30))
    assert {f.rule_id for f in early} >= {"R-STR-1"}
    assert MAX_MENTIONS < 200_000 // 22  # the filler alone holds more matches than are read
    assert "R-STR-1" not in {f.rule_id for f in late}  # the bound is real, and documented
