"""Splitting a file's bytes into HL7 v2 messages (for `spoedplein send` / `replay`).

Accepts one or many messages per file, CR, LF or CRLF segment endings, MLLP framing (0x0B ... 0x1C 0x0D)
or none, a UTF-8 byte order mark at the start of the file or of any message, and HL7 batch envelopes
(FHS/BHS/BTS/FTS segments are dropped). A new message starts at every line that begins with `MSH`
followed by a non-alphanumeric field separator. Each message comes back with CR segment endings and a
final CR, still as bytes: decoding belongs to `read_header`, which knows the message's MSH-18.

Lines before the first MSH (other than blank lines and batch envelope segments) are returned as a chunk
of their own, so the caller's normal reading reports them as "no MSH segment" instead of losing them.
Working on bytes is safe for every supported character set: CR and LF never occur inside a multi-byte
UTF-8 sequence or in a single-byte 8859 character.
"""

from __future__ import annotations

from adapters.hl7.charset import UTF8_BOM

MLLP_START = b"\x0b"
MLLP_END = b"\x1c"
_ENVELOPE = (b"FHS", b"BHS", b"BTS", b"FTS")


def is_message_start(line: bytes) -> bool:
    """`MSH` followed by a field separator (printable, not a letter or digit)."""
    if not line.startswith(b"MSH") or len(line) < 4:
        return False
    sep = line[3:4]
    return not sep.isalnum() and not sep.isspace() and 32 < sep[0] < 127


def split_messages(data: bytes) -> list[bytes]:
    """Every message in `data`, in order, normalised to CR segment endings. Never raises."""
    if MLLP_START in data or MLLP_END in data:
        data = data.replace(MLLP_START, b"\r").replace(MLLP_END, b"\r")
    data = data.replace(b"\r\n", b"\r").replace(b"\n", b"\r")
    messages: list[list[bytes]] = []
    current: list[bytes] | None = None
    for line in data.split(b"\r"):
        if line.startswith(UTF8_BOM):
            line = line[len(UTF8_BOM) :]
        if not line.strip():
            continue
        if line[:3] in _ENVELOPE and len(line) > 3 and not line[3:4].isalnum():
            continue
        if is_message_start(line) or current is None:
            current = [line]
            messages.append(current)
        else:
            current.append(line)
    return [b"\r".join(lines) + b"\r" for lines in messages]
