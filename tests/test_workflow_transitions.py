"""The transition table: every illegal move refused, reasons required, stale versions refused."""

from __future__ import annotations

import itertools
import threading
from pathlib import Path

import pytest
from sqlalchemy.orm.exc import StaleDataError

from core.runtime import Runtime
from store.crypto import FieldCipher, Pseudonymizer
from store.db import Database
from tests.workflow_fixtures import finding, flagged_case, presentation, runtime_for, years_ago
from workflows import service
from workflows.errors import IllegalTransition, StaleCase, WorkflowError
from workflows.models import Case, CaseState
from workflows.schemas import ConfirmFacts, DismissReason, Melder
from workflows.transitions import TRANSITIONS, Action, apply_transition, find_transition, mermaid_diagram

LEGAL = {(t.action, t.source) for t in TRANSITIONS}
ILLEGAL = [(a, s) for a, s in itertools.product(Action, CaseState) if (a, s) not in LEGAL]


@pytest.fixture
def runtime(db: Database, database_url: str, tmp_path: Path) -> Runtime:
    return runtime_for(db, database_url, tmp_path)


def test_the_table_has_every_state_reachable_from_flagged() -> None:
    reached, frontier = {CaseState.FLAGGED}, [CaseState.FLAGGED]
    while frontier:
        state = frontier.pop()
        for t in TRANSITIONS:
            if t.source is state and t.target not in reached:
                reached.add(t.target)
                frontier.append(t.target)
    assert reached == set(CaseState)


def test_safe_discharge_is_the_only_way_into_closed() -> None:
    assert {t.source for t in TRANSITIONS if t.target is CaseState.CLOSED} == {CaseState.SAFE_DISCHARGE}


@pytest.mark.parametrize(("action", "state"), ILLEGAL, ids=[f"{a.value}-from-{s.value}" for a, s in ILLEGAL])
def test_every_illegal_transition_is_refused_and_changes_nothing(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer, action: Action, state: CaseState
) -> None:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit=f"V-{action}-{state}", birth_date=years_ago(30)),
        [finding("R-STR-1", "R-STR", "gewurgd")],
    )
    with runtime.db.write() as session:
        case = session.get(Case, case_id)
        assert case is not None
        case.state = state.value  # put the case in the state under test directly
    with pytest.raises(IllegalTransition) as refused, runtime.db.write() as session:
        case = session.get(Case, case_id)
        assert case is not None
        apply_transition(session, cipher, case, action, actor="t", expected_version=case.version, reason="x")
    assert f"cannot {action.value} a case in state {state.value}" in refused.value.message
    with runtime.db.read() as session:
        case = session.get(Case, case_id)
        assert case is not None and case.state == state.value


def test_illegal_transition_error_lists_where_the_action_is_allowed() -> None:
    with pytest.raises(IllegalTransition) as refused:
        find_transition(Action.CLOSE, CaseState.FLAGGED)
    assert refused.value.message.endswith("close is allowed from: safe_discharge")


def test_dismiss_and_reopen_need_a_reason(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-R", birth_date=years_ago(2)),
        [finding("R-BR-T", "R-BR", "blauwe plek rug")],
    )
    with pytest.raises(WorkflowError) as missing, runtime.db.write() as session:
        case = service.get_case(session, case_id)
        apply_transition(session, cipher, case, Action.DISMISS, actor="t", expected_version=None)
    assert missing.value.field == "reason"
    with pytest.raises(WorkflowError) as other, runtime.db.write() as session:
        case = service.get_case(session, case_id)
        service.dismiss(
            session, cipher, case, reason_code=DismissReason.OTHER, note=" ", actor="t", expected_version=None
        )
    assert other.value.field == "note"


def test_a_change_made_on_an_old_version_is_refused(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-V", birth_date=years_ago(30)),
        [finding("R-STR-1", "R-STR", "gewurgd")],
    )
    with runtime.db.read() as session:
        seen = service.get_case(session, case_id).version
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        service.confirm(
            session, cipher, case, ConfirmFacts(melder=Melder(name="A")), actor="first", expected_version=seen
        )
    with pytest.raises(StaleCase) as stale, runtime.db.write() as session:
        case = service.get_case(session, case_id)
        service.dismiss(
            session,
            cipher,
            case,
            reason_code=DismissReason.DETECTION_ERROR,
            note="",
            actor="second",
            expected_version=seen,
        )
    assert stale.value.field == "expected_version"
    with runtime.db.read() as session:
        assert service.get_case(session, case_id).state == CaseState.CONFIRMED


def test_two_concurrent_writers_on_postgresql_cannot_both_move_the_case(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    """Both read version N; the first commit wins; the second fails on the version check, not silently."""
    if runtime.db.is_sqlite:
        pytest.skip("SQLite write transactions are serialised (BEGIN IMMEDIATE): no interleaving possible")
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-C", birth_date=years_ago(30)),
        [finding("R-STR-1", "R-STR", "gewurgd")],
    )
    both_read = threading.Barrier(2)
    results: dict[str, str] = {}

    def act(name: str) -> None:
        try:
            with runtime.db.write() as session:
                case = session.get(Case, case_id)
                assert case is not None
                both_read.wait()
                if name == "confirm":
                    service.confirm(
                        session,
                        cipher,
                        case,
                        ConfirmFacts(melder=Melder(name="A")),
                        actor=name,
                        expected_version=case.version,
                    )
                else:
                    service.dismiss(
                        session,
                        cipher,
                        case,
                        reason_code=DismissReason.DETECTION_ERROR,
                        note="",
                        actor=name,
                        expected_version=case.version,
                    )
            results[name] = "ok"
        except (StaleDataError, StaleCase) as exc:
            results[name] = type(exc).__name__
        except Exception as exc:  # a serialization failure is also a refusal
            results[name] = type(exc).__name__

    threads = [threading.Thread(target=act, args=(n,)) for n in ("confirm", "dismiss")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results.values()).count("ok") == 1, results
    with runtime.db.read() as session:
        state = service.get_case(session, case_id).state
    winner = next(name for name, r in results.items() if r == "ok")
    assert state == {"confirm": CaseState.CONFIRMED, "dismiss": CaseState.DISMISSED}[winner]


def test_diagram_draws_every_transition_of_the_table() -> None:
    diagram = mermaid_diagram()
    assert diagram.startswith("stateDiagram-v2")
    for t in TRANSITIONS:
        assert f"{t.source.value} --> {t.target.value}: {t.action.value}" in diagram
