"""HL7 v2 error values: table 0357 codes, severities, ACK codes and the `HL7Error` a reader raises.

An `HL7Error` is a value the gateway turns into an ACK with an ERR segment, so it carries everything
ERR needs (code, severity, location, text) and whether the answer is a rejection (AR/CR: the message
cannot be taken in as sent) or an error (AE/CE: it was read but its content is wrong). Error texts never
contain patient data: they name fields, not values.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.hl7.msh import Header


class ErrorCode(IntEnum):
    """HL7 table 0357 (message error condition codes)."""

    MESSAGE_ACCEPTED = 0
    SEGMENT_SEQUENCE_ERROR = 100
    REQUIRED_FIELD_MISSING = 101
    DATA_TYPE_ERROR = 102
    TABLE_VALUE_NOT_FOUND = 103
    VALUE_TOO_LONG = 104
    UNSUPPORTED_MESSAGE_TYPE = 200
    UNSUPPORTED_EVENT_CODE = 201
    UNSUPPORTED_PROCESSING_ID = 202
    UNSUPPORTED_VERSION_ID = 203
    UNKNOWN_KEY_IDENTIFIER = 204
    DUPLICATE_KEY_IDENTIFIER = 205
    APPLICATION_RECORD_LOCKED = 206
    APPLICATION_INTERNAL_ERROR = 207

    @property
    def text(self) -> str:
        return _ERROR_TEXT[self]


_ERROR_TEXT: dict[ErrorCode, str] = {
    ErrorCode.MESSAGE_ACCEPTED: "Message accepted",
    ErrorCode.SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    ErrorCode.REQUIRED_FIELD_MISSING: "Required field missing",
    ErrorCode.DATA_TYPE_ERROR: "Data type error",
    ErrorCode.TABLE_VALUE_NOT_FOUND: "Table value not found",
    ErrorCode.VALUE_TOO_LONG: "Value too long",
    ErrorCode.UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    ErrorCode.UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    ErrorCode.UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    ErrorCode.UNSUPPORTED_VERSION_ID: "Unsupported version id",
    ErrorCode.UNKNOWN_KEY_IDENTIFIER: "Unknown key identifier",
    ErrorCode.DUPLICATE_KEY_IDENTIFIER: "Duplicate key identifier",
    ErrorCode.APPLICATION_RECORD_LOCKED: "Application record locked",
    ErrorCode.APPLICATION_INTERNAL_ERROR: "Application internal error",
}


class ErrorSeverity(StrEnum):
    """HL7 table 0516 (ERR-4)."""

    ERROR = "E"
    WARNING = "W"
    INFORMATION = "I"


class AckCode(StrEnum):
    """HL7 table 0008 (MSA-1): original mode A*, enhanced mode (commit/accept level) C*."""

    AA = "AA"
    AE = "AE"
    AR = "AR"
    CA = "CA"
    CE = "CE"
    CR = "CR"


@dataclass(frozen=True, slots=True)
class ErrorLocation:
    """Where an error is (ERR-2 / ERR-1): segment id, its occurrence, field, repetition, component."""

    segment_id: str = "MSH"
    sequence: int = 1  # occurrence of this segment id in the message, 1-based
    field: int | None = None
    repetition: int | None = None
    component: int | None = None
    subcomponent: int | None = None

    def __str__(self) -> str:
        """Human form, e.g. `MSH-10`, `PID[1]-7`, `DG1[2]-3.1`."""
        seg = self.segment_id if self.sequence == 1 else f"{self.segment_id}[{self.sequence}]"
        if self.field is None:
            return seg
        out = f"{seg}-{self.field}"
        if self.component is not None:
            out += f".{self.component}"
            if self.subcomponent is not None:
                out += f".{self.subcomponent}"
        return out


class HL7Error(Exception):
    """A problem with an inbound HL7 v2 message, shaped for an ERR segment.

    `reject` True means AR/CR (structure, unsupported type/version/processing id, unreadable bytes at the
    protocol level); False means AE/CE (the content is wrong). `header` is the part of the MSH that could
    be read, so the ACK can echo the sender's delimiters and control id; None when there is no usable MSH.
    """

    def __init__(
        self,
        code: ErrorCode,
        text: str,
        *,
        location: ErrorLocation | None = None,
        severity: ErrorSeverity = ErrorSeverity.ERROR,
        reject: bool = True,
        header: Header | None = None,
    ) -> None:
        super().__init__(f"{code.value} {code.text}: {text}" + (f" at {location}" if location else ""))
        self.code = code
        self.text = text
        self.location = location
        self.severity = severity
        self.reject = reject
        self.header = header

    @property
    def original_ack_code(self) -> AckCode:
        return AckCode.AR if self.reject else AckCode.AE

    @property
    def enhanced_ack_code(self) -> AckCode:
        return AckCode.CR if self.reject else AckCode.CE
