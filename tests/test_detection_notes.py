"""Issue 11, round 2: mechanisms found on the second development set of blind ED notes.

Each test names one mechanism (facts.py, lexicon.yaml, vocabulary.yaml, codes.yaml) and has an
assertion that fails without it. The notes are written for the test, in the style of the sets.
"""

from __future__ import annotations

from detection.engine import detect
from detection.models import Note, Presentation, RelatedPerson, Severity
from tests.detection_helpers import presentation, rule_ids


def with_lines(p: Presentation, *lines: str) -> Presentation:
    notes = [Note(text=line, source_field=f"OBX[{i}]-5") for i, line in enumerate(lines, 1)]
    return p.model_copy(update={"notes": notes})


def test_checklist_items_are_read_by_their_own_words() -> None:
    note = "Escape: vertraging nee, verhaal consistent nee, past bij ontwikkeling ja."
    assert "R-SCR-2" in rule_ids(presentation("val", years=5, note=note))
    note = "SPUTOVAMO-R3: letsel past bij verhaal: ja; interactie ouder-kind adequaat: nee"
    assert "R-SCR-1" in rule_ids(presentation("pols", years=3, note=note))
    normal = "Escape: vertraging nee, verhaal consistent ja, gedrag adequaat ja, andere signalen nee."
    assert "R-SCR-2" not in rule_ids(presentation("val", years=5, note=normal))


def test_a_numbered_checklist_on_the_line_after_its_name_is_read() -> None:
    p = with_lines(
        presentation("val met fiets", years=5),
        "Escape ingevuld door SEH VPK:",
        "1. onnodige vertraging? nee / 2. anamnese consistent? NEE / 3. past bij ontwikkeling? ja",
    )
    assert "R-SCR-2" in rule_ids(p)
    normal = with_lines(
        presentation("val met fiets", years=5),
        "Escape ingevuld door SEH VPK:",
        "1. onnodige vertraging? nee / 2. anamnese consistent? ja / 3. past bij ontwikkeling? ja",
    )
    assert "R-SCR-2" not in rule_ids(normal)


def test_what_happens_to_a_neighbour_or_to_residents_is_not_about_the_patient() -> None:
    note = "Stress: buurvrouw wordt door haar man geslagen, pte heeft Veilig Thuis gebeld."
    assert "R-PAR-1" not in rule_ids(presentation("hoge bloeddruk", years=50, note=note))
    note = "Verzorgende ontslagen omdat ze bewoners sloeg."
    assert "R-EA-2" not in rule_ids(presentation("pijn op de borst", years=70, note=note))
    assert "R-PAR-1" in rule_ids(presentation("pols", years=50, note="Pte wordt door haar man geslagen."))


def test_a_meldcode_job_title_is_not_domestic_violence() -> None:
    note = "Echtgenote is vertrouwenspersoon HG bij haar werk."
    assert "R-PAR-1" not in rule_ids(presentation("enkel", years=41, note=note))
    assert "R-PAR-1" in rule_ids(presentation("enkel", years=41, note="Echtgenote meldt HG thuis."))


def test_a_strangulated_hernia_is_not_a_strangulation() -> None:
    note = "Liesbreuk vast. Verdenking beklemming/strangulatie. Spoed-OK ivm gestranguleerde hernia."
    assert not rule_ids(presentation("zwelling lies", years=63, note=note))
    assert "R-STR-1" in rule_ids(presentation("hals", years=30, note="Gewurgd door partner."))


def test_an_incident_form_or_other_parents_seeing_the_fall_confirm_an_accident() -> None:
    bruise = "LO: hematoom li wang 2cm."
    assert "R-BR-1" in rule_ids(presentation("val", years=2, note=bruise))
    assert not rule_ids(presentation("val", years=2, note=f"Incidentformulier kdv mee. {bruise}"))
    seen = "Vader + andere ouders zagen dat ze van de glijbaan viel. LO: oorschelp hematoom."
    assert not rule_ids(presentation("val", years=3, note=seen))
    assert not rule_ids(presentation("val", years=2, note=f"Pedagogisch mdw zag hem vallen. {bruise}"))


def test_pertussis_explains_a_subconjunctival_bleed() -> None:
    eye = "Petechien rond ogen, subconj. bloeding li."
    assert "R-BR-1" in rule_ids(presentation("hoesten", months=16, note=eye))
    assert not rule_ids(presentation("hoesten", months=16, note=f"Kinkhoest, PCR pertussis +. {eye}"))
    assert "R-BR-1" in rule_ids(presentation("oog", months=16, note=f"Geen hoest, geen kinkhoest. {eye}"))


def test_a_partus_fracture_of_the_clavicle_is_birth_related() -> None:
    note = "Genezende fractuur mid-claviculaschacht li met callusvorming, passend bij partusfractuur."
    assert not rule_ids(presentation("zwelling", days=10, note=note))
    assert "R-FX-1" in rule_ids(presentation("zwelling", days=10, note="Fractuur mid-claviculaschacht li."))


def spouse(p: Presentation) -> Presentation:
    return p.model_copy(update={"related_persons": [RelatedPerson(relationship="SPO")]})


def test_he_pushed_me_with_a_spouse_named_is_partner_violence() -> None:
    note = "Alleen met VPK: 'hij heeft me geduwd'. Bang om naar huis."
    assert "R-PAR-1" in rule_ids(spouse(presentation("pols", years=40, note=note)))
    assert "R-PAR-1" not in rule_ids(presentation("pols", years=40, note=note))  # who "hij" is, is unknown
    assert "R-PAR-1" in rule_ids(
        presentation("arm", years=30, note="Pte: 'hij pakte me vast'. Baby thuis bij partner.")
    )


def test_an_older_patient_telling_she_was_hit_is_an_easi_yes() -> None:
    note = "Alleen: 'hij wordt zo boos, hij heeft me geslagen'."
    assert "R-EA-2" in rule_ids(presentation("blauwe plek gezicht", years=85, note=note))
    assert "R-EA-2" not in rule_ids(
        presentation("blauwe plek gezicht", years=85, note="Tegen de deur gelopen.")
    )


def test_a_history_that_names_a_carers_act_is_a_history_signal() -> None:
    note = "LO: striemen billen. Pt alleen: 'papa deed het met zijn riem'."
    assert "R-CONS-8" in rule_ids(presentation("plekken billen", years=6, note=note))
    old = "Val tijdens training. Vader: 'als kind veel klappen kreeg van mijn vader'. X: geen #."
    assert "R-CONS-8" not in rule_ids(presentation("pols", years=9, note=old))


def test_coercive_control_is_partner_violence() -> None:
    note = "Dwingende controle + fysiek geweld. Kneuzing pols."
    assert "R-PAR-1" in rule_ids(presentation("pols", years=31, note=note))


def test_a_note_that_counts_the_third_injury_visit_is_a_repeated_visit_and_flags() -> None:
    p = presentation("val", years=10, note="Hematoom rug. 4e SEH-bezoek in 8 mnd (schouder, pols, nu rug).")
    found = {f.rule_id: f for f in detect(p)}
    assert found["R-CONS-6"].severity is Severity.WARNING
    assert "R-CONS-6" in rule_ids(presentation("val", years=2, note="Hematoom scheen. 3e bezoek dit jaar."))
    assert "R-CONS-6" not in rule_ids(presentation("val", years=2, note="Hematoom scheen. 2e SEH bezoek."))


def test_a_round_burn_is_a_burn_and_brandwnd_is_short_for_brandwond() -> None:
    assert "R-SI-4" in rule_ids(presentation("hand", months=4, note="Dorsum hand ronde brandwnd 9mm."))
    assert "R-BU-4" in rule_ids(presentation("been", years=3, note="1 verse ronde brandwond onderbeen re."))


def test_a_torn_frenulum_written_with_a_dt_error_is_an_intraoral_injury() -> None:
    note = "Mond: frenulum bovenlip doorgescheurt, klein stolsel."
    assert "R-SI-2" in rule_ids(presentation("bloed in mond", months=3, note=note))


def test_lay_plekjes_are_bruises_but_red_plekjes_are_a_rash() -> None:
    assert "R-SI-1" in rule_ids(presentation("arm", months=3, note="4 ovale plekjes bovenarm op rij."))
    assert not rule_ids(presentation("huid", months=3, note="Rode plekjes op de buik, jeuk."))


def test_iga_vasculitis_explains_purple_marks() -> None:
    marks = "Paarse plekjes billen en benen."
    assert "R-BR-1" in rule_ids(presentation("plekjes", years=3, note=marks))
    assert not rule_ids(
        presentation("plekjes", years=3, note=f"{marks} Dx: IgA-vasculitis (Henoch-Schonlein).")
    )


def test_grip_or_circular_marks_in_an_older_patient_are_an_easi_sign() -> None:
    note = "LO: beide bovenarmen ovale hematomen (grijppatroon)."
    assert "R-EA-2" in rule_ids(presentation("verward", years=84, note=note))
    assert "R-EA-2" in rule_ids(presentation("polsen", years=95, note="Striemen beide polsen circulair."))
    assert "R-EA-2" not in rule_ids(presentation("val", years=84, note="LO: hematoom heup na val."))


def test_unwanted_touching_is_an_easi_yes() -> None:
    note = "Pte: thuiszorgmedewerker 'raakt me aan waar dat niet hoort'."
    assert "R-EA-2" in rule_ids(presentation("bang", years=77, note=note))


def test_stories_that_do_not_match_are_a_changing_explanation() -> None:
    note = "Moeder: stapelbed. Vriend: trap. Verhalen kloppen niet met elkaar. Wond occipitaal."
    assert "R-CONS-1" in rule_ids(presentation("hoofdwond", years=8, note=note))
