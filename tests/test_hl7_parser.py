"""The structure-light parser: numbering, delimiters, escape decoding, and agreement with hl7apy."""

from __future__ import annotations

import re

import hl7
import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from adapters.hl7.delimiters import Delimiters
from adapters.hl7.msh import read_header
from adapters.hl7.parser import Message, component_text, parse_bytes, parse_header, parse_segments, part
from tests.hl7_samples import CORPUS_DIR, adt_a04_nl

STD = Delimiters()


def parse_text(text: str) -> Message:
    return parse_header(read_header(text.encode("latin-1"), default_charset="8859/1"))


def test_msh_fields_are_numbered_as_in_the_standard():
    msg = parse_text(adt_a04_nl())
    msh = msg.segments[0]
    assert msh.raw(1) == "|"
    assert msh.raw(2) == "^~\\&"
    assert msh.value(3, 2) == "ETZ"
    assert msh.value(9, 2) == "A04"
    assert msh.raw(10) == "NL-0001"
    assert msh.repetitions(2) == [[["^~\\&"]]]


def test_components_subcomponents_and_repetitions_are_split():
    pid = parse_text(adt_a04_nl()).first("PID")
    assert pid is not None
    reps = pid.repetitions(3)
    assert len(reps) == 2
    assert part(reps[0], 1) == "123456782"
    assert part(reps[0], 4, 2) == "2.16.840.1.113883.2.4.6.3"
    assert part(reps[1], 5) == "PI"
    assert pid.value(3, 5, repetition=2) == "PI"
    assert pid.value(3, 5, repetition=3) == ""
    assert pid.value(5, 1, 3) == "Müller"
    assert pid.value(99) == ""


def test_segment_occurrences_are_counted_per_segment_id():
    msg = parse_text(adt_a04_nl())
    assert [s.label for s in msg.all("DG1")] == ["DG1[1]", "DG1[2]"]
    assert [s.label for s in msg.all("OBX")] == ["OBX[1]", "OBX[2]", "OBX[3]"]
    assert msg.first("ZZZ") is None


@pytest.mark.parametrize("encoding_characters", ["^_\\&", "*:@!", "$%#!"])
def test_the_messages_own_delimiters_are_used(encoding_characters):
    msg = parse_text(adt_a04_nl(encoding_characters=encoding_characters))
    pid = msg.first("PID")
    assert pid is not None
    assert pid.value(3, 4, 2) == "2.16.840.1.113883.2.4.6.3"
    assert pid.value(3, 1, repetition=2) == "7654321"
    obx = msg.all("OBX")[1]
    assert obx.text(5) == ["Blauwe plekken op beide bovenarmen\nmoeder zegt gevallen"]


@pytest.mark.parametrize(
    ("written", "meaning"),
    [
        ("a\\F\\b", "a|b"),
        ("a\\S\\b\\T\\c\\R\\d\\E\\e", "a^b&c~d\\e"),
        ("line1\\.br\\line2", "line1\nline2"),
        ("M\\XC3BC\\ller", "Müller"),
        ("M\\XFC\\ller", "Müller"),
        ("\\H\\bold\\N\\", "bold"),
        ("lonely \\ backslash", "lonely \\ backslash"),
        ("unknown \\Q\\ kept", "unknown \\Q\\ kept"),
        ("bad hex \\XZZ\\", "bad hex \\XZZ\\"),
    ],
)
def test_escape_sequences_are_decoded(written, meaning):
    assert STD.unescape(written) == meaning


def test_escaping_round_trips_through_unescape_with_odd_delimiters():
    odd = Delimiters("#", "*", ":", "@", "!")
    text = "a#b*c:d@e!f\nnext"
    assert odd.unescape(odd.escape_text(text)) == text
    assert "#" not in odd.escape_text(text)


def test_escaped_delimiters_inside_a_component_do_not_split_it():
    seg = parse_segments(["PV1|1|E|SEH\\S\\A^K12"], STD).segments[0]
    assert seg.first(3) == [["SEH^A"], ["K12"]]


def test_explicit_null_reads_as_empty():
    seg = parse_segments(['PID|1||""|x^""'], STD).segments[0]
    assert seg.repetitions(3) == []
    assert not seg.has(3)
    assert seg.value(4, 2) == ""
    assert component_text(seg.first(4), 1) == "x"


@pytest.mark.parametrize("path", sorted(CORPUS_DIR.glob("*.hl7")), ids=lambda p: p.name)
def test_every_field_and_escape_agrees_with_python_hl7_on_the_corpus(path):
    header, message = parse_bytes(path.read_bytes(), default_charset="8859/1")
    reference = hl7.parse(header.text)
    assert [s.id for s in message.segments] == [str(s[0]) for s in reference]
    for ours, theirs in zip(message.segments, reference, strict=True):
        for position in range(len(theirs)):
            # python-hl7 sometimes strips blanks at the end of a segment; we keep what was sent.
            assert ours.raw(position).rstrip() == str(theirs[position]).rstrip(), f"{ours.label}-{position}"
        for position in range(3 if ours.id == "MSH" else 1, len(ours.fields)):
            for leaf in re.split(r"[~^&]", ours.raw(position)):
                if "\\" in leaf:
                    assert header.delimiters.unescape(leaf) == reference.unescape(leaf)


def test_a_dutch_message_reads_the_same_in_hl7apy():
    text = adt_a04_nl(version="2.5")
    msg = parse_text(text)
    reference = parse_message(text, find_groups=False, validation_level=VALIDATION_LEVEL.TOLERANT)
    pid = msg.first("PID")
    assert pid is not None
    assert pid.value(5, 1, 1) == reference.pid.pid_5.xpn_1.fn_1.to_er7() == "Müller"
    assert pid.value(5, 2) == reference.pid.pid_5.xpn_2.to_er7() == "Jürgen"
    assert pid.value(7) == reference.pid.pid_7.to_er7()
    assert [s.id for s in msg.segments] == [s.name for s in reference.children]
