"""Fast MSH reader for the ACK path: delimiters, routing fields and the decoded text of a message.

`read_header` does the least work that lets the gateway store and acknowledge a message: it checks the
MSH segment, picks the character set from MSH-18 in the raw bytes, decodes the whole message once and
splits it into segments. No structure-aware parsing (that happens later, in the worker). Every failure
is an `HL7Error` carrying a table 0357 code, the MSH field it is about and, whenever the MSH could be
read at all, the partial `Header` so the ACK can echo the sender's delimiters and control id.

Failure modes (code, location, AR unless noted):
- empty input, or anything but CR/LF (after an optional UTF-8 BOM) before `MSH` -> 100, MSH;
- MSH-1 missing or alphanumeric -> 102, MSH-1 (no header: answered with default delimiters);
- MSH-2 not 4 distinct non-alphanumeric characters (5 with the truncation character from v2.7) -> 102;
- MSH-18 unknown -> 103, MSH-18; bytes invalid in the character set -> 102 at the offending field;
- MSH-9 (message code), MSH-10, MSH-11, MSH-12 empty -> 101; MSH-11 not P/D/T -> 202;
  MSH-12 not 2.1-2.8.2 -> 203;
- MSH-15/MSH-16 not in table 0155 (AL, NE, ER, SU) -> 103, AE (content, not structure).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapters.hl7.charset import UTF8_BOM, codec_for, decode_message
from adapters.hl7.delimiters import STANDARD_ENCODING_CHARACTERS, Delimiters
from adapters.hl7.errors import ErrorCode, ErrorLocation, HL7Error

__all__ = ["SUPPORTED_VERSIONS", "HL7Error", "Header", "read_header"]

SUPPORTED_VERSIONS: frozenset[str] = frozenset(
    {"2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"}
)
PROCESSING_IDS: frozenset[str] = frozenset({"P", "D", "T"})  # table 0103
ACK_CONDITIONS: frozenset[str] = frozenset({"AL", "NE", "ER", "SU"})  # table 0155
_TRUNCATION_VERSIONS: frozenset[str] = frozenset({"2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"})


@dataclass(slots=True)
class Header:
    """What the ACK path needs from MSH, plus the decoded text split into CR-separated segments.

    Field values are the raw field text (components not split, escapes not decoded) so they can be
    echoed into an ACK exactly as the sender wrote them.
    """

    delimiters: Delimiters
    sending_application: str = ""  # MSH-3
    sending_facility: str = ""  # MSH-4
    receiving_application: str = ""  # MSH-5
    receiving_facility: str = ""  # MSH-6
    message_datetime: str = ""  # MSH-7
    message_type: str = ""  # MSH-9 raw, e.g. "ADT^A01^ADT_A01"
    message_code: str = ""  # MSH-9.1
    trigger_event: str = ""  # MSH-9.2
    message_structure: str = ""  # MSH-9.3
    control_id: str = ""  # MSH-10
    processing_id: str = ""  # MSH-11 raw (echoed into the ACK)
    version: str = ""  # MSH-12.1
    version_field: str = ""  # MSH-12 raw (echoed into the ACK)
    accept_ack_type: str = ""  # MSH-15
    application_ack_type: str = ""  # MSH-16
    charset: str = ""  # MSH-18 first repetition as written ("" when absent)
    codec: str = "ascii"  # the Python codec the text was decoded with
    text: str = ""  # the decoded message, segments separated by CR
    segments: list[str] = field(default_factory=list)

    @property
    def field_separator(self) -> str:
        return self.delimiters.field

    @property
    def encoding_characters(self) -> str:
        return self.delimiters.encoding_characters

    @property
    def message_type_code(self) -> str:
        """`ADT^A01` style (code and trigger with a plain caret), for logs and SourceRef."""
        return f"{self.message_code}^{self.trigger_event}" if self.trigger_event else self.message_code

    @property
    def processing_id_code(self) -> str:
        return self.processing_id.split(self.delimiters.component, 1)[0]

    @property
    def enhanced_mode(self) -> bool:
        """HL7 v2 chapter 2: enhanced acknowledgment mode when MSH-15 or MSH-16 is valued."""
        return bool(self.accept_ack_type or self.application_ack_type)

    @property
    def sender(self) -> str:
        """`APP/FACILITY` from MSH-3.1 and MSH-4.1: identifies the feed, never the patient."""
        comp = self.delimiters.component
        return f"{self.sending_application.split(comp, 1)[0]}/{self.sending_facility.split(comp, 1)[0]}"


def read_header(raw: bytes, *, default_charset: str, strict: bool = True) -> Header:
    """Read and check the MSH of one message; `default_charset` applies when MSH-18 is empty.

    Raises HL7Error (see the module docstring for each case). Never raises anything else for bytes input.
    `strict=False` skips the MSH-9..16 content checks (for reading peers' ACKs); delimiters, character
    set and the leading MSH are always checked.
    """
    data = raw[3:] if raw.startswith(UTF8_BOM) else raw
    if data[:1] in (b"\r", b"\n"):
        data = data.lstrip(b"\r\n")
    if not data.startswith(b"MSH"):
        what = "the message does not start with an MSH segment" if data.strip() else "the message is empty"
        raise HL7Error(ErrorCode.SEGMENT_SEQUENCE_ERROR, what, location=ErrorLocation("MSH", 1))
    sep_byte = data[3:4]
    if not sep_byte or sep_byte in b"\r\n" or sep_byte.isalnum() or sep_byte.isspace() or sep_byte[0] > 127:
        raise HL7Error(
            ErrorCode.DATA_TYPE_ERROR,
            "MSH-1 field separator missing or not a printable non-alphanumeric character",
            location=ErrorLocation("MSH", 1, 1),
        )
    end = _line_end(data)
    msh_parts = data[:end].split(sep_byte)
    sep = sep_byte.decode("ascii")
    enc = msh_parts[1].decode("latin-1") if len(msh_parts) > 1 else ""
    enc_problem = _encoding_characters_problem(enc, sep)
    if enc_problem:
        # Answer with standard delimiters but the sender's field separator, so MSA-2 still echoes MSH-10.
        partial = _header_from_fields(
            [p.decode("latin-1") for p in msh_parts],
            Delimiters(field=sep) if sep not in STANDARD_ENCODING_CHARACTERS else Delimiters(),
            codec="latin-1",
            text="",
            segments=[],
        )
        raise HL7Error(
            ErrorCode.DATA_TYPE_ERROR, enc_problem, location=ErrorLocation("MSH", 1, 2), header=partial
        )
    delimiters = Delimiters(sep, enc[0], enc[1], enc[2], enc[3], enc[4] if len(enc) == 5 else "")
    charset = ""
    if len(msh_parts) > 17:
        charset = msh_parts[17].split(enc[1].encode("latin-1"), 1)[0].decode("latin-1").strip()
    try:
        codec = codec_for(charset, default_charset=default_charset)
    except HL7Error as exc:
        # Unknown character set: answer in ASCII and do not echo the MSH-18 we could not honour.
        exc.header = _header_from_fields(
            [p.decode("ascii", errors="replace") for p in msh_parts], delimiters, "ascii", "", []
        )
        raise
    try:
        text = decode_message(data, codec)
    except HL7Error as exc:
        exc.header = _header_from_fields(
            [p.decode(codec, errors="replace") for p in msh_parts], delimiters, codec, "", []
        )
        exc.header.charset = charset
        raise
    if "\n" in text:
        text = text.replace("\r\n", "\r").replace("\n", "\r")
    segments = [s for s in text.split("\r") if s and not s.isspace()]
    header = _header_from_fields(segments[0].split(sep), delimiters, codec, text, segments)
    header.charset = charset
    if strict:
        _check(header, enc)
    return header


def _line_end(data: bytes) -> int:
    cr = data.find(b"\r")
    lf = data.find(b"\n")
    if cr < 0:
        return lf if lf >= 0 else len(data)
    return cr if lf < 0 or cr < lf else lf


def _encoding_characters_problem(enc: str, sep: str) -> str:
    if len(enc) not in (4, 5):
        return f"MSH-2 must hold 4 encoding characters (5 from v2.7), found {len(enc)}"
    if len(set(enc)) != len(enc) or sep in enc:
        return "MSH-2 encoding characters must differ from each other and from the field separator"
    for ch in enc:
        if ch.isalnum() or ch.isspace() or not 32 < ord(ch) < 127:
            return "MSH-2 encoding characters must be printable, non-alphanumeric ASCII characters"
    return ""


def _header_from_fields(
    fields: list[str], delimiters: Delimiters, codec: str, text: str, segments: list[str]
) -> Header:
    # fields[0] is "MSH" and fields[1] is MSH-2, so MSH-n is fields[n - 1].
    n = len(fields)

    def msh(number: int) -> str:
        return fields[number - 1] if number - 1 < n else ""

    comp = delimiters.component
    message_type = msh(9)
    type_parts = message_type.split(comp)
    version_field = msh(12)
    return Header(
        delimiters=delimiters,
        sending_application=msh(3),
        sending_facility=msh(4),
        receiving_application=msh(5),
        receiving_facility=msh(6),
        message_datetime=msh(7),
        message_type=message_type,
        message_code=type_parts[0].strip(),
        trigger_event=type_parts[1].strip() if len(type_parts) > 1 else "",
        message_structure=type_parts[2].strip() if len(type_parts) > 2 else "",
        control_id=msh(10).strip(),
        processing_id=msh(11).strip(),
        version=version_field.split(comp, 1)[0].strip(),
        version_field=version_field,
        accept_ack_type=msh(15).strip().upper(),
        application_ack_type=msh(16).strip().upper(),
        codec=codec,
        text=text,
        segments=segments,
    )


def _check(header: Header, enc: str) -> None:
    def fail(code: ErrorCode, field_no: int, text: str, *, reject: bool = True) -> HL7Error:
        return HL7Error(code, text, location=ErrorLocation("MSH", 1, field_no), reject=reject, header=header)

    if not header.message_code:
        raise fail(ErrorCode.REQUIRED_FIELD_MISSING, 9, "MSH-9 message type is empty")
    if not header.control_id:
        raise fail(ErrorCode.REQUIRED_FIELD_MISSING, 10, "MSH-10 message control id is empty")
    processing = header.processing_id_code.strip()
    if not processing:
        raise fail(ErrorCode.REQUIRED_FIELD_MISSING, 11, "MSH-11 processing id is empty")
    if processing not in PROCESSING_IDS:
        raise fail(ErrorCode.UNSUPPORTED_PROCESSING_ID, 11, "MSH-11 processing id must be P, D or T")
    if not header.version:
        raise fail(ErrorCode.REQUIRED_FIELD_MISSING, 12, "MSH-12 version id is empty")
    if header.version not in SUPPORTED_VERSIONS:
        raise fail(ErrorCode.UNSUPPORTED_VERSION_ID, 12, "MSH-12 version must be one of 2.1 to 2.8.2")
    if len(enc) == 5 and header.version not in _TRUNCATION_VERSIONS:
        raise fail(ErrorCode.DATA_TYPE_ERROR, 2, "MSH-2 truncation character is only defined from v2.7")
    for field_no, value in ((15, header.accept_ack_type), (16, header.application_ack_type)):
        if value and value not in ACK_CONDITIONS:
            raise fail(
                ErrorCode.TABLE_VALUE_NOT_FOUND,
                field_no,
                f"MSH-{field_no} must be AL, NE, ER or SU (HL7 table 0155)",
                reject=False,
            )
