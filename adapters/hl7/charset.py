"""MSH-18 character sets (HL7 table 0211) to Python codecs, and decoding a raw message with them.

Decoding works on raw bytes: the MSH segment is ASCII in every supported character set, so MSH-18 is
read from the bytes first and the whole message is decoded afterwards. A UTF-8 byte order mark at the
start is stripped. Failure modes, each an `HL7Error` located for an ERR segment:
- an MSH-18 value we do not know or cannot decode (ISO 2022 sets, UTF-16/32) -> 103, MSH-18, reject;
- bytes that are not valid in the declared (or default) character set -> 102 at the segment and field
  holding the first bad byte, reject (the message cannot be read as sent).
"""

from __future__ import annotations

import codecs
import re

from adapters.hl7.errors import ErrorCode, ErrorLocation, HL7Error

UTF8_BOM = codecs.BOM_UTF8

# HL7 table 0211 plus the spellings senders use in practice. UNICODE (bare) is deprecated in the
# standard; every sender we know that writes it means UTF-8, so that is what it maps to.
_CHARSETS: dict[str, str] = {
    "ASCII": "ascii",
    "US-ASCII": "ascii",
    "ISO IR6": "ascii",
    "8859/1": "iso8859-1",
    "8859/2": "iso8859-2",
    "8859/3": "iso8859-3",
    "8859/4": "iso8859-4",
    "8859/5": "iso8859-5",
    "8859/6": "iso8859-6",
    "8859/7": "iso8859-7",
    "8859/8": "iso8859-8",
    "8859/9": "iso8859-9",
    "8859/15": "iso8859-15",
    "ISO IR100": "iso8859-1",
    "ISO IR101": "iso8859-2",
    "ISO IR109": "iso8859-3",
    "ISO IR110": "iso8859-4",
    "ISO IR144": "iso8859-5",
    "ISO IR127": "iso8859-6",
    "ISO IR126": "iso8859-7",
    "ISO IR138": "iso8859-8",
    "ISO IR148": "iso8859-9",
    "ISO IR192": "utf-8",
    "UNICODE UTF-8": "utf-8",
    "UNICODE": "utf-8",
    "UTF-8": "utf-8",
    "UTF8": "utf-8",
    "GB 18030-2000": "gb18030",
    "BIG-5": "big5",
    "WINDOWS-1252": "cp1252",
    "CP1252": "cp1252",
}
for _n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 15):
    _CHARSETS[f"ISO-8859-{_n}"] = f"iso8859-{_n}"
    _CHARSETS[f"ISO8859-{_n}"] = f"iso8859-{_n}"
    _CHARSETS[f"ISO 8859-{_n}"] = f"iso8859-{_n}"


_MSH18 = ErrorLocation("MSH", 1, 18)
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")


def codec_for(charset: str, *, default_charset: str) -> str:
    """The Python codec for an MSH-18 value; an empty value means `default_charset`.

    Raises HL7Error 103 (reject) at MSH-18 for a value we cannot decode, including an unknown default.
    """
    name = charset.strip().upper() or default_charset.strip().upper()
    codec = _CHARSETS.get(name)
    if codec is None:
        raise HL7Error(
            ErrorCode.TABLE_VALUE_NOT_FOUND,
            f"character set '{_printable(name)}' is not supported (HL7 table 0211)",
            location=_MSH18,
        )
    return codec


def decode_message(raw: bytes, codec: str) -> str:
    """Decode message bytes (BOM already stripped) with `codec`.

    Raises HL7Error 102 (reject) naming the segment and field of the first byte that does not decode.
    """
    try:
        return raw.decode(codec)
    except UnicodeDecodeError as exc:
        location = locate_offset(raw, exc.start)
        where = f" in {location}" if location else ""
        raise HL7Error(
            ErrorCode.DATA_TYPE_ERROR,
            f"byte 0x{raw[exc.start]:02X} at offset {exc.start}{where} is not valid {codec}"
            " (check MSH-18 against what the sender writes)",
            location=location,
        ) from None


def encode_text(text: str, codec: str) -> bytes:
    """Encode text we built; characters the codec lacks become '?' rather than failing an ACK."""
    return text.encode(codec, errors="replace")


def locate_offset(raw: bytes, offset: int) -> ErrorLocation | None:
    """The segment (with its occurrence) and field that contain byte `offset` of a message.

    None when the line holding that byte does not start with a valid segment id (3 capitals/digits).
    """
    head = raw[:offset].replace(b"\r\n", b"\r").replace(b"\n", b"\r")
    line_start = head.rfind(b"\r") + 1
    segment_id = _segment_id_at(raw, offset, line_start, head)
    if not _SEGMENT_ID.fullmatch(segment_id):
        return None
    earlier = head[:line_start].split(b"\r")
    sequence = 1 + sum(1 for line in earlier if line[:3].decode("latin-1") == segment_id)
    sep = raw[3:4] if raw.startswith(b"MSH") and len(raw) > 3 else b"|"
    field = head[line_start:].count(sep)
    if segment_id == "MSH":
        field += 1  # MSH-1 is the separator itself, so the first field after it is MSH-2
    return ErrorLocation(segment_id, sequence, field or None)


def _segment_id_at(raw: bytes, offset: int, line_start: int, head: bytes) -> str:
    line = head[line_start:] + raw[offset : offset + 3]
    return line[:3].decode("latin-1")


def _printable(text: str) -> str:
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)[:40]
