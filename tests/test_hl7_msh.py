"""The fast MSH reader: delimiters, routing fields, decoding, and a precise HL7Error for each bad header."""

from __future__ import annotations

import pytest

from adapters.hl7.errors import ErrorCode, HL7Error
from adapters.hl7.msh import Header, read_header
from tests.hl7_samples import CORPUS_DIR, adt_a04_nl


def read(raw: bytes | str, default_charset: str = "8859/1") -> Header:
    if isinstance(raw, str):
        raw = raw.encode("latin-1")
    return read_header(raw, default_charset=default_charset)


def rejected(raw: bytes | str, default_charset: str = "8859/1") -> HL7Error:
    with pytest.raises(HL7Error) as caught:
        read(raw, default_charset)
    return caught.value


MINIMAL = "MSH|^~\\&|APP|FAC|RAPP|RFAC|20260101120000||ADT^A01^ADT_A01|C1|P|2.5\rPID|1||1\r"


def test_dutch_registration_header_fields_are_read_exactly():
    header = read(adt_a04_nl(msh15="AL", msh16="NE"))
    assert header.field_separator == "|"
    assert header.encoding_characters == "^~\\&"
    assert header.sending_application == "HIX^ETZ"
    assert header.sending_facility == "ETZ-TILBURG"
    assert header.receiving_application == "SPOEDPLEIN"
    assert header.receiving_facility == "ETZ"
    assert header.message_datetime == "20261123143000+0100"
    assert (header.message_code, header.trigger_event, header.message_structure) == ("ADT", "A04", "ADT_A01")
    assert header.message_type_code == "ADT^A04"
    assert header.control_id == "NL-0001"
    assert header.processing_id == "P"
    assert header.version == "2.4"
    assert (header.accept_ack_type, header.application_ack_type) == ("AL", "NE")
    assert header.enhanced_mode
    assert header.charset == "8859/1"
    assert header.sender == "HIX/ETZ-TILBURG"
    assert [s[:3] for s in header.segments][:4] == ["MSH", "EVN", "PID", "NK1"]
    assert "Müller" in header.text


def test_original_mode_when_msh15_and_msh16_are_empty():
    assert not read(MINIMAL).enhanced_mode


@pytest.mark.parametrize("encoding_characters", ["^_\\&", "*:@!", "^~\\&#"])
def test_non_standard_encoding_characters_are_taken_from_msh2(encoding_characters):
    version = "2.7" if len(encoding_characters) == 5 else "2.4"
    header = read(adt_a04_nl(encoding_characters=encoding_characters, version=version))
    d = header.delimiters
    assert d.encoding_characters == encoding_characters
    assert (d.component, d.repetition, d.escape, d.subcomponent) == tuple(encoding_characters[:4])
    assert d.truncation == encoding_characters[4:]
    assert header.trigger_event == "A04"
    assert header.sending_application == f"HIX{encoding_characters[0]}ETZ"


def test_a_different_field_separator_is_honoured():
    header = read("MSH#^~\\&#APP#FAC#R#RF#20260101##ADT^A08#X9#T#2.3\rPID#1\r")
    assert header.field_separator == "#"
    assert header.control_id == "X9"
    assert header.processing_id == "T"


@pytest.mark.parametrize("ending", ["\r", "\n", "\r\n"])
def test_cr_lf_and_crlf_segment_endings_are_normalised_to_cr(ending):
    header = read(MINIMAL.replace("\r", ending))
    assert header.segments == [
        "MSH|^~\\&|APP|FAC|RAPP|RFAC|20260101120000||ADT^A01^ADT_A01|C1|P|2.5",
        "PID|1||1",
    ]
    assert "\n" not in header.text


def test_a_utf8_bom_and_leading_blank_lines_before_msh_are_fine():
    header = read(b"\xef\xbb\xbf\r\n" + MINIMAL.encode())
    assert header.control_id == "C1"


@pytest.mark.parametrize(
    "raw", [b"", b"\r\n", b"PID|1||1\rMSH|^~\\&|A\r", b"xxMSH|^~\\&|A|B|||||ADT^A01|1|P|2.5"]
)
def test_no_msh_segment_is_a_segment_sequence_error_without_header(raw):
    err = rejected(raw)
    assert err.code is ErrorCode.SEGMENT_SEQUENCE_ERROR
    assert err.reject
    assert err.header is None
    assert str(err.location) == "MSH"


def test_alphanumeric_field_separator_is_rejected():
    err = rejected("MSHX^~\\&XAPP")
    assert err.code is ErrorCode.DATA_TYPE_ERROR
    assert str(err.location) == "MSH-1"
    assert err.header is None


@pytest.mark.parametrize("encoding_characters", ["^~\\", "^~\\&#!", "^^\\&", "^~A&", "^~|&", ""])
def test_bad_encoding_characters_are_a_data_type_error_at_msh2(encoding_characters):
    err = rejected(MINIMAL.replace("^~\\&", encoding_characters, 1))
    assert err.code is ErrorCode.DATA_TYPE_ERROR
    assert str(err.location) == "MSH-2"
    assert err.reject
    if "|" not in encoding_characters:  # a separator inside MSH-2 shifts every later field
        assert err.header is not None and err.header.control_id == "C1"  # so MSA-2 can still echo it


def test_truncation_character_before_v27_is_rejected():
    err = rejected(adt_a04_nl(encoding_characters="^~\\&#", version="2.5"))
    assert err.code is ErrorCode.DATA_TYPE_ERROR
    assert str(err.location) == "MSH-2"


def test_missing_msh10_is_required_field_missing():
    err = rejected(MINIMAL.replace("|C1|", "||"))
    assert err.code is ErrorCode.REQUIRED_FIELD_MISSING
    assert str(err.location) == "MSH-10"
    assert err.reject
    assert err.header is not None and err.header.trigger_event == "A01"


def test_missing_msh9_is_required_field_missing_and_still_ackable():
    err = rejected(MINIMAL.replace("ADT^A01^ADT_A01", ""))
    assert err.code is ErrorCode.REQUIRED_FIELD_MISSING
    assert str(err.location) == "MSH-9"
    assert err.header is not None and err.header.control_id == "C1"


def test_unknown_processing_id_is_unsupported_processing_id():
    err = rejected(MINIMAL.replace("|P|", "|X|"))
    assert err.code is ErrorCode.UNSUPPORTED_PROCESSING_ID
    assert str(err.location) == "MSH-11"


@pytest.mark.parametrize("version", ["2.0", "2.9", "3.0", "25"])
def test_unsupported_version_is_rejected_with_203(version):
    err = rejected(MINIMAL.replace("|2.5\r", f"|{version}\r"))
    assert err.code is ErrorCode.UNSUPPORTED_VERSION_ID
    assert str(err.location) == "MSH-12"
    assert err.reject


@pytest.mark.parametrize("version", ["2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5.1", "2.6", "2.7.1", "2.8.2"])
def test_versions_21_to_282_are_supported(version):
    assert read(MINIMAL.replace("|2.5\r", f"|{version}\r")).version == version


def test_missing_version_is_required_field_missing():
    err = rejected(MINIMAL.replace("|2.5\r", "|\r"))
    assert err.code is ErrorCode.REQUIRED_FIELD_MISSING
    assert str(err.location) == "MSH-12"


def test_undecodable_bytes_for_the_declared_charset_name_the_field():
    raw = adt_a04_nl(charset="UNICODE UTF-8").encode("latin-1")
    err = rejected(raw)
    assert err.code is ErrorCode.DATA_TYPE_ERROR
    assert str(err.location) == "PID-5"
    assert err.header is not None and err.header.control_id == "NL-0001"


def test_non_ascii_bytes_with_ascii_default_are_undecodable():
    err = rejected(adt_a04_nl(charset=""), default_charset="ASCII")
    assert err.code is ErrorCode.DATA_TYPE_ERROR


def test_unknown_charset_name_is_rejected_but_keeps_the_header_for_the_ack():
    err = rejected(adt_a04_nl(charset="KLINGON"))
    assert err.code is ErrorCode.TABLE_VALUE_NOT_FOUND
    assert str(err.location) == "MSH-18"
    assert err.header is not None and err.header.control_id == "NL-0001"


def test_bad_accept_ack_type_is_a_content_error_answered_with_ae():
    err = rejected(adt_a04_nl(msh15="XX"))
    assert err.code is ErrorCode.TABLE_VALUE_NOT_FOUND
    assert str(err.location) == "MSH-15"
    assert not err.reject


@pytest.mark.parametrize("path", sorted(CORPUS_DIR.glob("*.hl7")), ids=lambda p: p.name)
def test_every_corpus_message_has_a_readable_header(path):
    header = read(path.read_bytes())
    assert header.message_code and header.control_id and header.version
    assert header.segments[0].startswith("MSH")
    assert all("\n" not in s for s in header.segments)
