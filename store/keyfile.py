"""Secrets that the embedded default generates once into its data directory (encryption key, API token).

Written with mode 0600 via a temporary file and an atomic rename, so two processes starting at the same
time agree on one value: the loser of the race reads the winner's file.
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
