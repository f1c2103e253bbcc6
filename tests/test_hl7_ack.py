"""ACK building: codes per acknowledgment mode, echoed header, ERR segments per version, parse_ack."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from adapters.hl7.ack import (
    build_ack,
    build_ack_for_error,
    build_reject_without_header,
    internal_error,
    parse_ack,
)
from adapters.hl7.errors import AckCode, ErrorCode, ErrorLocation, ErrorSeverity, HL7Error
from adapters.hl7.msh import Header, read_header
from tests.hl7_samples import CORPUS_DIR, adt_a04_nl

NOW = datetime(2026, 11, 23, 14, 30, 5, tzinfo=ZoneInfo("Europe/Amsterdam"))
PID7_ERROR = HL7Error(
    ErrorCode.DATA_TYPE_ERROR,
    "PID-7 is not a date: use YYYYMMDD",
    location=ErrorLocation("PID", 1, 7),
    reject=False,
)


def header_of(text: str, default_charset: str = "8859/1") -> Header:
    return read_header(text.encode("latin-1"), default_charset=default_charset)


def fields(ack: bytes, segment: str, codec: str = "latin-1", sep: str = "|") -> list[str]:
    for line in ack.decode(codec).split("\r"):
        if line.startswith(segment + sep):
            return line.split(sep)
    raise AssertionError(f"no {segment} in ACK")


def test_accepted_message_gets_aa_with_swapped_sender_and_echoed_header():
    header = header_of(adt_a04_nl())
    ack = build_ack(header, control_id="ACK1", now=NOW)
    msh = fields(ack, "MSH")
    assert msh[1] == "^~\\&"
    assert (msh[2], msh[3], msh[4], msh[5]) == ("SPOEDPLEIN", "ETZ", "HIX^ETZ", "ETZ-TILBURG")
    assert msh[6] == "20261123143005+0100"
    assert msh[8] == "ACK^A04^ACK"
    assert msh[9] == "ACK1"
    assert (msh[10], msh[11], msh[17]) == ("P", "2.4", "8859/1")
    assert fields(ack, "MSA")[1:3] == ["AA", "NL-0001"]
    assert b"ERR|" not in ack
    assert ack.endswith(b"\r")


def test_each_ack_gets_a_fresh_control_id_of_at_most_20_characters():
    header = header_of(adt_a04_nl())
    ids = {fields(build_ack(header), "MSH")[9] for _ in range(50)}
    assert len(ids) == 50
    assert "NL-0001" not in ids
    assert all(len(i) <= 20 for i in ids)


def test_ack_is_encoded_in_the_message_charset():
    text = adt_a04_nl().replace("ETZ-TILBURG", "Zorggroep Müllerhof")
    ack = build_ack(header_of(text), now=NOW)
    assert "Zorggroep Müllerhof".encode("latin-1") in ack
    utf8 = adt_a04_nl(charset="UNICODE UTF-8").replace("ETZ-TILBURG", "Zorggroep Müllerhof")
    ack8 = build_ack(read_header(utf8.encode("utf-8"), default_charset="8859/1"), now=NOW)
    assert "Zorggroep Müllerhof".encode() in ack8
    assert fields(ack8, "MSH", "utf-8")[17] == "UNICODE UTF-8"


@pytest.mark.parametrize(
    ("version", "msh9"), [("2.1", "ACK"), ("2.2", "ACK^A04"), ("2.3", "ACK^A04"), ("2.3.1", "ACK^A04^ACK")]
)
def test_msh9_of_the_ack_follows_the_version(version, msh9):
    assert fields(build_ack(header_of(adt_a04_nl(version=version))), "MSH")[8] == msh9


def test_processing_id_is_echoed():
    text = adt_a04_nl().replace("|NL-0001|P|", "|NL-0001|T|")
    assert fields(build_ack(header_of(text)), "MSH")[10] == "T"


def test_content_error_in_v25_gets_ae_with_err_2_3_4_8():
    ack = build_ack(header_of(adt_a04_nl(version="2.5")), error=PID7_ERROR, now=NOW)
    assert fields(ack, "MSA")[1:3] == ["AE", "NL-0001"]
    err = fields(ack, "ERR")
    assert err[1] == ""
    assert err[2] == "PID^1^7"
    assert err[3] == "102^Data type error^HL70357"
    assert err[4] == "E"
    assert err[8] == "PID-7 is not a date: use YYYYMMDD"


def test_structural_error_gets_ar():
    err = HL7Error(ErrorCode.UNSUPPORTED_MESSAGE_TYPE, "not for us", location=ErrorLocation("MSH", 1, 9))
    assert fields(build_ack(header_of(adt_a04_nl()), error=err), "MSA")[1] == "AR"


def test_old_versions_get_err1_and_the_text_in_msa3():
    ack = build_ack(header_of(adt_a04_nl(version="2.3")), error=PID7_ERROR)
    msa = fields(ack, "MSA")
    assert msa[1] == "AE"
    assert msa[3] == "PID-7 is not a date: use YYYYMMDD"
    assert fields(ack, "ERR")[1] == "PID^1^7^102&Data type error&HL70357"


@pytest.mark.parametrize(
    ("msh15", "msh16", "ok", "bad_content", "bad_structure"),
    [("", "", "AA", "AE", "AR"), ("AL", "NE", "CA", "CE", "CR"), ("", "AL", "CA", "CE", "CR")],
)
def test_enhanced_mode_uses_commit_codes(msh15, msh16, ok, bad_content, bad_structure):
    header = header_of(adt_a04_nl(msh15=msh15, msh16=msh16))
    structural = HL7Error(ErrorCode.SEGMENT_SEQUENCE_ERROR, "PID missing", location=ErrorLocation("PID", 1))
    assert fields(build_ack(header), "MSA")[1] == ok
    assert fields(build_ack(header, error=PID7_ERROR), "MSA")[1] == bad_content
    assert fields(build_ack(header, error=structural), "MSA")[1] == bad_structure


def test_error_text_is_escaped_with_the_messages_own_delimiters():
    header = header_of(adt_a04_nl(encoding_characters="*:@!", version="2.5"))
    error = HL7Error(ErrorCode.DATA_TYPE_ERROR, "bad | * : @ ! chars\nsecond line", reject=False)
    ack = build_ack(header, error=error)
    assert b"bad @F@ @S@ @R@ @E@ @T@ chars@.br@second line" in ack
    parsed = parse_ack(ack)
    assert parsed.errors[0].message == "bad | * : @ ! chars\nsecond line"
    assert fields(ack, "MSH")[1] == "*:@!"
    assert fields(ack, "MSH")[8] == "ACK*A04*ACK"


def test_missing_control_id_is_answered_ar_with_err_at_msh10():
    with pytest.raises(HL7Error) as caught:
        read_header(adt_a04_nl(control_id="", version="2.5").encode("latin-1"), default_charset="8859/1")
    parsed = parse_ack(build_ack_for_error(caught.value))
    assert parsed.code == AckCode.AR
    assert parsed.acked_control_id == ""
    assert (parsed.errors[0].code, parsed.errors[0].location) == ("101", "MSH^1^10")


def test_unsupported_version_is_answered_in_the_messages_own_header():
    with pytest.raises(HL7Error) as caught:
        read_header(adt_a04_nl(version="3.0").encode("latin-1"), default_charset="8859/1")
    ack = build_ack_for_error(caught.value)
    parsed = parse_ack(ack)
    assert parsed.code == "AR"
    assert parsed.acked_control_id == "NL-0001"
    assert parsed.errors[0].code == "203"


def test_input_without_msh_gets_a_default_ar_in_v25():
    with pytest.raises(HL7Error) as caught:
        read_header(b"hello world", default_charset="8859/1")
    ack = build_ack_for_error(caught.value, control_id="ACKX")
    same = build_reject_without_header(caught.value, control_id="ACKX")
    assert fields(same, "MSA") == fields(ack, "MSA")
    msh = fields(ack, "MSH")
    assert (msh[1], msh[9], msh[11]) == ("^~\\&", "ACKX", "2.5")
    parsed = parse_ack(ack)
    assert parsed.code == "AR"
    assert parsed.errors[0].code == "100"
    assert parsed.errors[0].location == "MSH^1"


def test_internal_error_asks_the_sender_to_resend():
    err = internal_error()
    assert err.code is ErrorCode.APPLICATION_INTERNAL_ERROR
    assert fields(build_ack(header_of(adt_a04_nl()), error=err), "MSA")[1] == "AR"


def test_warning_severity_is_written_to_err4():
    warn = HL7Error(ErrorCode.TABLE_VALUE_NOT_FOUND, "w", severity=ErrorSeverity.WARNING, reject=False)
    assert fields(build_ack(header_of(adt_a04_nl(version="2.6")), error=warn), "ERR")[4] == "W"


@pytest.mark.parametrize("version", ["2.4", "2.5", "2.6", "2.8"])
def test_hl7apy_accepts_our_error_ack_under_strict_validation(version):
    ack = build_ack(header_of(adt_a04_nl(version=version)), error=PID7_ERROR).decode("latin-1")
    message = parse_message(ack, validation_level=VALIDATION_LEVEL.STRICT)
    assert message.validate()
    assert message.msa.msa_1.value == "AE"
    assert message.msa.msa_2.value == "NL-0001"


@pytest.mark.parametrize("path", sorted(CORPUS_DIR.glob("*.hl7")), ids=lambda p: p.name)
def test_every_corpus_message_gets_an_ack_that_reads_back(path):
    header = read_header(path.read_bytes(), default_charset="8859/1")
    parsed = parse_ack(build_ack(header))
    assert parsed.acked_control_id == header.control_id
    assert parsed.code == ("CA" if header.enhanced_mode else "AA")
    assert parsed.header is not None
    assert parsed.header.sending_application == header.receiving_application
    assert parsed.header.version == header.version
