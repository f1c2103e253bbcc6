"""The coded-diagnosis lookups the detector remembers per code give what scanning the patterns gives."""

from __future__ import annotations

import itertools

from detection.configuration import DetectionConfig, load_config


def _scanned_rule(config: DetectionConfig, code: str) -> str | None:
    return next((rule for rule, pats in config.icd10 if any(p.matches(code) for p in pats)), None)


def test_remembered_icd10_and_age_answers_equal_a_fresh_scan_for_every_configured_and_nearby_code() -> None:
    config = load_config()  # a fresh config: nothing remembered yet
    configured = {p.low for _, pats in config.icd10 for p in pats} | {
        p.low for _, pats in config.age_codes for p in pats
    }
    nearby = {f"{c[:3]}{d}" for c in configured for d in "0123456789"} | {"A000", "Z999", "T74", "S0220"}
    codes = sorted(c.replace("?", "1") for c in configured | nearby)
    assert len(codes) > 100

    for code in itertools.chain(codes, codes):  # the second round answers from memory
        assert config.icd10_rule(code) == _scanned_rule(config, code), code
        expected = tuple(limit for limit, pats in config.age_codes if any(p.matches(code) for p in pats))
        assert config.age_code_limits(code) == expected, code
    assert any(config.icd10_rule(c) for c in codes) and any(config.age_code_limits(c) for c in codes)
