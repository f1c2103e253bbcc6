"""Hand-written Dutch HL7 v2 sample messages for the HL7 codec tests (fictional patients, valid BSNs)."""

from __future__ import annotations

from pathlib import Path

CORPUS_DIR = Path(__file__).resolve().parent / "corpus" / "hl7v2" / "fhir-converter"
VALID_BSN = "123456782"  # passes the elfproef; fictional


def segments(*lines: str) -> str:
    return "\r".join(lines) + "\r"


def pv1(values: dict[int, str]) -> str:
    """A PV1 segment with the given fields at their exact positions."""
    fields = ["PV1", "1"] + [""] * max(values)
    for position, value in values.items():
        fields[position] = value
    return "|".join(fields)


def adt_a04_nl(
    *,
    charset: str = "8859/1",
    version: str = "2.4",
    encoding_characters: str = "^~\\&",
    msh15: str = "",
    msh16: str = "",
    control_id: str = "NL-0001",
) -> str:
    """An ED registration (A04) of a child, as a Dutch HIS would send it, in the given delimiters."""
    c, r, e, s = (encoding_characters[i] for i in range(4))
    lines = [
        f"MSH|{encoding_characters}|HIX{c}ETZ|ETZ-TILBURG|SPOEDPLEIN|ETZ|20261123143000+0100||ADT{c}A04{c}ADT_A01|"
        f"{control_id}|P|{version}|||{msh15}|{msh16}||{charset}",
        "EVN|A04|20261123142500+0100",
        f"PID|1||{VALID_BSN}{c}{c}{c}NLMINBIZA{s}2.16.840.1.113883.2.4.6.3{s}ISO{c}NNNLD{r}7654321{c}{c}{c}ETZ{c}PI||"
        f"Müller{s}{s}Müller{c}Jürgen{c}K||20240715|M",
        f"NK1|1|Çelik{s}{s}Çelik{c}Aylin|MTH{c}Moeder{c}HL70063|||||||||||||19950302",
        f"NK1|2|van der Berg{s}van der{s}Berg{c}Sanne|FTH{c}Vader{c}HL70063|||||||||||||20100101",
        pv1(
            {
                2: "E",
                3: f"SEH{c}K12{c}1{c}ETZ",
                7: f"01234567{c}de Vries{s}de{s}Vries{c}Jan",
                19: "V2026-0042",
                36: "01",
                44: "202611231420",
            }
        ),
        f"PV2|||R51{c}Hoofdpijn na val van trap{c}I10|||||||||Valpartij thuis",
        f"DG1|1||S06.0{c}Hersenschudding{c}I10||20261123|W",
        f"DG1|2||T74.1{c}Lichamelijke mishandeling{c}ICD-10||20261123|W",
        f"OBX|1|ST|SPUTOVAMO-1{c}Letsel passend bij verhaal{c}L||Nee||||||F",
        f"OBX|2|TX|TRIAGE{c}Triagenotitie{c}L||Blauwe plekken op beide bovenarmen{e}.br{e}"
        "moeder zegt gevallen||||||F",
        f"OBX|3|NM|8867-4{c}Hartfrequentie{c}LN||128|/min{c}{c}UCUM|||||F",
        "NTE|1||Kind stil en teruggetrokken.",
    ]
    return segments(*lines)


def encode(text: str, charset: str = "8859/1") -> bytes:
    codec = {"8859/1": "latin-1", "UNICODE UTF-8": "utf-8", "": "latin-1"}[charset]
    return text.encode(codec)
