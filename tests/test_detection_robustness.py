"""`detect()` never raises, whatever text, age or codes a feed sends (it runs inside a CDS Hooks call)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from detection.engine import detect
from detection.models import Finding
from tests.detection_helpers import presentation

WORDS = st.sampled_from(
    [
        "geen",
        "blauwe",
        "plek",
        "op",
        "oor",
        "no",
        "bruise",
        "fractuur",
        "schedel",
        "lineaire",
        "pariëtale",
        "val",
        "gewurgd",
        "partner",
        "burns",
        "Dr.",
        ",",
        ".",
        ";",
        "1.5",
        "m",
        "*",
        "_",
        "ribfractuur",
        "ë",
        "ÿ",
        "\n",
        "niet",
        "uitgesloten",
        "maar",
        "wel",
        "subduraal",
        "hematoom",
        "bilateraal",
        "sigaret",
        "brandwond",
        "EASI-5",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    text=st.one_of(st.text(max_size=200), st.lists(WORDS, max_size=40).map(" ".join)),
    days=st.one_of(st.none(), st.integers(min_value=0, max_value=40_000)),
    codes=st.lists(st.text(alphabet="ABSTXYZ0123456789.?-", max_size=7), max_size=3),
    answer=st.sampled_from(["Y", "N", "ja", "nee", "", "maybe", "^^"]),
)
def test_detect_never_raises_and_returns_findings(
    text: str, days: int | None, codes: list[str], answer: str
) -> None:
    p = presentation(
        text, days=days, note=text[::-1], icd10=tuple(codes), answers={"ESCAPE-1": answer, "EASI-5": answer}
    )
    findings = detect(p)
    assert all(isinstance(f, Finding) and f.rule_id.startswith(f.family) for f in findings)
