"""The detector: `detect(presentation) -> list[Finding]`. Pure and fast; no I/O, no global state changes."""

from __future__ import annotations

from detection.configuration import DetectionConfig, default_config
from detection.facts import extract_facts
from detection.models import Finding, Presentation, Severity
from detection.rules import FAMILIES

SEVERITY_ORDER = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


def detect(presentation: Presentation, config: DetectionConfig | None = None) -> list[Finding]:
    """Every finding of every active rule family for one presentation, most severe first."""
    cfg = config or default_config()
    facts = extract_facts(presentation, cfg)
    findings: list[Finding] = []
    for family, evaluate in FAMILIES:
        if cfg.family_active(family):
            findings.extend(evaluate(facts, cfg))
    findings.sort(key=lambda f: -SEVERITY_ORDER[f.severity])
    return findings


def is_flagged(findings: list[Finding], config: DetectionConfig | None = None) -> bool:
    """Whether the findings reach the configured `flag_min_severity` (the decision that opens a case)."""
    cfg = config or default_config()
    threshold = SEVERITY_ORDER[cfg.limits.flag_min_severity]
    return any(SEVERITY_ORDER[f.severity] >= threshold for f in findings)
