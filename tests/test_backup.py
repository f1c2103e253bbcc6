"""Backup → restore → verify (issue 15 §5), on SQLite and PostgreSQL: `spoedplein run` takes messages and
opens cases, `spoedplein backup` copies the database while messages keep arriving, and `spoedplein
restore` puts it into an empty data directory (or a fresh PostgreSQL database) with only the key file
copied over: every message acknowledged before the backup is there and readable, the cases are there,
and `spoedplein audit verify` passes."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.runtime import Runtime
from core.settings import Settings
from store import audit
from store.inbox import InboxMessage, read_raw
from tests.conftest import new_postgres_database
from tests.gateway_load import Sender, processed_everything
from tests.gateway_process import GatewayProcesses
from tests.test_retention import cli, spoedplein
from workflows.models import Case

pytestmark = pytest.mark.slow
_names = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def databases(request: pytest.FixtureRequest) -> Iterator[tuple[dict[str, str], dict[str, str]]]:
    """The environment of the gateway backed up, and of the installation restored into (a fresh, empty
    PostgreSQL database: not even migrated)."""
    if request.param == "sqlite":
        yield {}, {}
        return
    server = request.getfixturevalue("postgres_server")
    empty = f"restored_{os.getpid()}_{next(_names)}"
    server.execute(f"CREATE DATABASE {empty}")
    yield (
        {"SPOEDPLEIN_DATABASE_URL": new_postgres_database(server)},
        {"SPOEDPLEIN_DATABASE_URL": server.url(empty)},
    )


def test_backup_while_running_then_restore_into_an_empty_installation_keeps_messages_cases_and_audit(
    databases: tuple[dict[str, str], dict[str, str]], tmp_path: Path
) -> None:
    source_env, target_env = databases
    gateway = GatewayProcesses(tmp_path / "gw", env=source_env)
    out = tmp_path / "backups" / "spoedplein.backup"
    try:
        gateway.run()
        before = Sender(gateway.mllp_port, [f"B-{n}" for n in range(30)])
        before.run()
        assert len(before.acked) == 30
        gateway.wait_for(lambda: processed_everything(gateway, 30), timeout_s=180, what="processing")
        during = Sender(gateway.mllp_port, [f"D-{n}" for n in range(60)])
        during.start()  # messages keep arriving while the backup is taken
        gateway.wait_for(lambda: len(during.acked) >= 5, what="messages during the backup")
        acked_before_backup = list(during.acked)
        made = cli(gateway.env, "backup", str(out))
        assert made.returncode == 0, made.stderr
        assert "holds no keys" in made.stdout
        during.join(timeout=180)
        assert len(during.acked) == 60
        again = cli(gateway.env, "backup", str(out))
        assert again.returncode == 2 and "exists" in again.stderr  # an existing backup is not overwritten
    finally:
        gateway.stop_all()

    restored = tmp_path / "restored"
    env = {k: v for k, v in gateway.env.items() if k != "SPOEDPLEIN_DATABASE_URL"}
    env.update({"SPOEDPLEIN_DATA_DIR": str(restored), **target_env})
    keyless = cli(env, "restore", str(out))
    assert keyless.returncode == 2 and "no encryption key" in keyless.stderr
    # The key is a separate secret, backed up apart from the data: the operator puts it back first.
    (restored / "secrets").mkdir(parents=True)
    shutil.copy2(gateway.data_dir / "secrets" / "field-encryption.key", restored / "secrets")
    done = cli(env, "restore", str(out))
    assert done.returncode == 0, done.stderr
    assert "audit log intact" in done.stdout
    verified = cli(env, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "audit log intact" in verified.stdout

    runtime = Runtime.start(
        Settings(data_dir=restored, database_url=target_env.get("SPOEDPLEIN_DATABASE_URL")), migrate=False
    )
    try:
        with runtime.db.read() as session:
            rows = session.execute(select(InboxMessage)).scalars().all()
            by_control_id = {row.control_id: row for row in rows}
            # Everything acknowledged before the backup began; of what came during it, a consistent part.
            assert set(before.acked) | set(acked_before_backup) <= set(by_control_id)
            assert set(by_control_id) <= set(before.acked) | set(during.acked)
            assert b"Testpersoon^Kind" in read_raw(runtime.cipher, by_control_id["B-7"])  # readable
            assert session.execute(select(func.count(Case.id))).scalar_one() >= 30
            actions = [
                (e.action, e.resource_type, e.source)
                for e in session.execute(select(audit.AuditEntry).order_by(audit.AuditEntry.seq)).scalars()
            ]
            assert ("export", "Database", "cli") in actions  # the backup recorded itself
            # The restore recorded itself too, then `audit verify` its read of the log.
            assert actions[-2:] == [("create", "Database", "cli"), ("read", "AuditLog", "cli")]
    finally:
        runtime.close()

    refused = cli(env, "restore", str(out))
    assert refused.returncode == 2 and "not empty" in refused.stderr
    forced = cli(env, "restore", "--force", str(out))
    assert forced.returncode == 0, forced.stderr
    assert cli(env, "audit", "verify").returncode == 0


def test_a_backup_of_one_kind_is_not_restored_into_the_other_and_junk_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    Runtime.start(Settings(data_dir=data_dir)).close()
    (tmp_path / "other" / "secrets").mkdir(parents=True)
    shutil.copy2(data_dir / "secrets" / "field-encryption.key", tmp_path / "other" / "secrets")
    junk = tmp_path / "junk.backup"
    junk.write_bytes(b"not a backup at all")
    refused = spoedplein(tmp_path / "other", "restore", str(junk))
    assert refused.returncode == 1 and "neither a SQLite backup nor a pg_dump archive" in refused.stderr
    dump = tmp_path / "pg.backup"
    dump.write_bytes(b"PGDMP" + bytes(100))
    refused = spoedplein(tmp_path / "other", "restore", str(dump))
    assert refused.returncode == 1 and "is a postgresql backup" in refused.stderr
    assert not (tmp_path / "other" / "spoedplein.sqlite").exists()
