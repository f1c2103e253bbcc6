"""Word combinations, checklist answers in notes, code words and the rules issue 11 added.

Each test names one mechanism (lexicon.yaml `combinations`, facts.py, rules/strangulation.py) and
would fail without it.
"""

from __future__ import annotations

from detection.models import Coding, CodingSystem, Diagnosis, Presentation, Sex
from tests.detection_helpers import presentation, rule_ids


def male(p: Presentation) -> Presentation:
    return p.model_copy(update={"patient": p.patient.model_copy(update={"sex": Sex.MALE})})


def female(p: Presentation) -> Presentation:
    return p.model_copy(update={"patient": p.patient.model_copy(update={"sex": Sex.FEMALE})})


def with_code(
    p: Presentation, code: str, display: str, system: CodingSystem = CodingSystem.ICD10
) -> Presentation:
    dx = Diagnosis(coding=Coding(code=code, system=system, display=display), source_field="DG1[1]-3")
    return p.model_copy(update={"diagnoses": [*p.diagnoses, dx]})


def test_a_partner_and_a_violent_act_in_one_clause_is_partner_violence() -> None:
    assert "R-PAR-1" in rule_ids(presentation("enkel", years=20, note="vriend duwde haar vd trap na ruzie"))
    assert "R-PAR-1" not in rule_ids(
        presentation("enkel", years=20, note="vriend bracht haar, val van de trap")
    )


def test_vrouw_is_a_wife_only_in_a_mans_note() -> None:
    note = "vrouw probeerde hem te wurgen met een kabel"
    assert "R-PAR-1" in rule_ids(male(presentation("hals", years=33, note=note)))
    assert "R-PAR-1" not in rule_ids(
        female(presentation("val", years=33, note="vrouw geslagen door onbekende"))
    )


def test_a_grip_on_the_neck_is_a_strangulation() -> None:
    note = "Echtgenoot greep haar gisteren bij de keel"
    assert "R-STR-1" in rule_ids(presentation("pijn hals", years=40, note=note))
    assert "R-STR-1" in rule_ids(
        presentation("keel", years=23, note="hij drukte zijn onderarm tegen mijn keel")
    )


def test_another_child_blamed_fires_r_cons() -> None:
    note = "Vlgs moeder heeft broertje (3jr) hem van de trap geduwt. Bult voorhoofd."
    assert "R-CONS-7" in rule_ids(presentation("val", months=14, note=note))
    assert "R-CONS-7" in rule_ids(
        presentation("oor", years=2, note="ze heeft met haar zusje gestoeid. Hematoom oor.")
    )


def test_an_independent_witness_who_saw_it_confirms_an_accident() -> None:
    bite = "hond beet in oor, buurman zag het. Blauwe verkleuring oorschelp."
    assert not rule_ids(presentation("hondenbeet", years=3, note=bite))
    assert "R-BR-1" in rule_ids(presentation("oor", years=3, note="blauwe verkleuring oorschelp"))


def test_a_witness_of_violence_confirms_no_accident() -> None:
    note = "buurvrouw zag het, vader heeft hem geslagen. Hematoom oor."
    assert "R-BR-1" in rule_ids(presentation("oor", years=3, note=note))


def test_a_witness_who_found_the_bruises_did_not_see_an_accident() -> None:
    note = "Leidster kdv zag bij verschonen blauwe plekken op beide billen"
    assert "R-BR-1" in rule_ids(presentation("billen", years=2, note=note))


def test_a_choke_in_supervised_sport_with_an_official_is_not_a_strangulation_finding() -> None:
    judo = "Judowedstrijd: verwurging, kort bewusteloos. Scheidsrechter en coach erbij."
    assert not {r for r in rule_ids(presentation("judo", years=20, note=judo)) if r.startswith("R-STR")}
    violent = judo + " Daarna door partner geslagen."
    assert "R-STR-1" in rule_ids(presentation("judo", years=20, note=violent))


def test_strangulation_signs_without_a_visible_mark_fire_r_str_3() -> None:
    note = "Kort bewusteloos geweest, petechien in het gezicht, heesheid."
    assert "R-STR-3" in rule_ids(presentation("hoofdpijn", years=30, note=note))


def test_two_signs_alone_without_violence_are_not_a_strangulation() -> None:
    assert not rule_ids(presentation("keelpijn", years=30, note="Tonsillitis, slikken pijnlijk, benauwd."))


def test_two_different_falls_told_are_a_changing_story() -> None:
    note = "Vlgs moeder van klimrek gevallen. Later bij arts: nee, van bed gevallen. Zwelling pols."
    assert "R-CONS-1" in rule_ids(presentation("pols", years=5, note=note))
    assert "R-CONS-1" not in rule_ids(presentation("pols", years=5, note="Van bed gevallen. Zwelling pols."))


def test_a_negated_milestone_makes_an_infant_non_mobile() -> None:
    note = "Kan niet zitten of kruipen. Hematoom bovenarm."
    assert "R-SI-1" in rule_ids(presentation("arm", months=9, note=note))
    assert "R-SI-1" not in rule_ids(presentation("arm", months=9, note="Kruipt. Hematoom bovenarm."))


def test_old_fractures_are_fractures_and_earlier_injuries() -> None:
    found = rule_ids(presentation("wang", months=13, note="Skeletstatus: oude fracturen ribben 8 en 9 links"))
    assert {"R-FX-2", "R-CONS-5"} <= found


def test_checklist_answers_typed_in_a_note_count_as_answers() -> None:
    assert "R-EA-1" in rule_ids(presentation("val", years=80, note="EASI: vr 4 ja, vr 6 ja."))
    assert "R-SCR-1" in rule_ids(presentation("koorts", years=2, note="SPUTOVAMO: afwijkend (gedrag kind)"))
    assert "R-SCR-2" in rule_ids(presentation("buikpijn", years=13, note="Escape vr 6: ja."))
    assert not rule_ids(presentation("arm", years=9, note="Sputovamo: geen bijzonderheden."))
    assert not rule_ids(presentation("heup", years=80, note="EASI: alle vragen nee."))


def test_a_diagnosis_display_is_read_as_what_was_found() -> None:
    p = with_code(presentation("arm pijn", months=8), "S42.3", "Fractuur van humerusschacht")
    assert "R-FX-1" in rule_ids(p)


def test_a_self_harm_code_asks_the_kindcheck() -> None:
    p = with_code(presentation("snijwond", years=30), "X78.0", "")
    assert "R-PAR-3" in rule_ids(p)


def test_x91_reports_a_strangulation() -> None:
    assert "R-STR-1" in rule_ids(with_code(presentation("hals", years=50), "X91.0", ""))


def test_a_snomed_victim_of_child_abuse_finding_is_a_coded_signal() -> None:
    p = with_code(presentation("controle", years=6), "397940009", "", CodingSystem.SNOMED)
    assert "R-CODE-SCT" in rule_ids(p)


def test_a_frenulum_tear_in_english_is_a_sentinel_injury() -> None:
    p = presentation("bloederig spugen", months=1.5, note="Nurse note: torn upper lip frenulum, small clot.")
    assert {"R-SI-2", "R-BR-1"} <= rule_ids(p)
