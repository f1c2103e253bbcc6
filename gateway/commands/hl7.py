"""`spoedplein send` and `spoedplein replay`: push HL7 v2 files to a running gateway over MLLP."""

from __future__ import annotations

import ssl
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from adapters.hl7.ack import ParsedAck, parse_ack
from adapters.hl7.client import MLLPClient, MLLPClientError
from adapters.hl7.errors import HL7Error
from adapters.hl7.timestamps import parse_datetime
from gateway.commands import GATEWAY_DOWN, CliError

HostOpt = Annotated[str, typer.Option(help="gateway MLLP host")]
PortOpt = Annotated[int, typer.Option(help="gateway MLLP port")]
CaOpt = Annotated[Path | None, typer.Option("--tls-ca", help="CA file: connect with TLS and verify")]
CertOpt = Annotated[Path | None, typer.Option("--tls-cert", help="client certificate for mutual TLS")]
KeyOpt = Annotated[Path | None, typer.Option("--tls-key", help="client key for mutual TLS")]


def _client(host: str, port: int, ca: Path | None, cert: Path | None, key: Path | None) -> MLLPClient:
    context: ssl.SSLContext | None = None
    if ca is not None:
        from adapters.hl7.tls import client_context

        context = client_context(ca=ca, cert=cert, key=key)
    return MLLPClient(host, port, ssl_context=context, timeout_s=30)


def _connect(client: MLLPClient, host: str, port: int) -> None:
    """Connect before sending anything: a gateway that is not there is one clear error, not one per
    message."""
    try:
        client.connect()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise CliError(
            f"cannot reach the gateway's MLLP port at {host}:{port} ({why}); is it running?", GATEWAY_DOWN
        ) from None


def split_messages(data: bytes) -> list[bytes]:
    from adapters.hl7.files import split_messages as split

    return split(data)


MESSAGE_SUFFIXES = frozenset({".hl7", ".hl7v2", ".er7", ".msg", ".txt", ".dat"})


def _files(paths: list[Path]) -> list[Path]:
    """Files named on the command line as given; from a directory, the files with a message suffix
    (a LICENSE or README next to the messages is not sent)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(
                sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in MESSAGE_SUFFIXES)
            )
        else:
            out.append(path)
    return out


def send(
    files: Annotated[list[Path], typer.Argument(help="HL7 v2 files (one or many messages each)")],
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 2575,
    tls_ca: CaOpt = None,
    tls_cert: CertOpt = None,
    tls_key: KeyOpt = None,
) -> None:
    """Send each message of each file and print the ACK the gateway answered."""
    failed = False
    messages = [(path, split_messages(path.read_bytes())) for path in files]  # a missing file: said first
    with _client(host, port, tls_ca, tls_cert, tls_key) as client:
        _connect(client, host, port)
        for path, payloads in messages:
            for n, payload in enumerate(payloads, start=1):
                try:
                    ack = client.send(payload)
                except (OSError, MLLPClientError) as exc:
                    typer.echo(f"{path}#{n}: no ACK ({type(exc).__name__}: {exc})", err=True)
                    failed = True
                    continue
                typer.echo(f"--- {path}#{n}")
                typer.echo(ack.replace(b"\r", b"\n").decode("utf-8", "replace").rstrip())
    if failed:
        raise typer.Exit(1)


@dataclass
class ReplaySummary:
    counts: Counter[str]
    reasons: Counter[str]


def _stamped_at(ack: ParsedAck) -> datetime | None:
    """The ACK's MSH-7: when the gateway built it, i.e. when it first took the message in."""
    if ack.header is None:
        return None
    fields = ack.header.segments[0].split(ack.header.delimiters.field)
    try:
        return parse_datetime(fields[6]) if len(fields) > 6 and fields[6] else None
    except ValueError:
        return None


def replay_files(
    paths: list[Path], client: MLLPClient, *, show_progress: bool = True, clock_tolerance_s: float = 5.0
) -> ReplaySummary:
    """Send every message found under `paths`; count accepted, rejected (with reason) and duplicates.

    A duplicate is a message the gateway recognised as one it already holds: it answers a resend with
    the ACK it stored the first time, so the ACK's own control id was seen earlier in this replay, or
    the ACK was made before this replay began (an earlier run; `clock_tolerance_s` allows for the two
    clocks disagreeing a little). A reused control id with other content is a new message, accepted.
    """
    messages = [(p, m) for p in _files(paths) for m in split_messages(p.read_bytes())]
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    seen_ack_ids: set[str] = set()
    earlier = datetime.now(UTC) - timedelta(seconds=clock_tolerance_s)
    progress = Progress(
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        disable=not show_progress,
    )
    with progress:
        task = progress.add_task("replay", total=len(messages))
        for path, payload in messages:
            try:
                parsed = parse_ack(client.send(payload))
            except (OSError, MLLPClientError, HL7Error) as exc:
                counts["no answer"] += 1
                reasons[f"{path.name}: {type(exc).__name__}"] += 1
                client.close()
                progress.advance(task)
                continue
            if parsed.code in ("AA", "CA"):
                stamped = _stamped_at(parsed)
                duplicate = parsed.control_id in seen_ack_ids or (stamped is not None and stamped < earlier)
                counts["duplicate" if duplicate else "accepted"] += 1
            else:
                counts["rejected"] += 1
                detail = "; ".join(
                    f"{e.code} {e.code_text} at {e.location}: {e.message}" for e in parsed.errors
                )
                detail = detail or parsed.text or parsed.code
                reasons[f"{parsed.code} {detail}"] += 1
            seen_ack_ids.add(parsed.control_id)
            progress.advance(task)
    return ReplaySummary(counts, reasons)


def replay(
    paths: Annotated[list[Path], typer.Argument(help="files or directories of HL7 v2 messages")],
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 2575,
    tls_ca: CaOpt = None,
    tls_cert: CertOpt = None,
    tls_key: KeyOpt = None,
    clock_tolerance_s: Annotated[
        float, typer.Option(help="how far the gateway's clock may run ahead of this one (duplicate test)")
    ] = 5.0,
) -> None:
    """Replay files (CR/LF/CRLF endings, MLLP-framed or not) and summarise what the gateway answered.

    Duplicates are the messages the gateway recognised as already held (it answers them with the ACK
    it stored), in this run or an earlier one."""
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(2, "No such file or directory", str(path))
    with _client(host, port, tls_ca, tls_cert, tls_key) as client:
        _connect(client, host, port)
        summary = replay_files(paths, client, clock_tolerance_s=clock_tolerance_s)
    total = sum(summary.counts.values())
    typer.echo(
        f"{total} messages: {summary.counts['accepted']} accepted, {summary.counts['duplicate']} duplicates, "
        f"{summary.counts['rejected']} rejected, {summary.counts['no answer']} without answer"
    )
    for reason, count in summary.reasons.most_common():
        typer.echo(f"  {count:4d} × {reason}")
    if summary.counts["no answer"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(send)
    app.command()(replay)
