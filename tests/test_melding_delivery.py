"""The Veilig Thuis melding: its hand-off is durable and single, disclosure is checked when the work runs,
and no patient data leaves through the outbox, the page rows, the logs or unencrypted columns."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from sqlalchemy import select, text

from consent.models import LegalBasisKind, Party
from core.runtime import Runtime
from notifications.handlers import send_melding
from notifications.melding import MeldingContent, MeldingPatch, OpenMelden, problems, render_pdf
from notifications.models import Page
from store.crypto import FieldCipher, Pseudonymizer
from store.db import Database
from store.outbox import OutboxItem
from tests.paging_helpers import melding_hand_off
from tests.workflow_fixtures import drain_outbox, finding, flagged_case, months_ago, presentation, runtime_for
from workflows import melding, service
from workflows.schemas import (
    ConfirmFacts,
    KindcheckInput,
    MeldcodeDecision,
    MeldcodeStep,
    MeldcodeStepInput,
    Melder,
)

NAME = "Zoë Vermeulen"


@pytest.fixture
def runtime(db: Database, database_url: str, tmp_path: Path) -> Runtime:
    return runtime_for(db, database_url, tmp_path)


def approved_case(runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer) -> tuple[int, int]:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-MD", birth_date=months_ago(5), given="Zoë", family="Vermeulen"),
        [finding("R-BR-E", "R-BR", "blauwe plek oor")],
    )
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        service.confirm(
            session,
            cipher,
            case,
            ConfirmFacts(melder=Melder(name="Dr. M")),
            actor="dr",
            expected_version=None,
        )
        service.record_legal_basis(
            session,
            cipher,
            case,
            party=Party.VEILIG_THUIS,
            basis=LegalBasisKind.MELDRECHT,
            justification="zuigeling met blauwe plek oor",
            actor="dr",
        )
        service.record_meldcode_step(
            session,
            cipher,
            case,
            MeldcodeStep.DECISION,
            MeldcodeStepInput(summary="melden", decision=MeldcodeDecision.MELDEN),
            actor="dr",
        )
        draft = melding.create_draft(session, cipher, case, actor="dr")
        assert melding.create_draft(session, cipher, case, actor="dr").id == draft.id  # one melding per case
        melding.approve(session, cipher, case, actor="dr", revision=draft.revision)
        return case_id, draft.id


def test_an_approved_melding_is_handed_to_the_physician_once_even_when_the_work_runs_twice(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id, _ = approved_case(runtime, cipher, pseudonyms)
    drain_outbox(runtime)
    with runtime.db.write() as session:
        item = session.execute(
            select(OutboxItem).where(OutboxItem.topic == "notify.send_melding")
        ).scalar_one()
        send_melding(runtime, session, dict(item.payload))  # a redelivered task
    assert melding_hand_off(runtime, case_id) == ["prepared"]


def test_a_ground_revoked_before_the_work_runs_suppresses_the_delivery(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id, _ = approved_case(runtime, cipher, pseudonyms)
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        (basis,) = service.consent_service.active_legal_bases(session, case_id)
        service.revoke_legal_basis(session, cipher, case, basis_id=basis.id, actor="dr")
    drain_outbox(runtime)
    assert melding_hand_off(runtime, case_id) == ["suppressed"]


def test_no_patient_data_in_outbox_requests_logs_or_clear_columns(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    case_id, _ = approved_case(runtime, cipher, pseudonyms)
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        service.record_kindcheck(
            session,
            cipher,
            case,
            KindcheckInput.model_validate({"cares_for_minors": "not_applicable"}),
            actor="dr",
        )
    drain_outbox(runtime)
    with runtime.db.read() as session:
        payloads = json.dumps([row.payload for row in session.execute(select(OutboxItem)).scalars()])
        requests = json.dumps(
            [
                [r.key, r.party, r.reason, r.state_reason, r.info, r.case_reference]
                for r in session.execute(select(Page)).scalars()
            ]
        )
        blobs = b"".join(
            bytes(value or b"")
            for table, column in (
                ("melding", "content"),
                ("case_event", "detail"),
                ("case_facts", "melder"),
                ("legal_basis_record", "justification"),
            )
            for value in session.execute(text(f"SELECT {column} FROM {table}")).scalars()
        )
    for needle in (NAME, "Vermeulen", "blauwe plek"):
        assert needle not in payloads and needle not in requests and needle not in caplog.text
        assert needle.encode() not in blobs


def test_the_melding_patch_keeps_what_it_does_not_touch_and_names_missing_fields() -> None:
    content = MeldingContent.model_validate(
        {"melder": {"name": "Dr. M"}, "patient": {"name": NAME}, "facts": ["a"]}
    )
    patched = MeldingPatch(open_melden=OpenMelden(exception_claimed=True)).apply(content)
    assert patched.facts == ["a"] and patched.patient.name == NAME
    assert problems(patched) == ["open_melden"]
    assert problems(MeldingPatch(facts=[]).apply(content)) == ["facts"]


def test_the_pdf_keeps_non_latin_names(tmp_path: Path) -> None:
    import subprocess

    content = MeldingContent.model_validate(
        {
            "melder": {"name": "Dr. Øyvind Łukasz"},
            "patient": {"name": "Ayşe Çelik"},
            "facts": ["Striemen in hals, 3 cm"],
            "interpretation": "vermoeden van wurging",
        }
    )
    path = tmp_path / "m.pdf"
    path.write_bytes(render_pdf(content, {"case_reference": "SP-TEST", "status": "draft", "revision": 1}))
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "Ayşe Çelik" in out and "Dr. Øyvind Łukasz" in out and "SP-TEST" in out


def test_the_pdf_prints_polish_nordic_turkish_and_arabic_names_with_the_packaged_font(tmp_path: Path) -> None:
    """The font ships inside the package (with its licence), so the container and a wheel print these
    names too; Arabic is shaped and comes back in reading order."""
    import subprocess

    import notifications.melding as melding_module

    font_dir = Path(melding_module.__file__).with_name("fonts")
    assert (font_dir / "DejaVuSans.ttf").is_file() and (font_dir / "LICENSE").is_file()
    names = ["Łukasz Øberg-Ünal", "İlkay Güzeloğlu Şık", "مريم حسن"]
    content = MeldingContent.model_validate(
        {
            "melder": {"name": names[0]},
            "patient": {"name": names[1]},
            "related_persons": [{"name": names[2], "relationship": "moeder"}],
            "facts": ["Striemen in hals, 3 cm"],
        }
    )
    path = tmp_path / "m.pdf"
    path.write_bytes(render_pdf(content, {"case_reference": "SP-TEST", "status": "draft", "revision": 1}))
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    for name in names:
        assert name in out, name
    assert "?" not in out  # nothing replaced
