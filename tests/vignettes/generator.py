"""Synthetic labelled ED presentations: the vignette set for evaluation and a simulated ED shift.

One `Vignette` spec is the single source of a case; `to_hl7` (ADT^A04 text) and `to_fhir` (an R4
Bundle as a dict) render the same spec, so both forms must give the same findings, and
`to_presentation` builds the internal model directly (tests without the mappers).

Labels: `maltreatment` is the ground truth of the case (is there violence or maltreatment), and
`expected` the rule families that should fire by the rules of DOMAIN.md. The two differ on purpose:
a TEN-4 bruise after a fall that turns out accidental *should* fire R-BR and is still not
maltreatment — that is how a trigger system's PPV is measured. Everything here is synthetic:
names, BSNs (valid elfproef, random) and texts are invented.

Test data, not product: it lives with the tests and is not in the wheel. A dev tool on the command line:

    python -m tests.vignettes.generator write [--out tests/vignettes] [--seed 20260302]
    python -m tests.vignettes.generator simulate --visits N [--out DIR] [--seed S]

`write` regenerates the committed labelled set; `simulate` draws an ED shift at Dutch prevalence and
prints how the detector does on it (the alert-burden figures of docs/detection.md).
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from zoneinfo import ZoneInfo

from detection.configuration import DetectionConfig, default_config, load_config
from detection.engine import detect
from detection.evaluation import CaseResult, Label, evaluate
from detection.models import (
    BSN_OID,
    BSN_SYSTEM,
    Coding,
    CodingSystem,
    Diagnosis,
    Encounter,
    EncounterStatus,
    EventType,
    HumanName,
    Identifier,
    Note,
    Observation,
    Patient,
    Presentation,
    RelatedPerson,
    Sex,
    SourceRef,
)

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
SHIFT_DAY = date(2026, 3, 2)
ICD10_URI = "http://hl7.org/fhir/sid/icd-10"
SNOMED_URI = "http://snomed.info/sct"
LOINC_URI = "http://loinc.org"
SCREENING_URI = "https://spoedplein.etz.nl/fhir/CodeSystem/screening"
ANSWER_URI = "http://terminology.hl7.org/CodeSystem/v2-0136"
ROLE_URI = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
MRN_SYSTEM = "https://etz.nl/fhir/NamingSystem/patientnummer"
TRIAGE_NOTE = ("54094-8", "Triagenotitie")


class Category(StrEnum):
    """What a vignette is there to test; the evaluation reports per category."""

    CHILD_ABUSE = "child-physical-abuse"  # TEN-4-FACESp level patterns: the ≥ 0.95 sensitivity target
    CHILD_SIGNAL = "child-history-signal"  # R-CONS / R-SCR / R-CODE signals around a child
    SIGNAL_NOT_ABUSE = "signal-but-accidental"  # the rule should fire; the truth is accidental
    EXCEPTION = "listed-exception"
    NEAR_MISS = "near-miss"
    NEGATION_TRAP = "negation-trap"
    FALSE_FRIEND = "false-friend"
    ADULT_VIOLENCE = "adult-violence"
    KINDCHECK = "kindcheck-trigger"
    ELDER = "elder"
    PLAIN = "plain-negative"


@dataclass(frozen=True)
class Dx:
    code: str
    display: str
    system: CodingSystem = CodingSystem.ICD10


@dataclass(frozen=True)
class Answer:
    code: str
    question: str
    yes: bool


@dataclass(frozen=True)
class Relative:
    relationship: str  # HL7 0063 / v3 RoleCode: MTH, FTH, CHD, SPS, SON, DAU
    display: str
    age_years: int


@dataclass
class Vignette:
    id: str
    category: Category
    maltreatment: bool
    expected: frozenset[str]
    description: str
    age_days: int
    sex: Sex
    complaint: str
    note: str = ""
    diagnoses: tuple[Dx, ...] = ()
    answers: tuple[Answer, ...] = ()
    relatives: tuple[Relative, ...] = ()
    family: str = ""
    family_prefix: str = ""
    given: str = ""
    bsn: str = ""
    mrn: str = ""
    arrival: datetime = field(default_factory=lambda: datetime(2026, 3, 2, 14, 0, tzinfo=AMSTERDAM))
    bsn_as_oid: bool = False  # FHIR: use urn:oid:2.16.840.1.113883.2.4.6.3 instead of the Nictiz URI
    zone_free_times: bool = False  # FHIR: write date-times without an offset (local time)

    @property
    def birth_date(self) -> date:
        return self.arrival.date() - timedelta(days=self.age_days)

    def label(self) -> dict[str, object]:
        return {
            "category": self.category.value,
            "maltreatment": self.maltreatment,
            "expected_families": sorted(self.expected),
            "description": self.description,
        }


# ------------------------------------------------------------------------------ people and ids
_GIVEN_M = [
    "Sem",
    "Daan",
    "Noah",
    "Lucas",
    "Levi",
    "Finn",
    "Bram",
    "Milan",
    "Jesse",
    "Mohammed",
    "Thijs",
    "Ruben",
]
_GIVEN_F = [
    "Emma",
    "Julia",
    "Mila",
    "Tess",
    "Sophie",
    "Zoë",
    "Nora",
    "Sara",
    "Fenna",
    "Yasmin",
    "Anouk",
    "Liv",
]
_FAMILIES = [
    ("", "Jansen"),
    ("de", "Vries"),
    ("van den", "Berg"),
    ("van", "Dijk"),
    ("", "Bakker"),
    ("", "Visser"),
    ("", "Smit"),
    ("", "Meijer"),
    ("de", "Boer"),
    ("", "Mulder"),
    ("de", "Groot"),
    ("", "Bos"),
    ("van", "Leeuwen"),
    ("", "Dekker"),
    ("", "Yılmaz"),
    ("El", "Amrani"),
    ("", "Brouwer"),
    ("van der", "Heijden"),
]


def _bsn(rng: random.Random) -> str:
    """A random nine-digit number that passes the elfproef (not a real person's BSN)."""
    while True:
        digits = [rng.randint(1, 9)] + [rng.randint(0, 9) for _ in range(7)]
        total = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True))
        last = total % 11
        if last < 10:
            return "".join(map(str, [*digits, last]))


def _person(v: Vignette, rng: random.Random, index: int) -> None:
    v.given = rng.choice(_GIVEN_M if v.sex is Sex.MALE else _GIVEN_F)
    v.family_prefix, own = rng.choice(_FAMILIES)
    v.family = own
    v.bsn = _bsn(rng)
    v.mrn = f"{7000000 + index}"
    minute = rng.randint(8 * 60, 22 * 60)
    v.arrival = datetime.combine(
        SHIFT_DAY + timedelta(days=index % 28), time(minute // 60, minute % 60), AMSTERDAM
    )
    v.bsn_as_oid = index % 3 == 0
    v.zone_free_times = index % 4 == 1


# -------------------------------------------------------------------------- the case templates
Template = Callable[[random.Random], "Case"]


@dataclass
class Case:
    """A template's output before identities are attached."""

    category: Category
    maltreatment: bool
    expected: frozenset[str]
    description: str
    age_days: int
    complaint: str
    note: str = ""
    diagnoses: tuple[Dx, ...] = ()
    answers: tuple[Answer, ...] = ()
    relatives: tuple[Relative, ...] = ()
    sex: Sex | None = None


def _months(rng: random.Random, low: float, high: float) -> int:
    return int(rng.uniform(low, high) * 30.4375)


def _years(rng: random.Random, low: int, high: int) -> int:
    return int(rng.randint(low, high) * 365.25 + rng.randint(10, 300))


def F(*families: str) -> frozenset[str]:
    return frozenset(families)


NONE: frozenset[str] = frozenset()

_TEN4_SITES_NL = [
    "de oorschelp links",
    "het oor",
    "de hals",
    "de nek",
    "de wang",
    "de rug",
    "de buik",
    "de billen",
    "de kaakhoek",
    "het ooglid",
    "de borst",
    "de romp",
]
_TEN4_SITES_EN = [
    "the left ear",
    "the neck",
    "the right cheek",
    "the lower back",
    "the abdomen",
    "the buttocks",
    "the angle of the jaw",
    "the eyelid",
    "the chest",
    "the torso",
]
_BRUISE_NL = ["Blauwe plek op", "Blauwe plekken op", "Hematoom op", "Kneuzing van"]
_BRUISE_EN = ["Bruise on", "Bruising to", "Bruises on", "Haematoma on"]
_STORY_NL = [
    "geen verklaring",
    "toedracht onbekend",
    "ouders weten niet hoe het is ontstaan",
    "vage toedracht",
    "volgens moeder tegen de tafel gelopen",
    "zou van de bank gevallen zijn",
]
_STORY_EN = [
    "no explanation given",
    "unknown mechanism",
    "parents do not know how it happened",
    "vague history",
    "mother says he walked into a table",
    "reportedly fell off the couch",
]
_STORY_HAS_SIGNAL = {0, 1, 2, 3}


def t_ten4(rng: random.Random) -> Case:
    nl = rng.random() < 0.55
    i = rng.randrange(len(_STORY_NL))
    if nl:
        text = f"{rng.choice(_BRUISE_NL)} {rng.choice(_TEN4_SITES_NL)}, {_STORY_NL[i]}"
    else:
        text = f"{rng.choice(_BRUISE_EN)} {rng.choice(_TEN4_SITES_EN)}, {_STORY_EN[i]}"
    expected = F("R-BR", "R-CONS") if i in _STORY_HAS_SIGNAL else F("R-BR")
    return Case(Category.CHILD_ABUSE, True, expected, "TEN-4-FACES region bruise", _months(rng, 6, 47), text)


def t_ten4_accidental(rng: random.Random) -> Case:
    nl = rng.random() < 0.5
    text = (
        f"Blauwe plek op {rng.choice(['de wang', 'het oor', 'de buik'])} na val tegen de salontafel"
        if nl
        else f"Bruise on {rng.choice(['the cheek', 'the ear', 'the back'])} after falling against a table"
    )
    return Case(
        Category.SIGNAL_NOT_ABUSE,
        False,
        F("R-BR"),
        "TEN-4 bruise, accidental on follow-up",
        _months(rng, 10, 40),
        text,
    )


def t_infant_bruise(rng: random.Random) -> Case:
    site = rng.choice(["het bovenbeen", "de arm", "het voorhoofd", "de onderarm", "de knie"])
    text = rng.choice(
        [
            f"Ouders zagen een blauwe plek op {site}",
            f"Hematoom op {site}, huilt veel",
            f"Small bruise on the {rng.choice(['thigh', 'forearm', 'forehead', 'shin'])}, baby well",
        ]
    )
    return Case(
        Category.CHILD_ABUSE,
        True,
        F("R-BR", "R-SI"),
        "any bruise ≤ 4.99 months",
        _months(rng, 1.2, 4.7),
        text,
    )


def t_patterned(rng: random.Random) -> Case:
    text = rng.choice(
        [
            "Handvormige blauwe plek op het bovenbeen",
            "Lusvormige blauwe plekken op de benen",
            "Blauwe plekken op de bovenarm in de vorm van vingertoppen",
            "Hand print bruise on the thigh",
            "Looped cord-like bruises on the legs",
            "Belt-shaped bruise on the upper arm",
        ]
    )
    return Case(Category.CHILD_ABUSE, True, F("R-BR"), "patterned bruise", _months(rng, 8, 46), text)


def t_aht(rng: random.Random) -> Case:
    variant = rng.randrange(5)
    base_nl = "Suf en braken. CT: "
    if variant == 0:
        text = base_nl + "subduraal hematoom links. Apneu thuis volgens vader."
        return Case(Category.CHILD_ABUSE, True, F("R-AHT"), "SDH + apnoea", _months(rng, 6, 30), text)
    if variant == 1:
        text = rng.choice(
            [
                base_nl + "bilateraal subduraal hematoom.",
                "Lethargic infant, CT shows bilateral subdural haemorrhage.",
                "CT: interhemisferisch subduraal hematoom, geen trauma bekend.",
            ]
        )
        expected = F("R-AHT", "R-CONS") if "trauma" in text else F("R-AHT")
        return Case(
            Category.CHILD_ABUSE, True, expected, "bilateral/interhemispheric SDH", _months(rng, 6, 30), text
        )
    if variant == 2:
        text = rng.choice(
            [
                "Hoofdletsel; blauwe plek achter het oor en subduraal hematoom rechts.",
                "Head injury with subdural haematoma; bruising of the neck.",
            ]
        )
        return Case(
            Category.CHILD_ABUSE, True, F("R-AHT", "R-BR"), "SDH + ear/neck bruise", _months(rng, 8, 34), text
        )
    if variant == 3:
        text = rng.choice(
            [
                "Hoofdletsel, complexe schedelfractuur occipitaal op CT.",
                "Head trauma, depressed skull fracture on CT.",
            ]
        )
        return Case(
            Category.CHILD_ABUSE,
            True,
            F("R-AHT", "R-FX"),
            "complex skull fracture",
            _months(rng, 13, 23),
            text,
        )
    text = rng.choice(
        [
            "Hoofdletsel, gereanimeerd door ambulance. CT: subduraal hematoom.",
            "Found apnoeic at home, CT: subdural haematoma.",
        ]
    )
    return Case(
        Category.CHILD_ABUSE, True, F("R-AHT"), "SDH + resuscitation/apnoea", _months(rng, 2, 30), text
    )


def t_sentinel(rng: random.Random) -> Case:
    variant = rng.randrange(4)
    age = _months(rng, 2, 4.8)
    if variant == 0:
        text = rng.choice(["Ingescheurd frenulum bij de bovenlip", "Torn frenulum noted by GP"])
        return Case(Category.CHILD_ABUSE, True, F("R-SI", "R-BR"), "frenulum injury, infant", age, text)
    if variant == 1:
        text = rng.choice(
            ["Subconjunctivale bloeding rechts, verder geen klachten", "Subconjunctival haemorrhage left eye"]
        )
        return Case(
            Category.CHILD_ABUSE, True, F("R-SI", "R-BR"), "subconjunctival haemorrhage, infant", age, text
        )
    if variant == 2:
        text = rng.choice(["Kleine brandwond op de onderarm", "Small burn on the forearm"])
        return Case(Category.CHILD_ABUSE, True, F("R-SI"), "burn, infant", age, text)
    text = rng.choice(["Kruipt nog niet, blauwe plek op de arm", "Not yet crawling, bruise on the upper arm"])
    return Case(
        Category.CHILD_ABUSE, True, F("R-SI"), "bruise, non-mobile infant", _months(rng, 6.3, 9), text
    )


def t_fracture(rng: random.Random) -> Case:
    variant = rng.randrange(6)
    if variant == 0:
        text = rng.choice(
            [
                "Femurfractuur rechts, rolde van de bank volgens ouders",
                "Humerusfractuur links, zou uit bedje zijn geklommen",
                "Ribfracturen op X-thorax bij hoesten",
                "Femoral fracture, reportedly rolled off the bed",
            ]
        )
        return Case(Category.CHILD_ABUSE, True, F("R-FX"), "fracture 0–11 months", _months(rng, 2, 11), text)
    if variant == 1:
        text = rng.choice(["Ribfractuur rechts op de thoraxfoto", "Posterior rib fractures on chest X-ray"])
        return Case(
            Category.CHILD_ABUSE, True, F("R-FX"), "rib fracture 12–23 months", _months(rng, 12.5, 23.5), text
        )
    if variant == 2:
        text = rng.choice(
            [
                "Metafysaire hoekfractuur distale tibia",
                "Classic metaphyseal lesion of the distal tibia",
            ]
        )
        return Case(Category.CHILD_ABUSE, True, F("R-FX"), "CML 12–23 months", _months(rng, 12.5, 23.5), text)
    if variant == 3:
        text = rng.choice(
            ["Humerusfractuur na val van de bank", "Humeral fracture after a fall from the couch"]
        )
        return Case(
            Category.CHILD_ABUSE, True, F("R-FX"), "humerus after short fall", _months(rng, 12.5, 23.5), text
        )
    if variant == 4:
        text = rng.choice(["Femurschachtfractuur links", "Femoral shaft fracture, right"])
        return Case(
            Category.CHILD_ABUSE,
            True,
            F("R-FX"),
            "femoral shaft 12–23 months",
            _months(rng, 12.5, 23.5),
            text,
        )
    text = rng.choice(
        [
            "Zwelling onderarm, radiusfractuur, geen trauma bekend",
            "Forearm fracture, no history of trauma",
        ]
    )
    return Case(
        Category.CHILD_ABUSE,
        True,
        F("R-FX", "R-CONS"),
        "fracture without trauma history",
        _months(rng, 12.5, 23.5),
        text,
    )


def t_fracture_coded(rng: random.Random) -> Case:
    text = rng.choice(["Femurfractuur rechts, huilt bij verschonen", "Femoral fracture, cries when changed"])
    return Case(
        Category.CHILD_ABUSE,
        True,
        F("R-FX", "R-CODE"),
        "infant femur fracture with ICD-10 code",
        _months(rng, 3, 11),
        text,
        diagnoses=(Dx("S72.3", "Fractuur van femurschacht"),),
    )


def t_burn(rng: random.Random) -> Case:
    options = [
        ("Meerdere ronde brandwondjes op de rug, passend bij sigaret", F("R-BU")),
        ("Multiple small round cigarette burns on the back", F("R-BU")),
        ("Verbranding met heet water aan beide voeten, sokvormig, scherp begrensd, geen spatten", F("R-BU")),
        ("Immersion scald of both feet with stocking-like sharp demarcation, no splash marks", F("R-BU")),
        ("Brandwond op de billen en het perineum", F("R-BU")),
        ("Burns to the buttocks and genitals", F("R-BU")),
        ("Brandwond in de vorm van een strijkijzer op het bovenbeen", F("R-BU")),
        ("Iron-shaped burn on the thigh", F("R-BU")),
        ("Contactverbranding op de buik", F("R-BU")),
        ("Brandwond op de hand, pas na 3 dagen gezien", F("R-BU", "R-CONS")),
        ("Burn on the arm, delay in seeking care of two days", F("R-BU", "R-CONS")),
        ("Symmetrische brandwonden aan beide handruggen", F("R-BU")),
        ("Mirror-image burns on both forearms", F("R-BU")),
    ]
    text, expected = rng.choice(options)
    return Case(Category.CHILD_ABUSE, True, expected, "inflicted burn pattern", _months(rng, 12, 96), text)


def t_cons(rng: random.Random) -> Case:
    options = [
        "Polsfractuur, wisselend verhaal over de toedracht",
        "Blauwe plekken op de bovenarmen, broertje zou het gedaan hebben",
        "Kneuzing onderarm, letsel past niet bij de toedracht",
        "Schaafwonden en blauwe plekken op de benen, eerdere onverklaarde fracturen",
        "Blauwe plek op het scheenbeen, afwijkende interactie, kind schrikt bij aanraking",
        "Wrist fracture, changing story about how it happened",
        "Bruises on the arms, blamed on a sibling",
        "Bruising on the legs, injury not consistent with the history given",
        "Laceration of the arm, previous unexplained injuries",
    ]
    truth = rng.random() < 0.7
    return Case(
        Category.CHILD_SIGNAL if truth else Category.SIGNAL_NOT_ABUSE,
        truth,
        F("R-CONS"),
        "history signal, child 4–12",
        _years(rng, 4, 12),
        rng.choice(options),
    )


def t_screening(rng: random.Random) -> Case:
    escape = rng.random() < 0.6
    if escape:
        items = [
            ("ESCAPE-1", "Onnodig lang gewacht?", False),
            ("ESCAPE-2", "Toedracht consistent?", True),
            ("ESCAPE-3", "Past letsel bij toedracht en ontwikkeling?", True),
            ("ESCAPE-4", "Gedrag kind en ouders passend?", True),
            ("ESCAPE-5", "Top-tot-teen passend bij anamnese?", True),
            ("ESCAPE-6", "Andere signalen?", False),
        ]
        expected = F("R-SCR")
    else:
        items = [
            ("SPUTOVAMO-1", "Past letsel bij anamnese en leeftijd?", True),
            ("SPUTOVAMO-2", "Interactie ouder-kind passend?", True),
        ]
        expected = F("R-SCR")
    flip = rng.randrange(len(items))
    code, question, normal = items[flip]
    items[flip] = (code, question, not normal)
    answers = tuple(Answer(c, q, yes) for c, q, yes in items)
    truth = (
        rng.random() < 0.35
    )  # the Escape checklist's PPV is about 10%: most positive screens are not abuse
    text = rng.choice(
        ["Val van de fiets, schaafwond knie", "Snijwond hand", "Verstapt, pijn enkel", "Fell at playground"]
    )
    return Case(
        Category.CHILD_SIGNAL if truth else Category.SIGNAL_NOT_ABUSE,
        truth,
        expected,
        f"abnormal {'Escape' if escape else 'SPUTOVAMO'} answer {code}",
        _years(rng, 1, 14),
        text,
        answers=answers,
    )


def t_screening_normal(rng: random.Random) -> Case:
    answers = (
        Answer("ESCAPE-1", "Onnodig lang gewacht?", False),
        Answer("ESCAPE-2", "Toedracht consistent?", True),
        Answer("ESCAPE-3", "Past letsel bij toedracht en ontwikkeling?", True),
        Answer("ESCAPE-4", "Gedrag kind en ouders passend?", True),
        Answer("ESCAPE-5", "Top-tot-teen passend bij anamnese?", True),
        Answer("ESCAPE-6", "Andere signalen?", False),
    )
    text = rng.choice(
        ["Val van de trampoline, pijn pols", "Snijwond vinger", "Hoofd gestoten tegen deurpost"]
    )
    return Case(
        Category.NEAR_MISS, False, NONE, "normal Escape checklist", _years(rng, 2, 14), text, answers=answers
    )


def t_coded_child(rng: random.Random) -> Case:
    dx, truth = rng.choice(
        [
            (Dx("T74.1", "Lichamelijke mishandeling"), True),
            (Dx("T74.0", "Verwaarlozing"), True),
            (Dx("Y07.1", "Mishandeling door ouder"), True),
            (Dx("Z61.6", "Problemen door vermeende lichamelijke mishandeling van kind"), True),
            (Dx("700255001", "Suspected non-accidental injury to child", CodingSystem.SNOMED), True),
        ]
    )
    text = rng.choice(["Controle na eerdere presentatie", "Follow-up visit", "Verwezen door huisarts"])
    return Case(
        Category.CHILD_SIGNAL,
        truth,
        F("R-CODE"),
        f"coded {dx.code}",
        _years(rng, 0, 12),
        text,
        diagnoses=(dx,),
    )


def t_coded_age(rng: random.Random) -> Case:
    dx = rng.choice([Dx("S52.5", "Fractuur distale radius"), Dx("S06.5", "Traumatische subdurale bloeding")])
    text = rng.choice(["Zwelling en pijn", "Prikkelbaar, drinkt slecht"])
    return Case(
        Category.CHILD_ABUSE,
        True,
        F("R-CODE"),
        f"age-specific code {dx.code}",
        _months(rng, 3, 11),
        text,
        diagnoses=(dx,),
    )


# Notes as they are really typed: abbreviations, typos, terms outside the vocabulary. Written after
# the vocabulary, to show where the text matching stops; the report lists what it misses.
_MESSY = [
    "BP oorschelp li, moeder weet niet hoe",
    "hemat. wang re, vage toedracht",
    "Blauwgroene verkleuring hals",
    "sugillaties in de hals",
    "bruize on neck and ear",
    "Ecchymosis R pinna",
    "blauwe plekjes op buik en rug",
    "Hematomen romp, div. stadia",
    "bruising++ back & buttocks",
    "blauwe plek(ken) achter oor",
    "Verkleuring op de bil, ouders geven geen verklaring",
    "Frenulum ingescheurd, bloedt",
]


def t_messy(rng: random.Random) -> Case:
    text = rng.choice(_MESSY)
    return Case(
        Category.CHILD_ABUSE,
        True,
        F("R-BR"),
        "TEN-4 bruise in messy real-world wording",
        _months(rng, 6, 40),
        text,
    )


# ------------------------------------------------------------------------------ listed exceptions
def t_exception(rng: random.Random) -> Case:
    variant = rng.randrange(8)
    if variant == 0:
        text = rng.choice(
            [
                "Buckle fractuur distale radius na val van de glijbaan",
                "Buckle fracture of the distal radius after a fall",
                "Torusfractuur pols na val tijdens het lopen",
            ]
        )
        return Case(
            Category.EXCEPTION, False, NONE, "buckle fracture at 14 months", _months(rng, 13.6, 14.6), text
        )
    if variant == 1:
        text = rng.choice(
            [
                "Torusfractuur distale radius na val",
                "Buckle fracture distal radius, fell while pulling to stand",
            ]
        )
        return Case(
            Category.EXCEPTION, False, NONE, "buckle distal radius, infant", _months(rng, 9.5, 11.5), text
        )
    if variant == 2:
        text = rng.choice(
            [
                "Claviculafractuur rechts na moeizame bevalling, schouderdystocie",
                "Clavicle fracture after shoulder dystocia at birth",
                "Zwelling sleutelbeen, fractuur, vacuümextractie bij de geboorte",
            ]
        )
        return Case(Category.EXCEPTION, False, NONE, "birth clavicle fracture", rng.randint(5, 20), text)
    if variant == 3:
        text = rng.choice(
            [
                "Lineaire pariëtale schedelfractuur rechts na val van het aankleedkussen, zwelling",
                "Linear parietal skull fracture after a fall from the changing table",
            ]
        )
        return Case(
            Category.EXCEPTION,
            False,
            NONE,
            "linear parietal skull fracture at 5 months with fall",
            _months(rng, 5.05, 5.9),
            text,
        )
    if variant == 4:
        text = rng.choice(
            [
                "Loopt langs meubels, gevallen, spiraalfractuur distale tibia",
                "Cruising, fell, spiral fracture of the distal tibia",
            ]
        )
        return Case(
            Category.EXCEPTION,
            False,
            NONE,
            "toddler's fracture, cruising > 9 months",
            _months(rng, 9.5, 11.8),
            text,
        )
    if variant == 5:
        text = rng.choice(
            [
                "Blauwe plek op de wang na verkeersongeval, kind zat in autostoeltje",
                "Bruising of the neck from the seat belt after a car accident",
                "Hematoom op het oor, val gezien door de leidster van het kinderdagverblijf",
            ]
        )
        return Case(
            Category.EXCEPTION,
            False,
            NONE,
            "TEN-4 region bruise with confirmed accident",
            _months(rng, 10, 40),
            text,
        )
    if variant == 6:
        text = rng.choice(
            [
                "Subconjunctivale bloeding beiderzijds sinds de geboorte",
                "Cefaalhematoom na vacuümextractie",
                "Subconjunctival haemorrhage since birth, forceps delivery",
            ]
        )
        return Case(
            Category.EXCEPTION, False, NONE, "birth-related neonatal finding", rng.randint(3, 14), text
        )
    text = rng.choice(
        [
            "Morste hete thee over zich heen, verbranding borst met spatten",
            "Pulled a cup of hot tea off the table, scald on the chest with splash marks",
        ]
    )
    return Case(Category.EXCEPTION, False, NONE, "accidental spill scald", _months(rng, 12, 40), text)


def t_near_miss(rng: random.Random) -> Case:
    options: list[tuple[str, float, float]] = [
        ("Blauwe plekken op de schenen en het voorhoofd na val in de speeltuin", 18, 46),
        ("Bruises on the shins and knees, active toddler", 18, 46),
        ("Bult op het voorhoofd na val tegen de tafel", 12, 40),
        ("Blauwe plek op de wang na val van de fiets", 54, 80),
        ("Hersenschudding na val van het klimrek, CT zonder afwijkingen", 24, 34),
        ("Onderarmfractuur na val van het klimrek", 36, 90),
        ("Humerusfractuur na val van de trap", 14, 22),
        ("Blauwe plek op het voorhoofd, kruipt en trekt zich op", 7, 11),
        ("Enkelfractuur bij voetbal", 100, 160),
    ]
    text, low, high = rng.choice(options)
    return Case(
        Category.NEAR_MISS, False, NONE, "near miss (site, age or mechanism)", _months(rng, low, high), text
    )


def t_contact_palm(rng: random.Random) -> Case:
    text = rng.choice(
        ["Brandwond in de handpalm, greep naar de oven", "Burn to the palm after touching the oven door"]
    )
    return Case(
        Category.SIGNAL_NOT_ABUSE, False, F("R-BU"), "palm burn, accidental", _months(rng, 12, 30), text
    )


# ------------------------------------------------------------------------------- negation traps
def t_negation(rng: random.Random) -> Case:
    options: list[tuple[str, float, float]] = [
        ("Koorts, geen blauwe plekken, geen petechiën", 2, 40),
        ("Huilbaby, geen blauwe plekken, geen letsel", 1.5, 4.5),
        ("Gevallen van de bank zonder letsel, geen blauwe plekken", 2, 30),
        ("No bruising, no fractures, playful", 6, 40),
        ("No bruises on ears, neck or torso; fever and cough", 8, 40),
        ("Geen blauwe plekken op romp, oren of hals. Diarree.", 3, 40),
        ("Fractuur uitgesloten op de röntgenfoto, kneuzing pols", 40, 120),
        ("Röntgen: geen fractuur. Val van de bank.", 3, 11),
        ("Subduraal hematoom uitgesloten op echo, koorts", 2, 10),
        ("No evidence of intracranial haemorrhage or skull fracture, vomiting", 3, 20),
        ("Geen brandwonden, geen fracturen, eczeem", 6, 60),
        ("Niet gevallen, geen trauma, koorts sinds gisteren", 4, 30),
        ("Denies any trauma, no bruising seen, ear pain", 24, 46),
    ]
    adult: list[str] = [
        "Patiënte ontkent wurging, keelpijn bij slikken",
        "Denies strangulation, no petechiae, sore throat",
        "Ontkent huiselijk geweld, verstapt met enkel",
        "Denies domestic violence, twisted ankle",
        "Geen suïcidale gedachten, geen zelfbeschadiging, buikpijn",
        "Denies self-harm, not intoxicated, chest pain",
        "Niet onder invloed, valt van fiets, schaafwond",
        "Geen aanwijzingen voor mishandeling, hoofdpijn",
    ]
    if rng.random() < 0.35:
        return Case(
            Category.NEGATION_TRAP,
            False,
            NONE,
            "negated adult signal",
            _years(rng, 20, 60),
            rng.choice(adult),
        )
    text, low, high = rng.choice(options)
    return Case(Category.NEGATION_TRAP, False, NONE, "negated child signal", _months(rng, low, high), text)


def t_false_friend(rng: random.Random) -> Case:
    child: list[tuple[str, float, float]] = [
        ("In slaap gevallen tijdens de voeding, nu suf", 1.5, 5),
        ("Koorts gezakt na paracetamol, drinkt slecht", 3, 30),
        ("Seen by Dr. Burns, rash on the trunk", 6, 40),
        ("Broke out in a rash on both cheeks", 6, 40),
        ("Liesbreuk rechts, huilerig", 1.5, 5),
        ("Navelbreuk, verder goed", 1.5, 5),
        ("Brandend gevoel bij het plassen", 48, 120),
        ("Came back with ear pain and fever", 12, 40),
        ("Gebroken nachten door hoesten", 6, 40),
        ("Blauwe lippen bij hard huilen, nu roze", 1.5, 4.5),
        ("Sunburn on the shoulders after the beach", 48, 120),
        ("Fell asleep in the car seat, now drowsy", 2, 20),
    ]
    adult: list[str] = [
        "Heartburn and burning sensation in the chest",
        "Choked on a piece of meat, now coughing",
        "Verslikt in een snoepje, hoest",
        "Burn-out, hartkloppingen",
        "Fell asleep at the wheel? Neck pain after minor collision",
        "Valt op dat patiënt stil is, hoofdpijn",
    ]
    if rng.random() < 0.3:
        return Case(
            Category.FALSE_FRIEND, False, NONE, "adult false friend", _years(rng, 20, 60), rng.choice(adult)
        )
    text, low, high = rng.choice(child)
    return Case(Category.FALSE_FRIEND, False, NONE, "child false friend", _months(rng, low, high), text)


# ------------------------------------------------------------------------------------ adults
def _children(rng: random.Random) -> tuple[Relative, ...]:
    if rng.random() < 0.5:
        return ()
    return tuple(Relative("CHD", "Kind", rng.randint(1, 15)) for _ in range(rng.randint(1, 2)))


def t_partner(rng: random.Random) -> Case:
    text = rng.choice(
        [
            "Geslagen door haar partner, hematoom rond het oog",
            "Mishandeld door haar ex, pijn ribben",
            "Huiselijk geweld, gestompt in het gezicht",
            "Assaulted by her boyfriend, bruise to the cheek",
            "Domestic violence, punched in the face by husband",
            "Heeft zijn partner geslagen, snijwond aan de hand",
        ]
    )
    return Case(
        Category.ADULT_VIOLENCE,
        True,
        F("R-PAR"),
        "partner violence",
        _years(rng, 19, 55),
        text,
        relatives=_children(rng),
        sex=Sex.FEMALE if "zijn" not in text else Sex.MALE,
    )


def t_strangulation(rng: random.Random) -> Case:
    variant = rng.randrange(3)
    if variant == 0:
        text = rng.choice(
            [
                "Gewurgd door ex-partner, kortdurend bewusteloos, heesheid",
                "Strangled by her husband, hoarse voice, petechiae in the eyes",
                "Handen om haar keel door haar man, slikklachten, striemen in de hals",
            ]
        )
        return Case(
            Category.ADULT_VIOLENCE,
            True,
            F("R-STR", "R-PAR"),
            "partner strangulation",
            _years(rng, 19, 50),
            text,
            relatives=_children(rng),
            sex=Sex.FEMALE,
        )
    if variant == 1:
        text = rng.choice(
            ["Gewurgd tijdens een beroving, pijn bij slikken", "Choked by a stranger during a robbery"]
        )
        return Case(
            Category.ADULT_VIOLENCE, True, F("R-STR"), "strangulation by stranger", _years(rng, 19, 60), text
        )
    text = rng.choice(
        [
            "Striemen in de hals en puntbloedingen in het gezicht, wil niets zeggen",
            "Ligature marks on the neck, hoarse voice, will not say what happened",
        ]
    )
    return Case(
        Category.ADULT_VIOLENCE,
        True,
        F("R-STR"),
        "signs of strangulation, no history",
        _years(rng, 19, 50),
        text,
    )


def t_strangulation_coded(rng: random.Random) -> Case:
    return Case(
        Category.ADULT_VIOLENCE,
        True,
        F("R-CODE"),
        "assault code X91 without text",
        _years(rng, 19, 60),
        rng.choice(["Nekpijn", "Neck pain"]),
        diagnoses=(Dx("X91.0", "Aanval door ophanging, wurging en verstikking, thuis"),),
    )


def t_assault_coded(rng: random.Random) -> Case:
    dx = rng.choice(
        [
            Dx("Y04.0", "Aanval met lichamelijk geweld, thuis"),
            Dx("706893006", "Victim of intimate partner abuse", CodingSystem.SNOMED),
        ]
    )
    return Case(
        Category.ADULT_VIOLENCE,
        True,
        F("R-CODE"),
        f"assault code {dx.code}",
        _years(rng, 19, 60),
        "Hoofdwond",
        diagnoses=(dx,),
    )


def t_kindcheck(rng: random.Random) -> Case:
    text = rng.choice(
        [
            "Alcoholintoxicatie, aanspreekbaar",
            "GHB intoxicatie, gedaald bewustzijn",
            "Drunk, scalp laceration after a fall in the street",
            "Tentamen suicidii met paracetamol",
            "Intentional overdose, suicide attempt",
            "Zelfbeschadiging, snijwonden onderarm",
            "Acute psychose, verward",
            "Manic episode, police escort",
        ]
    )
    return Case(
        Category.KINDCHECK,
        False,
        F("R-PAR"),
        "Kindcheck trigger (not maltreatment itself)",
        _years(rng, 19, 55),
        text,
        relatives=_children(rng),
    )


def t_adult_near_miss(rng: random.Random) -> Case:
    text = rng.choice(
        [
            "Keelpijn, heesheid en pijn bij slikken, koorts",
            "Sore throat, hoarse voice, painful swallowing",
            "Nekpijn na auto-ongeluk, whiplash",
            "Door partner naar de SEH gebracht met buikpijn",
            "Brought in by her husband with chest pain",
            "Kortademig bij bekend astma",
        ]
    )
    return Case(Category.NEAR_MISS, False, NONE, "adult near miss", _years(rng, 20, 70), text)


# ------------------------------------------------------------------------------------ elders
def t_elder(rng: random.Random) -> Case:
    variant = rng.randrange(3)
    if variant == 0:
        answers = (
            Answer("EASI-2", "Onthouden van zorg?", False),
            Answer("EASI-3", "Vernederd of bedreigd?", rng.random() < 0.5),
            Answer("EASI-4", "Gedwongen te tekenen?", False),
            Answer("EASI-5", "Bang gemaakt of pijn gedaan?", True),
            Answer("EASI-6", "Tekenen van verwaarlozing?", False),
        )
        return Case(
            Category.ELDER,
            True,
            F("R-EA"),
            "EASI positive",
            _years(rng, 66, 92),
            "Val thuis, pijn heup",
            answers=answers,
        )
    text = rng.choice(
        [
            "Ondervoed en vervuild, bang voor zoon",
            "Malnourished and unkempt, afraid of son",
            "Blauwe plekken op beide armen, geen verklaring, dochter is mantelzorger",
            "Financieel uitgebuit door kleinzoon, onrustig",
        ]
    )
    return Case(Category.ELDER, True, F("R-EA"), "elder abuse signs in text", _years(rng, 66, 95), text)


def t_elder_negative(rng: random.Random) -> Case:
    if rng.random() < 0.4:
        answers = tuple(Answer(f"EASI-{i}", "?", False) for i in range(2, 7))
        return Case(
            Category.NEAR_MISS,
            False,
            NONE,
            "EASI all no",
            _years(rng, 66, 92),
            "Duizelig, collaps",
            answers=answers,
        )
    text = rng.choice(
        [
            "Val thuis, hematoom heup, woont zelfstandig",
            "Fall at home, bruise on the arm, on anticoagulants",
            "Heupfractuur na val in de badkamer",
        ]
    )
    return Case(Category.NEAR_MISS, False, NONE, "elder fall, explained", _years(rng, 66, 95), text)


# ------------------------------------------------------------------------------ plain negatives
_PLAIN_CHILD = [
    "Koorts en hoesten sinds 2 dagen",
    "Oorpijn en koorts",
    "Braken en diarree",
    "Benauwd, bekend met astma",
    "Snijwond vinger bij het knutselen",
    "Verstapt bij gym, pijn enkel",
    "Val van de fiets, schaafwond knie",
    "Fever and rash",
    "Abdominal pain, right lower quadrant",
    "Vomiting and diarrhoea",
    "Ingeslikte knoopcelbatterij?",
    "Allergische reactie na pinda",
    "Koortsstuip, nu alert",
    "Sleutelbeenfractuur na val van de fiets",
    "Polsfractuur na val met skaten",
    "Laceration of the chin after falling on the playground",
]
_PLAIN_ADULT = [
    "Pijn op de borst sinds een uur",
    "Buikpijn rechtsonder",
    "Kortademig, COPD exacerbatie",
    "Hoofdpijn en misselijk",
    "Enkeldistorsie na verstappen",
    "Snijwond hand bij het koken",
    "Polsfractuur na val op ijs",
    "Collaps tijdens het sporten",
    "Koorts en hoesten",
    "Chest pain radiating to the left arm",
    "Renal colic",
    "Fall from ladder, wrist pain",
    "Nierstenen, koliekpijn",
    "Palpitaties",
    "Allergische reactie op antibiotica",
    "Rugpijn na tillen",
    "Dizziness and vomiting",
    "Wond aan het scheenbeen na val van de trap",
]


def t_plain(rng: random.Random) -> Case:
    if rng.random() < 0.3:
        return Case(
            Category.PLAIN, False, NONE, "plain child visit", _years(rng, 0, 17), rng.choice(_PLAIN_CHILD)
        )
    return Case(
        Category.PLAIN, False, NONE, "plain adult visit", _years(rng, 18, 92), rng.choice(_PLAIN_ADULT)
    )


# The labelled set: (template, how many). 460 vignettes; positives and negatives at about 2 : 3.
VIGNETTE_PLAN: tuple[tuple[Template, int], ...] = (
    (t_ten4, 40),
    (t_ten4_accidental, 10),
    (t_infant_bruise, 14),
    (t_patterned, 12),
    (t_aht, 20),
    (t_sentinel, 16),
    (t_fracture, 28),
    (t_fracture_coded, 4),
    (t_burn, 20),
    (t_cons, 16),
    (t_screening, 14),
    (t_screening_normal, 6),
    (t_coded_child, 8),
    (t_coded_age, 4),
    (t_messy, 14),
    (t_exception, 40),
    (t_near_miss, 24),
    (t_contact_palm, 4),
    (t_negation, 40),
    (t_false_friend, 30),
    (t_partner, 16),
    (t_strangulation, 14),
    (t_strangulation_coded, 2),
    (t_assault_coded, 4),
    (t_kindcheck, 16),
    (t_adult_near_miss, 10),
    (t_elder, 10),
    (t_elder_negative, 10),
    (t_plain, 82),
)


def _attach(case: Case, index: int, prefix: str, rng: random.Random) -> Vignette:
    sex = case.sex or (Sex.MALE if rng.random() < 0.5 else Sex.FEMALE)
    vignette = Vignette(
        id=f"{prefix}{index:05d}",
        category=case.category,
        maltreatment=case.maltreatment,
        expected=case.expected,
        description=case.description,
        age_days=case.age_days,
        sex=sex,
        complaint=case.complaint,
        note=case.note,
        diagnoses=case.diagnoses,
        answers=case.answers,
        relatives=case.relatives,
    )
    _person(vignette, rng, index)
    return vignette


def vignette_set(seed: int = 20260302) -> list[Vignette]:
    """The labelled evaluation set (deterministic for a seed)."""
    rng = random.Random(seed)
    out: list[Vignette] = []
    for template, count in VIGNETTE_PLAN:
        for _ in range(count):
            out.append(_attach(template(rng), len(out) + 1, "V", rng))
    return out


# Shares of a Dutch ED's visits, per 100,000 visits. Children ~25% of visits, half of them injured;
# inflicted injury among injured children 0.07–0.9% (0.4% used here: ~50 per 100,000 visits);
# Haags-protocol partner-violence triggers ~64 per 100,000 adult visits; intoxication, self-harm and
# psychiatric crises (Kindcheck prompts) ~1.5% of adult visits; elder abuse signs ~30 per 100,000.
SHIFT_MIX: tuple[tuple[Template, float], ...] = (
    (t_ten4, 12),
    (t_infant_bruise, 3),
    (t_patterned, 3),
    (t_messy, 6),  # real-world wording the vocabulary does not cover well
    (t_aht, 2),
    (t_sentinel, 3),
    (t_fracture, 8),
    (t_burn, 4),
    (t_cons, 15),
    (t_screening, 60),
    (t_ten4_accidental, 60),
    (t_partner, 40),
    (t_strangulation, 8),
    (t_kindcheck, 1100),
    (t_elder, 30),
    (t_exception, 300),
    (t_near_miss, 3000),
    (t_negation, 2500),
    (t_false_friend, 1500),
    (t_adult_near_miss, 3000),
    (t_elder_negative, 4000),
    (t_screening_normal, 4000),
    (t_plain, 80_351),
)


def ed_shift(visits: int, seed: int = 1) -> list[Vignette]:
    """A synthetic run of `visits` ED presentations at Dutch prevalence (see SHIFT_MIX)."""
    rng = random.Random(seed)
    templates = [t for t, _ in SHIFT_MIX]
    weights = [w for _, w in SHIFT_MIX]
    chosen = rng.choices(templates, weights=weights, k=visits)
    return [_attach(template(rng), i + 1, "S", rng) for i, template in enumerate(chosen)]


# ------------------------------------------------------------------------------------ renderers
def to_presentation(v: Vignette) -> Presentation:
    """The internal model of a vignette, as a mapper would build it (for tests without the mappers)."""
    family = f"{v.family_prefix} {v.family}".strip()
    notes = [Note(text=v.note, source_field="OBX[1]-5")] if v.note else []
    return Presentation(
        source=SourceRef(channel="vignette", message_type="ADT^A04", control_id=v.id),
        event=EventType.REGISTER,
        patient=Patient(
            identifiers=[Identifier(system=BSN_OID, value=v.bsn, type_code="NNNLD")],
            bsn=v.bsn,
            name=HumanName(
                family=family, family_prefix=v.family_prefix, family_own=v.family, given=[v.given]
            ),
            birth_date=v.birth_date,
            sex=v.sex,
        ),
        encounter=Encounter(
            visit_number=v.id, patient_class="E", arrival_at=v.arrival, status=EncounterStatus.IN_PROGRESS
        ),
        chief_complaint=v.complaint,
        chief_complaint_source="PV2-3",
        notes=notes,
        diagnoses=[
            Diagnosis(
                coding=Coding(code=d.code, system=d.system, display=d.display), source_field=f"DG1[{i}]-3"
            )
            for i, d in enumerate(v.diagnoses, 1)
        ],
        observations=[
            Observation(
                coding=Coding(code=a.code, system=CodingSystem.LOCAL, display=a.question),
                value="Ja" if a.yes else "Nee",
                value_coding=Coding(code="Y" if a.yes else "N", system=CodingSystem.OTHER),
                source_field=f"OBX[{i}]-5",
            )
            for i, a in enumerate(v.answers, 2 if v.note else 1)
        ],
        related_persons=[
            RelatedPerson(
                relationship=r.relationship, relationship_display=r.display, is_minor=r.age_years < 18
            )
            for r in v.relatives
        ],
    )


def _hl7_escape(text: str) -> str:
    return (
        text.replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("&", "\\T\\")
        .replace("~", "\\R\\")
    )


def _hl7_ts(moment: datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S") + moment.strftime("%z")


def to_hl7(v: Vignette) -> str:
    """An ADT^A04 (registration at the SEH) with CR segment endings, UTF-8."""
    ts = _hl7_ts(v.arrival)
    family = f"{v.family_prefix} {v.family}".strip()
    xpn_family = f"{_hl7_escape(family)}&{_hl7_escape(v.family_prefix)}&{_hl7_escape(v.family)}"
    segments = [
        f"MSH|^~\\&|HIX|ETZ|SPOEDPLEIN|ETZ|{ts}||ADT^A04^ADT_A01|{v.id}|P|2.5.1|||AL|NE|NLD|UNICODE UTF-8",
        f"EVN|A04|{ts}",
        f"PID|1||{v.mrn}^^^ETZ^PI~{v.bsn}^^^NLMINBIZA&{BSN_OID}&ISO^NNNLD||{xpn_family}^{_hl7_escape(v.given)}^^^^^L"
        f"||{v.birth_date:%Y%m%d}|{'M' if v.sex is Sex.MALE else 'F'}",
    ]
    for i, r in enumerate(v.relatives, 1):
        born = v.arrival.date() - timedelta(days=int(r.age_years * 365.25) + 40)
        nk1 = ["NK1", str(i), f"{_hl7_escape(v.family)}^Kind{i}", f"{r.relationship}^{r.display}^HL70063"]
        nk1 += [""] * 12 + [f"{born:%Y%m%d}"]
        segments.append("|".join(nk1))
    pv1 = ["PV1", "1", "E", "SEH^K1^1^ETZ"] + [""] * 15 + [v.id] + [""] * 24 + [ts]
    segments.append("|".join(pv1))
    segments.append(f"PV2|||^{_hl7_escape(v.complaint)}")
    obx_index = 0
    if v.note:
        obx_index += 1
        code, display = TRIAGE_NOTE
        segments.append(f"OBX|{obx_index}|TX|{code}^{display}^LN||{_hl7_escape(v.note)}||||||F")
    for a in v.answers:
        obx_index += 1
        answer = "Y^Ja^HL70136" if a.yes else "N^Nee^HL70136"
        segments.append(f"OBX|{obx_index}|CE|{a.code}^{_hl7_escape(a.question)}^L||{answer}||||||F")
    for i, d in enumerate(v.diagnoses, 1):
        system = "I10" if d.system is CodingSystem.ICD10 else "SCT"
        segments.append(f"DG1|{i}||{d.code}^{_hl7_escape(d.display)}^{system}||{ts}|W")
    return "\r".join(segments) + "\r"


def _fhir_time(v: Vignette, moment: datetime) -> str:
    if v.zone_free_times:
        return moment.strftime(
            "%Y-%m-%dT%H:%M:%S"
        )  # local time without offset: the mapper reads it as NL time
    return moment.isoformat()


def to_fhir(v: Vignette) -> dict[str, object]:
    """The same case as an R4 collection Bundle: Patient, Encounter, Condition, Observation, RelatedPerson."""
    pid, eid = f"pat-{v.id}", f"enc-{v.id}"
    bsn_system = f"urn:oid:{BSN_OID}" if v.bsn_as_oid else BSN_SYSTEM
    family = f"{v.family_prefix} {v.family}".strip()
    resources: list[dict[str, object]] = [
        {
            "resourceType": "Patient",
            "id": pid,
            "identifier": [{"system": MRN_SYSTEM, "value": v.mrn}, {"system": bsn_system, "value": v.bsn}],
            "name": [{"use": "official", "family": family, "given": [v.given]}],
            "gender": "male" if v.sex is Sex.MALE else "female",
            "birthDate": v.birth_date.isoformat(),
        },
        {
            "resourceType": "Encounter",
            "id": eid,
            "identifier": [{"system": "https://etz.nl/fhir/NamingSystem/opnamenummer", "value": v.id}],
            "status": "in-progress",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"},
            "subject": {"reference": f"Patient/{pid}"},
            "period": {"start": _fhir_time(v, v.arrival)},
            "reasonCode": [{"text": v.complaint}],
        },
    ]
    if v.note:
        resources.append(
            {
                "resourceType": "Observation",
                "id": f"note-{v.id}",
                "status": "final",
                "code": {
                    "coding": [{"system": LOINC_URI, "code": TRIAGE_NOTE[0], "display": TRIAGE_NOTE[1]}]
                },
                "subject": {"reference": f"Patient/{pid}"},
                "encounter": {"reference": f"Encounter/{eid}"},
                "valueString": v.note,
            }
        )
    for i, a in enumerate(v.answers, 1):
        resources.append(
            {
                "resourceType": "Observation",
                "id": f"scr-{v.id}-{i}",
                "status": "final",
                "code": {"coding": [{"system": SCREENING_URI, "code": a.code, "display": a.question}]},
                "subject": {"reference": f"Patient/{pid}"},
                "encounter": {"reference": f"Encounter/{eid}"},
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": ANSWER_URI,
                            "code": "Y" if a.yes else "N",
                            "display": "Ja" if a.yes else "Nee",
                        }
                    ]
                },
            }
        )
    for i, d in enumerate(v.diagnoses, 1):
        resources.append(
            {
                "resourceType": "Condition",
                "id": f"dx-{v.id}-{i}",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                "code": "encounter-diagnosis",
                            }
                        ]
                    }
                ],
                "code": {
                    "coding": [
                        {
                            "system": ICD10_URI if d.system is CodingSystem.ICD10 else SNOMED_URI,
                            "code": d.code,
                            "display": d.display,
                        }
                    ]
                },
                "subject": {"reference": f"Patient/{pid}"},
                "encounter": {"reference": f"Encounter/{eid}"},
            }
        )
    for i, r in enumerate(v.relatives, 1):
        born = v.arrival.date() - timedelta(days=int(r.age_years * 365.25) + 40)
        resources.append(
            {
                "resourceType": "RelatedPerson",
                "id": f"rel-{v.id}-{i}",
                "patient": {"reference": f"Patient/{pid}"},
                "relationship": [
                    {"coding": [{"system": ROLE_URI, "code": r.relationship, "display": r.display}]}
                ],
                "name": [{"family": v.family, "given": [f"Kind{i}"]}],
                "birthDate": born.isoformat(),
            }
        )
    return {
        "resourceType": "Bundle",
        "id": f"bundle-{v.id}",
        "type": "collection",
        "timestamp": _fhir_time(v, v.arrival),
        "entry": [
            {"fullUrl": f"urn:uuid:{res['resourceType']}-{res['id']}", "resource": res} for res in resources
        ],
    }


def labels_document(vignettes: list[Vignette]) -> str:
    """The labels file: one JSON object keyed by vignette id."""
    return (
        json.dumps({v.id: v.label() for v in vignettes}, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    )


# ------------------------------------------------------------------------------------ dev tool
def write_set(out: Path, cases: list[Vignette]) -> None:
    """Write `cases` as hl7/<id>.hl7, fhir/<id>.json and labels.json under `out`."""
    (out / "hl7").mkdir(parents=True, exist_ok=True)
    (out / "fhir").mkdir(parents=True, exist_ok=True)
    for v in cases:
        (out / "hl7" / f"{v.id}.hl7").write_bytes(to_hl7(v).encode("utf-8"))
        fhir_text = json.dumps(to_fhir(v), ensure_ascii=False, indent=1)
        (out / "fhir" / f"{v.id}.json").write_text(fhir_text + "\n", encoding="utf-8")
    (out / "labels.json").write_text(labels_document(cases), encoding="utf-8")


def simulate(visits: int, seed: int, config: DetectionConfig, out: Path | None = None) -> list[str]:
    """A synthetic shift run through the detector; the report lines (and the files, if `out`)."""
    cases = ed_shift(visits, seed)
    lines: list[str] = []
    if out is not None:
        write_set(out, cases)
        lines.append(f"wrote {len(cases)} visits to {out} (hl7/, fhir/, labels.json)")
    mix: dict[str, int] = {}
    for v in cases:
        mix[v.category.value] = mix.get(v.category.value, 0) + 1
    lines.append("mix: " + ", ".join(f"{k} {n}" for k, n in sorted(mix.items())))
    results = [
        CaseResult(
            Label(v.id, v.maltreatment, v.expected, v.category.value, v.description),
            tuple(detect(to_presentation(v), config)),
        )
        for v in cases
    ]
    overall = evaluate(results, min_severity=config.limits.flag_min_severity).overall
    ppv = "-" if overall.ppv is None else f"{overall.ppv:.3f}"
    sensitivity = "-" if overall.sensitivity is None else f"{overall.sensitivity:.3f}"
    lines.append(
        f"maltreatment cases {overall.tp + overall.fn}, flagged {overall.tp + overall.fp} "
        f"({(overall.flags_per_1000 or 0):.1f} per 1,000 visits), PPV {ppv}, sensitivity {sensitivity}"
    )
    info = sum(1 for r in results if r.findings and not r.flagged(config.limits.flag_min_severity))
    lines.append(
        f"info-only prompts (Kindcheck etc.): {info} ({1000 * info / len(results):.1f} per 1,000 visits)"
    )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.vignettes.generator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("write", help="(re)write the labelled vignette set in HL7 v2 and FHIR form")
    write.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    write.add_argument("--seed", type=int, default=20260302)
    shift = commands.add_parser(
        "simulate", help="a synthetic ED shift at Dutch prevalence, through the detector"
    )
    shift.add_argument("--visits", type=int, default=1000)
    shift.add_argument("--out", type=Path, default=None, help="write hl7/, fhir/ and labels.json here")
    shift.add_argument("--seed", type=int, default=1)
    shift.add_argument("--config", type=Path, default=None, help="a detection configuration directory")
    args = parser.parse_args(argv)
    if args.command == "write":
        cases = vignette_set(args.seed)
        write_set(args.out, cases)
        print(f"wrote {len(cases)} vignettes to {args.out}")
    else:
        if args.visits < 1:
            parser.error("--visits must be at least 1")
        config = load_config(args.config) if args.config is not None else default_config()
        print("\n".join(simulate(args.visits, args.seed, config, args.out)))


if __name__ == "__main__":
    main()
