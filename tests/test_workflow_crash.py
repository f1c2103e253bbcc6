"""A worker SIGKILLed between a state change and its side effect: after a restart the side effect happens,
exactly once.

The state change (intake requested) and its work (page the forensic doctor) commit together through the
outbox. A real worker process runs the page handler and is killed inside it, before its transaction
commits. A new worker process then runs what is still pending: one page request, not zero, not two.
Run as a script (`python -m tests.test_workflow_crash pause|run`) this module is that worker.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from tests.conftest import TEST_KEY

ROOT = Path(__file__).resolve().parent.parent


def _worker_main(mode: str, marker: str) -> None:
    """The worker: run every pending outbox item; in `pause` mode, stall inside the page handler."""
    import gateway.handlers  # noqa: F401  (registers every topic)
    from core.runtime import Runtime
    from core.settings import get_settings
    from gateway.outbox_runner import run_items
    from notifications.topics import PAGE_PARTY
    from store import handlers as registry
    from store.outbox import OutboxItem

    runtime = Runtime.start(get_settings(), migrate=False)
    if mode == "pause":
        real = registry.batch_handler_for(PAGE_PARTY)

        def stalled(rt: Any, session: Any, payloads: list[dict[str, Any]]) -> None:
            real(rt, session, payloads)  # the side effect is written, not yet committed
            session.flush()
            Path(marker).write_text("inside the handler")
            time.sleep(120)  # the test kills us here

        registry._BATCH_HANDLERS[PAGE_PARTY] = stalled
    with runtime.db.read() as session:
        ids = list(session.execute(select(OutboxItem.id).where(OutboxItem.done_at.is_(None))).scalars())
    run_items(runtime, ids)
    runtime.close()


def _env(database_url: str, data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SPOEDPLEIN_DATABASE_URL": database_url,
            "SPOEDPLEIN_DATA_DIR": str(data_dir),
            "SPOEDPLEIN_ENCRYPTION_KEY": base64.b64encode(TEST_KEY).decode(),
            "SPOEDPLEIN_API_TOKEN": "crash-test",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def test_worker_killed_inside_the_page_handler_pages_exactly_once_after_restart(
    db: Any, database_url: str, cipher: Any, pseudonyms: Any, tmp_path: Path
) -> None:
    from consent.models import ConsentDecision, Party
    from notifications.models import Page
    from store.outbox import OutboxItem
    from tests.workflow_fixtures import finding, flagged_case, presentation, record_consents, years_ago
    from workflows import intake, service
    from workflows.schemas import ConfirmFacts, Melder

    case_id = flagged_case(
        db,
        cipher,
        pseudonyms,
        presentation(visit="V-KILL", birth_date=years_ago(30)),
        [finding("R-STR-1", "R-STR", "gewurgd")],
    )
    with db.write() as session:
        case = service.get_case(session, case_id)
        service.confirm(
            session,
            cipher,
            case,
            ConfirmFacts(melder=Melder(name="Dr. K")),
            actor="dr",
            expected_version=None,
        )
        record_consents(session, cipher, case, (Party.FORENSIC,), ConsentDecision.PERMIT, actor="dr")
        intake.request_intake(session, cipher, case, actor="dr", expected_version=None)
    with db.read() as session:
        assert service.get_case(session, case_id).state == "intake_requested"
        page_rows = (
            session.execute(select(OutboxItem).where(OutboxItem.topic == "notify.page_party")).scalars().all()
        )
        assert (
            len(page_rows) == 1 and page_rows[0].done_at is None
        )  # the work committed with the state change

    marker = tmp_path / "inside-handler"
    env = _env(database_url, tmp_path)
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.test_workflow_crash", "pause", str(marker)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
        assert time.monotonic() < deadline, "the worker never reached the page handler"
        time.sleep(0.05)
    os.kill(worker.pid, signal.SIGKILL)
    assert worker.wait(30) == -signal.SIGKILL

    def page_requests() -> int:
        with db.read() as session:
            return int(
                session.scalar(select(func.count()).select_from(Page).where(Page.case_id == case_id)) or 0
            )

    def page_done() -> bool:
        with db.read() as session:
            row = session.execute(
                select(OutboxItem).where(OutboxItem.topic == "notify.page_party")
            ).scalar_one()
            return row.done_at is not None

    assert page_requests() == 0 and not page_done()  # the kill took the uncommitted side effect with it

    for _ in range(2):  # restart, and then once more as a redelivery would
        rerun = subprocess.run(
            [sys.executable, "-m", "tests.test_workflow_crash", "run", ""],
            env=env,
            cwd=ROOT,
            capture_output=True,
            timeout=120,
        )
        assert rerun.returncode == 0, rerun.stderr.decode()
        assert page_requests() == 1 and page_done()
    with db.read() as session:
        page = session.execute(select(Page)).scalar_one()
        assert (page.purpose, page.party, page.state) == ("intake", "forensic", "active")
    # The sample roster's channels write to files: the on-call forensic doctor got one SMS, not two.
    sent = (tmp_path / "outgoing" / "sms.jsonl").read_text().splitlines()
    assert len(sent) == 1 and "gezamenlijke intake" in sent[0]


if __name__ == "__main__":
    _worker_main(sys.argv[1], sys.argv[2])
