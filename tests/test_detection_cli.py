"""`spoedplein detect | evaluate | rules` and the `simulate` dev tool, run as real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from detection.configuration import CONFIG_DIR, FILES
from tests.vignettes.generator import vignette_set, write_set

ROOT = Path(__file__).resolve().parent.parent
VIGNETTES = Path(__file__).parent / "vignettes"


def spoedplein(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_detect_json_prints_one_object_per_file_and_an_error_for_an_unreadable_one(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.hl7"
    garbage.write_text("dit is geen HL7\n", encoding="utf-8")
    missing = tmp_path / "missing.json"
    files = [VIGNETTES / "hl7" / "V00001.hl7", garbage, missing, VIGNETTES / "fhir" / "V00001.json"]
    result = spoedplein("detect", "--format", "json", *files)
    assert result.returncode == 1  # a file failed; the others were still evaluated
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == [str(f) for f in files]
    assert "error" in lines[1] and "findings" not in lines[1]
    assert "cannot read" in lines[2]["error"]
    for line in (lines[0], lines[3]):
        assert [f["rule_id"] for f in line["findings"]] == ["R-BR-1"]
        finding = line["findings"][0]
        assert finding["severity"] == "warning"
        assert finding["explanation"].startswith("Blauwe plek")
        assert finding["evidence"][0]["body_site"] == "torso"
    assert "Traceback" not in result.stderr


def test_detect_text_names_rule_evidence_next_step_and_source() -> None:
    result = spoedplein("detect", VIGNETTES / "hl7" / "V00001.hl7")
    assert result.returncode == 0
    assert "R-BR-1" in result.stdout and "PV2-3" in result.stdout
    assert "Stolling screenen" in result.stdout and "bron: Pierce" in result.stdout


def test_a_clinician_can_try_a_rule_change_with_a_copied_configuration(tmp_path: Path) -> None:
    for name in FILES:
        (tmp_path / name).write_text((CONFIG_DIR / name).read_text(encoding="utf-8"), encoding="utf-8")
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        rules.read_text(encoding="utf-8").replace("R-BR:\n    active: true", "R-BR:\n    active: false")
    )
    result = spoedplein("detect", "--format", "json", "--config", tmp_path, VIGNETTES / "hl7" / "V00001.hl7")
    assert json.loads(result.stdout)["findings"] == []
    rules.write_text("rules: [\n", encoding="utf-8")
    broken = spoedplein("detect", "--config", tmp_path, VIGNETTES / "hl7" / "V00001.hl7")
    assert broken.returncode == 2
    assert "rules.yaml" in broken.stderr and "Traceback" not in broken.stderr


def test_evaluate_prints_figures_per_family_and_the_agreement_of_both_forms(tmp_path: Path) -> None:
    write_set(tmp_path, vignette_set()[::20])
    result = spoedplein("evaluate", tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("OVERALL (vs maltreatment)") == 2
    assert "R-BR" in result.stdout and "flags/1000" in result.stdout
    assert "give the same findings for 27 of 27 cases" in result.stdout


def test_simulate_writes_a_shift_in_both_forms(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.vignettes.generator", "simulate", "--visits", "300", "--out", tmp_path],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    labels = json.loads((tmp_path / "labels.json").read_text(encoding="utf-8"))
    assert len(labels) == 300
    assert len(list((tmp_path / "hl7").glob("*.hl7"))) == 300
    assert len(list((tmp_path / "fhir").glob("*.json"))) == 300
    assert "per 1,000 visits" in result.stdout


def test_rules_lists_every_active_rule_with_its_source() -> None:
    result = spoedplein("rules")
    assert result.returncode == 0
    for rule_id in (
        "R-BR-1",
        "R-AHT-1",
        "R-SI-1",
        "R-FX-1",
        "R-BU-1",
        "R-CONS-1",
        "R-SCR-1",
        "R-PAR-1",
        "R-STR-1",
        "R-EA-1",
        "R-CODE-T74",
    ):
        assert rule_id in result.stdout
    assert result.stdout.count("bron:") >= 50
