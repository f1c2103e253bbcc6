"""The pure MLLP framer: one test per documented behaviour, then property-based tests (hypothesis)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.hl7.framing import (
    Event,
    Framer,
    Incomplete,
    IncompleteReason,
    Message,
    Oversized,
    frame,
)

SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"
MSH = b"MSH|^~\\&|EHR|ETZ|SPOEDPLEIN|ETZ|20260101120000||ADT^A04|CTRL1|P|2.5\rPID|||123"


def feed_all(framer: Framer, *chunks: bytes) -> list[Event]:
    events: list[Event] = []
    for chunk in chunks:
        events += framer.feed(chunk)
    return events


# --- well-formed streams --------------------------------------------------------------------------


def test_one_frame_yields_its_payload_unchanged():
    assert Framer().feed(SB + MSH + EB + CR) == [Message(MSH)]


def test_frame_wraps_payload_in_start_and_end_block():
    assert frame(MSH) == SB + MSH + EB + CR
    assert Framer().feed(frame(MSH)) == [Message(MSH)]


def test_several_frames_in_one_chunk_come_out_in_order():
    payloads = [b"first", b"second", b"", b"fourth"]
    assert Framer().feed(b"".join(frame(p) for p in payloads)) == [Message(p) for p in payloads]


def test_empty_frame_is_a_message_with_empty_payload():
    assert Framer().feed(SB + EB + CR) == [Message(b"")]


def test_frame_split_byte_by_byte_still_yields_one_message():
    framer = Framer()
    events = feed_all(framer, *(bytes([b]) for b in frame(MSH)))
    assert events == [Message(MSH)]


def test_end_block_split_across_chunks_is_recognised():
    framer = Framer()
    assert framer.feed(SB + b"abc" + EB) == []
    assert framer.in_frame
    assert framer.feed(CR) == [Message(b"abc")]
    assert not framer.in_frame


def test_empty_feed_returns_nothing_and_does_not_end_the_stream():
    framer = Framer()
    framer.feed(SB + b"abc")
    assert framer.feed(b"") == []
    assert framer.in_frame


def test_non_ascii_and_lf_payloads_pass_through_untouched():
    payload = "\ufeffMSH|^~\\&|x\nPID|||Zoë^Müller".encode()
    assert Framer().feed(frame(payload)) == [Message(payload)]


# --- junk between frames --------------------------------------------------------------------------


def test_bytes_before_a_start_block_are_skipped_and_counted():
    framer = Framer()
    assert framer.feed(b"\r\n\x00junk" + frame(b"a") + b"\n" + frame(b"b")) == [Message(b"a"), Message(b"b")]
    assert framer.junk_bytes_skipped == len(b"\r\n\x00junk") + 1


def test_stream_of_only_junk_yields_nothing_and_counts_every_byte():
    framer = Framer()
    assert framer.feed(b"hello world" + EB + CR) == []
    assert framer.junk_bytes_skipped == 13
    assert framer.close() == []


# --- 0x1C without 0x0D ----------------------------------------------------------------------------


def test_end_block_byte_not_followed_by_carriage_return_is_payload_data():
    assert Framer().feed(SB + b"ab" + EB + b"cd" + EB + CR) == [Message(b"ab" + EB + b"cd")]


def test_double_end_block_byte_keeps_the_first_as_data():
    assert Framer().feed(SB + b"ab" + EB + EB + CR) == [Message(b"ab" + EB)]


def test_lone_end_block_at_chunk_boundary_followed_by_data_is_payload():
    framer = Framer()
    assert framer.feed(SB + b"ab" + EB) == []
    assert framer.feed(b"x" + EB + CR) == [Message(b"ab" + EB + b"x")]


def test_lone_end_block_followed_by_start_block_keeps_it_and_restarts():
    events = Framer().feed(SB + b"ab" + EB + SB + b"new" + EB + CR)
    assert events == [Incomplete(b"ab" + EB, 3, IncompleteReason.RESTARTED), Message(b"new")]


# --- 0x0B inside a frame --------------------------------------------------------------------------


def test_start_block_inside_a_frame_gives_up_the_partial_frame_and_starts_a_new_one():
    framer = Framer()
    events = framer.feed(SB + b"partial" + SB + MSH + EB + CR)
    assert events == [Incomplete(b"partial", 7, IncompleteReason.RESTARTED), Message(MSH)]
    assert framer.junk_bytes_skipped == 0


# --- size limit -----------------------------------------------------------------------------------


def test_payload_exactly_at_the_limit_is_a_message():
    assert Framer(max_message_bytes=5).feed(frame(b"12345")) == [Message(b"12345")]


def test_payload_over_the_limit_is_reported_once_with_prefix_and_full_size():
    framer = Framer(max_message_bytes=100, oversized_prefix_bytes=20)
    big = MSH + b"X" * 500
    events = feed_all(framer, *(frame(big)[i : i + 37] for i in range(0, len(big) + 3, 37)))
    assert events == [Oversized(prefix=big[:20], size_seen=len(big))]


def test_oversized_frame_keeps_memory_bounded_while_discarding():
    framer = Framer(max_message_bytes=1000, oversized_prefix_bytes=64)
    framer.feed(SB + b"Z" * 1000)
    assert framer.buffered_bytes == 1000  # at the limit: still a candidate message
    for _ in range(99):
        framer.feed(b"Z" * 1000)
        assert framer.buffered_bytes <= 64
    assert framer.feed(EB + CR) == [Oversized(b"Z" * 64, 100_000)]


def test_stream_stays_in_sync_after_an_oversized_frame():
    framer = Framer(max_message_bytes=10)
    events = framer.feed(frame(b"A" * 11) + frame(b"ok"))
    assert events == [Oversized(b"A" * 11, 11), Message(b"ok")]


def test_default_prefix_is_long_enough_to_read_msh():
    framer = Framer(max_message_bytes=200)
    (event,) = framer.feed(frame(MSH + b"\rOBX|" + b"9" * 10_000))
    assert isinstance(event, Oversized)
    assert event.prefix.startswith(MSH)


def test_invalid_limits_are_refused():
    with pytest.raises(ValueError):
        Framer(max_message_bytes=0)
    with pytest.raises(ValueError):
        Framer(oversized_prefix_bytes=-1)


# --- end of stream --------------------------------------------------------------------------------


def test_eof_inside_a_frame_is_reported_as_incomplete():
    framer = Framer()
    framer.feed(SB + b"half a message")
    assert framer.close() == [Incomplete(b"half a message", 14, IncompleteReason.EOF)]
    assert not framer.in_frame


def test_eof_right_after_a_lone_end_block_counts_it_as_payload():
    framer = Framer()
    framer.feed(SB + b"abc" + EB)
    assert framer.close() == [Incomplete(b"abc" + EB, 4, IncompleteReason.EOF)]


def test_eof_between_frames_yields_nothing_and_framer_is_reusable():
    framer = Framer()
    assert framer.feed(frame(b"a")) == [Message(b"a")]
    assert framer.close() == []
    assert framer.feed(frame(b"b")) == [Message(b"b")]


# --- frame() refuses what cannot be framed --------------------------------------------------------


@pytest.mark.parametrize("bad", [b"a\x0bb", b"a\x1cb", b"\x1c\x0d"])
def test_frame_refuses_payloads_containing_block_characters(bad: bytes):
    with pytest.raises(ValueError):
        frame(bad)


# --- properties -----------------------------------------------------------------------------------

# Payloads a sender can legitimately frame: anything without 0x0B and 0x1C.
clean_payloads = st.binary(max_size=300).map(lambda b: b.replace(SB, b"").replace(EB, b""))
# Junk between frames that contains no start block (a start block would open a frame by design).
junk = st.binary(max_size=50).map(lambda b: b.replace(SB, b""))


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=300, deadline=None)
@given(st.lists(clean_payloads, max_size=8), st.lists(st.integers(min_value=0), max_size=30))
def test_any_split_of_the_stream_yields_the_same_messages_as_feeding_it_at_once(payloads, cuts):
    stream = b"".join(frame(p) for p in payloads)
    whole = Framer().feed(stream)
    assert whole == [Message(p) for p in payloads]
    framer = Framer()
    assert feed_all(framer, *split_at(stream, cuts)) == whole


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000), st.lists(st.integers(min_value=0), max_size=20))
def test_random_bytes_never_raise_and_any_split_gives_the_same_events(data, cuts):
    at_once = Framer(max_message_bytes=64, oversized_prefix_bytes=16)
    expected = at_once.feed(data) + at_once.close()
    chunked = Framer(max_message_bytes=64, oversized_prefix_bytes=16)
    got = feed_all(chunked, *split_at(data, cuts)) + chunked.close()
    assert got == expected
    assert chunked.junk_bytes_skipped == at_once.junk_bytes_skipped


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(junk, clean_payloads), max_size=8), junk, st.lists(st.integers(0), max_size=20))
def test_junk_between_frames_is_skipped_counted_and_every_message_still_comes_out(pairs, tail, cuts):
    stream = b"".join(j + frame(p) for j, p in pairs) + tail
    framer = Framer()
    events = feed_all(framer, *split_at(stream, cuts)) + framer.close()
    assert events == [Message(p) for _, p in pairs]
    assert framer.junk_bytes_skipped == sum(len(j) for j, _ in pairs) + len(tail)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=200).map(lambda b: b.replace(SB, b"")), max_size=6))
def test_payloads_with_lone_end_block_bytes_round_trip_unless_followed_by_cr(raw_payloads):
    # What the framer guarantees for 0x1C: it ends a frame only when followed by 0x0D.
    payloads = [p for p in raw_payloads if EB + CR not in p and not p.endswith(EB)]
    stream = b"".join(SB + p + EB + CR for p in payloads)
    assert Framer().feed(stream) == [Message(p) for p in payloads]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=400), max_size=6), st.integers(1, 200))
def test_every_frame_is_either_a_message_within_the_limit_or_oversized(raw_payloads, limit):
    payloads = [p.replace(SB, b"").replace(EB, b"") for p in raw_payloads]
    events = Framer(max_message_bytes=limit, oversized_prefix_bytes=8).feed(
        b"".join(frame(p) for p in payloads)
    )
    assert len(events) == len(payloads)
    for payload, event in zip(payloads, events, strict=True):
        if len(payload) <= limit:
            assert event == Message(payload)
        else:
            assert event == Oversized(payload[:8], len(payload))
