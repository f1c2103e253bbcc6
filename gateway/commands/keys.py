"""`spoedplein keys rotate|status|new`: rotate the field-encryption key while the gateway runs.

`rotate` adds a new random key to the key ring file (`var/secrets/field-encryption.keys`), makes it the
current one, and (with `--now`) re-encrypts every stored value under it before it returns; without
`--now` the beat's rotation job does that in the background, a few batches every few seconds. Running
parts pick the new key up within seconds; values under any key of the ring stay readable throughout.
`status` counts the stored values per key id. `new` prints a fresh key, for key rings kept in the
environment (SPOEDPLEIN_ENCRYPTION_KEYS). Key 1 never leaves the ring: pseudonyms and the audit chain
are derived from it. No command prints or logs a key of the ring.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Annotated

import typer

from core.runtime import Runtime, key_source
from core.settings import Settings, get_settings
from gateway.commands import CliError
from store import encrypted
from store.db import Base
from store.keyfile import KeyRotationError
from store.migrate import import_all_models

app = typer.Typer(help="The field-encryption key ring: rotate the key, see which key holds how much data.")

DataDir = Annotated[Path | None, typer.Option(help="the data directory (as for `spoedplein run`)")]


def _settings(data_dir: Path | None) -> Settings:
    if data_dir is not None:
        os.environ["SPOEDPLEIN_DATA_DIR"] = str(data_dir.resolve())
    return get_settings()


def _print_status(runtime: Runtime) -> int:
    """One line per encrypted column with values per key id; the number not under the current key."""
    current = runtime.cipher.current_key_id
    old = 0
    for column, counts in encrypted.key_usage(runtime.db, Base.metadata).items():
        if counts:
            typer.echo(f"{column:40} " + ", ".join(f"key {k}: {n}" for k, n in sorted(counts.items())))
        old += sum(n for k, n in counts.items() if k != current)
    typer.echo(f"current key {current}; {old} values under an older key")
    return old


@app.command()
def rotate(
    data_dir: DataDir = None,
    now: Annotated[bool, typer.Option("--now", help="re-encrypt everything before returning")] = False,
) -> None:
    """Add a new key and make it current; stored values move to it in the background (or `--now`)."""
    settings = _settings(data_dir)
    keys = key_source(settings)
    try:
        ring = keys.add_key()
    except KeyRotationError as exc:
        raise CliError(str(exc), 2) from None
    typer.echo(f"key {ring.current} is now current ({len(ring.keys)} keys in the ring)")
    if not now:
        typer.echo(
            "the beat re-encrypts stored values in the background; `spoedplein keys status` shows progress"
        )
        return
    runtime = Runtime.start(settings)
    try:
        import_all_models()
        rewritten, _finished = encrypted.rotate(runtime.db, runtime.cipher, Base.metadata)
        typer.echo(f"re-encrypted {rewritten} values")
        _print_status(runtime)
    finally:
        runtime.close()


@app.command()
def status(data_dir: DataDir = None) -> None:
    """How many stored values each key holds, per encrypted column; exit 1 while any is under an old key."""
    runtime = Runtime.start(_settings(data_dir))
    try:
        import_all_models()
        old = _print_status(runtime)
    finally:
        runtime.close()
    if old:
        raise typer.Exit(1)


@app.command()
def new() -> None:
    """Print a fresh random key (base64 of 32 bytes) for SPOEDPLEIN_ENCRYPTION_KEYS."""
    typer.echo(base64.b64encode(secrets.token_bytes(32)).decode())


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="keys")
