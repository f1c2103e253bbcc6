"""Whatever bytes arrive, the codec answers with a header, an HL7Error or a mapping: never a crash."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.hl7.ack import build_ack, build_ack_for_error, parse_ack
from adapters.hl7.errors import HL7Error
from adapters.hl7.files import split_messages
from adapters.hl7.msh import read_header
from adapters.hl7.to_presentation import presentation_from_bytes
from tests.hl7_samples import adt_a04_nl

SAMPLE = adt_a04_nl().encode("latin-1")
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def answer(raw: bytes) -> bytes:
    """What the gateway would send back: an ACK for a good header, an error ACK otherwise."""
    try:
        header = read_header(raw, default_charset="UTF-8")
    except HL7Error as exc:
        return build_ack_for_error(exc)
    return build_ack(header)


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_bytes_get_an_ack_that_parses(raw):
    parsed = parse_ack(answer(raw))
    assert parsed.code in {"AA", "AE", "AR", "CA", "CE", "CR"}


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_bytes_after_a_valid_msh_get_an_ack(tail):
    raw = b"MSH|^~\\&|A|B|C|D|20260101||ADT^A01|X1|P|2.5|||||||" + tail
    assert parse_ack(answer(raw)).acked_control_id in {"X1", ""}


@FUZZ
@given(st.integers(min_value=0, max_value=len(SAMPLE) - 1), st.binary(min_size=1, max_size=8))
def test_corrupting_a_dutch_message_anywhere_never_crashes_mapping(position, junk):
    raw = SAMPLE[:position] + junk + SAMPLE[position + 1 :]
    try:
        presentation_from_bytes(raw, default_charset="8859/1")
    except HL7Error as exc:
        parsed = parse_ack(build_ack_for_error(exc), default_charset="8859/1")
        assert parsed.code in {"AE", "AR", "CE", "CR"}
        assert parsed.errors[0].code == str(exc.code.value)


@FUZZ
@given(st.binary(max_size=300))
def test_file_splitting_never_raises_and_normalises_line_endings(data):
    chunks = split_messages(data)
    assert all(c.endswith(b"\r") and b"\n" not in c for c in chunks)
