"""ConText-style context (lexicon.yaml `context`): negated, historical, hypothetical, another person.

Scope reaches a window of words and ends at a clause boundary; a pronoun object ends an experiencer
scope. Each test would fail without the mechanism it names. Also: the matcher stays linear in the
length of a note (a 1 MB note costs about ten times a 100 kB one, not a hundred).
"""

from __future__ import annotations

import random
import time

from detection.configuration import default_config
from detection.engine import detect
from detection.text import match_text
from detection.text.matcher import Mention
from tests.detection_helpers import presentation, rule_ids


def mention(text: str, value: str) -> Mention:
    return next(m for m in match_text(text, default_config().lexicon).mentions if m.value == value)


def test_a_history_heading_makes_an_old_suicide_attempt_historical_and_no_kindcheck_prompt() -> None:
    assert mention("VG: 2018 TS, sindsdien stabiel", "suicide_attempt").historical
    assert not {
        r
        for r in rule_ids(presentation("appendicitis", years=45, note="VG: 2018 TS"))
        if r.startswith("R-PAR")
    }


def test_an_earlier_injury_is_not_todays_injury_but_counts_as_an_earlier_one() -> None:
    p = presentation("controle brandwond", years=2, note="Eerder (3 mnd geleden) op SEH met brandwond voet")
    assert "R-BU-6" not in rule_ids(p)
    facts_signal = mention("eerder brandwond voet", "burn")
    assert facts_signal.historical


def test_a_hypothetical_finding_does_not_count() -> None:
    assert mention("fractuur uitsluiten", "fracture").hypothetical
    assert "R-FX-1" not in rule_ids(
        presentation("huilt veel", months=5, note="X-arm ter uitsluiting van fractuur")
    )


def test_the_mothers_fracture_is_not_the_infants() -> None:
    assert mention("moeder heeft # pols", "fracture").other_person
    assert not rule_ids(
        presentation("na ongeval moeder", months=3, note="Moeder heeft # pols, baby niet gevallen")
    )


def test_a_pronoun_object_ends_the_experiencer_scope() -> None:
    assert not mention("dochter heeft hem geslagen", "assault").other_person


def test_context_scope_ends_at_the_clause() -> None:
    assert not mention("moeder heeft hoofdpijn. Blauwe plek oor", "bruise").other_person
    assert not mention("VG: astma. Blauwe plek oor", "bruise").historical


def test_a_terminator_ends_a_forward_scope() -> None:
    assert not mention("geen koorts maar wel blauwe plek oor", "bruise").negated


def test_the_story_of_the_injury_counts_whoever_tells_it() -> None:
    # "moeder heeft geen verklaring": the experiencer trigger does not silence a history signal.
    p = presentation("blauwe plek", years=1, note="Hematoom oor. Moeder heeft geen verklaring.")
    assert "R-CONS-1" in rule_ids(p)


def test_detection_stays_linear_in_the_length_of_a_note() -> None:
    rng = random.Random(11)
    words = [f"w{rng.randrange(10**6):x}" for _ in range(3000)]
    clinical = "hematoom oor li, geen fractuur, g. bp wang; vriend duwde haar. "

    def note(size: int) -> str:
        parts: list[str] = []
        length = 0
        while length < size:
            chunk = " ".join(rng.choice(words) for _ in range(12)) + ", " + clinical
            parts.append(chunk)
            length += len(chunk)
        return "".join(parts)

    def cost(size: int) -> float:
        p = presentation("", years=30, note=note(size))
        detect(p)  # warm the word caches
        start = time.process_time()
        detect(p)
        return time.process_time() - start

    small, large = cost(100_000), cost(1_000_000)
    assert large < 30 * small  # ten times the text; quadratic work would be about a hundred times
