"""Pure MLLP framer: bytes in, framing events out; no sockets, no clocks (sans-IO, like h11).

MLLP (HL7 v2 Minimal Lower Layer Protocol) wraps each message as::

    0x0B <payload> 0x1C 0x0D

`Framer.feed` takes whatever bytes the transport delivered (any split, any size) and returns the
events they complete, in stream order. `frame` wraps an outgoing payload. The server, the clients
and the tests all use these two; nothing else in the project parses MLLP.

Decisions on malformed streams (each is covered by a test in tests/test_mllp_framing.py):

* Bytes outside a frame (before a 0x0B) are skipped and counted in `Framer.junk_bytes_skipped`.
  They are never fatal: some senders emit a stray LF or CR between frames.
* 0x1C not followed by 0x0D is *payload data*: the 0x1C stays in the payload and the byte after
  it is read normally. Only the two-byte end block 0x1C 0x0D ends a frame (as python-hl7 and the
  HL7 MLLP spec require). The payload is then malformed HL7, which the codec rejects with an ACK
  that names the problem, rather than the framer guessing where the sender meant to stop.
* 0x0B inside a frame *restarts* the frame: the partial payload is given up as an `Incomplete`
  event with reason `RESTARTED`, and a new frame begins after the 0x0B. 0x0B never occurs in valid
  HL7 content, and a sender that emits one mid-frame has lost track of its own output (typically a
  reconnect-and-resend); the partial message was never acknowledged, so the sender resends it.
* A payload longer than `max_message_bytes` is not buffered: the framer keeps the first
  `oversized_prefix_bytes` (enough to read MSH and answer with a reject ACK), discards the rest
  until the end block, and then emits exactly one `Oversized` event. The stream stays in sync, so
  the connection stays usable for the next message.
* End of stream inside a frame: `close()` returns an `Incomplete` event with reason `EOF`. Nothing
  was acknowledged, so the sender resends after reconnecting.
* A frame its transport gives up on (the server's deadline for a whole frame): `abandon()` returns an
  `Incomplete` event with reason `DEADLINE`. The framer keeps no clock; the caller decides when.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

START_BLOCK = 0x0B
END_BLOCK = 0x1C
CARRIAGE_RETURN = 0x0D

_SB = bytes([START_BLOCK])
_EB = bytes([END_BLOCK])
_TRAILER = bytes([END_BLOCK, CARRIAGE_RETURN])

DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024
DEFAULT_OVERSIZED_PREFIX_BYTES = 8 * 1024


class IncompleteReason(enum.Enum):
    """Why a frame ended without its end block."""

    RESTARTED = "restarted"  # a 0x0B arrived inside the frame
    EOF = "eof"  # the stream ended inside the frame
    DEADLINE = "deadline"  # the frame was not complete in time (`Framer.abandon`)


@dataclass(frozen=True, slots=True)
class Message:
    """A complete frame: the payload bytes between 0x0B and 0x1C 0x0D, unchanged."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Oversized:
    """A complete frame whose payload exceeded the limit.

    `prefix` holds the first `oversized_prefix_bytes` of the payload (to read MSH from);
    `size_seen` is the full payload length that arrived before the end block.
    """

    prefix: bytes
    size_seen: int


@dataclass(frozen=True, slots=True)
class Incomplete:
    """A frame that was started but never ended; its bytes were given up.

    `prefix` holds at most `oversized_prefix_bytes` of the partial payload; `size_seen` counts all of
    it (it may exceed the message limit).
    """

    prefix: bytes
    size_seen: int
    reason: IncompleteReason


Event = Message | Oversized | Incomplete


class _State(enum.Enum):
    BETWEEN_FRAMES = "between_frames"
    IN_FRAME = "in_frame"


class Framer:
    """Incremental MLLP decoder for one byte stream (one connection).

    `feed(data)` accepts any chunk of the stream and returns the events it completed, in order.
    It never raises on content: every byte sequence is valid input, and the malformed cases map to
    events or counters as described in the module docstring. `close()` marks the end of the stream.
    """

    def __init__(
        self,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        *,
        oversized_prefix_bytes: int = DEFAULT_OVERSIZED_PREFIX_BYTES,
    ) -> None:
        if max_message_bytes < 1:
            raise ValueError("max_message_bytes must be at least 1")
        if oversized_prefix_bytes < 0:
            raise ValueError("oversized_prefix_bytes must not be negative")
        self.max_message_bytes = max_message_bytes
        self.oversized_prefix_bytes = oversized_prefix_bytes
        self.junk_bytes_skipped = 0
        self._state = _State.BETWEEN_FRAMES
        self._payload = bytearray()
        self._size_seen = 0
        # Once over the limit, `_payload` holds only the kept prefix and the rest is dropped.
        self._discarding = False
        # The previous chunk ended on 0x1C: whether it closes the frame depends on the next byte.
        self._end_block_pending = False

    @property
    def in_frame(self) -> bool:
        """True while a frame has been started and not yet ended."""
        return self._state is _State.IN_FRAME

    @property
    def buffered_bytes(self) -> int:
        """Payload bytes currently held in memory (bounded by the limit plus one chunk)."""
        return len(self._payload)

    def feed(self, data: bytes) -> list[Event]:
        """Consume `data` and return the events it completes, in stream order.

        Failure modes (none raises):
        - bytes before a start block: skipped, added to `junk_bytes_skipped`;
        - 0x1C not followed by 0x0D: kept as payload data;
        - 0x0B inside a frame: `Incomplete(reason=RESTARTED)`, then a new frame starts;
        - payload over `max_message_bytes`: one `Oversized` event when the end block arrives;
          memory stays bounded meanwhile.
        An empty `data` returns no events (it does not mean end of stream; use `close()`).
        """
        events: list[Event] = []
        view = memoryview(data)
        length = len(data)
        pos = 0
        # Cached positions of the next start/end block at or after `pos` (-1: none left in `data`).
        next_sb = data.find(_SB)
        next_eb = -2  # not searched yet
        while pos < length:
            if self._state is _State.BETWEEN_FRAMES:
                if next_sb < 0:
                    self.junk_bytes_skipped += length - pos
                    break
                self.junk_bytes_skipped += next_sb - pos
                pos = next_sb + 1
                self._begin_frame()
                next_sb = data.find(_SB, pos)
                continue

            if self._end_block_pending:
                self._end_block_pending = False
                if data[pos] == CARRIAGE_RETURN:
                    pos += 1
                    events.append(self._end_frame())
                    continue
                self._append(_EB)  # a lone 0x1C is data; the byte at `pos` is read normally

            if next_eb != -1 and next_eb < pos:
                next_eb = data.find(_EB, pos)
            if 0 <= next_sb < pos:
                next_sb = data.find(_SB, pos)
            stop = min(x for x in (next_sb, next_eb, length) if x >= 0)
            if stop > pos:
                self._append(view[pos:stop])
                pos = stop
            if pos == length:
                break
            if pos == next_sb:
                events.append(self._give_up(IncompleteReason.RESTARTED))
                pos += 1
                self._begin_frame()
                next_sb = data.find(_SB, pos)
                continue
            # data[pos] is 0x1C
            pos += 1
            if pos == length:
                self._end_block_pending = True
                break
            if data[pos] == CARRIAGE_RETURN:
                pos += 1
                events.append(self._end_frame())
            else:
                self._append(_EB)
        return events

    def close(self) -> list[Event]:
        """Mark the end of the stream and return what it leaves behind.

        Returns `[Incomplete(reason=EOF)]` if a frame was open (a pending 0x1C counts as payload),
        otherwise `[]`. The framer is then back between frames and can be reused; counters are kept.
        """
        if self._state is not _State.IN_FRAME:
            return []
        if self._end_block_pending:
            self._end_block_pending = False
            self._append(_EB)
        return [self._give_up(IncompleteReason.EOF)]

    def abandon(self) -> Incomplete | None:
        """Give up the frame in progress (e.g. it is not complete by the transport's deadline).

        Returns `Incomplete(reason=DEADLINE)` if a frame was open (its prefix kept, to answer from),
        otherwise None. The framer is then between frames; what arrives next is read as usual.
        """
        if self._state is not _State.IN_FRAME:
            return None
        if self._end_block_pending:
            self._end_block_pending = False
            self._append(_EB)
        return self._give_up(IncompleteReason.DEADLINE)

    def _begin_frame(self) -> None:
        self._state = _State.IN_FRAME
        self._payload = bytearray()
        self._size_seen = 0
        self._discarding = False
        self._end_block_pending = False

    def _append(self, chunk: bytes | memoryview) -> None:
        self._size_seen += len(chunk)
        if self._discarding:
            missing = self.oversized_prefix_bytes - len(self._payload)
            if missing > 0:
                self._payload += chunk[:missing]
            return
        self._payload += chunk
        if self._size_seen > self.max_message_bytes:
            self._discarding = True
            del self._payload[self.oversized_prefix_bytes :]

    def _end_frame(self) -> Event:
        self._state = _State.BETWEEN_FRAMES
        payload, self._payload = self._payload, bytearray()
        if self._discarding:
            return Oversized(prefix=bytes(payload), size_seen=self._size_seen)
        return Message(payload=bytes(payload))

    def _give_up(self, reason: IncompleteReason) -> Incomplete:
        self._state = _State.BETWEEN_FRAMES
        prefix = bytes(self._payload[: self.oversized_prefix_bytes])
        self._payload = bytearray()
        return Incomplete(prefix=prefix, size_seen=self._size_seen, reason=reason)


def frame(payload: bytes) -> bytes:
    """Wrap `payload` for the wire: 0x0B + payload + 0x1C 0x0D.

    Raises ValueError if `payload` contains 0x0B or 0x1C: a receiver would split or restart the
    frame there (ours restarts on 0x0B; others end a frame on a bare 0x1C), so such a payload
    cannot be sent unambiguously.
    """
    if _SB in payload or _EB in payload:
        raise ValueError("payload contains an MLLP block character (0x0B or 0x1C)")
    return _SB + payload + _TRAILER
