"""MSH-18 character sets: mapping to codecs, decoding from raw bytes, precise errors."""

from __future__ import annotations

import pytest

from adapters.hl7.charset import codec_for, decode_message, locate_offset
from adapters.hl7.errors import ErrorCode, HL7Error
from adapters.hl7.msh import read_header
from tests.hl7_samples import adt_a04_nl


@pytest.mark.parametrize(
    ("msh18", "codec"),
    [
        ("8859/1", "iso8859-1"),
        ("8859/2", "iso8859-2"),
        ("8859/15", "iso8859-15"),
        ("UNICODE UTF-8", "utf-8"),
        ("UNICODE", "utf-8"),
        ("UTF-8", "utf-8"),
        ("ascii", "ascii"),
        ("ISO IR192", "utf-8"),
    ],
)
def test_msh18_values_map_to_python_codecs(msh18, codec):
    assert codec_for(msh18, default_charset="8859/1") == codec


@pytest.mark.parametrize(("default", "codec"), [("8859/1", "iso8859-1"), ("UTF-8", "utf-8")])
def test_empty_msh18_uses_the_configured_default(default, codec):
    assert codec_for("", default_charset=default) == codec


def test_unknown_charset_name_is_table_value_not_found_at_msh18():
    with pytest.raises(HL7Error) as caught:
        codec_for("EBCDIC-37", default_charset="8859/1")
    assert caught.value.code is ErrorCode.TABLE_VALUE_NOT_FOUND
    assert str(caught.value.location) == "MSH-18"
    assert caught.value.reject


@pytest.mark.parametrize(("charset", "codec"), [("8859/1", "latin-1"), ("UNICODE UTF-8", "utf-8")])
@pytest.mark.parametrize("name", ["Müller", "Çelik", "Jürgen"])
def test_dutch_and_turkish_names_survive_a_round_trip(charset, codec, name):
    text = adt_a04_nl(charset=charset).replace("Müller", name)
    header = read_header(text.encode(codec), default_charset="ASCII")
    assert name in header.text
    assert header.text.encode(header.codec) == text.encode(codec)


def test_utf8_bom_before_msh_is_skipped_by_the_header_reader():
    raw = adt_a04_nl(charset="UNICODE UTF-8").encode("utf-8")
    header = read_header(b"\xef\xbb\xbf" + raw, default_charset="ASCII")
    assert header.text.startswith("MSH|")
    assert header.text == read_header(raw, default_charset="ASCII").text


def test_undecodable_byte_is_located_at_its_segment_and_field():
    raw = adt_a04_nl(charset="UNICODE UTF-8").encode("latin-1")  # says UTF-8, is Latin-1
    with pytest.raises(HL7Error) as caught:
        decode_message(raw, "utf-8")
    err = caught.value
    assert err.code is ErrorCode.DATA_TYPE_ERROR
    assert str(err.location) == "PID-5"
    assert "0xFC" in err.text


def test_locate_offset_counts_segment_occurrences_and_msh_fields():
    raw = b"MSH|^~\\&|A|B\rNK1|1|x\nNK1|2|\xff"
    assert str(locate_offset(raw, raw.index(b"\xff"))) == "NK1[2]-2"
    assert str(locate_offset(raw, raw.index(b"B"))) == "MSH-4"
