"""Issue 11, round 2: mechanisms found on the second development set of blind ED notes.

Each test names one mechanism (facts.py, lexicon.yaml, vocabulary.yaml, codes.yaml) and has an
assertion that fails without it. The notes are written for the test, in the style of the sets.
"""

from __future__ import annotations

from detection.models import Note, Presentation
from tests.detection_helpers import presentation, rule_ids


def with_lines(p: Presentation, *lines: str) -> Presentation:
    notes = [Note(text=line, source_field=f"OBX[{i}]-5") for i, line in enumerate(lines, 1)]
    return p.model_copy(update={"notes": notes})


def test_checklist_items_are_read_by_their_own_words() -> None:
    note = "Escape: vertraging nee, verhaal consistent nee, past bij ontwikkeling ja."
    assert "R-SCR-2" in rule_ids(presentation("val", years=5, note=note))
    note = "SPUTOVAMO-R3: letsel past bij verhaal: ja; interactie ouder-kind adequaat: nee"
    assert "R-SCR-1" in rule_ids(presentation("pols", years=3, note=note))
    normal = "Escape: vertraging nee, verhaal consistent ja, gedrag adequaat ja, andere signalen nee."
    assert "R-SCR-2" not in rule_ids(presentation("val", years=5, note=normal))


def test_a_numbered_checklist_on_the_line_after_its_name_is_read() -> None:
    p = with_lines(
        presentation("val met fiets", years=5),
        "Escape ingevuld door SEH VPK:",
        "1. onnodige vertraging? nee / 2. anamnese consistent? NEE / 3. past bij ontwikkeling? ja",
    )
    assert "R-SCR-2" in rule_ids(p)
    normal = with_lines(
        presentation("val met fiets", years=5),
        "Escape ingevuld door SEH VPK:",
        "1. onnodige vertraging? nee / 2. anamnese consistent? ja / 3. past bij ontwikkeling? ja",
    )
    assert "R-SCR-2" not in rule_ids(normal)
