"""`spoedplein fhir-post` and `spoedplein fhir-subscriptions`: push FHIR JSON files to a running gateway,
and show where its Subscriptions stand (event counts, gaps).

`fhir-post` sends each file as it is: a Bundle to `POST /fhir`, one resource to `POST /fhir/{type}`. It
prints per file the HTTP status and, for a refusal, the OperationOutcome's first issue (its diagnostics
name the element path, never a value), then a summary. Exit code 1 when any file was refused.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

UrlOpt = Annotated[str, typer.Option(help="gateway base URL")]
TokenOpt = Annotated[str, typer.Option(envvar="SPOEDPLEIN_API_TOKEN", help="the gateway's API token")]


def _target(data: Any) -> str:
    kind = data.get("resourceType") if isinstance(data, dict) else None
    return "/fhir" if kind in (None, "Bundle") else f"/fhir/{kind}"


def _files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        out.extend(sorted(path.rglob("*.json")) if path.is_dir() else [path])
    return out


def fhir_post(
    paths: Annotated[list[Path], typer.Argument(help="JSON files or directories of them")],
    url: UrlOpt = "http://127.0.0.1:8000",
    token: TokenOpt = "",
) -> None:
    """Send FHIR Bundles / resources to the gateway and report what it answered."""
    counts: Counter[str] = Counter()
    with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as client:
        for file in _files(paths):
            body = file.read_bytes()
            try:
                path = _target(json.loads(body))
            except ValueError:
                path = "/fhir"  # the gateway answers with the precise JSON error
            try:
                reply = client.post(path, content=body, headers={"Content-Type": "application/fhir+json"})
            except httpx.HTTPError as exc:
                typer.echo(f"{file.name}: not delivered ({type(exc).__name__})")
                counts["not delivered"] += 1
                continue
            if reply.status_code < 300:
                counts["duplicate" if reply.status_code == 200 and path != "/fhir" else "accepted"] += 1
                typer.echo(f"{file.name}: {reply.status_code}")
            else:
                issue = (reply.json().get("issue") or [{}])[0] if reply.content else {}
                counts["refused"] += 1
                typer.echo(f"{file.name}: {reply.status_code} {issue.get('diagnostics', '')}")
    typer.echo(", ".join(f"{name} {n}" for name, n in sorted(counts.items())) or "no files")
    if counts["refused"] or counts["not delivered"]:
        raise typer.Exit(1)


def fhir_subscriptions(url: UrlOpt = "http://127.0.0.1:8000", token: TokenOpt = "") -> None:
    """List the EHR Subscriptions the gateway receives, their event counts and any gaps."""
    reply = httpx.get(
        f"{url}/api/fhir/subscriptions", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    reply.raise_for_status()
    for sub in reply.json():
        gaps = ", ".join(f"{g['first']}-{g['last']}" for g in sub["gaps"]) or "none"
        typer.echo(f"{sub['reference']}: {sub['status']}, events {sub['events_seen']}, gaps {gaps}")


def register(app: typer.Typer) -> None:
    app.command("fhir-post")(fhir_post)
    app.command("fhir-subscriptions")(fhir_subscriptions)
