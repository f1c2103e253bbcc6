"""Building HL7 v2 acknowledgements (ACK) quickly, and reading them back.

Which code we send (HL7 v2 chapter 2, "original" vs "enhanced" acknowledgment mode):
- Original mode (MSH-15 and MSH-16 both empty): one ACK with AA, AE or AR.
- Enhanced mode (MSH-15 or MSH-16 valued): the gateway sends the *accept* acknowledgment (CA, CE, CR),
  after the message is durably stored (CA) or when it was not taken in (CE content, CR structure).
  Every message gets its accept ACK, whatever MSH-15 asks: an MLLP sender waits on the connection for an
  answer, and many send NE with AL in MSH-16, expecting an application ACK that is never sent.
  We never send application-level acknowledgments (MSH-16): the application work (parsing,
  detection) happens later and its outcome is not sent back to the sender.

The ACK echoes the message's delimiters, MSH-11 processing id, MSH-12 version and MSH-18 character set,
swaps sender and receiver, gets a fresh MSH-10, and is encoded in the message's character set.
Errors carry an ERR segment: ERR-1 (segment^sequence^field^code&text&HL70357) for v2.1-2.4, and
ERR-2 location, ERR-3 code^text^HL70357, ERR-4 severity, ERR-8 text for v2.5 and later. Texts are escaped
with the message's own delimiters. Building never raises for a `Header` that `read_header` produced.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from adapters.hl7.charset import encode_text
from adapters.hl7.delimiters import STANDARD, Delimiters
from adapters.hl7.errors import AckCode, ErrorCode, ErrorLocation, HL7Error
from adapters.hl7.msh import Header, read_header

DEFAULT_ZONE = "Europe/Amsterdam"
NO_HEADER_VERSION = "2.5"

_ERR_FIELDS_VERSIONS = frozenset({"2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1", "2.8.2"})
_NO_STRUCTURE_VERSIONS = frozenset({"2.1", "2.2", "2.3"})  # MSH-9.3 message structure is v2.3.1+


def new_control_id() -> str:
    """A fresh MSH-10 for an ACK: 19 characters, fits the 20-character limit of older versions."""
    return "ACK" + os.urandom(8).hex()


def internal_error(text: str = "the message could not be stored; send it again") -> HL7Error:
    """HL7Error for 'we could not take it in right now' (207, AR/CR: the sender should resend)."""
    return HL7Error(ErrorCode.APPLICATION_INTERNAL_ERROR, text, reject=True)


def ack_code(header: Header, error: HL7Error | None = None) -> AckCode:
    """AA/AE/AR in original mode, CA/CE/CR in enhanced mode."""
    if header.enhanced_mode:
        return AckCode.CA if error is None else error.enhanced_ack_code
    return AckCode.AA if error is None else error.original_ack_code


def build_ack(
    header: Header,
    *,
    error: HL7Error | None = None,
    control_id: str | None = None,
    now: datetime | None = None,
    zone: str = DEFAULT_ZONE,
) -> bytes:
    """ACK bytes (segments ended by CR, no MLLP framing) for a message whose header was read.

    `error` None means accepted (AA/CA). `now` defaults to the current time in `zone`.
    """
    code = ack_code(header, error)
    d = header.delimiters
    fs = d.field
    trigger = header.trigger_event
    if header.version in _NO_STRUCTURE_VERSIONS:
        msg_type = "ACK" if header.version == "2.1" or not trigger else f"ACK{d.component}{trigger}"
    else:
        msg_type = f"ACK{d.component}{trigger}{d.component}ACK"
    msh = fs.join(
        (
            "MSH",
            d.encoding_characters,
            header.receiving_application,
            header.receiving_facility,
            header.sending_application,
            header.sending_facility,
            _timestamp(now, zone),
            "",
            msg_type,
            control_id or new_control_id(),
            header.processing_id,
            header.version_field,
        )
    )
    if header.charset:
        msh += fs * 6 + header.charset  # MSH-13..17 empty, then MSH-18
    msa = f"MSA{fs}{code.value}{fs}{header.control_id}"
    text = msh + "\r" + msa
    if error is not None:
        text += _err_segments(error, d, header.version, fs)
    return encode_text(text + "\r", header.codec)


def build_reject_without_header(
    error: HL7Error,
    *,
    control_id: str | None = None,
    now: datetime | None = None,
    zone: str = DEFAULT_ZONE,
) -> bytes:
    """AR for input without a usable MSH: standard delimiters, v2.5, empty MSA-2, ASCII."""
    header = Header(
        delimiters=STANDARD,
        processing_id="P",
        version=NO_HEADER_VERSION,
        version_field=NO_HEADER_VERSION,
        codec="ascii",
    )
    rejection = HL7Error(
        error.code,
        error.text,
        location=error.location or ErrorLocation("MSH", 1),
        severity=error.severity,
        reject=True,
    )
    return build_ack(header, error=rejection, control_id=control_id, now=now, zone=zone)


def build_ack_for_error(
    error: HL7Error,
    *,
    control_id: str | None = None,
    now: datetime | None = None,
    zone: str = DEFAULT_ZONE,
) -> bytes:
    """The ACK for an `HL7Error` from `read_header`: echoes the partial header when there is one."""
    if error.header is None:
        return build_reject_without_header(error, control_id=control_id, now=now, zone=zone)
    return build_ack(error.header, error=error, control_id=control_id, now=now, zone=zone)


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _timestamp(now: datetime | None, zone: str) -> str:
    moment = now if now is not None else datetime.now(_zone(zone))
    return moment.strftime("%Y%m%d%H%M%S%z")


def _err_segments(error: HL7Error, d: Delimiters, version: str, fs: str) -> str:
    loc = error.location
    code = error.code
    text = d.escape_text(error.text)
    if version in _ERR_FIELDS_VERSIONS:
        err2 = _erl(loc, d.component) if loc else ""
        err3 = d.component.join((str(code.value), code.text, "HL70357"))
        return f"\rERR{fs}{fs}{err2}{fs}{err3}{fs}{error.severity.value}{fs}{fs}{fs}{fs}{text}"
    # v2.1-2.4: ERR-1 (ELD) segment^sequence^field^code&text&HL70357, the text in MSA-3.
    where = loc or ErrorLocation("MSH", 1)
    eld = d.component.join(
        (
            where.segment_id,
            str(where.sequence),
            str(where.field or ""),
            d.subcomponent.join((str(code.value), code.text, "HL70357")),
        )
    )
    return f"{fs}{text}\rERR{fs}{eld}"


def _erl(loc: ErrorLocation, comp: str) -> str:
    """ERR-2 (ERL): segment^sequence^field^repetition^component^subcomponent, as far as known."""
    parts = [loc.segment_id, str(loc.sequence)]
    if loc.field is not None:
        parts.append(str(loc.field))
        if loc.component is not None or loc.repetition is not None:
            parts.append(str(loc.repetition or 1))
            if loc.component is not None:
                parts.append(str(loc.component))
                if loc.subcomponent is not None:
                    parts.append(str(loc.subcomponent))
    return comp.join(parts)


@dataclass(frozen=True, slots=True)
class AckError:
    """One ERR segment as read back from an ACK."""

    code: str = ""  # ERR-3.1 (v2.5+) or ERR-1.4.1
    code_text: str = ""
    location: str = ""  # ERR-2 (v2.5+) or ERR-1.1-3, as written, components joined by '^'
    severity: str = ""  # ERR-4
    message: str = ""  # ERR-8 (v2.5+) or MSA-3


@dataclass(frozen=True, slots=True)
class ParsedAck:
    code: str  # MSA-1
    acked_control_id: str  # MSA-2
    control_id: str  # the ACK's own MSH-10
    message_type: str  # MSH-9 raw
    text: str = ""  # MSA-3
    errors: list[AckError] = field(default_factory=list)
    header: Header | None = None


def parse_ack(raw: bytes, *, default_charset: str = "UTF-8") -> ParsedAck:
    """Read an ACK (ours or a peer's). Raises HL7Error when it has no valid MSH or no MSA segment."""
    header = read_header(raw, default_charset=default_charset, strict=False)
    d = header.delimiters
    msa: list[str] | None = None
    errs: list[list[str]] = []
    for seg in header.segments:
        if seg.startswith("MSA" + d.field):
            msa = seg.split(d.field)
        elif seg.startswith("ERR" + d.field):
            errs.append(seg.split(d.field))
    if msa is None:
        raise HL7Error(ErrorCode.SEGMENT_SEQUENCE_ERROR, "no MSA segment", location=ErrorLocation("MSA", 1))

    def get(fields: list[str], n: int) -> str:
        return fields[n] if n < len(fields) else ""

    msa_text = d.unescape(get(msa, 3))
    errors: list[AckError] = []
    for err in errs:
        err3 = get(err, 3).split(d.component)
        if err3[0]:
            errors.append(
                AckError(
                    code=err3[0],
                    code_text=d.unescape(err3[1]) if len(err3) > 1 else "",
                    location=get(err, 2).replace(d.component, "^"),
                    severity=get(err, 4),
                    message=d.unescape(get(err, 8)),
                )
            )
            continue
        eld = get(err, 1).split(d.component)
        code_parts = eld[3].split(d.subcomponent) if len(eld) > 3 else [""]
        errors.append(
            AckError(
                code=code_parts[0],
                code_text=d.unescape(code_parts[1]) if len(code_parts) > 1 else "",
                location="^".join(eld[:3]),
                message=msa_text,
            )
        )
    return ParsedAck(
        code=get(msa, 1),
        acked_control_id=get(msa, 2),
        control_id=header.control_id,
        message_type=header.message_type,
        text=msa_text,
        errors=errors,
        header=header,
    )
