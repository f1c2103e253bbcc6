"""Whole cases walked through the one-stop-shop workflow, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from consent.models import ConsentDecision, Consenter, LegalBasisKind, Party
from consent.service import DisclosureField, DisclosureGround, decide_disclosure
from core.runtime import Runtime
from detection.models import EventType, RelatedPerson, Severity
from notifications.models import Page
from presentations import service as presentations
from store.crypto import FieldCipher, Pseudonymizer
from store.db import Database
from tests.paging_helpers import alert_reasons, melding_hand_off, party_pages
from tests.workflow_fixtures import (
    NOW,
    drain_outbox,
    finding,
    flagged_case,
    months_ago,
    presentation,
    record_consents,
    runtime_for,
    years_ago,
)
from workflows import intake, melding, service
from workflows.discharge import (
    complete_discharge_check,
    discharge_check_status,
    on_discharge,
    record_discharge_check,
)
from workflows.errors import GuardFailed, IllegalTransition
from workflows.intake import Route
from workflows.models import Case, CaseEvent, CaseState, EventKind, EventSeverity, Intake, IntakeParty
from workflows.schemas import (
    ConfirmFacts,
    Destination,
    DischargeChecklist,
    DismissReason,
    HandOver,
    KindcheckAnswer,
    KindcheckInput,
    MeldcodeDecision,
    MeldcodeStep,
    MeldcodeStepInput,
    Melder,
    SafeHomeAnswer,
)

DOCTOR = "dr-jansen"
MELDER = Melder(name="Dr. A. Jansen", phone="013-2210000")


@pytest.fixture
def runtime(db: Database, database_url: str, tmp_path: Path) -> Runtime:
    return runtime_for(db, database_url, tmp_path)


def pages(runtime: Runtime, case_id: int) -> dict[str, str]:
    return party_pages(runtime, case_id)


def alerts(runtime: Runtime, case_id: int) -> list[str]:
    return alert_reasons(runtime, case_id)


def version(runtime: Runtime, case_id: int) -> int:
    with runtime.db.read() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case.version


def step(runtime: Runtime, case_id: int, number: MeldcodeStep, **fields: object) -> None:
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        body = MeldcodeStepInput(summary=f"stap {int(number)} gedaan", **fields)  # type: ignore[arg-type]
        service.record_meldcode_step(session, runtime.cipher, case, number, body, actor=DOCTOR)


def complete_checklist(**overrides: object) -> DischargeChecklist:
    values: dict[str, object] = {
        "safe_home_question_asked": True,
        "safe_home_answer": SafeHomeAnswer.NO,
        "destination": Destination.FAMILY_OR_FRIENDS,
        "safety_plan_agreed": True,
        "huisverbod_considered": True,
        "children_safety_arranged": True,
        "follow_up_appointment": "controle huisarts over 3 dagen",
        "hand_over_to": [HandOver.VEILIG_THUIS, HandOver.HUISARTS],
    }
    values.update(overrides)
    return DischargeChecklist.model_validate(values)


def test_infant_with_bruised_ear_goes_to_forensic_and_veilig_thuis_on_meldrecht_without_police(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    pres = presentation(
        visit="V-INFANT",
        birth_date=months_ago(4),
        given="Sem",
        related=[RelatedPerson(name={"family": "de Vries", "given": ["Eva"]}, relationship="MTH")],  # type: ignore[arg-type]
    )
    case_id = flagged_case(
        runtime.db, cipher, pseudonyms, pres, [finding("R-BR-E", "R-BR", "blauwe plek oor")]
    )
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        facts = service.confirm(
            session, cipher, case, ConfirmFacts(melder=MELDER), actor=DOCTOR, expected_version=case.version
        )
        assert (facts.injuries, facts.child_involved, facts.patient_age_years) == (True, True, 0)
        # Meldrecht: Veilig Thuis without the parents' consent — recorded as a legal basis, not a consent.
        service.record_legal_basis(
            session,
            cipher,
            case,
            party=Party.VEILIG_THUIS,
            basis=LegalBasisKind.MELDRECHT,
            justification="zuigeling met blauwe plek oor, geen verklaring",
            actor=DOCTOR,
        )
        # Under 12 the parents decide about the forensic examination (WGBO).
        record_consents(
            session,
            cipher,
            case,
            (Party.FORENSIC,),
            ConsentDecision.PERMIT,
            actor=DOCTOR,
            given_by=Consenter.PARENT_OR_GUARDIAN,
        )
        plan = {p.party: p for p in intake.intake_plan(session, case)}
        assert set(plan) == {Party.FORENSIC, Party.VEILIG_THUIS}
        assert plan[Party.VEILIG_THUIS].ground == DisclosureGround.MELDRECHT
        intake.request_intake(session, cipher, case, actor=DOCTOR, expected_version=case.version)
    drain_outbox(runtime)
    assert pages(runtime, case_id) == {"forensic": "active", "veilig_thuis": "active"}
    with runtime.db.read() as session:
        assert not decide_disclosure(
            session, case_id=case_id, party=Party.POLICE, field=DisclosureField.CASE_REFERENCE
        ).allowed
        # The legal basis is no consent: no consent row exists for Veilig Thuis.
        assert not any(
            p is Party.VEILIG_THUIS for p, _ in service.consent_service.current_consents(session, case_id)
        )

    step(
        runtime, case_id, MeldcodeStep.SIGNALS_MAPPED, observed_facts=["blauwe plek achter linker oor, 2 cm"]
    )
    step(runtime, case_id, MeldcodeStep.DECISION, decision=MeldcodeDecision.MELDEN)
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        draft = melding.create_draft(session, cipher, case, actor=DOCTOR)
        content = melding.read_content(cipher, draft)
        assert content.patient.name == "Sem de Vries"
        assert "blauwe plek achter linker oor, 2 cm" in content.facts
        assert any("blauwe plek oor" in fact for fact in content.facts)
        assert "R-BR-E" in content.interpretation and "R-BR-E" not in " ".join(content.facts)
        approved = melding.approve(session, cipher, case, actor=DOCTOR, revision=draft.revision)
        assert approved.status == "approved"
    drain_outbox(runtime)
    # The embedded default hands the melding to the physician (SPOEDPLEIN_MELDING_DELIVERY=manual).
    assert melding_hand_off(runtime, case_id) == ["prepared"]


def test_adult_strangulation_consenting_to_police_gets_all_three_at_one_intake_time(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    pres = presentation(visit="V-STR", birth_date=years_ago(31))
    case_id = flagged_case(
        runtime.db, cipher, pseudonyms, pres, [finding("R-STR-1", "R-STR", "gewurgd", Severity.CRITICAL)]
    )
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        service.confirm(
            session, cipher, case, ConfirmFacts(melder=MELDER), actor=DOCTOR, expected_version=None
        )
        record_consents(
            session,
            cipher,
            case,
            (Party.FORENSIC, Party.POLICE, Party.VEILIG_THUIS),
            ConsentDecision.PERMIT,
            actor=DOCTOR,
        )
        service.record_meldcode_step(
            session,
            cipher,
            case,
            MeldcodeStep.DECISION,
            MeldcodeStepInput(summary="afwegingskader: acuut onveilig", decision=MeldcodeDecision.MELDEN),
            actor=DOCTOR,
        )
        asked = intake.request_intake(session, cipher, case, actor=DOCTOR, expected_version=None)
        assert {row.party for row in asked} == {"forensic", "police", "veilig_thuis"}
        available = {
            Party.FORENSIC: NOW + timedelta(minutes=45),
            Party.POLICE: NOW + timedelta(minutes=90),
            Party.VEILIG_THUIS: NOW + timedelta(minutes=30),
        }
        for party, at in available.items():
            intake.acknowledge(
                session, cipher, case, party, earliest_available_at=at, actor=f"{party.value}-on-call"
            )
        proposed = session.get(Intake, case_id)
        assert proposed is not None and proposed.proposed_at == NOW + timedelta(minutes=90)
        with pytest.raises(Exception) as too_early:
            intake.agree_time(
                session,
                cipher,
                case,
                agreed_at=NOW + timedelta(minutes=60),
                actor=DOCTOR,
                expected_version=None,
            )
        assert getattr(too_early.value, "field", "") == "agreed_at" and "police" in str(too_early.value)
        intake.agree_time(
            session, cipher, case, agreed_at=proposed.proposed_at, actor=DOCTOR, expected_version=None
        )
        assert case.state == CaseState.INTAKE_SCHEDULED
        proposals = (
            session.execute(
                select(CaseEvent).where(
                    CaseEvent.case_id == case_id, CaseEvent.kind == EventKind.INTAKE_TIME_PROPOSED
                )
            )
            .scalars()
            .all()
        )
        assert len(proposals) == 1  # one common time, proposed once
    drain_outbox(runtime)
    # Everyone acknowledged (by phone, through the API) before the worker ran: nobody is paged.
    assert pages(runtime, case_id) == {
        "forensic": "acknowledged",
        "police": "acknowledged",
        "veilig_thuis": "acknowledged",
    }


def test_adult_refusing_police_means_police_never_receives_anything(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    pres = presentation(visit="V-REFUSE", birth_date=years_ago(40))
    case_id = flagged_case(runtime.db, cipher, pseudonyms, pres, [finding("R-STR-1", "R-STR", "gewurgd")])
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        service.confirm(
            session, cipher, case, ConfirmFacts(melder=MELDER), actor=DOCTOR, expected_version=None
        )
        record_consents(session, cipher, case, (Party.FORENSIC,), ConsentDecision.PERMIT, actor=DOCTOR)
        record_consents(
            session,
            cipher,
            case,
            (Party.POLICE,),
            ConsentDecision.DENY,
            actor=DOCTOR,
            note="wil geen aangifte doen",
        )
        intake.request_intake(session, cipher, case, actor=DOCTOR, expected_version=None)
        service.record_kindcheck(
            session, cipher, case, KindcheckInput(cares_for_minors=KindcheckAnswer.NO), actor=DOCTOR
        )
    drain_outbox(runtime)
    assert "police" not in pages(runtime, case_id)
    with runtime.db.read() as session:
        for field in DisclosureField:
            decision = decide_disclosure(session, case_id=case_id, party=Party.POLICE, field=field)
            assert not decision.allowed, field
        assert (
            session.execute(
                select(IntakeParty).where(IntakeParty.case_id == case_id, IntakeParty.party == "police")
            ).first()
            is None
        )
        requests = session.execute(select(Page.party).where(Page.case_id == case_id)).scalars().all()
        assert "police" not in requests


def test_police_consent_withdrawn_stands_police_down_and_their_page_is_never_sent(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-WD", birth_date=years_ago(28)),
        [finding("R-STR-1", "R-STR", "gewurgd")],
    )
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        service.confirm(
            session, cipher, case, ConfirmFacts(melder=MELDER), actor=DOCTOR, expected_version=None
        )
        record_consents(
            session, cipher, case, (Party.FORENSIC, Party.POLICE), ConsentDecision.PERMIT, actor=DOCTOR
        )
        intake.request_intake(session, cipher, case, actor=DOCTOR, expected_version=None)
        # She changes her mind before the worker got to the page.
        record_consents(session, cipher, case, (Party.POLICE,), ConsentDecision.DENY, actor=DOCTOR)
        police = session.execute(
            select(IntakeParty).where(IntakeParty.case_id == case_id, IntakeParty.party == "police")
        ).scalar_one()
        assert police.status == "cancelled"
    drain_outbox(runtime)
    # Police were stood down before the worker ran: their page is settled without being sent.
    assert pages(runtime, case_id) == {"forensic": "active", "police": "cancelled"}


def test_sexual_assault_three_days_ago_takes_the_csg_route(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-CSG", birth_date=years_ago(22)),
        [finding("R-CODE-Y05", "R-CODE", "Y05")],
    )
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        facts = service.confirm(
            session,
            cipher,
            case,
            ConfirmFacts(melder=MELDER, injuries=False, sexual_violence_at=NOW - timedelta(days=3)),
            actor=DOCTOR,
            expected_version=None,
        )
        assert intake.route_of(facts) is Route.CSG_ACUTE
        record_consents(
            session, cipher, case, (Party.CSG, Party.FORENSIC), ConsentDecision.PERMIT, actor=DOCTOR
        )
        plan = {p.party: p.required_because for p in intake.intake_plan(session, case)}
        assert plan == {
            Party.FORENSIC: intake.RequiredBecause.SEXUAL_VIOLENCE_RECENT,
            Party.CSG: intake.RequiredBecause.SEXUAL_VIOLENCE_RECENT,
        }
        intake.request_intake(session, cipher, case, actor=DOCTOR, expected_version=None)
        row = session.get(Intake, case_id)
        assert row is not None and row.route == Route.CSG_ACUTE
    drain_outbox(runtime)
    assert pages(runtime, case_id) == {"csg": "active", "forensic": "active"}


def test_sexual_assault_ten_days_ago_is_not_the_acute_csg_route(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-OLD", birth_date=years_ago(22)),
        [finding("R-CODE-Y05", "R-CODE", "Y05")],
    )
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        facts = service.confirm(
            session,
            cipher,
            case,
            ConfirmFacts(melder=MELDER, injuries=False, sexual_violence_at=NOW - timedelta(days=10)),
            actor=DOCTOR,
            expected_version=None,
        )
        assert intake.route_of(facts) is Route.ONE_STOP_SHOP
        assert intake.intake_plan(session, case) == []


def test_discharge_before_the_safe_discharge_check_raises_one_critical_alert(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-A03", birth_date=years_ago(35)),
        [finding("R-STR-1", "R-STR", "gewurgd")],
    )
    a03 = presentation(visit="V-A03", birth_date=years_ago(35), event=EventType.DISCHARGE, control_id="A03-1")
    with runtime.db.write() as session:
        record = presentations.save(
            session, cipher=cipher, pseudonyms=pseudonyms, presentation=a03, inbox_message_id=None
        )
        event = on_discharge(session, runtime, record)
        again = on_discharge(session, runtime, record)  # the same A03 redelivered
        assert event is not None and again is not None and again.id == event.id
        assert event.severity == EventSeverity.CRITICAL
    drain_outbox(runtime)
    assert alerts(runtime, case_id) == ["discharged_without_check"]


def test_discharge_after_a_complete_check_raises_nothing(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-OK", birth_date=years_ago(35)),
        [finding("R-STR-1", "R-STR", "gewurgd")],
    )
    a03 = presentation(visit="V-OK", birth_date=years_ago(35), event=EventType.DISCHARGE, control_id="A03-2")
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        status = record_discharge_check(
            session, cipher, case, complete_checklist(children_safety_arranged=None), actor=DOCTOR
        )
        assert status.completed, status.missing
        record = presentations.save(
            session, cipher=cipher, pseudonyms=pseudonyms, presentation=a03, inbox_message_id=None
        )
        assert on_discharge(session, runtime, record) is None
    drain_outbox(runtime)
    assert alerts(runtime, case_id) == []


def test_incomplete_checklist_names_what_is_missing_and_blocks_safe_discharge(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-CHK", birth_date=years_ago(35)),
        [finding("R-PAR-1", "R-PAR", "partnergeweld")],
    )
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        service.confirm(
            session, cipher, case, ConfirmFacts(melder=MELDER), actor=DOCTOR, expected_version=None
        )
        service.record_kindcheck(
            session,
            cipher,
            case,
            KindcheckInput.model_validate({"cares_for_minors": "yes", "children": [{"name": "Lotte"}]}),
            actor=DOCTOR,
        )
        status = record_discharge_check(
            session,
            cipher,
            case,
            complete_checklist(destination=Destination.HOME, children_safety_arranged=None),
            actor=DOCTOR,
        )
        # "No, not safe" and going home anyway, children not arranged: both named.
        assert status.missing == ["destination", "children_safety_arranged"]
        with pytest.raises(GuardFailed):
            complete_discharge_check(session, cipher, case, actor=DOCTOR, expected_version=None)
        assert not discharge_check_status(session, case, cipher).completed


def test_dismissed_flag_keeps_its_reason_for_the_rule_statistics_and_can_be_reopened(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-DIS", birth_date=years_ago(3)),
        [finding("R-BR-T", "R-BR", "blauwe plek rug")],
    )
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        service.dismiss(
            session,
            cipher,
            case,
            reason_code=DismissReason.ACCIDENTAL_MECHANISM_CONFIRMED,
            note="val van glijbaan, gezien door juf",
            actor=DOCTOR,
            expected_version=case.version,
        )
        assert case.state == CaseState.DISMISSED
    with runtime.db.read() as session:
        from workflows.statistics import dismissals_by_rule

        assert dismissals_by_rule(session) == {("R-BR-T", "accidental_mechanism_confirmed"): 1}
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        service.reopen(
            session, cipher, case, reason="nieuwe informatie van school", actor=DOCTOR, expected_version=None
        )
        assert case.state == CaseState.FLAGGED


def test_case_walks_the_whole_way_to_closed_with_every_transition_on_the_timeline(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-FULL", birth_date=years_ago(30)),
        [finding("R-STR-1", "R-STR", "gewurgd")],
    )
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        service.confirm(
            session, cipher, case, ConfirmFacts(melder=MELDER), actor=DOCTOR, expected_version=None
        )
        record_consents(session, cipher, case, (Party.FORENSIC,), ConsentDecision.PERMIT, actor=DOCTOR)
        intake.request_intake(session, cipher, case, actor=DOCTOR, expected_version=None)
        intake.acknowledge(session, cipher, case, Party.FORENSIC, earliest_available_at=NOW, actor="fa")
        intake.agree_time(session, cipher, case, agreed_at=NOW, actor=DOCTOR, expected_version=None)
        intake.complete_intake(session, cipher, case, actor=DOCTOR, expected_version=None)
        record_discharge_check(
            session, cipher, case, complete_checklist(children_safety_arranged=None), actor=DOCTOR
        )
        complete_discharge_check(session, cipher, case, actor=DOCTOR, expected_version=None)
        service.close(session, cipher, case, actor=DOCTOR, expected_version=None)
    with runtime.db.read() as session:
        transitions = session.execute(
            select(CaseEvent.action, CaseEvent.from_state, CaseEvent.to_state, CaseEvent.actor)
            .where(CaseEvent.case_id == case_id, CaseEvent.kind == EventKind.TRANSITION)
            .order_by(CaseEvent.id)
        ).all()
        assert [tuple(t) for t in transitions] == [
            ("confirm", "flagged", "confirmed", DOCTOR),
            ("request_intake", "confirmed", "intake_requested", DOCTOR),
            ("schedule_intake", "intake_requested", "intake_scheduled", DOCTOR),
            ("complete_intake", "intake_scheduled", "intake_done", DOCTOR),
            ("complete_discharge_check", "intake_done", "safe_discharge", DOCTOR),
            ("close", "safe_discharge", "closed", DOCTOR),
        ]
        from workflows import timers

        assert timers.pending(session, case_id) == []


def test_without_any_ground_no_intake_can_be_requested_and_the_refusal_names_consent(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-NOGROUND", birth_date=years_ago(50)),
        [finding("R-STR-1", "R-STR", "gewurgd")],
    )
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        service.confirm(
            session, cipher, case, ConfirmFacts(melder=MELDER), actor=DOCTOR, expected_version=None
        )
        plan = intake.intake_plan(session, case)
        assert [(p.party, p.ground) for p in plan] == [(Party.FORENSIC, None)]  # required, not yet allowed
    with pytest.raises(GuardFailed) as refused, runtime.db.write() as session:
        case = service.get_case(session, case_id)
        intake.request_intake(session, cipher, case, actor=DOCTOR, expected_version=None)
    assert refused.value.field == "consent" and "forensic" in refused.value.message
    with runtime.db.read() as session:
        assert service.get_case(session, case_id).state == CaseState.CONFIRMED
    assert pages(runtime, case_id) == {}


def test_an_adult_who_declines_every_party_still_gets_the_safe_discharge_gate_before_closing(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-DECLINE", birth_date=years_ago(29)),
        [finding("R-PAR-1", "R-PAR", "partnergeweld")],
    )
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        service.confirm(
            session, cipher, case, ConfirmFacts(melder=MELDER), actor=DOCTOR, expected_version=None
        )
        record_consents(
            session, cipher, case, (Party.POLICE, Party.VEILIG_THUIS), ConsentDecision.DENY, actor=DOCTOR
        )
        with pytest.raises(IllegalTransition):
            service.close(session, cipher, case, actor=DOCTOR, expected_version=None)
        with pytest.raises(GuardFailed) as incomplete:
            complete_discharge_check(session, cipher, case, actor=DOCTOR, expected_version=None)
        assert incomplete.value.field == "checklist"
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        record_discharge_check(
            session,
            cipher,
            case,
            complete_checklist(destination=Destination.SHELTER_STERK_HUIS, children_safety_arranged=None),
            actor=DOCTOR,
        )
        complete_discharge_check(session, cipher, case, actor=DOCTOR, expected_version=None)
        service.close(session, cipher, case, actor=DOCTOR, expected_version=None)
        assert case.state == CaseState.CLOSED
