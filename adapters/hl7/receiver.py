"""The MLLP message handler: read the MSH, store durably, and only then answer with the ACK.

Per message: `read_header` (fast, no structure parsing) → an ACK is built → the raw bytes, the ACK and
an outbox row are committed together (group commit) → the stored ACK goes back. A resend of the same
(MSH-3, MSH-4, MSH-10) with the same content (MSH-7 aside) gets the ACK stored the first time. The same
control id with other content is a reused id (counters reset on fail-over or reinstall): it is accepted
(AA/CA), stored as its own message marked `control_id_reused`, and processed; refusing it would stall a
sender that resends on every AE. A message whose MSH cannot be read gets an AR/CR (or AE/CE) with an ERR
segment and is not stored. If the store cannot commit, the answer is an AR/CR with error 207 so the
sender resends; never a positive ACK.
"""

from __future__ import annotations

import hashlib
import logging
import time

from adapters.hl7.ack import ack_code, build_ack, build_ack_for_error, internal_error
from adapters.hl7.errors import ErrorCode, ErrorLocation, HL7Error
from adapters.hl7.msh import Header, read_header
from adapters.hl7.server import Peer
from core.logs import CORRELATION_ID, message_correlation
from core.metrics import ChannelStats
from store.group_commit import GroupCommitWriter, StoreUnavailable
from store.inbox import Channel, NewMessage, dedupe_key

log = logging.getLogger(__name__)


class HL7Receiver:
    def __init__(
        self, writer: GroupCommitWriter, *, default_charset: str, timezone: str, max_message_bytes: int
    ) -> None:
        self._writer = writer
        self._default_charset = default_charset
        self._zone = timezone
        self._max_message_bytes = max_message_bytes
        self.accepted = 0
        self.duplicates = 0
        self.rejected = 0
        self.control_ids_reused = 0
        # Counted in plain Python on the ACK path; the server's owner flushes them to /metrics.
        self.stats = ChannelStats(Channel.HL7V2.value)

    async def handle(self, payload: bytes, peer: Peer) -> bytes:
        started = time.perf_counter()
        try:
            header = read_header(payload, default_charset=self._default_charset)
        except HL7Error as error:
            self.rejected += 1
            self.stats.count("rejected")
            log.info("rejected a message from connection %d: %s", peer.connection_id, error.code.name)
            return build_ack_for_error(error, zone=self._zone)
        ack = build_ack(header, zone=self._zone)
        message = NewMessage(
            channel=Channel.HL7V2,
            dedupe_key=dedupe_key(
                Channel.HL7V2, header.sending_application, header.sending_facility, header.control_id
            ),
            sender=header.sender,
            control_id=header.control_id,
            message_type=header.message_type_code,
            raw=payload,
            ack_code=ack_code(header).value,
            ack=ack,
            content_hash=content_fingerprint(header),
        )
        try:
            answer = await self._writer.submit(message)
        except StoreUnavailable:
            self.rejected += 1
            self.stats.count("rejected")
            return build_ack(header, error=internal_error(), zone=self._zone)
        if answer.control_id_reused and not answer.duplicate:
            self.control_ids_reused += 1
            self.stats.count("reused_id")
            log.info(
                "connection %d: a reused control id with other content, stored as its own message",
                peer.connection_id,
                extra={CORRELATION_ID: message_correlation(message.dedupe_key)},
            )
        if answer.duplicate:
            self.duplicates += 1
            self.stats.count("resent")
        else:
            self.accepted += 1
            self.stats.count("accepted")
        self.stats.observe(time.perf_counter() - started)
        return answer.ack

    async def handle_oversized(self, prefix: bytes, peer: Peer) -> bytes:
        """Reject a message over the size limit, echoing its MSH when the prefix holds one."""
        self.rejected += 1
        self.stats.count("rejected")
        error = HL7Error(
            ErrorCode.VALUE_TOO_LONG,
            f"message larger than the limit of {self._max_message_bytes} bytes",
            location=ErrorLocation("MSH", 1),
            reject=True,
        )
        return self._reject(prefix, error)

    async def handle_unfinished(self, prefix: bytes, peer: Peer) -> bytes:
        """Reject a frame that was not complete in time (nothing stored; the sender resends it whole)."""
        self.rejected += 1
        self.stats.count("rejected")
        error = HL7Error(
            ErrorCode.APPLICATION_INTERNAL_ERROR,
            "the message did not arrive complete in time; send it again",
            location=ErrorLocation("MSH", 1),
            reject=True,
        )
        return self._reject(prefix, error)

    def _reject(self, prefix: bytes, error: HL7Error) -> bytes:
        """A reject ACK for a message we only have the start of, echoing its MSH when that is readable."""
        try:
            header = read_header(_first_segment(prefix), default_charset=self._default_charset)
        except HL7Error:
            return build_ack_for_error(error, zone=self._zone)
        return build_ack(header, error=error, zone=self._zone)


def content_fingerprint(header: Header) -> str:
    """What makes a resend the same message: every segment, with MSH-7 left out because some engines
    restamp the message time when they resend."""
    fields = header.segments[0].split(header.delimiters.field)
    if len(fields) > 6:
        fields[6] = ""
    digest = hashlib.sha256("\r".join([header.delimiters.field.join(fields), *header.segments[1:]]).encode())
    return digest.hexdigest()


def _first_segment(prefix: bytes) -> bytes:
    """MSH alone: the rest of a cut-off message may end mid-character, which must not fail decoding."""
    for end in (prefix.find(b"\r"), prefix.find(b"\n")):
        if end > 0:
            return prefix[:end]
    return prefix
