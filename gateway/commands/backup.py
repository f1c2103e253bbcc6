"""`spoedplein backup OUT` and `spoedplein restore IN`: the database to one file and back.

SQLite (the embedded default) is copied with SQLite's online backup API while the gateway runs;
PostgreSQL with pg_dump (custom format) and pg_restore. Both honour `--data-dir` and
`SPOEDPLEIN_DATABASE_URL` like `run`. A backup holds no key: the key file (or SPOEDPLEIN_ENCRYPTION_KEY)
is backed up apart from it, and restore refuses to run without one (a restored database under a freshly
generated key would be unreadable). Restore refuses a database that holds tables unless `--force`, then
checks the audit chain with the installation's key (a wrong key shows there at once) and records itself
in the audit log, as backup does (a backup is a copy of every patient's data).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import func, select

from core.runtime import Runtime
from gateway.commands import CliError, existing_runtime, record_operator_action, settings_for
from store import audit
from store import backup as backups
from store.inbox import InboxMessage
from workflows.models import Case

DataDir = Annotated[Path | None, typer.Option(help="the data directory (as for `spoedplein run`)")]
Force = Annotated[bool, typer.Option("--force", help="replace what is there")]


def backup(
    out: Annotated[Path, typer.Argument(help="the backup file to write")],
    data_dir: DataDir = None,
    force: Force = False,
) -> None:
    """Back up the database to OUT while the gateway runs (the keys are not in it: back them up apart)."""
    settings = settings_for(data_dir)
    if out.exists() and not force:
        raise CliError(f"{out} exists; choose another name, or --force to replace it", 2)
    runtime = existing_runtime(settings)
    try:
        with runtime.db.write() as session:  # first, so the backup holds the record of itself
            record_operator_action(session, audit.AuditAction.EXPORT, "Database", out.name[:200], "backup")
        kind = backups.backup(settings.resolved_database_url, out)
    except backups.BackupError as exc:
        raise CliError(str(exc), 1) from None
    finally:
        runtime.close()
    typer.echo(f"backup written: {out} ({kind.value}, {out.stat().st_size} bytes)")
    typer.echo("it holds no keys: back up the encryption key file(s) separately (docs/operations.md)")


def restore(
    source: Annotated[Path, typer.Argument(help="the backup file to restore", metavar="IN")],
    data_dir: DataDir = None,
    force: Force = False,
) -> None:
    """Restore IN into an empty database (or, with --force, over one; stop the gateway first)."""
    settings = settings_for(data_dir)
    if not source.is_file():
        raise CliError(f"{source}: no such file", 2)
    key_file = settings.data_dir / "secrets" / "field-encryption.key"
    if not settings.encryption_key and not key_file.exists():
        raise CliError(
            f"no encryption key: a backup holds none; put the installation's key at {key_file} "
            "(and field-encryption.keys, if a key was rotated) or set SPOEDPLEIN_ENCRYPTION_KEY first",
            2,
        )
    try:
        backups.restore(settings.resolved_database_url, source, force=force)
    except backups.BackupError as exc:
        raise CliError(str(exc), 2 if "not empty" in str(exc) else 1) from None
    anchors = settings.resolved_audit_anchor_file
    if anchors.exists():
        # The anchors name chain heads the restored log may not reach: kept aside, as evidence.
        aside = anchors.with_name(f"{anchors.name}.before-restore-{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
        anchors.rename(aside)
        typer.echo(f"the audit anchors of the database replaced are kept in {aside}")
    runtime = Runtime.start(settings, migrate=False)
    try:
        with runtime.db.read() as session:
            report = audit.verify(session, [])
            messages = session.execute(select(func.count(InboxMessage.id))).scalar_one()
            cases = session.execute(select(func.count(Case.id))).scalar_one()
        if not report.intact:
            raise CliError(
                f"restored, but the audit chain does not verify with this installation's key "
                f"({len(report.findings)} problems in {report.entries} entries): the wrong key file, "
                "or a damaged backup",
                1,
            )
        with runtime.db.write() as session:
            record_operator_action(
                session, audit.AuditAction.CREATE, "Database", source.name[:200], "restore from backup"
            )
    finally:
        runtime.close()
    typer.echo(
        f"restored {source}: {messages} messages, {cases} cases; audit log intact ({report.entries} entries)"
    )


def register(root: typer.Typer) -> None:
    root.command(name="backup")(backup)
    root.command(name="restore")(restore)
