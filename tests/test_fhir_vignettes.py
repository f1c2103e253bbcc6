"""Ingest on the labelled vignette set: every FHIR vignette is accepted, and what the gateway stores (the
normalised Bundle) gives exactly the findings the vignette itself gives."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from adapters.fhir.ingest import prepare_bundle
from adapters.fhir.to_presentation import bundle_to_presentation
from detection.engine import detect

VIGNETTES = Path(__file__).resolve().parent / "vignettes" / "fhir"
ZONE = ZoneInfo("Europe/Amsterdam")


def test_every_vignette_is_accepted_and_normalising_changes_no_finding() -> None:
    files = sorted(VIGNETTES.glob("*.json"))
    assert len(files) > 100
    flagged = 0
    for file in files:
        raw = file.read_bytes()
        stored = prepare_bundle(raw, ZONE).raw
        expected = sorted(f.rule_id for f in detect(bundle_to_presentation(raw)))
        assert sorted(f.rule_id for f in detect(bundle_to_presentation(stored))) == expected, file.name
        flagged += bool(expected)
    assert flagged > 0  # the set holds positive vignettes, so the comparison means something
