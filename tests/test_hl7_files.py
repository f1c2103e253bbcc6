"""Splitting files into messages: one or many, any line ending, MLLP framing, BOMs, batch envelopes."""

from __future__ import annotations

import pytest

from adapters.hl7.files import is_message_start, split_messages
from adapters.hl7.msh import read_header
from tests.hl7_samples import CORPUS_DIR, adt_a04_nl

A = adt_a04_nl(control_id="A-1").encode("latin-1")
B = adt_a04_nl(control_id="B-2", charset="UNICODE UTF-8").encode("utf-8")


def control_ids(chunks: list[bytes]) -> list[str]:
    return [read_header(c, default_charset="8859/1").control_id for c in chunks]


def test_a_single_message_comes_back_unchanged():
    assert split_messages(A) == [A]


@pytest.mark.parametrize("ending", [b"\r", b"\n", b"\r\n"])
def test_many_messages_with_any_line_ending_are_split_and_normalised_to_cr(ending):
    data = (A + B).replace(b"\r", ending)
    chunks = split_messages(data)
    assert chunks == [A, B]
    assert all(b"\n" not in c for c in chunks)


def test_mllp_framed_messages_are_unframed():
    data = b"\x0b" + A + b"\x1c\r" + b"\x0b" + B + b"\x1c\r"
    assert split_messages(data) == [A, B]


def test_boms_at_the_start_of_the_file_and_of_each_message_are_dropped():
    data = b"\xef\xbb\xbf" + A + b"\xef\xbb\xbf" + B
    assert split_messages(data) == [A, B]


def test_batch_envelope_segments_are_dropped():
    data = b"FHS|^~\\&|X\rBHS|^~\\&|X\r" + A + B + b"BTS|2\rFTS|1\r"
    assert split_messages(data) == [A, B]


def test_text_before_the_first_msh_is_kept_as_its_own_chunk_and_read_as_no_msh():
    chunks = split_messages(b"hello\r\n\r\n" + A)
    assert chunks[1:] == [A]
    assert chunks[0] == b"hello\r"


def test_msh_only_starts_a_message_when_followed_by_a_separator():
    assert is_message_start(b"MSH|^~\\&|")
    assert is_message_start(b"MSH#^~\\&#")
    assert not is_message_start(b"MSHX|")
    assert not is_message_start(b"MSH")
    assert not is_message_start(b"MSH ")


def test_empty_and_blank_files_hold_no_messages():
    assert split_messages(b"") == []
    assert split_messages(b"\r\n\r\n  \n") == []


def test_each_corpus_file_is_one_message_and_all_of_them_concatenated_split_back():
    paths = sorted(CORPUS_DIR.glob("*.hl7"))
    singles = [split_messages(p.read_bytes()) for p in paths]
    assert all(len(s) == 1 for s in singles)
    joined = split_messages(b"\n".join(p.read_bytes() for p in paths))
    assert joined == [s[0] for s in singles]
    assert len(control_ids(joined)) == len(paths)
