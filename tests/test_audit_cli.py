"""`spoedplein audit verify` and `audit export` as an operator runs them, on SQLite and PostgreSQL: a clean
log exits 0; rows edited, deleted, reordered and truncated in the database are each named (exit 1); a
patient's export holds that patient's entries and nothing of another's; both reads are audited."""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from core.runtime import Runtime
from core.settings import Settings
from store import audit
from tests.conftest import TEST_KEY

ROOT = Path(__file__).resolve().parent.parent
PATIENT_BSN = "999911120"
OTHER_BSN = "999912345"


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "audit", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
        timeout=120,
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def installation(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Runtime, dict[str, str]]:
    """An installation as `run` leaves it (key, migrated database), and the environment to reach it."""
    env = {"SPOEDPLEIN_DATA_DIR": str(tmp_path / "var"), "SPOEDPLEIN_ENCRYPTION_KEY": ""}
    if request.param == "postgresql":
        from tests.conftest import new_postgres_database

        env["SPOEDPLEIN_DATABASE_URL"] = new_postgres_database(request.getfixturevalue("postgres_server"))
        env["SPOEDPLEIN_ENCRYPTION_KEY"] = base64.b64encode(TEST_KEY).decode()
    else:
        env["SPOEDPLEIN_DATABASE_URL"] = ""
    settings = Settings(
        data_dir=tmp_path / "var",
        database_url=env["SPOEDPLEIN_DATABASE_URL"] or None,
        encryption_key=env["SPOEDPLEIN_ENCRYPTION_KEY"] or None,
    )
    runtime = Runtime.start(settings)
    request.addfinalizer(runtime.close)
    return runtime, env


def read(runtime: Runtime, bsn: str, n: int) -> None:
    with runtime.db.write() as session:
        audit.record(
            session,
            actor=f"u{n}",
            actor_role="physician",
            actor_name=f"Dr {n}",
            action=audit.AuditAction.READ,
            resource_type="Case",
            resource_id=n,
            patient_ref=runtime.pseudonyms.ref("bsn", bsn),
            client="10.0.0.7",
            source="api",
        )


def test_verify_exits_0_on_a_clean_log_and_names_each_tampered_entry(
    installation: tuple[Runtime, dict[str, str]],
) -> None:
    runtime, env = installation
    for n in range(1, 11):
        read(runtime, PATIENT_BSN, n)
    with runtime.db.read() as session:
        audit.anchor_head(session, runtime.settings.resolved_audit_anchor_file, min_interval_s=0)  # seq 10

    clean = cli("verify", env=env)
    assert clean.returncode == 0, clean.stderr
    assert clean.stdout.startswith("audit log intact: 10 entries")

    with runtime.db.write() as session:
        session.execute(update(audit.AuditEntry).where(audit.AuditEntry.seq == 2).values(actor_name="Dr X"))
        session.execute(delete(audit.AuditEntry).where(audit.AuditEntry.seq == 4))
        session.execute(update(audit.AuditEntry).where(audit.AuditEntry.seq == 6).values(seq=-6))
        session.execute(update(audit.AuditEntry).where(audit.AuditEntry.seq == 7).values(seq=6))
        session.execute(update(audit.AuditEntry).where(audit.AuditEntry.seq == -6).values(seq=7))
        # the newest entries (seq 10 and the verify's own, 11) go, and the head is made to agree
        nine = session.execute(select(audit.AuditEntry).where(audit.AuditEntry.seq == 9)).scalar_one()
        session.execute(delete(audit.AuditEntry).where(audit.AuditEntry.seq >= 10))
        session.execute(update(audit.AuditHead).values(last_seq=9, last_hash=nine.entry_hash))

    broken = cli("verify", env=env)
    assert broken.returncode == 1
    lines = broken.stdout.splitlines()
    assert [line.split(":")[0:2] for line in lines] == [
        [lines[0].split(":")[0], " changed"],
        ["seq 4", " removed"],
        [lines[2].split(":")[0], " reordered"],
        [lines[3].split(":")[0], " reordered"],
        ["seq 10", " truncated"],
    ]
    assert lines[0].startswith("seq 2 (id ") and lines[2].startswith("seq 6 (id ")
    assert lines[3].startswith("seq 7 (id ") and "before the anchor of seq 10" in lines[4]
    assert "NOT intact" in broken.stderr


def test_export_holds_the_patients_entries_and_nothing_of_another_patient(
    installation: tuple[Runtime, dict[str, str]],
) -> None:
    runtime, env = installation
    read(runtime, PATIENT_BSN, 1)
    read(runtime, OTHER_BSN, 2)
    read(runtime, PATIENT_BSN, 3)

    out = cli("export", "--patient", PATIENT_BSN, "--format", "json", env=env)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [(r["action"], r["resource_type"], r["resource_id"]) for r in rows] == [
        ("read", "Case", "1"),
        ("read", "Case", "3"),
        ("export", "AuditLog", "patient"),  # the export itself, recorded with the operator as actor
    ]
    assert rows[0]["actor_name"] == "Dr 1" and rows[0]["client"] == "10.0.0.7"
    assert rows[2]["actor"].startswith("os:") and rows[2]["source"] == "cli"
    assert OTHER_BSN not in out.stdout and PATIENT_BSN not in out.stdout

    as_csv = cli("export", "--patient", PATIENT_BSN, env=env)
    assert as_csv.returncode == 0, as_csv.stderr
    table = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["resource_id"] for r in table] == ["1", "3", "patient", "patient"]

    with runtime.db.read() as session:
        report = audit.verify(session)
        other = (
            session.execute(
                select(audit.AuditEntry).where(
                    audit.AuditEntry.patient_ref == runtime.pseudonyms.ref("bsn", OTHER_BSN)
                )
            )
            .scalars()
            .all()
        )
    assert report.intact and len(other) == 1  # two exports recorded, chain whole, the other untouched


def test_a_data_directory_without_key_or_database_is_an_error_not_an_empty_log(tmp_path: Path) -> None:
    env = {
        "SPOEDPLEIN_DATA_DIR": str(tmp_path / "nothing"),
        "SPOEDPLEIN_DATABASE_URL": "",
        "SPOEDPLEIN_ENCRYPTION_KEY": "",
    }
    out = cli("verify", env=env)
    assert out.returncode == 2 and "no encryption key" in out.stderr
    assert not (tmp_path / "nothing" / "secrets").exists()
    bad = cli("export", "--patient", "12ab", env=env)
    assert bad.returncode == 2 and "--patient" in bad.stderr
