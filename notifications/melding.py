"""The Veilig Thuis melding: its content (facts apart from interpretation), and its JSON and PDF forms.

There is no national electronic melding standard: the system prepares the melding, the physician edits
and approves it, and it is delivered (phone 0800-2000 / the Veilig Thuis portal) with its status tracked.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from fpdf import FPDF
from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenMeldenGround(StrEnum):
    """ "Open melden, tenzij": the family is told who reported, unless that endangers someone."""

    SAFETY_OF_CHILD_OR_FAMILY = "safety_of_child_or_family"
    SAFETY_OF_MELDER = "safety_of_melder"
    CARE_RELATIONSHIP = "care_relationship"


class StepTaken(Strict):
    step: int = Field(ge=1, le=5)
    title: str
    done: bool
    summary: str = ""


class MelderDetails(Strict):
    name: str
    role: str = ""
    organisation: str = ""
    phone: str = ""


class Person(Strict):
    name: str = ""
    birth_date: date | None = None
    relationship: str = ""  # to the patient: "patient", "moeder", "partner", "kind" …
    address: str = ""
    school: str = ""


class OpenMelden(Strict):
    exception_claimed: bool = False
    ground: OpenMeldenGround | None = None
    explanation: str = ""


class MeldingContent(Strict):
    steps_taken: list[StepTaken] = Field(default_factory=list)
    melder: MelderDetails
    patient: Person
    related_persons: list[Person] = Field(default_factory=list)
    children: list[Person] = Field(default_factory=list)
    facts: list[str] = Field(default_factory=list, description="what was seen, heard and found")
    interpretation: str = Field(
        default="", description="the physician's weighing and the signals it rests on"
    )
    support_network: str = ""
    discussed_with_family: bool | None = None
    family_reaction: str = ""
    open_melden: OpenMelden = Field(default_factory=OpenMelden)
    other_information: str = ""


class MeldingPatch(Strict):
    """What the physician may change in a draft; absent fields stay as they are."""

    steps_taken: list[StepTaken] | None = None
    melder: MelderDetails | None = None
    patient: Person | None = None
    related_persons: list[Person] | None = None
    children: list[Person] | None = None
    facts: list[str] | None = None
    interpretation: str | None = None
    support_network: str | None = None
    discussed_with_family: bool | None = None
    family_reaction: str | None = None
    open_melden: OpenMelden | None = None
    other_information: str | None = None

    def apply(self, content: MeldingContent) -> MeldingContent:
        changes = self.model_dump(exclude_unset=True)
        return MeldingContent.model_validate({**content.model_dump(), **changes})


def problems(content: MeldingContent) -> list[str]:
    """What must be filled in before the physician can approve the melding (field names)."""
    missing = []
    if not content.melder.name.strip():
        missing.append("melder.name")
    if not content.facts:
        missing.append("facts")
    if content.open_melden.exception_claimed and (
        content.open_melden.ground is None or not content.open_melden.explanation.strip()
    ):
        missing.append("open_melden")
    return missing


def as_document(content: MeldingContent, meta: dict[str, Any]) -> dict[str, Any]:
    """The structured JSON form: metadata (reference, status, approval) and the content."""
    return {"melding": meta, "content": content.model_dump(mode="json")}


# DejaVu Sans ships inside the package (fonts/LICENSE: the Bitstream Vera licence, public-domain changes),
# so every name prints in the container and from a wheel alike: the PDF core fonts know only Latin-1,
# and a host font path exists on some machines only.
_FONT_DIR = Path(__file__).with_name("fonts")
_FAMILY = "DejaVu"


def _text(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "ja" if value else "nee"
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value) or "-"


def render_pdf(content: MeldingContent, meta: dict[str, Any]) -> bytes:
    """The melding as a PDF in Dutch, section by section; facts and interpretation in separate sections."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_font(_FAMILY, "", str(_FONT_DIR / "DejaVuSans.ttf"))
    pdf.add_font(_FAMILY, "B", str(_FONT_DIR / "DejaVuSans-Bold.ttf"))
    family = _FAMILY
    # Shaping (HarfBuzz) joins Arabic letters and orders right-to-left runs; without it they print as
    # isolated glyphs in the wrong order.
    pdf.set_text_shaping(True)
    pdf.add_page()

    def heading(text: str) -> None:
        pdf.set_font(family, "B", 12)
        pdf.ln(2)
        pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")

    def line(text: str) -> None:
        pdf.set_font(family, "", 10)
        pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")

    pdf.set_font(family, "B", 15)
    pdf.multi_cell(0, 9, "Melding aan Veilig Thuis", new_x="LMARGIN", new_y="NEXT")
    line(
        f"Referentie: {meta.get('case_reference', '')}   Status: {meta.get('status', '')}   "
        f"Versie: {meta.get('revision', '')}"
    )
    if meta.get("approved_by"):
        line(f"Goedgekeurd door {meta['approved_by']} op {meta.get('approved_at', '')}")

    heading("1. Stappen van de meldcode")
    for step in content.steps_taken:
        line(f"Stap {step.step} - {step.title}: {'gedaan' if step.done else 'niet gedaan'}. {step.summary}")
    heading("2. Melder")
    m = content.melder
    line(f"{m.name}, {m.role}, {m.organisation}. Telefoon: {_text(m.phone)}")
    heading("3. Betrokkenen")
    p = content.patient
    line(f"Patiënt: {p.name} (geboren {_text(p.birth_date)}) {p.address}")
    for person in content.related_persons:
        line(f"{person.relationship or 'betrokkene'}: {person.name} {_text(person.birth_date)}")
    for child in content.children:
        line(
            f"Kind: {child.name} (geboren {_text(child.birth_date)}) {child.address} {child.school}".rstrip()
        )
    heading("4. Signalen en zorgen - feiten")
    for fact in content.facts:
        line(f"- {fact}")
    heading("5. Interpretatie van de arts")
    line(content.interpretation or "-")
    heading("6. Netwerk en steun")
    line(content.support_network or "-")
    heading("7. Besproken met het gezin")
    line(f"Besproken: {_text(content.discussed_with_family)}. Reactie: {content.family_reaction or '-'}")
    heading("8. Open melden")
    if content.open_melden.exception_claimed:
        ground = content.open_melden.ground.value if content.open_melden.ground else "-"
        line(f"Uitzondering op open melden: {ground}. {content.open_melden.explanation}")
    else:
        line("Open melden: het gezin wordt verteld wie de melding doet.")
    heading("9. Overige informatie")
    line(content.other_information or "-")
    return bytes(pdf.output())
