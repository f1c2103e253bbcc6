"""Every rule family: a positive, a near-miss negative and each listed exception (DOMAIN.md)."""

from __future__ import annotations

import pytest

from detection.engine import detect
from detection.models import Severity
from tests.detection_helpers import families, presentation, rule_ids

# ------------------------------------------------------------------------------------------ R-BR


def test_br_bruise_on_the_ear_of_a_two_year_old_is_ten4_positive_with_evidence_and_next_step() -> None:
    findings = [
        f
        for f in detect(presentation("Blauwe plek op het oor, geen verklaring", years=2))
        if f.family == "R-BR"
    ]
    assert [f.rule_id for f in findings] == ["R-BR-1"]
    finding = findings[0]
    assert finding.severity is Severity.WARNING
    assert finding.evidence[0].field == "PV2-3"
    assert finding.evidence[0].body_site == "ear"
    assert "blauwe plek" in finding.evidence[0].text
    assert "Stolling screenen" in finding.next_step_nl
    assert "Pierce" in finding.source
    assert finding.explanation_en and finding.explanation_nl


@pytest.mark.parametrize(
    "site", ["de hals", "de wang", "de rug", "de billen", "het ooglid", "de kaakhoek", "de buik"]
)
def test_br_every_ten4_faces_region_counts(site: str) -> None:
    assert "R-BR-1" in rule_ids(presentation(f"Hematoom op {site}", months=20))


def test_br_near_miss_bruises_on_shins_and_forehead_of_a_toddler() -> None:
    assert "R-BR" not in families(
        presentation("Blauwe plekken op de schenen en het voorhoofd na val", months=26)
    )


def test_br_near_miss_cheek_bruise_at_four_years_is_outside_ten4_age() -> None:
    assert "R-BR" not in families(presentation("Blauwe plek op de wang", years=4))


def test_br_any_bruise_at_four_months_is_critical() -> None:
    findings = {f.rule_id: f for f in detect(presentation("Blauwe plek op het bovenbeen", months=4))}
    assert findings["R-BR-2"].severity is Severity.CRITICAL


def test_br_bruise_at_five_and_a_half_months_on_the_thigh_is_not_br2() -> None:
    assert "R-BR-2" not in rule_ids(presentation("Blauwe plek op het bovenbeen", months=5.5))


def test_br_patterned_bruise() -> None:
    assert "R-BR-3" in rule_ids(presentation("Hand print bruise on the thigh", months=30))


def test_br_exception_confirmed_accident_in_a_car() -> None:
    assert "R-BR" not in families(presentation("Blauwe plek op de wang na verkeersongeval", months=30))


# ----------------------------------------------------------------------------------------- R-AHT


def test_aht_subdural_with_apnoea_in_a_one_year_old() -> None:
    findings = {f.rule_id: f for f in detect(presentation("CT: subduraal hematoom. Apneu thuis.", months=12))}
    assert findings["R-AHT-1"].severity is Severity.CRITICAL


def test_aht_bilateral_subdural() -> None:
    assert "R-AHT-3" in rule_ids(presentation("Bilateraal subduraal hematoom", months=8))


def test_aht_complex_skull_fracture() -> None:
    assert "R-AHT-4" in rule_ids(presentation("Head trauma, depressed skull fracture", months=18))


def test_aht_near_miss_concussion_without_pedibirn_variables() -> None:
    assert "R-AHT" not in families(presentation("Hersenschudding na val, CT zonder afwijkingen", months=28))


def test_aht_near_miss_isolated_linear_parietal_skull_fracture_is_not_a_pedibirn_variable() -> None:
    assert "R-AHT-4" not in rule_ids(
        presentation("Lineaire pariëtale schedelfractuur rechts na val", months=20)
    )


def test_aht_near_miss_bilateral_subdural_at_four_years_is_outside_the_age() -> None:
    assert "R-AHT" not in families(presentation("Bilateraal subduraal hematoom", years=4))


# ------------------------------------------------------------------------------------------ R-SI


def test_si_torn_frenulum_in_a_three_month_old() -> None:
    assert "R-SI-2" in rule_ids(presentation("Ingescheurd frenulum", months=3))


def test_si_bruise_in_a_non_mobile_eight_month_old() -> None:
    assert "R-SI-1" in rule_ids(presentation("Kruipt nog niet, blauwe plek op de arm", months=8))


def test_si_near_miss_bruise_in_a_crawling_eight_month_old() -> None:
    assert "R-SI" not in families(
        presentation("Blauwe plek op het voorhoofd, kruipt en trekt zich op", months=8)
    )


def test_si_exception_subconjunctival_haemorrhage_since_birth_in_a_neonate() -> None:
    assert families(presentation("Subconjunctivale bloeding sinds de geboorte", days=7)) == set()


# ------------------------------------------------------------------------------------------ R-FX


def test_fx_femur_fracture_at_six_months() -> None:
    assert "R-FX-1" in rule_ids(presentation("Femurfractuur rechts, rolde van de bank", months=6))


def test_fx_rib_fracture_at_eighteen_months_is_critical() -> None:
    findings = {f.rule_id: f for f in detect(presentation("Ribfractuur rechts", months=18))}
    assert findings["R-FX-2"].severity is Severity.CRITICAL


def test_fx_humerus_after_a_fall_from_the_couch_but_not_from_the_stairs() -> None:
    assert "R-FX-5" in rule_ids(presentation("Humerusfractuur na val van de bank", months=16))
    assert "R-FX-5" in rule_ids(presentation("Humeral fracture after a fall from 60 cm", months=16))
    assert "R-FX" not in families(presentation("Humerusfractuur na val van de trap", months=16))
    assert "R-FX" not in families(presentation("Humeral fracture after a fall from 2 m", months=16))


def test_fx_fracture_without_trauma_history_at_twenty_months() -> None:
    assert "R-FX-7" in rule_ids(presentation("Radiusfractuur, geen trauma bekend", months=20))


def test_fx_exception_buckle_fracture_at_fourteen_months() -> None:
    assert families(presentation("Buckle fractuur distale radius na val", months=14)) == set()


def test_fx_exception_buckle_fracture_distal_radius_in_an_infant() -> None:
    assert families(presentation("Torusfractuur distale radius na val", months=10)) == set()


def test_fx_exception_birth_clavicle_fracture() -> None:
    assert families(presentation("Claviculafractuur na schouderdystocie bij de geboorte", days=10)) == set()


def test_fx_clavicle_fracture_at_three_months_without_birth_story_is_positive() -> None:
    assert "R-FX-1" in rule_ids(presentation("Claviculafractuur", months=3))


def test_fx_exception_linear_parietal_skull_fracture_at_five_months_with_a_fall() -> None:
    p = presentation("Lineaire pariëtale schedelfractuur rechts na val van het aankleedkussen", months=5.3)
    assert families(p) == set()


def test_fx_linear_parietal_skull_fracture_at_three_months_is_not_excepted() -> None:
    p = presentation("Lineaire pariëtale schedelfractuur rechts na val van het aankleedkussen", months=3)
    assert "R-FX-1" in rule_ids(p)


def test_fx_exception_toddlers_fracture_in_a_cruising_ten_month_old() -> None:
    p = presentation("Loopt langs meubels, gevallen, spiraalfractuur distale tibia", months=10.5)
    assert families(p) == set()


def test_fx_spiral_tibia_at_eight_months_is_not_excepted() -> None:
    p = presentation("Loopt langs meubels, gevallen, spiraalfractuur distale tibia", months=8)
    assert "R-FX-1" in rule_ids(p)


# ------------------------------------------------------------------------------------------ R-BU


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("Multiple small round cigarette burns on the back", "R-BU-4"),
        ("Verbranding met heet water aan beide voeten, sokvormig, scherp begrensd, geen spatten", "R-BU-5"),
        ("Brandwond op de billen", "R-BU-6"),
        ("Brandwond in de vorm van een strijkijzer op het bovenbeen", "R-BU-2"),
        ("Contactverbranding op de buik", "R-BU-3"),
        ("Meerdere brandwonden", "R-BU-1"),
        ("Symmetrische brandwonden aan beide handen", "R-BU-7"),
        ("Burn on the arm, delay in seeking care", "R-BU-8"),
    ],
)
def test_bu_each_burn_pattern(text: str, rule: str) -> None:
    assert rule in rule_ids(presentation(text, years=3))


def test_bu_near_miss_spill_scald_with_splash_marks() -> None:
    p = presentation("Pulled a cup of hot tea off the table, scald on the chest with splash marks", years=2)
    assert families(p) == set()


def test_bu_near_miss_contact_burn_on_the_hand() -> None:
    assert "R-BU" not in families(
        presentation("Contactverbranding aan de hand, greep naar de kachel", years=2)
    )


# ---------------------------------------------------------------------------------------- R-CONS


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("Polsfractuur, wisselend verhaal over de toedracht", "R-CONS-1"),
        ("Kneuzing onderarm, letsel past niet bij de toedracht", "R-CONS-2"),
        ("Brandwond op de arm, pas na 3 dagen gezien", "R-CONS-3"),
        ("Blauwe plek scheen, afwijkende interactie", "R-CONS-4"),
        ("Laceration of the arm, previous unexplained injuries", "R-CONS-5"),
        ("Bruises on the arms, blamed on a sibling", "R-CONS-7"),
    ],
)
def test_cons_history_signals_around_an_injury(text: str, rule: str) -> None:
    assert rule in rule_ids(presentation(text, years=7))


def test_cons_repeated_visits_from_the_feed_count() -> None:
    assert "R-CONS-6" in rule_ids(presentation("Snijwond hand", years=6, earlier_visits=4))
    assert "R-CONS-6" not in rule_ids(presentation("Snijwond hand", years=6, earlier_visits=1))


def test_cons_near_miss_no_explanation_for_a_fever_is_not_an_injury_signal() -> None:
    assert families(presentation("Koorts, geen verklaring gevonden", years=3)) == set()


# ----------------------------------------------------------------------------------------- R-SCR


def test_scr_abnormal_escape_answer() -> None:
    p = presentation("Snijwond hand", years=5, answers={"ESCAPE-1": "Y", "ESCAPE-2": "Y"})
    assert rule_ids(p) == {"R-SCR-2"}


def test_scr_abnormal_sputovamo_answer_in_dutch_words() -> None:
    assert rule_ids(presentation("Val", years=5, answers={"SPUTOVAMO-1": "Nee"})) == {"R-SCR-1"}


def test_scr_near_miss_all_answers_normal() -> None:
    answers = {
        "ESCAPE-1": "N",
        "ESCAPE-2": "Y",
        "ESCAPE-3": "Y",
        "ESCAPE-4": "Y",
        "ESCAPE-5": "Y",
        "ESCAPE-6": "N",
    }
    assert families(presentation("Snijwond hand", years=5, answers=answers)) == set()


# ----------------------------------------------------------------------------------------- R-PAR


def test_par_partner_violence_asks_the_kindcheck_and_lists_known_children() -> None:
    findings = [
        f
        for f in detect(presentation("Geslagen door haar partner", years=32, children=2))
        if f.family == "R-PAR"
    ]
    assert [f.rule_id for f in findings] == ["R-PAR-1"]
    assert findings[0].next_step_nl.startswith("Kindcheck: zijn er kinderen thuis?")
    assert sum(1 for e in findings[0].evidence if e.field.startswith("related_persons")) == 2


@pytest.mark.parametrize(
    ("text", "rule"),
    [("Alcoholintoxicatie", "R-PAR-2"), ("Tentamen suicidii", "R-PAR-3"), ("Acute psychose", "R-PAR-4")],
)
def test_par_other_haags_protocol_triggers_are_info(text: str, rule: str) -> None:
    findings = {f.rule_id: f for f in detect(presentation(text, years=40))}
    assert findings[rule].severity is Severity.INFO
    assert findings[rule].next_step_nl == "Kindcheck: zijn er kinderen thuis?"


def test_par_near_miss_partner_only_accompanies_the_patient() -> None:
    assert families(presentation("Door haar partner naar de SEH gebracht met buikpijn", years=40)) == set()


def test_par_does_not_apply_to_a_minor() -> None:
    assert "R-PAR" not in families(presentation("Alcoholintoxicatie", years=16))


# ----------------------------------------------------------------------------------------- R-STR


def test_str_reported_strangulation_is_always_critical() -> None:
    findings = {f.rule_id: f for f in detect(presentation("Gewurgd door ex-partner, heesheid", years=30))}
    assert findings["R-STR-1"].severity is Severity.CRITICAL
    assert "R-PAR-1" in findings


def test_str_signs_without_a_story() -> None:
    assert "R-STR-2" in rule_ids(
        presentation("Striemen in de hals en puntbloedingen in het gezicht", years=30)
    )


def test_str_near_miss_sore_throat_with_hoarse_voice() -> None:
    assert families(presentation("Keelpijn, heesheid en pijn bij slikken", years=30)) == set()


# ------------------------------------------------------------------------------------------ R-EA


def test_ea_easi_yes_on_question_five() -> None:
    assert "R-EA-1" in rule_ids(
        presentation("Val thuis", years=80, answers={"EASI-5": "Ja", "EASI-2": "Nee"})
    )


def test_ea_signs_in_text() -> None:
    assert "R-EA-2" in rule_ids(presentation("Ondervoed en vervuild, bang voor zoon", years=84))


def test_ea_near_miss_bruise_after_a_fall_and_easi_question_one_is_not_scored() -> None:
    assert families(presentation("Val thuis, hematoom heup", years=80, answers={"EASI-1": "Ja"})) == set()


def test_ea_does_not_apply_below_sixty_five() -> None:
    assert "R-EA" not in families(presentation("Ondervoed en vervuild", years=60))


# ---------------------------------------------------------------------------------------- R-CODE


@pytest.mark.parametrize(
    ("code", "rule", "severity"),
    [
        ("T74.1", "R-CODE-T74", Severity.CRITICAL),
        ("Y07.0", "R-CODE-Y07", Severity.CRITICAL),
        ("X91.0", "R-CODE-X91", Severity.CRITICAL),
        ("Y05", "R-CODE-Y05", Severity.CRITICAL),
        ("Y04.0", "R-CODE-ASSAULT", Severity.WARNING),
        ("Z04.5", "R-CODE-Z", Severity.WARNING),
        ("Z63.0", "R-CODE-ZCTX", Severity.INFO),
    ],
)
def test_code_icd10_maltreatment_and_assault_codes(code: str, rule: str, severity: Severity) -> None:
    findings = {f.rule_id: f for f in detect(presentation("Controle", years=30, icd10=(code,)))}
    assert findings[rule].severity is severity
    assert findings[rule].evidence[0].codes == [code]


def test_code_snomed_manual_strangulation() -> None:
    assert "R-CODE-SCT" in rule_ids(presentation("", years=30, snomed=("269734009",)))


def test_code_age_specific_injury_code_only_below_its_age() -> None:
    assert "R-CODE-AGE" in rule_ids(presentation("Zwelling", months=8, icd10=("S52.5",)))
    assert "R-CODE-AGE" not in rule_ids(presentation("Zwelling", months=13, icd10=("S52.5",)))
    assert "R-CODE-AGE" in rule_ids(presentation("Zwelling", months=3, icd10=("S00.03",)))


def test_code_near_miss_ordinary_injury_code() -> None:
    assert families(presentation("Enkeldistorsie", years=30, icd10=("S93.4",))) == set()


def test_code_exception_buckle_fracture_code_in_an_infant_does_not_return_through_its_code() -> None:
    p = presentation("Torusfractuur distale radius na val", months=10, icd10=("S52.5",))
    assert families(p) == set()


# -------------------------------------------------------------------------------------- findings


def test_every_rule_id_starts_with_its_family_and_findings_come_most_severe_first() -> None:
    p = presentation("Gewurgd door haar man, alcoholintoxicatie", years=30, icd10=("Z63.0",))
    findings = detect(p)
    assert all(f.rule_id.startswith(f.family + "-") for f in findings)
    order = {Severity.CRITICAL: 0, Severity.WARNING: 1, Severity.INFO: 2}
    assert [order[f.severity] for f in findings] == sorted(order[f.severity] for f in findings)


def test_code_fourth_character_names_perpetrator_and_place_and_a_partner_code_asks_the_kindcheck() -> None:
    findings = {f.rule_id: f for f in detect(presentation("Hoofdwond", years=30, icd10=("Y07.0", "X99.0")))}
    assert findings["R-CODE-Y07"].evidence[0].text == "Y07.0: pleger partner / echtgeno(o)t(e)"
    assert findings["R-CODE-ASSAULT"].evidence[0].text == "X99.0: thuis"
    assert findings["R-PAR-1"].evidence[0].codes == [] and findings["R-PAR-1"].evidence[0].text == "Y07.0"
    assert "R-PAR-1" not in rule_ids(presentation("Hoofdwond", years=30, icd10=("Y07.1",)))
