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

from gateway.commands import GATEWAY_DOWN, TOKEN_PROBLEM, CliError

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


def api_token(given: str) -> str:
    """The token to send: `--token`, else SPOEDPLEIN_API_TOKEN, else the data directory's
    `secrets/api-token` (what `spoedplein run` uses and prints); none of them is a `CliError`."""
    if given:
        return given
    from core.runtime import token_file
    from core.settings import get_settings

    path = token_file(get_settings())
    if path.is_file():
        return path.read_text().strip()
    raise CliError(
        f"no API token: pass --token, set SPOEDPLEIN_API_TOKEN, or run from the directory whose {path} "
        "holds it (`spoedplein run` creates it)",
        TOKEN_PROBLEM,
    )


def _refused_token(reply: httpx.Response) -> None:
    if reply.status_code == 401:
        raise CliError(
            "the gateway refused the API token (401); check --token or SPOEDPLEIN_API_TOKEN", TOKEN_PROBLEM
        )


def _unreachable(url: str, exc: httpx.HTTPError) -> CliError:
    return CliError(f"cannot reach the gateway at {url} ({type(exc).__name__}); is it running?", GATEWAY_DOWN)


def fhir_post(
    paths: Annotated[list[Path], typer.Argument(help="JSON files or directories of them")],
    url: UrlOpt = "http://127.0.0.1:8000",
    token: TokenOpt = "",
) -> None:
    """Send FHIR Bundles / resources to the gateway and report what it answered."""
    counts: Counter[str] = Counter()
    files = _files(paths)
    for file in files:
        if not file.is_file():
            raise FileNotFoundError(2, "No such file or directory", str(file))
    headers = {"Authorization": f"Bearer {api_token(token)}"}
    with httpx.Client(base_url=url, timeout=60, headers=headers) as client:
        try:
            client.get("/healthz")
        except httpx.HTTPError as exc:
            raise _unreachable(url, exc) from None
        for file in files:
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
            _refused_token(reply)
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
    headers = {"Authorization": f"Bearer {api_token(token)}"}
    try:
        reply = httpx.get(f"{url}/api/fhir/subscriptions", headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        raise _unreachable(url, exc) from None
    _refused_token(reply)
    if reply.status_code != 200:
        raise CliError(f"the gateway answered {reply.status_code}")
    for sub in reply.json():
        gaps = ", ".join(f"{g['first']}-{g['last']}" for g in sub["gaps"]) or "none"
        typer.echo(f"{sub['reference']}: {sub['status']}, events {sub['events_seen']}, gaps {gaps}")


def register(app: typer.Typer) -> None:
    app.command("fhir-post")(fhir_post)
    app.command("fhir-subscriptions")(fhir_subscriptions)
