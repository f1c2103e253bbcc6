"""Silent mode: detection runs and is measured, but no card is shown and no case is opened.

How a hospital validates the rules on its own patients before go-live (Berger, JAMIA 2018 ran its
triggers this way). The worker and the CDS service call `record` instead of opening a case; the pilot
figures count the rows (`workflows/figures.py`).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from detection.engine import is_flagged
from detection.models import Finding, Severity
from workflows.cases import fingerprint
from workflows.models import SilentFlag


def record(session: Session, *, encounter_ref: str, findings: list[Finding], source: str) -> int:
    """When the findings would open a case, count each of its non-info findings once per encounter;
    returns how many were new."""
    if not is_flagged(findings):
        return 0
    flags = [f for f in findings if f.severity != Severity.INFO]
    known = {
        (rule, mark)
        for rule, mark in session.execute(
            select(SilentFlag.rule_id, SilentFlag.fingerprint).where(
                SilentFlag.encounter_ref == encounter_ref
            )
        )
    }
    new = 0
    for finding in flags:
        key = (finding.rule_id, fingerprint(finding))
        if key in known:
            continue
        known.add(key)
        try:
            with session.begin_nested():  # a concurrent CDS call and the feed may count it at once
                session.add(
                    SilentFlag(
                        encounter_ref=encounter_ref,
                        rule_id=finding.rule_id,
                        family=finding.family,
                        severity=finding.severity.value,
                        fingerprint=key[1],
                        source=source,
                    )
                )
            new += 1
        except IntegrityError:
            continue
    return new
