"""`spoedplein send` and `spoedplein replay`: push HL7 v2 files to a running gateway over MLLP."""

from __future__ import annotations

import ssl
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from adapters.hl7.ack import parse_ack
from adapters.hl7.client import MLLPClient, MLLPClientError

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


def _message_key(payload: bytes) -> bytes:
    """(MSH-3, MSH-4, MSH-10) as bytes, the gateway's duplicate key; empty when there is no MSH."""
    if not payload.startswith(b"MSH") or len(payload) < 4:
        return b""
    fields = payload.split(b"\r", 1)[0].split(payload[3:4])
    return b"|".join(fields[i] if len(fields) > i else b"" for i in (2, 3, 9))


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
    with _client(host, port, tls_ca, tls_cert, tls_key) as client:
        for path in files:
            for n, payload in enumerate(split_messages(path.read_bytes()), start=1):
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


def replay_files(paths: list[Path], client: MLLPClient, *, show_progress: bool = True) -> ReplaySummary:
    """Send every message found under `paths`; count accepted, rejected (with reason) and duplicates."""
    messages = [(p, m) for p in _files(paths) for m in split_messages(p.read_bytes())]
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    seen_keys: set[bytes] = set()
    seen_ack_ids: set[str] = set()
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
            except (OSError, MLLPClientError) as exc:
                counts["no answer"] += 1
                reasons[f"{path.name}: {type(exc).__name__}"] += 1
                client.close()
                progress.advance(task)
                continue
            key = _message_key(payload)
            if parsed.code in ("AA", "CA"):
                duplicate = (key and key in seen_keys) or parsed.control_id in seen_ack_ids
                counts["duplicate" if duplicate else "accepted"] += 1
            else:
                counts["rejected"] += 1
                detail = "; ".join(
                    f"{e.code} {e.code_text} at {e.location}: {e.message}" for e in parsed.errors
                )
                detail = detail or parsed.text or parsed.code
                reasons[f"{parsed.code} {detail}"] += 1
            seen_keys.add(key)
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
) -> None:
    """Replay files (CR/LF/CRLF endings, MLLP-framed or not) and summarise what the gateway answered."""
    with _client(host, port, tls_ca, tls_cert, tls_key) as client:
        summary = replay_files(paths, client)
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
