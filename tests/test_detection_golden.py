"""The detector finds exactly what the golden file says, on every stored case and text (issue 11, speed).

The golden file (tests/detection_golden.json, written by `python -m tests.detection_golden`) was made
before the matcher was rewritten for speed; a faster matcher must read every text the same way: the
same tokens, the same mentions with the same context, and so the same findings with the same evidence.
"""

from __future__ import annotations

import json

from tests.detection_golden import GOLDEN, compute


def test_findings_tokens_and_mentions_are_those_of_the_golden_file() -> None:
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    now = compute()
    assert len(golden["cases"]) > 1900 and len(golden["texts"]) > 4000  # not a comparison of nothing
    assert sum(1 for r in golden["cases"].values() if r.get("fired")) > 500
    changed_cases = sorted(
        k
        for k in golden["cases"].keys() | now["cases"].keys()
        if golden["cases"].get(k) != now["cases"].get(k)
    )
    assert changed_cases == []
    changed_texts = sorted(
        k
        for k in golden["texts"].keys() | now["texts"].keys()
        if golden["texts"].get(k) != now["texts"].get(k)
    )
    assert changed_texts == []
