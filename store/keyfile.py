"""Secrets that the embedded default generates once into its data directory (encryption key, API token).

Written with mode 0600 via a temporary file and an atomic rename, so two processes starting at the same
time agree on one value: the loser of the race reads the winner's file. The API token's file holds the
token itself, exactly as a client sends it (`TOKEN=$(cat var/secrets/api-token)`).
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path


def load_or_create_secret(path: Path, nbytes: int = 32) -> bytes:
    """Return the secret stored at `path`, creating it (random, `nbytes` long) if it does not exist."""
    if path.exists():
        return base64.b64decode(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_bytes(nbytes)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(value).decode() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(tmp, path)  # fails if another process won the race; then we read theirs
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return base64.b64decode(path.read_text().strip())


def load_or_create_token(path: Path, nbytes: int = 24) -> str:
    """The API token stored at `path` (created if missing), as the text a client sends.

    A file written before the token was stored as text holds the standard base64 of the random bytes;
    the token was (and is) its URL-safe form, so such a file is read as that and rewritten once."""
    if not path.exists():
        value = secrets.token_bytes(nbytes)
        _create_text(path, base64.urlsafe_b64encode(value).decode().rstrip("="))
    stored = path.read_text().strip()
    token = stored.replace("+", "-").replace("/", "_").rstrip("=")
    if token != stored:
        write_secret_text(path, token)
    return token


def write_secret_text(path: Path, text: str) -> None:
    """Replace `path` with `text` (mode 0600, atomically): readers see the old or the new, never half."""
    os.replace(_temporary_with(path, text), path)


def _create_text(path: Path, text: str) -> None:
    """Write `text` to `path` unless another process created it first (then theirs stands)."""
    tmp = _temporary_with(path, text)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def _temporary_with(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return tmp
