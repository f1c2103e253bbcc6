"""The delimiters of one HL7 v2 message (MSH-1 and MSH-2) and the escape rules that go with them.

Every message brings its own delimiters; nothing here assumes `|^~\\&`. Escaping and unescaping follow
HL7 v2 chapter 2 (\\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\P\\, \\Xhh..\\ hex data, \\.br\\ line break; highlighting
\\H\\ \\N\\ is dropped, other formatting commands become whitespace).
"""

from __future__ import annotations

from dataclasses import dataclass

STANDARD_ENCODING_CHARACTERS = "^~\\&"


@dataclass(frozen=True, slots=True)
class Delimiters:
    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str = ""  # MSH-2 fifth character, v2.7+

    @property
    def encoding_characters(self) -> str:
        """MSH-2 as it is written: component, repetition, escape, subcomponent[, truncation]."""
        return self.component + self.repetition + self.escape + self.subcomponent + self.truncation

    def escape_text(self, text: str) -> str:
        """Escape free text so it can be placed in a field of a message that uses these delimiters."""
        esc = self.escape
        if esc:
            text = text.replace(esc, f"{esc}E{esc}")
        text = (
            text.replace(self.field, f"{esc}F{esc}")
            .replace(self.component, f"{esc}S{esc}")
            .replace(self.subcomponent, f"{esc}T{esc}")
            .replace(self.repetition, f"{esc}R{esc}")
        )
        if self.truncation:
            text = text.replace(self.truncation, f"{esc}P{esc}")
        if "\r" in text or "\n" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", f"{esc}.br{esc}")
        return text

    def unescape(self, text: str) -> str:
        """Decode escape sequences in one leaf value (a component or subcomponent after splitting)."""
        esc = self.escape
        if not esc or esc not in text:
            return text
        out: list[str] = []
        pos = 0
        length = len(text)
        while pos < length:
            start = text.find(esc, pos)
            if start < 0:
                out.append(text[pos:])
                break
            end = text.find(esc, start + 1)
            if end < 0:
                # A lone escape character is not an escape sequence: keep it as written.
                out.append(text[pos:])
                break
            out.append(text[pos:start])
            out.append(self._expand(text[start + 1 : end], text[start : end + 1]))
            pos = end + 1
        return "".join(out)

    def _expand(self, body: str, written: str) -> str:
        simple = {
            "F": self.field,
            "S": self.component,
            "T": self.subcomponent,
            "R": self.repetition,
            "E": self.escape,
            "P": self.truncation,
        }
        replacement = simple.get(body)
        if replacement:
            return replacement
        if body in ("H", "N"):  # start/end highlighting: no meaning in plain text
            return ""
        if body == ".br":
            return "\n"
        if body.startswith((".sp", ".in", ".ti", ".sk", ".ce", ".fi", ".nf")):
            return "\n" if body.startswith(".sp") else ""
        if body[:1] == "X" and len(body) > 1:
            return _hex_text(body[1:], written)
        if body[:1] in ("Z", "C", "M"):  # locally defined / character-set switches: nothing to render
            return ""
        return written


def _hex_text(hex_digits: str, written: str) -> str:
    try:
        data = bytes.fromhex(hex_digits)
    except ValueError:
        return written
    # Hex data is usually single-byte; UTF-8 first keeps multi-byte sequences intact, then latin-1.
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


STANDARD = Delimiters()
