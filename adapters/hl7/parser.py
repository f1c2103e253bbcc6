"""A small, fast HL7 v2 parser: segments -> fields -> repetitions -> components -> subcomponents.

Structure-light on purpose: no message-structure (group) validation and no data-type tables, just the
message's own delimiters and HL7 escape decoding, so the worker can read an ADT message in well under a
millisecond. Fields are split lazily: a segment keeps its raw field strings, and a field is split into
repetitions/components/subcomponents (and unescaped) only when a mapper asks for it.

Numbering follows the standard everywhere: `segment.raw(3)` is SEG-3; for MSH, `raw(1)` is the field
separator and `raw(2)` the encoding characters, exactly as MSH-1/MSH-2 are defined. Indexes for
repetitions, components and subcomponents are 1-based. A value of `""` (HL7 explicit null) reads as "".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from adapters.hl7.delimiters import Delimiters
from adapters.hl7.msh import Header, read_header

# One repetition of a field: its components, each a list of subcomponents (unescaped).
Repetition = list[list[str]]

_NULL = '""'


def part(rep: Repetition, component: int, subcomponent: int = 1) -> str:
    """A leaf of one repetition (1-based), "" when absent or explicitly null."""
    if component > len(rep):
        return ""
    subs = rep[component - 1]
    if subcomponent > len(subs):
        return ""
    value = subs[subcomponent - 1]
    return "" if value == _NULL else value


def component_text(rep: Repetition, component: int) -> str:
    """A component with its subcomponents joined by '&' (for display; "" when absent)."""
    if component > len(rep):
        return ""
    return "&".join(s for s in rep[component - 1] if s != _NULL).strip("&")


class Segment:
    """One segment: its id, occurrence number in the message, and raw field strings."""

    __slots__ = ("_d", "fields", "id", "occurrence")

    def __init__(self, text: str, delimiters: Delimiters, occurrence: int) -> None:
        fields = text.split(delimiters.field)
        if fields[0] == "MSH":
            fields.insert(1, delimiters.field)
        self.id = fields[0]
        self.fields = fields
        self.occurrence = occurrence
        self._d = delimiters

    def __repr__(self) -> str:
        return f"Segment({self.id}[{self.occurrence}], {len(self.fields) - 1} fields)"

    @property
    def label(self) -> str:
        """`DG1[2]`: how this segment is named in source fields and error locations."""
        return f"{self.id}[{self.occurrence}]"

    def raw(self, n: int) -> str:
        """SEG-n exactly as written (escapes intact), "" when absent."""
        return self.fields[n] if n < len(self.fields) else ""

    def has(self, n: int) -> bool:
        value = self.raw(n)
        return bool(value) and value != _NULL

    def repetitions(self, n: int) -> list[Repetition]:
        """SEG-n split into repetitions, components and subcomponents, every leaf unescaped."""
        value = self.raw(n)
        if not value or value == _NULL:
            return []
        d = self._d
        if self.id == "MSH" and n <= 2:
            return [[[value]]]
        unescape = d.unescape
        out: list[Repetition] = []
        for rep in value.split(d.repetition):
            out.append(
                [[unescape(sub) for sub in comp.split(d.subcomponent)] for comp in rep.split(d.component)]
            )
        return out

    def first(self, n: int) -> Repetition:
        """The first repetition of SEG-n ([] when empty)."""
        value = self.raw(n)
        if not value or value == _NULL:
            return []
        d = self._d
        if self.id == "MSH" and n <= 2:
            return [[value]]
        rep = value.split(d.repetition, 1)[0]
        unescape = d.unescape
        return [[unescape(sub) for sub in comp.split(d.subcomponent)] for comp in rep.split(d.component)]

    def value(self, n: int, component: int = 1, subcomponent: int = 1, repetition: int = 1) -> str:
        """One unescaped leaf of SEG-n (splits only as far as needed: this is the mappers' hot path)."""
        value = self.raw(n)
        if not value or value == _NULL:
            return ""
        d = self._d
        if self.id == "MSH" and n <= 2:
            return value if component == subcomponent == repetition == 1 else ""
        reps = value.split(d.repetition, repetition)
        if repetition > len(reps):
            return ""
        comps = reps[repetition - 1].split(d.component, component)
        if component > len(comps):
            return ""
        subs = comps[component - 1].split(d.subcomponent, subcomponent)
        if subcomponent > len(subs):
            return ""
        leaf = subs[subcomponent - 1]
        return "" if leaf == _NULL else d.unescape(leaf)

    def text(self, n: int) -> list[str]:
        """Every repetition of a text field (ST/TX/FT), unescaped, components not split."""
        value = self.raw(n)
        if not value or value == _NULL:
            return []
        d = self._d
        return [d.unescape(rep) for rep in value.split(d.repetition)]


@dataclass(slots=True)
class Message:
    delimiters: Delimiters
    segments: list[Segment] = field(default_factory=list)

    def __iter__(self) -> Iterator[Segment]:
        return iter(self.segments)

    def all(self, segment_id: str) -> list[Segment]:
        return [s for s in self.segments if s.id == segment_id]

    def first(self, segment_id: str) -> Segment | None:
        for s in self.segments:
            if s.id == segment_id:
                return s
        return None


def parse_segments(segment_texts: list[str], delimiters: Delimiters) -> Message:
    """Build a `Message` from CR-split segment strings (as `Header.segments` holds them)."""
    counts: dict[str, int] = {}
    out: list[Segment] = []
    for text in segment_texts:
        seg_id = text[:3]
        n = counts.get(seg_id, 0) + 1
        counts[seg_id] = n
        out.append(Segment(text, delimiters, n))
    return Message(delimiters, out)


def parse_header(header: Header) -> Message:
    """Parse the message a `read_header` call already decoded (no second decode)."""
    return parse_segments(header.segments, header.delimiters)


def parse_bytes(raw: bytes, *, default_charset: str) -> tuple[Header, Message]:
    """Read the header (raises HL7Error as `read_header` does) and parse the whole message."""
    header = read_header(raw, default_charset=default_charset)
    return header, parse_header(header)
