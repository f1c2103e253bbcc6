"""Golden detection results: what the detector finds on every stored case, and what the matcher reads in
every text, so that a faster matcher can be shown to find exactly the same (issue 11, detection speed).

Cases: the labelled vignettes (HL7 v2 and FHIR), the blind set's development halves (`dev*`; never the
frozen test half), the public corpus, and a synthetic ED shift with and without a long triage note.
For each case the golden file keeps the rule ids with their severity (readable in a diff) and a digest
of the full findings (explanations, evidence, body sites). For each distinct text of those cases, and
for variants that stress the tokenizer (a full stop after every word, doubled stops, upper case) and a
list of edge cases, it keeps a digest of the tokens and the mentions with their context.

Regenerate only when detection results are meant to change:

    .venv/bin/python -m tests.detection_golden
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

from bench.detect import TRIAGE_NOTE  # the long ordinary note the benchmark adds (about 90 words)
from detection.configuration import default_config
from detection.engine import detect
from detection.models import Finding, Note, Presentation
from detection.text.matcher import match_text
from gateway.commands.detection import (
    DEFAULT_CHARSET,
    DEFAULT_ZONE,
    InputError,
    findings_for_file,
    presentations_from_file,
)
from tests.vignettes.generator import ed_shift, to_presentation

TESTS = Path(__file__).resolve().parent
GOLDEN = TESTS / "detection_golden.json"
VIGNETTES = TESTS / "vignettes"
CORPUS = TESTS / "corpus"

# Tokenizer corners: abbreviation stops, runs of breaks, decimals, symbols, leading and trailing breaks.
EDGE_TEXTS = (
    "",
    ".",
    ". . geen blauwe plek",
    "g.. blauwe plek",
    "g. . blauwe plek wang",
    "g blauwe plekken. g. fractuur",
    "a.b. hematoom",
    "i.v.m. val van 1.5 m",
    "val van 1,5 meter. #radius li",
    "# pols.",
    "fractuur#.",
    "BP 120/80, BP wang",
    "Dr. Burns zag brandwond",
    "echtg. heeft hem geslagen",
    "?. ! ;\n\nhematoom oor",
    "geen\nhematoom",
    "x.\n. y. z .",
    "bl. plekken li. en re. bovenarm",
    "3e SEH-bezoek in 8 mnd",
    "4e bezoek dit jaar.",
    "EASI: vr 4 ja, vr 6 ja",
    "Escape ingevuld door SEH VPK:",
    "verbrading arm, hematmen rug, geduwt door vriend",
    "brandwondjes op hand, blauwtjes",
    "Naïeve suïcide pariëtaal haematoom",
)


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]


def findings_record(findings: list[Finding]) -> dict[str, object]:
    dumped = [f.model_dump(mode="json") for f in findings]
    fired = " ".join(sorted(f"{f.rule_id}:{f.severity.value}" for f in findings))
    return {"fired": fired, "digest": _digest(dumped)}


def text_record(text: str) -> str:
    match = match_text(text, default_config().lexicon)
    mentions = [
        [
            m.kind,
            m.value,
            m.start,
            m.end,
            m.clause,
            m.text,
            m.site,
            m.concept,
            m.negated,
            m.historical,
            m.hypothetical,
            m.other_person,
        ]
        for m in match.mentions
    ]
    return _digest([match.tokens, mentions])


def _texts(p: Presentation) -> Iterator[str]:
    yield from (n.text for n in p.texts())
    yield from (o.value for o in p.observations if o.value)
    yield from (d.coding.display for d in p.diagnoses if d.coding.display)


def _files() -> Iterator[tuple[str, Path]]:
    for form, pattern in (("hl7", "*.hl7"), ("fhir", "*.json")):
        for path in sorted((VIGNETTES / form).glob(pattern)):
            yield f"vignettes/{form}/{path.name}", path
    for half in sorted(VIGNETTES.glob("blind/dev*")):  # never blind/test: it stays unread
        for path in sorted((half / "hl7").glob("*.hl7")):
            yield f"blind/{half.name}/{path.name}", path
    for path in sorted(CORPUS.rglob("*")):
        if path.suffix in (".hl7", ".json"):
            yield f"corpus/{path.relative_to(CORPUS)}", path


def compute() -> dict[str, dict[str, object]]:
    """The current detector's results on every case and text (takes about a minute)."""
    config = default_config()
    cases: dict[str, object] = {}
    texts: set[str] = set(EDGE_TEXTS) | {TRIAGE_NOTE}
    for name, path in _files():
        try:
            cases[name] = findings_record(
                findings_for_file(path, config, charset=DEFAULT_CHARSET, zone=DEFAULT_ZONE)
            )
            for p in presentations_from_file(path, charset=DEFAULT_CHARSET, zone=DEFAULT_ZONE):
                texts.update(_texts(p))
        except InputError as exc:
            cases[name] = {"error": type(exc).__name__}
    for i, v in enumerate(ed_shift(300, seed=7)):
        p = to_presentation(v)
        cases[f"shift/{i}"] = findings_record(detect(p, config))
        noted = p.model_copy(update={"notes": [*p.notes, Note(text=TRIAGE_NOTE, source_field="OBX[1]-5")]})
        cases[f"shift/{i}+note"] = findings_record(detect(noted, config))
        texts.update(_texts(p))
    variants: set[str] = set()
    for text in texts:
        variants.update((text, text.replace(" ", "."), text.replace(". ", ".. "), text.upper()))
    return {
        "cases": cases,
        "texts": {_digest(text): text_record(text) for text in sorted(variants)},
    }


def write(results: dict[str, dict[str, object]]) -> None:
    """One line per case and per text, so that a changed result shows as a changed line in a diff."""
    lines = []
    for section, entries in sorted(results.items()):
        body = ",\n".join(
            f"  {json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in sorted(entries.items())
        )
        lines.append(f"{json.dumps(section)}: {{\n{body}\n}}")
    GOLDEN.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")


if __name__ == "__main__":
    write(compute())
    print(f"wrote {GOLDEN}")
