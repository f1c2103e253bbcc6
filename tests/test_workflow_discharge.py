"""A real ADT^A03 through the worker path: a discharge on an open case without a safe-discharge check
raises a critical event and one coordinator alert; a resend of the same A03 raises nothing more."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from core.runtime import Runtime
from detection.models import Identifier
from notifications.models import Page
from store.crypto import FieldCipher, Pseudonymizer
from store.db import Database
from store.inbox import NewMessage, dedupe_key, store_messages
from tests.workflow_fixtures import drain_outbox, finding, flagged_case, presentation, runtime_for, years_ago
from workflows.models import CaseEvent, EventKind

A03 = Path(__file__).resolve().parent / "corpus" / "hl7v2" / "fhir-converter" / "ADT-A03-01.hl7"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def runtime(db: Database, database_url: str, tmp_path: Path) -> Runtime:
    return runtime_for(db, database_url, tmp_path)


def receive(runtime: Runtime, raw: bytes) -> None:
    with runtime.db.write() as session:
        store_messages(
            session,
            runtime.cipher,
            [
                NewMessage(
                    channel="hl7v2",
                    dedupe_key=dedupe_key("hl7v2", "ADTApp", "GHHSFacility", "MSG00001"),
                    sender="ADTApp/GHHSFacility",
                    control_id="MSG00001",
                    message_type="ADT^A03",
                    raw=raw,
                    ack_code="AA",
                    ack=b"MSA|AA|MSG00001",
                )
            ],
        )


def test_a03_before_the_safe_discharge_check_alerts_the_coordinator_once(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    # The case was opened earlier for the same encounter (same patient id, same visit number as the A03).
    earlier = presentation(visit="40007716", birth_date=years_ago(38), sender="ADTApp/GHHSFacility")
    patient = earlier.patient.model_copy(
        update={"identifiers": [Identifier(system="2.16.1", value="PATID1234", type_code="MR")]}
    )
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        earlier.model_copy(update={"patient": patient}),
        [finding("R-STR-1", "R-STR", "gewurgd")],
    )
    raw = A03.read_bytes()
    receive(runtime, raw)
    drain_outbox(runtime)
    receive(runtime, raw)  # the EHR resends the same A03
    drain_outbox(runtime)
    with runtime.db.read() as session:
        critical = (
            session.execute(
                select(CaseEvent).where(
                    CaseEvent.case_id == case_id, CaseEvent.kind == EventKind.DISCHARGED_WITHOUT_CHECK
                )
            )
            .scalars()
            .all()
        )
        assert [(e.severity, e.code) for e in critical] == [("critical", "hl7v2-discharge")]
        requests = session.execute(select(Page.purpose, Page.reason).where(Page.case_id == case_id)).all()
        assert [tuple(r) for r in requests] == [("alert", "discharged_without_check")]


def test_cli_prints_the_mermaid_diagram_of_the_table() -> None:
    from workflows.transitions import TRANSITIONS

    out = subprocess.run(
        [sys.executable, "-m", "gateway", "workflow", "--diagram"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert out.splitlines()[0] == "stateDiagram-v2"
    assert sum(" --> " in line and ": " in line for line in out.splitlines()) == len(TRANSITIONS)
