"""`spoedplein audit verify` and `spoedplein audit export --patient BSN`: the NEN 7513 log for operators.

`verify` walks the keyed hash chain and checks it against the anchor file: exit 0 when intact, else 1
and one line per broken entry (changed, removed, reordered, inserted, truncated, anchor). `export`
answers a patient's access request (AVG art. 15): every entry about that patient as CSV or JSON. Both
read the audit log, and that read is itself written to it. Both honour `--data-dir` and
`SPOEDPLEIN_DATABASE_URL` like `run`; neither migrates nor creates anything: a data directory without
its key or database is an error (exit 2), not a fresh, empty log that would verify clean.
"""

from __future__ import annotations

import csv
import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select

from gateway.commands import existing_runtime, record_operator_action, settings_for
from store import audit

app = typer.Typer(help="The NEN 7513 audit log: verify the chain, export a patient's entries.")

DataDir = Annotated[Path | None, typer.Option(help="the data directory (as for `spoedplein run`)")]
EXPORT_FIELDS = (
    "seq",
    "at",
    "action",
    "outcome",
    "actor",
    "actor_name",
    "actor_role",
    "actor_org",
    "resource_type",
    "resource_id",
    "case_id",
    "client",
    "source",
    "purpose",
    "reason",
)


class ExportFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


@app.command()
def verify(data_dir: DataDir = None) -> None:
    """Check the audit chain and its anchors; exit 0 when intact, else 1 with one line per broken entry."""
    settings = settings_for(data_dir)
    runtime = existing_runtime(settings)
    try:
        anchor_file = settings.resolved_audit_anchor_file
        anchors = audit.read_anchors(anchor_file)
        with runtime.db.read() as session:
            report = audit.verify(session, anchors)
        with runtime.db.write() as session:
            record_operator_action(
                session, audit.AuditAction.READ, "AuditLog", "verify", "audit log verification"
            )
    finally:
        runtime.close()
    if not anchors:
        typer.echo(f"note: no anchors in {anchor_file} yet (the beat writes them)", err=True)
    summary = f"{report.entries} entries (seq 1–{report.last_seq}), {report.anchors_checked} anchors checked"
    if report.intact:
        typer.echo(f"audit log intact: {summary}")
        return
    for finding in report.findings:
        typer.echo(finding.line())
    typer.echo(f"audit log NOT intact: {len(report.findings)} problems in {summary}", err=True)
    raise typer.Exit(1)


def _bsn(value: str) -> str:
    bsn = value.strip()
    if not bsn.isdigit() or len(bsn) not in (8, 9):
        raise typer.BadParameter("a BSN is 8 or 9 digits", param_hint="--patient")
    return bsn


@app.command()
def export(
    patient: Annotated[str, typer.Option(help="the patient's BSN")],
    format: Annotated[ExportFormat, typer.Option(help="csv or json")] = ExportFormat.CSV,
    data_dir: DataDir = None,
) -> None:
    """Every audit entry about one patient (AVG art. 15 access request), to standard output."""
    bsn = _bsn(patient)
    settings = settings_for(data_dir)
    runtime = existing_runtime(settings)
    try:
        # The store pseudonymises the BSN as given; an 8-digit BSN may have been sent with its leading 0.
        refs = sorted({runtime.pseudonyms.ref("bsn", bsn.zfill(9)), runtime.pseudonyms.ref("bsn", bsn)})
        with runtime.db.write() as session:
            # Recorded first, in the same transaction: the export shows that it was made.
            record_operator_action(
                session,
                audit.AuditAction.EXPORT,
                "AuditLog",
                "patient",
                "AVG art. 15 access request",
                patient_ref=runtime.pseudonyms.ref("bsn", bsn.zfill(9)),
            )
            entries = session.execute(
                select(audit.AuditEntry)
                .where(audit.AuditEntry.patient_ref.in_(refs))
                .order_by(audit.AuditEntry.seq)
            ).scalars()
            rows = [_row(entry) for entry in entries]
    finally:
        runtime.close()
    if format is ExportFormat.JSON:
        json.dump(rows, sys.stdout, ensure_ascii=False, indent=1)
        sys.stdout.write("\n")
    else:
        writer = csv.DictWriter(sys.stdout, fieldnames=EXPORT_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _row(entry: audit.AuditEntry) -> dict[str, Any]:
    row = {name: getattr(entry, name) for name in EXPORT_FIELDS}
    row["at"] = entry.at.isoformat(timespec="seconds")
    return row


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="audit")
