"""`spoedplein detect|evaluate|rules`: the detector without a running gateway.

A clinician can copy `detection/config/`, change a rule or a word, and run
`spoedplein detect --config mydir message.hl7` to see the effect in seconds.

Files: `.hl7` / `.txt` are HL7 v2 (one or more messages; each judged with the earlier messages of
its visit, as the worker does, and the findings of all reported together), `.json` is a FHIR R4
Bundle or resource. A file that cannot be read or mapped gets an `error` and the other files are
still evaluated; the exit code is then 1.
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from adapters.fhir.to_presentation import FhirMappingError, bundle_to_presentation
from adapters.hl7.errors import HL7Error
from adapters.hl7.files import split_messages
from adapters.hl7.to_presentation import presentation_from_bytes
from detection.configuration import ConfigError, DetectionConfig, default_config, load_config
from detection.engine import detect as run_detection
from detection.evaluation import CaseResult, Label, evaluate, format_report
from detection.models import Finding, Presentation
from detection.visit import combine

HL7_SUFFIXES = frozenset({".hl7", ".txt", ".er7"})
FHIR_SUFFIXES = frozenset({".json"})
DEFAULT_CHARSET = "UNICODE UTF-8"
DEFAULT_ZONE = "Europe/Amsterdam"


class OutputFormat(StrEnum):
    JSON = "json"
    TEXT = "text"


class Form(StrEnum):
    HL7 = "hl7"
    FHIR = "fhir"
    BOTH = "both"


class InputError(Exception):
    """A file could not be turned into presentations; the message says why, without patient data."""


ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="directory with rules/thresholds/vocabulary/codes .yaml")
]


def _settings_defaults() -> tuple[str, str]:
    try:
        from core.settings import get_settings

        settings = get_settings()
        return settings.hl7_default_charset, settings.timezone
    except Exception:  # settings are optional here: the tool must work without a configured gateway
        return DEFAULT_CHARSET, DEFAULT_ZONE


def presentations_from_file(
    path: Path, *, charset: str = DEFAULT_CHARSET, zone: str = DEFAULT_ZONE
) -> list[Presentation]:
    """The ED presentations in one file. Raises InputError with a reason a person can act on."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}") from None
    suffix = path.suffix.lower()
    if suffix in FHIR_SUFFIXES:
        try:
            return [bundle_to_presentation(raw, default_zone=zone)]
        except FhirMappingError as exc:
            raise InputError(f"FHIR: {exc}") from None
    if suffix in HL7_SUFFIXES:
        out: list[Presentation] = []
        messages = split_messages(raw)
        if not messages:
            raise InputError("HL7: no message in file")
        for i, message in enumerate(messages, 1):
            try:
                presentation = presentation_from_bytes(message, default_charset=charset, default_zone=zone)
            except HL7Error as exc:
                raise InputError(f"HL7 message {i}: {exc}") from None
            if presentation is not None:
                out.append(presentation)
        if not out:
            raise InputError("HL7: no ADT/ORU message about an ED presentation in file")
        return out
    raise InputError(f"unknown file type {suffix or '(none)'}: use .hl7/.txt (HL7 v2) or .json (FHIR)")


def findings_for_file(path: Path, config: DetectionConfig, *, charset: str, zone: str) -> list[Finding]:
    """Findings of the file's messages, one per rule id (the first, most severe, wins).

    As the worker does: each message is judged together with the messages of its visit before it
    (detection/visit.py), and what any of them fired counts — an alert once raised stays raised.
    """
    seen: dict[str, Finding] = {}
    visits: dict[tuple[str, str], list[Presentation]] = {}
    for presentation in presentations_from_file(path, charset=charset, zone=zone):
        key = (
            presentation.patient.identifiers[0].value if presentation.patient.identifiers else "",
            presentation.encounter.visit_number,
        )
        so_far = visits.setdefault(key, [])
        so_far.append(presentation)
        for finding in run_detection(combine(so_far), config):
            seen.setdefault(finding.rule_id, finding)
    return list(seen.values())


def finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "rule_id": finding.rule_id,
        "family": finding.family,
        "severity": finding.severity.value,
        "explanation": finding.explanation_nl,
        "explanation_en": finding.explanation_en,
        "evidence": [e.model_dump() for e in finding.evidence],
        "source": finding.source,
        "next_step": finding.next_step_nl,
        "next_step_en": finding.next_step_en,
    }


def _config(directory: Path | None) -> DetectionConfig:
    try:
        return load_config(directory) if directory is not None else default_config()
    except ConfigError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from None


def detection_files(paths: list[Path]) -> list[Path]:
    """The files named, and from a folder every HL7 v2 or FHIR JSON file in it (a README or LICENSE next
    to them is not a message); a path that does not exist is kept, to be reported as such."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            wanted = HL7_SUFFIXES | FHIR_SUFFIXES
            out.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in wanted))
        else:
            out.append(path)
    return out


def detect_command(
    files: Annotated[
        list[Path], typer.Argument(help="HL7 v2 (.hl7/.txt) or FHIR JSON (.json) files, or folders of them")
    ],
    output: Annotated[OutputFormat, typer.Option("--format", help="json: one object per file per line")] = (
        OutputFormat.TEXT
    ),
    config_dir: ConfigOpt = None,
) -> None:
    """Run the detector on files and print the findings (no gateway needed)."""
    config = _config(config_dir)
    charset, zone = _settings_defaults()
    failed = False
    for path in detection_files(files):
        try:
            findings = findings_for_file(path, config, charset=charset, zone=zone)
        except InputError as exc:
            failed = True
            if output is OutputFormat.JSON:
                typer.echo(json.dumps({"file": str(path), "error": str(exc)}, ensure_ascii=False))
            else:
                typer.echo(f"{path}: ERROR {exc}")
            continue
        if output is OutputFormat.JSON:
            record = {"file": str(path), "findings": [finding_json(f) for f in findings]}
            typer.echo(json.dumps(record, ensure_ascii=False))
            continue
        typer.echo(f"{path}: {len(findings)} finding(s)")
        for f in findings:
            typer.echo(f"  [{f.severity.value}] {f.rule_id}: {f.explanation_nl}")
            for e in f.evidence:
                where = f" ({e.body_site})" if e.body_site else ""
                codes = f" {', '.join(e.codes)}" if e.codes else ""
                typer.echo(f"      {e.field}: {e.text}{codes}{where}")
            if f.next_step_nl:
                typer.echo(f"      → {f.next_step_nl}")
            typer.echo(f"      bron: {f.source}")
    if failed:
        raise typer.Exit(1)


def _read_labels(directory: Path) -> dict[str, dict[str, Any]]:
    path = directory / "labels.json"
    try:
        labels = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        typer.echo(f"{path}: cannot read labels: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    except json.JSONDecodeError as exc:
        typer.echo(f"{path}: not valid JSON: {exc}", err=True)
        raise typer.Exit(2) from None
    if not isinstance(labels, dict):
        typer.echo(f"{path}: expected an object keyed by case id", err=True)
        raise typer.Exit(2)
    return labels


def _label(case_id: str, raw: dict[str, Any]) -> Label:
    return Label(
        case_id=case_id,
        maltreatment=bool(raw.get("maltreatment")),
        expected_families=frozenset(raw.get("expected_families", [])),
        category=str(raw.get("category", "")),
        description=str(raw.get("description", "")),
    )


def evaluate_command(
    directory: Annotated[
        Path, typer.Argument(help="labelled set: labels.json, hl7/<id>.hl7, fhir/<id>.json")
    ],
    form: Annotated[Form, typer.Option(help="which form of each case to evaluate")] = Form.BOTH,
    config_dir: ConfigOpt = None,
) -> None:
    """Sensitivity, specificity, PPV and flags per 1,000, per rule family and overall, on a labelled set."""
    config = _config(config_dir)
    charset, zone = _settings_defaults()
    labels = _read_labels(directory)
    forms = [Form.HL7, Form.FHIR] if form is Form.BOTH else [form]
    per_form: dict[Form, dict[str, frozenset[tuple[str, str]]]] = {}
    for current in forms:
        results: list[CaseResult] = []
        fired: dict[str, frozenset[tuple[str, str]]] = {}
        for case_id in sorted(labels):
            label = _label(case_id, labels[case_id])
            path = directory / current.value / f"{case_id}.{'hl7' if current is Form.HL7 else 'json'}"
            try:
                findings = findings_for_file(path, config, charset=charset, zone=zone)
            except InputError as exc:
                results.append(CaseResult(label, error=str(exc)))
                continue
            results.append(CaseResult(label, tuple(findings)))
            fired[case_id] = frozenset((f.rule_id, f.severity.value) for f in findings)
        per_form[current] = fired
        report = evaluate(results, min_severity=config.limits.flag_min_severity)
        typer.echo(format_report(report, title=f"== {directory} ({current.value}) =="))
        typer.echo("")
    if len(per_form) == 2:
        hl7, fhir = per_form[Form.HL7], per_form[Form.FHIR]
        differ = sorted(c for c in hl7.keys() & fhir.keys() if hl7[c] != fhir[c])
        typer.echo(
            f"HL7 v2 and FHIR forms give the same findings for {len(hl7.keys() & fhir.keys()) - len(differ)}"
            f" of {len(hl7.keys() & fhir.keys())} cases"
            + (f"; differ: {', '.join(differ)}" if differ else "")
        )


def rules_command(config_dir: ConfigOpt = None) -> None:
    """List the active rules with severity, explanation and source."""
    config = _config(config_dir)
    for rule_id, spec, source in config.active_rules():
        typer.echo(f"{rule_id:16} {spec.severity.value:8} {spec.explanation_nl}")
        typer.echo(f"{'':25} bron: {source}")
        if spec.next_step_nl:
            typer.echo(f"{'':25} volgende stap: {spec.next_step_nl}")


def register(app: typer.Typer) -> None:
    """Mount the detection commands on the `spoedplein` app."""
    app.command("detect")(detect_command)
    app.command("evaluate")(evaluate_command)
    app.command("rules")(rules_command)


def main() -> None:  # pragma: no cover - `python -m gateway.commands.detection`
    standalone = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    register(standalone)
    standalone(prog_name="spoedplein")


if __name__ == "__main__":  # pragma: no cover
    main()
