"""Retention (issue 15 §3): raw messages deleted after their period, dismissed flags pseudonymised, closed
cases deleted with everything that refers to them, the audit log kept and still verifying, resends inside
the window still recognised; the beat's daily job and the `spoedplein retention` command."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from consent.models import ConsentDecision, Party
from core.clock import ManualClock
from core.runtime import Runtime
from core.settings import Settings
from detection.models import Severity
from notifications.models import Page
from presentations import service as presentations
from presentations.models import PresentationRecord
from store import audit
from store.crypto import FieldCipher, Pseudonymizer
from store.db import Base, Database, utcnow
from store.inbox import PROCESS_TOPIC, InboxMessage, MessageStatus, NewMessage, dedupe_key, store_one
from store.outbox import OutboxItem
from store.periodic import registered_jobs
from tests.gateway_load import Sender, processed_everything
from tests.gateway_process import ROOT, GatewayProcesses
from tests.test_workflow_scenarios import complete_checklist
from tests.workflow_fixtures import (
    NOW,
    drain_outbox,
    finding,
    flagged_case,
    presentation,
    record_consents,
    runtime_for,
    years_ago,
)
from workflows import intake, retention, service
from workflows.cases import read_findings, record_findings
from workflows.discharge import complete_discharge_check, record_discharge_check
from workflows.errors import GuardFailed
from workflows.models import Case, CaseEvent, CaseState
from workflows.schemas import ConfirmFacts, DismissReason, Melder
from workflows.statistics import dismissals_by_rule

DOCTOR = "dr-jansen"
POLICY = retention.Policy()  # the defaults: 30 days raw, 90 days dismissed, 730 days closed


@pytest.fixture
def runtime(db: Database, database_url: str, tmp_path: Path) -> Runtime:
    return runtime_for(db, database_url, tmp_path)


def message(control_id: str, text: str = "Noor de Vries") -> NewMessage:
    raw = f"MSH|^~\\&|EPIC|ETZ|||20260101||ADT^A04|{control_id}|P|2.5\rPID|||123||{text}\r".encode()
    return NewMessage(
        channel="hl7v2",
        dedupe_key=dedupe_key("hl7v2", "EPIC", "ETZ", control_id),
        sender="EPIC|ETZ",
        control_id=control_id,
        message_type="ADT^A04",
        raw=raw,
        ack_code="AA",
        ack=f"MSA|AA|{control_id}".encode(),
        content_hash=control_id,
    )


def store(runtime: Runtime, msg: NewMessage, *, processed: bool = True) -> int:
    with runtime.db.write() as session:
        answer = store_one(session, runtime.cipher, msg)
        if processed:  # as the worker leaves it (without running the worker: these are not real visits)
            session.execute(
                update(InboxMessage)
                .where(InboxMessage.id == answer.message_id)
                .values(status=MessageStatus.PROCESSED.value)
            )
            session.execute(
                update(OutboxItem)
                .where(OutboxItem.key == f"{PROCESS_TOPIC}:{answer.message_id}")
                .values(done_at=utcnow())
            )
        return answer.message_id


def closed_case(runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer) -> int:
    """A case walked the whole way (consent, intake with a page to the forensic doctor, discharge check)."""
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-CLOSED", birth_date=years_ago(30), family="Closed"),
        [finding("R-STR-1", "R-STR", "gewurgd")],
    )
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        melder = Melder(name="Dr. A. Jansen", phone="013-2210000")
        service.confirm(
            session, cipher, case, ConfirmFacts(melder=melder), actor=DOCTOR, expected_version=None
        )
        record_consents(session, cipher, case, (Party.FORENSIC,), ConsentDecision.PERMIT, actor=DOCTOR)
        intake.request_intake(session, cipher, case, actor=DOCTOR, expected_version=None)
    drain_outbox(runtime)  # the page to the forensic doctor goes out: page rows refer to the case
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        intake.acknowledge(session, cipher, case, Party.FORENSIC, earliest_available_at=NOW, actor="fa")
        intake.agree_time(session, cipher, case, agreed_at=NOW, actor=DOCTOR, expected_version=None)
        intake.complete_intake(session, cipher, case, actor=DOCTOR, expected_version=None)
        record_discharge_check(
            session, cipher, case, complete_checklist(children_safety_arranged=None), actor=DOCTOR
        )
        complete_discharge_check(session, cipher, case, actor=DOCTOR, expected_version=None)
        service.close(session, cipher, case, actor=DOCTOR, expected_version=None)
    return case_id


def dismissed_case(runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer) -> int:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-DISMISSED", birth_date=years_ago(6), given="Sem", family="Dismissed"),
        [finding("R-BR-T", "R-BR", "blauwe plek rug")],
    )
    with runtime.db.write() as session:
        case = service.get_case(session, case_id)
        service.dismiss(
            session,
            cipher,
            case,
            reason_code=DismissReason.ACCIDENTAL_MECHANISM_CONFIRMED,
            note="val van glijbaan, gezien door juf Dismissed",
            actor=DOCTOR,
            expected_version=case.version,
        )
    return case_id


def rows_referring_to_case(session: object, case_id: int) -> dict[str, int]:
    """Every table whose `case_id` refers to a case: how many rows name this case (pages included)."""
    counts = {}
    for table in Base.metadata.sorted_tables:
        if "case_id" in table.columns and table.columns["case_id"].foreign_keys:
            column = table.columns["case_id"]
            counts[table.name] = session.execute(  # type: ignore[attr-defined]
                select(func.count()).select_from(table).where(column == case_id)
            ).scalar_one()
    return counts


def test_retention_deletes_raw_messages_pseudonymises_dismissed_flags_deletes_closed_cases(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    processed_id = store(runtime, message("M-1"))
    store(runtime, message("M-2"))
    # The open case's presentation came from M-1: the case keeps it when M-1's raw text goes.
    with runtime.db.write() as session:
        record = presentations.save(
            session,
            cipher=cipher,
            pseudonyms=pseudonyms,
            presentation=presentation(visit="V-OPEN", birth_date=years_ago(3), family="Open"),
            inbox_message_id=processed_id,
        )
        open_case = record_findings(
            session, cipher=cipher, presentation=record, findings=[finding("R-BR-1", "R-BR", "fractuur")]
        )
        assert open_case is not None
        open_id, open_ref = open_case.id, open_case.patient_ref
        presentations.save(  # a visit that raised no flag: no case refers to it
            session,
            cipher=cipher,
            pseudonyms=pseudonyms,
            presentation=presentation(visit="V-QUIET", birth_date=years_ago(40), family="Quiet"),
            inbox_message_id=None,
        )
    closed_id = closed_case(runtime, cipher, pseudonyms)
    dismissed_id = dismissed_case(runtime, cipher, pseudonyms)
    waiting_id = store(runtime, message("M-3"), processed=False)  # the worker has not had it yet
    with runtime.db.read() as session:
        assert sum(rows_referring_to_case(session, closed_id).values()) > 5
        assert session.execute(select(func.count(Page.id)).where(Page.case_id == closed_id)).scalar_one() >= 1

    later = utcnow() + timedelta(days=731)  # past every period
    with runtime.db.read() as session:
        due = retention.count_due(session, POLICY, later)
    assert due == {
        retention.Category.CLOSED_CASES: 1,
        retention.Category.DISMISSED_FLAGS: 1,
        retention.Category.RAW_MESSAGES: 2,
        retention.Category.UNLINKED_PRESENTATIONS: 1,
    }
    # Nothing is due inside the periods.
    with runtime.db.read() as session:
        assert set(retention.count_due(session, POLICY, utcnow() + timedelta(days=29)).values()) == {0}

    result = retention.apply(runtime.db, cipher, POLICY, later)
    assert result.finished
    assert result.counts[retention.Category.CLOSED_CASES] == 1
    assert result.counts[retention.Category.DISMISSED_FLAGS] == 1
    assert result.counts[retention.Category.RAW_MESSAGES] == 2
    # The quiet visit, and the closed case's presentation once the case was gone.
    assert result.counts[retention.Category.UNLINKED_PRESENTATIONS] == 2

    with runtime.db.read() as session:
        # Raw messages: the processed ones are gone, the waiting one stays; the case keeps its presentation.
        assert list(session.execute(select(InboxMessage.id)).scalars()) == [waiting_id]
        kept = session.execute(
            select(PresentationRecord).where(PresentationRecord.id == record.id)
        ).scalar_one()
        assert kept.inbox_message_id is None
        # The closed case and everything referring to it are gone.
        assert session.get(Case, closed_id) is None
        assert set(rows_referring_to_case(session, closed_id).values()) == {0}
        # The open case is untouched.
        still_open = service.get_case(session, open_id)
        assert still_open.patient_ref == open_ref
        assert read_findings(cipher, still_open)[0].evidence[0].text == "fractuur"
        # The dismissed flag: no way back to the patient, but still counted per rule and reason.
        gone = service.get_case(session, dismissed_id)
        assert gone.state == CaseState.DISMISSED
        assert (
            gone.patient_ref.startswith(retention.PSEUDONYM_PREFIX) and gone.encounter_ref == gone.patient_ref
        )
        [stripped] = read_findings(cipher, gone)
        assert (stripped.rule_id, stripped.severity, stripped.evidence) == ("R-BR-T", Severity.WARNING, [])
        details = session.execute(select(CaseEvent.detail).where(CaseEvent.case_id == dismissed_id)).scalars()
        assert set(details) == {None}
        assert dismissals_by_rule(session) == {("R-BR-T", "accidental_mechanism_confirmed"): 1}
        texts = [
            presentations.load(cipher, r).model_dump_json()
            for r in session.execute(select(PresentationRecord)).scalars()
        ]
        assert not any("Dismissed" in text or "Sem" in text for text in texts)
        assert not any("Quiet" in text or "Closed" in text for text in texts)
        assert any("Open" in text for text in texts)

    # A pseudonymised flag names no patient any more: it cannot be reopened.
    with pytest.raises(GuardFailed) as refused, runtime.db.write() as session:
        case = service.get_case(session, dismissed_id)
        service.reopen(session, cipher, case, reason="toch", actor=DOCTOR, expected_version=None)
    assert refused.value.field == "state" and "pseudonymised" in refused.value.message

    # A second run finds nothing left to do.
    again = retention.apply(runtime.db, cipher, POLICY, later)
    assert set(again.counts.values()) == {0}


def test_a_resend_inside_the_window_is_still_recognised_after_retention(runtime: Runtime) -> None:
    old_id = store(runtime, message("OLD"))
    recent_id = store(runtime, message("RECENT"))
    with runtime.db.write() as session:  # received 31 days ago
        session.execute(
            update(InboxMessage)
            .where(InboxMessage.id == old_id)
            .values(received_at=utcnow() - timedelta(days=31))
        )
    result = retention.apply(runtime.db, runtime.cipher, POLICY, utcnow())
    assert result.counts[retention.Category.RAW_MESSAGES] == 1
    with runtime.db.write() as session:
        resend = store_one(session, runtime.cipher, message("RECENT"))
    assert (resend.duplicate, resend.message_id, resend.ack) == (True, recent_id, b"MSA|AA|RECENT")
    with runtime.db.read() as session:
        assert session.get(InboxMessage, recent_id).resend_count == 1  # type: ignore[union-attr]
        assert session.get(InboxMessage, old_id) is None


def test_the_oldest_stored_message_age_on_metrics_shows_whether_retention_runs(runtime: Runtime) -> None:
    from gateway.metrics import DatabaseCollector

    def oldest_age_days() -> float:
        [gauge] = [m for m in DatabaseCollector(runtime).collect() if m.name.startswith("spoedplein_oldest")]
        return float(gauge.samples[0].value) / 86400

    assert oldest_age_days() == 0  # nothing stored
    first = store(runtime, message("AGE-1"))
    store(runtime, message("AGE-2"))
    with runtime.db.write() as session:
        session.execute(
            update(InboxMessage)
            .where(InboxMessage.id == first)
            .values(received_at=utcnow() - timedelta(days=40))
        )
    assert 39.9 < oldest_age_days() < 40.1  # retention has not run: past the 30 days
    retention.apply(runtime.db, runtime.cipher, POLICY, utcnow())
    assert oldest_age_days() < 0.01  # the message left is the new one


def test_the_audit_log_is_never_pruned_and_still_verifies_after_retention(
    runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer, tmp_path: Path
) -> None:
    store(runtime, message("A-1"))
    dismissed_case(runtime, cipher, pseudonyms)
    with runtime.db.write() as session:
        for n in range(3):
            audit.record(
                session, actor=DOCTOR, action=audit.AuditAction.READ, resource_type="Case", resource_id=n
            )
    anchors = tmp_path / "anchors.jsonl"
    with runtime.db.read() as session:
        before = session.execute(select(func.count(audit.AuditEntry.id))).scalar_one()
        audit.anchor_head(session, anchors, min_interval_s=0)
    # Runs at 4 years 11 months and at 10 years: every other category is long past its period.
    for days in (4 * 365 + 330, 10 * 365):
        result = retention.apply(runtime.db, cipher, POLICY, utcnow() + timedelta(days=days))
        with runtime.db.write() as session:
            retention.record_run(session, result, actor="os:test", actor_name="test", client="", source="cli")
    with runtime.db.read() as session:
        entries = session.execute(select(audit.AuditEntry).order_by(audit.AuditEntry.seq)).scalars().all()
        report = audit.verify(session, audit.read_anchors(anchors))
    assert len(entries) == before + 2  # nothing removed; each run added its own entry
    assert report.intact, [f.line() for f in report.findings]
    runs = [e for e in entries if e.resource_type == "Retention"]
    assert [(e.actor, e.action, e.source) for e in runs] == [("os:test", "delete", "cli")] * 2
    assert "raw_messages=1" in runs[0].resource_id and "dismissed_flags=1" in runs[0].resource_id


def test_the_beat_runs_retention_daily_and_continues_a_backlog_at_the_next_check(
    db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "workflows.retention" in {job.name for job in registered_jobs()}
    settings = Settings(data_dir=tmp_path, database_url=database_url, retention_batch_size=1)
    clock = ManualClock(utcnow())
    runtime = runtime_for(db, database_url, tmp_path)
    runtime.settings, runtime.clock = settings, clock
    monkeypatch.setattr(retention, "BUDGET_S", 0.0)  # one batch per check
    monkeypatch.setattr(retention, "_next_run", {})
    for n in range(2):
        store(runtime, message(f"B-{n}"))

    def left() -> int:
        with db.read() as session:
            return int(session.execute(select(func.count(InboxMessage.id))).scalar_one())

    def runs() -> list[str]:
        with db.read() as session:
            query = select(audit.AuditEntry).where(audit.AuditEntry.resource_type == "Retention")
            return [f"{e.actor} {e.purpose}" for e in session.execute(query).scalars()]

    retention.retention_job(runtime)  # not due yet: the messages are new
    assert left() == 2 and runs() == ["system:beat retention policy"]
    retention.retention_job(runtime)  # a day has not passed: nothing runs, nothing is written
    assert len(runs()) == 1
    clock.advance(timedelta(days=31))
    retention.retention_job(runtime)  # one batch, then the budget is spent
    assert left() == 1 and runs()[-1] == "system:beat retention policy (continues next run)"
    retention.retention_job(runtime)  # the next check continues at once
    assert left() == 0
    retention.retention_job(runtime)  # a full batch could have had more behind it: this check finds none
    assert runs()[-1] == "system:beat retention policy" and len(runs()) == 4
    clock.advance(timedelta(hours=23))
    retention.retention_job(runtime)
    assert len(runs()) == 4  # finished: the next run is a day later
    clock.advance(timedelta(hours=2))
    retention.retention_job(runtime)
    assert len(runs()) == 5


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`spoedplein ARGS` in a process of its own, with exactly the environment `env`."""
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def spoedplein(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`spoedplein ARGS` on the installation in `data_dir`, no other SPOEDPLEIN_ setting but `env`."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SPOEDPLEIN_")}
    environment.update({"SPOEDPLEIN_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT), **(env or {})})
    return cli(environment, *args)


def test_the_retention_command_reports_first_then_prunes_and_records_its_run(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    runtime = Runtime.start(Settings(data_dir=data_dir))  # an installation: key, database
    try:
        for n in range(3):
            store(runtime, message(f"C-{n}"))
    finally:
        runtime.close()
    offset = tmp_path / "clock-offset"
    offset.write_text(str(31 * 86400))  # a month later
    later = {"SPOEDPLEIN_CLOCK_OFFSET_FILE": str(offset)}

    dry = spoedplein(data_dir, "retention", "--dry-run", env=later)
    assert dry.returncode == 0, dry.stderr
    assert "raw_messages" in dry.stdout and ": 3 to delete" in dry.stdout
    assert "audit_entries" in dry.stdout and "dry run: nothing changed" in dry.stdout
    assert spoedplein(data_dir, "retention", "--dry-run", env=later).stdout == dry.stdout  # nothing changed

    done = spoedplein(data_dir, "retention", env=later)
    assert done.returncode == 0, done.stderr
    assert "raw_messages=3" in done.stdout
    verified = spoedplein(data_dir, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    runtime = Runtime.start(Settings(data_dir=data_dir), migrate=False)
    try:
        with runtime.db.read() as session:
            assert session.execute(select(func.count(InboxMessage.id))).scalar_one() == 0
            [run] = session.execute(
                select(audit.AuditEntry).where(audit.AuditEntry.resource_type == "Retention")
            ).scalars()
            assert run.actor.startswith("os:") and run.source == "cli" and "raw_messages=3" in run.resource_id
    finally:
        runtime.close()

    missing = spoedplein(tmp_path / "nothing-here", "retention", "--dry-run")
    assert missing.returncode == 2 and "no encryption key" in missing.stderr
    assert not (tmp_path / "nothing-here" / "spoedplein.sqlite").exists()


@pytest.mark.slow
def test_under_spoedplein_run_the_beat_prunes_a_month_old_feed_and_the_audit_log_still_verifies(
    tmp_path: Path,
) -> None:
    offset = tmp_path / "clock-offset"
    offset.write_text("0")
    gateway = GatewayProcesses(tmp_path / "gw", env={"SPOEDPLEIN_CLOCK_OFFSET_FILE": str(offset)})
    try:
        gateway.run()
        sender = Sender(gateway.mllp_port, [f"R-{n}" for n in range(10)])
        sender.run()
        assert len(sender.acked) == 10
        gateway.wait_for(lambda: processed_everything(gateway, 10), timeout_s=180, what="processing")
        offset.write_text(str(31 * 86400))  # a month passes for every part at once
        gateway.wait_for(
            lambda: gateway.api("/api/messages", limit=100) == [],
            timeout_s=retention.CHECK_S + 90,
            what="the beat's retention run",
        )
        assert len(gateway.api("/api/cases", limit=100)) == 10  # open cases keep their presentations
    finally:
        gateway.stop_all()
    verified = spoedplein(gateway.data_dir, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    runtime = Runtime.start(Settings(data_dir=gateway.data_dir), migrate=False)
    try:
        with runtime.db.read() as session:
            runs = session.execute(
                select(audit.AuditEntry.resource_id).where(
                    audit.AuditEntry.resource_type == "Retention", audit.AuditEntry.actor == "system:beat"
                )
            ).scalars()
            assert any("raw_messages=10" in counts for counts in runs)
            assert session.execute(select(func.count(PresentationRecord.id))).scalar_one() >= 10
    finally:
        runtime.close()
