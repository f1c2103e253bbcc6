"""`spoedplein retention [--dry-run]`: apply the retention policy now (the beat also does, daily).

It first prints, per category, the period, the cut-off date and how many rows are due; `--dry-run` stops
there and changes nothing. Otherwise it deletes or pseudonymises them in batches (short transactions,
safe while the gateway runs) and writes one audit entry with the counts, the operating-system account as
its actor. The audit log itself is never pruned (NEN 7513). Like `audit`, it honours `--data-dir` and
`SPOEDPLEIN_DATABASE_URL` and refuses (exit 2) a data directory without its key or database.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import func, select

from gateway.commands import existing_runtime, os_user, settings_for
from store.audit import AuditEntry
from workflows import retention

DataDir = Annotated[Path | None, typer.Option(help="the data directory (as for `spoedplein run`)")]

ACTIONS = {
    retention.Category.CLOSED_CASES: "to delete (with their timeline, pages and consents)",
    retention.Category.DISMISSED_FLAGS: "to pseudonymise",
    retention.Category.RAW_MESSAGES: "to delete",
    retention.Category.UNLINKED_PRESENTATIONS: "to delete",
}


def run(
    data_dir: DataDir = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="count what is due; change nothing")] = False,
) -> None:
    """Delete raw messages, pseudonymise dismissed flags and delete closed cases past their period."""
    settings = settings_for(data_dir)
    policy = retention.Policy.of(settings)
    runtime = existing_runtime(settings)
    try:
        now = runtime.clock.now()
        with runtime.db.read() as session:
            due = retention.count_due(session, policy, now)
            audit_entries = session.execute(select(func.count(AuditEntry.id))).scalar_one()
        for category in retention.ORDER:
            cutoff = policy.cutoff(category, now)
            if cutoff is None:
                typer.echo(f"{category.value:24} kept (no period set)")
                continue
            typer.echo(
                f"{category.value:24} before {cutoff:%Y-%m-%d %H:%M} UTC: {due[category]} {ACTIONS[category]}"
            )
        typer.echo(f"{'audit_entries':24} {audit_entries}, all kept (NEN 7513: at least 5 years)")
        if dry_run:
            typer.echo("dry run: nothing changed")
            return
        result = retention.apply(runtime.db, runtime.cipher, policy, now)
        user = os_user()
        with runtime.db.write() as session:
            host = socket.gethostname()
            retention.record_run(
                session, result, actor=f"os:{user}", actor_name=user, client=host, source="cli"
            )
        typer.echo(f"done: {result.summary().replace(';', ', ')} (recorded in the audit log)")
    finally:
        runtime.close()


def register(root: typer.Typer) -> None:
    root.command(name="retention")(run)
