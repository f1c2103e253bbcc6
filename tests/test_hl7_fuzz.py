"""Fuzzing the MLLP framer and the HL7 reader with a grammar of *near-valid* messages (not random bytes:
those stop at the first byte; these reach deep into the reader): delimiters and encoding characters
swapped or broken, MSH fields missing or wrong, segments mutated field by field and component by
component, escape sequences good and bad, odd charsets and encodings, line endings mixed, fields of
hundreds of kilobytes.

What must hold, for every message:
- the real receiver (its group-commit writer on a real SQLite store) answers within a bound, with an ACK
  that parses; a refusal (AE/AR/CE/CR) carries an ERR segment and stores nothing; an acceptance stores
  the message once;
- the worker's reader (parse + map to a Presentation) returns or raises `HL7Error`, in bounded time;
- the framer, fed a stream of such frames cut at random places with junk between, yields each payload
  unchanged (or `Oversized` past the limit) and its memory stays bounded (tracemalloc).
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from adapters.hl7.ack import parse_ack
from adapters.hl7.errors import HL7Error
from adapters.hl7.framing import Framer, Message, Oversized, frame
from adapters.hl7.receiver import HL7Receiver
from adapters.hl7.server import Peer
from adapters.hl7.to_presentation import presentation_from_bytes
from store.crypto import FieldCipher
from store.db import Database, make_engine
from store.group_commit import GroupCommitWriter
from store.inbox import InboxMessage
from tests.conftest import TEST_KEY, new_sqlite_database

FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
)
PEER = Peer(connection_id=1, host="127.0.0.1", port=1, tls=False)
ACK_BOUND_S = 5.0  # per message, on a busy machine; the ACK path is milliseconds
READ_BOUND_S = 5.0
REFUSALS = {"AE", "AR", "CE", "CR"}

# --- the grammar -------------------------------------------------------------------------------------

field_separators = st.sampled_from(["|", "|", "|", "#", "^", "", "||"])
encoding_characters = st.sampled_from(["^~\\&", "^~\\&", "^~\\&#", "^~\\", "^^\\&", "", "^~\\&XYZ", "|~\\&"])
charsets = st.sampled_from(
    ["", "8859/1", "UNICODE UTF-8", "UNICODE", "ASCII", "GB 18030", "NONSENSE", "8859/15"]
)
versions = st.sampled_from(["2.3", "2.4", "2.5", "2.5.1", "2.8", "", "9.9", "two"])
message_types = st.sampled_from(
    [
        "ADT^A04^ADT_A01",
        "ADT^A01",
        "ADT^A03",
        "ORU^R01",
        "ADT",
        "",
        "^A04",
        "ZZZ^Z99",
        "ADT^A04^ADT_A01^EXTRA",
    ]
)
timestamps = st.sampled_from(["20261123143000+0100", "20261123", "2026", "", "20261340999999", "yesterday"])
control_ids = st.one_of(
    st.sampled_from(["C1", "", " ", "X" * 199, "X" * 400, "Ç-1", "C|1"]), st.text(max_size=30)
)
texts = st.one_of(
    st.sampled_from(
        [
            "",
            "Müller^Jürgen",
            "Çelik^Aylin",
            "\\X0A\\",
            "\\.br\\",
            "\\Z99\\",
            "\\",
            "\\H\\vet\\N\\",
            "\\E\\\\F\\\\S\\",
            "a~b~c",
            "x" * 70_000,
            "\x00\x01",
            "mishandeling \\X\\",
        ]
    ),
    st.text(max_size=40),
)


@st.composite
def segment(draw: st.DrawFn) -> str:
    name = draw(
        st.sampled_from(["PID", "PV1", "PV2", "OBX", "NK1", "DG1", "EVN", "NTE", "ZZZ", "MSH", "P", ""])
    )
    fields = draw(st.lists(texts, max_size=25))
    return "|".join([name, *fields])


@st.composite
def near_valid_message(draw: st.DrawFn) -> bytes:
    sep = draw(field_separators)
    enc = draw(encoding_characters)
    msh_fields = [
        "MSH",
        enc,
        draw(st.sampled_from(["HIX", "", "EHR^ETZ"])),
        draw(st.sampled_from(["ETZ", ""])),
        "SPOEDPLEIN",
        "ETZ",
        draw(timestamps),
        "",
        draw(message_types),
        draw(control_ids),
        draw(st.sampled_from(["P", "T", "", "X"])),
        draw(versions),
        "",
        "",
        draw(st.sampled_from(["", "AL", "NE", "ER", "SU", "??"])),
        draw(st.sampled_from(["", "AL", "NE"])),
        "",
        draw(charsets),
    ]
    cut = draw(st.integers(min_value=2, max_value=len(msh_fields)))  # MSH cut short, or whole
    msh = sep.join(msh_fields[:cut])
    segments = [msh, *draw(st.lists(segment(), max_size=8))]
    newline = draw(st.sampled_from(["\r", "\n", "\r\n", "\r\r"]))
    text = newline.join(segment.replace("|", sep) if sep else segment for segment in segments)
    encoding = draw(st.sampled_from(["utf-8", "latin-1", "utf-16", "cp1252"]))
    raw = text.encode(encoding, errors="replace")
    if draw(st.booleans()):  # a stray byte somewhere
        at = draw(st.integers(min_value=0, max_value=len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=3)) + raw[at:]
    return raw


# --- the receiver on a real store --------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HL7Receiver, Database]]:
    url = new_sqlite_database(tmp_path_factory.mktemp("hl7fuzz"))
    db = Database(make_engine(url, sqlite_synchronous="OFF"))
    writer = GroupCommitWriter(db, FieldCipher(TEST_KEY), sqlite_synchronous="OFF")
    receiver = HL7Receiver(
        writer, default_charset="UNICODE UTF-8", timezone="Europe/Amsterdam", max_message_bytes=1 << 20
    )
    yield receiver, db
    writer.close()
    db.dispose()


def stored(db: Database) -> int:
    with db.read() as session:
        return int(session.scalar(select(func.count()).select_from(InboxMessage)) or 0)


@FUZZ
@given(raw=near_valid_message())
def test_the_receiver_answers_every_near_valid_message_with_an_ack_and_stores_only_what_it_accepts(
    store: tuple[HL7Receiver, Database], raw: bytes
) -> None:
    receiver, db = store
    before = stored(db)
    started = time.perf_counter()
    answer = asyncio.run(asyncio.wait_for(receiver.handle(raw, PEER), timeout=ACK_BOUND_S))
    assert time.perf_counter() - started < ACK_BOUND_S

    # Read as a sender without MSH-18 would (every byte is a character): an ACK echoes the sender's own
    # bytes in the charset they were read in, and declares it in MSH-18 when the message did.
    ack = parse_ack(answer, default_charset="8859/1")
    assert ack.code in REFUSALS | {"AA", "CA"}
    if ack.code in REFUSALS:
        assert ack.errors, "a refusal names its error in an ERR segment"
        assert ack.errors[0].code
        assert stored(db) == before
    else:
        assert stored(db) in (before, before + 1)  # once (a resend of a drawn duplicate: not again)


@FUZZ
@given(raw=near_valid_message())
def test_the_workers_reader_maps_or_refuses_in_bounded_time(raw: bytes) -> None:
    started = time.perf_counter()
    try:
        presentation_from_bytes(raw, default_charset="UNICODE UTF-8")
    except HL7Error as error:
        assert error.code is not None
    assert time.perf_counter() - started < READ_BOUND_S


# --- the framer --------------------------------------------------------------------------------------

LIMIT = 64 * 1024


@st.composite
def stream(draw: st.DrawFn) -> tuple[list[bytes], list[bytes]]:
    """Frames (some over the limit) with junk between them, cut into chunks at random places."""
    payloads = draw(
        st.lists(
            st.one_of(
                near_valid_message(),
                st.builds(lambda n: b"MSH|^~\\&|" + b"x" * n, st.integers(LIMIT - 10, LIMIT + 5000)),
            ),
            min_size=1,
            max_size=6,
        )
    )
    payloads = [p.replace(b"\x0b", b"").replace(b"\x1c", b"") for p in payloads]  # framing bytes
    data = b"".join(draw(st.sampled_from([b"", b"junk", b"\r\n", b"\x1c"])) + frame(p) for p in payloads)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=20)))
    chunks = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    return payloads, chunks


@FUZZ
@given(case=stream())
def test_the_framer_yields_every_frame_and_stays_within_its_memory_bound(
    case: tuple[list[bytes], list[bytes]],
) -> None:
    payloads, chunks = case
    framer = Framer(LIMIT)
    tracemalloc.start()
    try:
        events = [event for chunk in chunks for event in framer.feed(chunk)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    got = [e.payload if isinstance(e, Message) else ("oversized", e.size_seen) for e in events]
    assert got == [p if len(p) <= LIMIT else ("oversized", len(p)) for p in payloads]
    assert all(not isinstance(e, Oversized) or len(e.prefix) <= LIMIT for e in events)
    # It holds one frame (up to the limit) plus a chunk, never the oversized rest: a few times the limit.
    assert peak < 4 * LIMIT + 2 * max(len(c) for c in chunks), peak


def test_a_message_with_a_field_of_a_megabyte_is_refused_in_bounded_time_and_memory(
    store: tuple[HL7Receiver, Database],
) -> None:
    receiver, db = store
    before = stored(db)
    raw = b"MSH|^~\\&|HIX|ETZ|SPOEDPLEIN|ETZ|20261123||ADT^A04|BIG-1|P|2.5\rOBX|1|TX|||" + b"x" * (2 << 20)
    tracemalloc.start()
    try:
        answer = asyncio.run(asyncio.wait_for(receiver.handle_oversized(raw[:4096], PEER), timeout=5))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    ack = parse_ack(answer)
    assert ack.code == "AR" and ack.acked_control_id == "BIG-1" and ack.errors
    assert stored(db) == before
    assert peak < 1 << 20
