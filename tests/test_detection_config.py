"""The YAML configuration: a clinician's mistake gets an error naming the file and the key; switches work."""

from __future__ import annotations

from pathlib import Path

import pytest

from detection.configuration import CONFIG_DIR, FILES, ConfigError, load_config, parse_config
from detection.engine import detect
from tests.detection_helpers import presentation


def sources() -> dict[str, str]:
    return {name: (CONFIG_DIR / name).read_text(encoding="utf-8") for name in FILES}


def broken(file: str, old: str, new: str) -> dict[str, str]:
    files = sources()
    assert old in files[file], f"fixture text {old!r} not in {file}"
    files[file] = files[file].replace(old, new, 1)
    return files


@pytest.mark.parametrize(
    ("file", "old", "new", "key", "problem"),
    [
        (
            "rules.yaml",
            "    severity: warning\n",
            "    severity: urgent\n",
            "rules.R-BR-1.severity",
            "Input should be",
        ),
        ("rules.yaml", "R-BR-1:", "R-XX-1:", "rules.R-XX-1", "family"),
        (
            "rules.yaml",
            "bij een kind van {age}, zonder",
            "bij een kind van {leeftijd}, zonder",
            "rules.R-BR-1",
            "placeholder",
        ),
        (
            "rules.yaml",
            "  R-BR:\n    active: true",
            "  R-BR:\n    actief: true",
            "families.R-BR.actief",
            "Extra inputs",
        ),
        (
            "thresholds.yaml",
            "ten4_max_years_exclusive: 4",
            "ten4_max_years_exclusive: vier",
            "ages.ten4_max_years_exclusive",
            "",
        ),
        (
            "thresholds.yaml",
            "burn_high_risk: [buttock,",
            "burn_high_risk: [bil,",
            "site_groups.burn_high_risk.0",
            "not a site",
        ),
        (
            "vocabulary.yaml",
            'kind: injury\n    terms:\n      nl: ["blauw*',
            'kind: letsel\n    terms:\n      nl: ["blauw*',
            "concepts.bruise.kind",
            "",
        ),
        (
            "vocabulary.yaml",
            "en: [hoarse, hoarseness,",
            "en: [hoarse, hematoma,",
            "concepts.voice_change.terms.en.1",
            "already listed",
        ),
        ("codes.yaml", "codes: [T74]", "codes: [T7X4]", "icd10.0.codes.0", "ICD-10"),
        ("codes.yaml", "{rule: R-CODE-T74,", "{rule: R-CODE-T75,", "icd10.0.rule", "not defined"),
        (
            "codes.yaml",
            'abnormal: "no", question_nl: "Past het letsel',
            'abnormal: "misschien", question_nl: "Past het letsel',
            "screening.sputovamo.items.0.abnormal",
            "",
        ),
    ],
)
def test_a_bad_configuration_names_the_file_and_the_key(
    file: str, old: str, new: str, key: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(broken(file, old, new))
    assert caught.value.file == file
    assert caught.value.key.startswith(key)
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{file}: ")


def test_invalid_yaml_names_the_line() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(broken("thresholds.yaml", "limits:", "limits: [unclosed"))
    assert caught.value.file == "thresholds.yaml"
    assert caught.value.key.startswith("line ")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    for name in FILES[:-1]:
        (tmp_path / name).write_text((CONFIG_DIR / name).read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert caught.value.file == FILES[-1]


def test_yes_and_no_stay_words_so_the_english_cue_no_still_negates() -> None:
    config = parse_config(sources())
    p = presentation("no bruising on the ear", years=2)
    assert detect(p, config) == []


def test_switching_off_a_rule_or_a_family_silences_it() -> None:
    p = presentation("Blauwe plek op het oor", months=3)
    assert {"R-BR-1", "R-BR-2"} <= {f.rule_id for f in detect(p, parse_config(sources()))}
    one_off = parse_config(
        broken("rules.yaml", "  R-BR-2:\n    active: true", "  R-BR-2:\n    active: false")
    )
    assert "R-BR-2" not in {f.rule_id for f in detect(p, one_off)}
    assert "R-BR-1" in {f.rule_id for f in detect(p, one_off)}
    family_off = parse_config(broken("rules.yaml", "  R-BR:\n    active: true", "  R-BR:\n    active: false"))
    assert not any(f.family == "R-BR" for f in detect(p, family_off))
    assert all(rid.startswith("R-BR") is False for rid, _, _ in family_off.active_rules())


def test_a_threshold_change_moves_the_age_band() -> None:
    p = presentation("Blauwe plek op de wang", years=4)
    assert not any(f.family == "R-BR" for f in detect(p, parse_config(sources())))
    wider = parse_config(
        broken("thresholds.yaml", "ten4_max_years_exclusive: 4", "ten4_max_years_exclusive: 5")
    )
    assert any(f.rule_id == "R-BR-1" for f in detect(p, wider))


def test_a_new_word_in_the_vocabulary_is_recognised() -> None:
    p = presentation("Sugillatie achter het oor", years=2)
    assert detect(p, parse_config(sources())) == []
    extended = parse_config(
        broken("vocabulary.yaml", "zuigplek, zuigplekken]", "zuigplek, zuigplekken, sugillatie]")
    )
    assert [f.rule_id for f in detect(p, extended)] == ["R-BR-1"]


def test_every_active_rule_has_a_source_and_explanations_in_both_languages() -> None:
    config = parse_config(sources())
    active = config.active_rules()
    families = {
        rid.rsplit("-", 1)[0] if rid.count("-") == 2 else "-".join(rid.split("-")[:2]) for rid, _, _ in active
    }
    assert families == {
        "R-BR",
        "R-AHT",
        "R-SI",
        "R-FX",
        "R-BU",
        "R-CONS",
        "R-SCR",
        "R-PAR",
        "R-STR",
        "R-EA",
        "R-CODE",
    }
    for rule_id, spec, source in active:
        assert source, rule_id
        assert spec.explanation_nl and spec.explanation_en, rule_id
        assert spec.next_step_nl and spec.next_step_en, rule_id
