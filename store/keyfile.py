"""Secrets that the embedded default generates once into its data directory (encryption key, API token),
and the key ring's file (`FileKeySource`) that `spoedplein keys rotate` adds keys to.

Written with mode 0600 via a temporary file and an atomic rename, so two processes starting at the same
time agree on one value: the loser of the race reads the winner's file. The API token's file holds the
token itself, exactly as a client sends it (`TOKEN=$(cat var/secrets/api-token)`).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from store.crypto import MAX_KEY_ID, ROOT_KEY_ID, KeyRing


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


class KeyRotationError(Exception):
    """The key source cannot take a new key (the message says what to do instead)."""


class FileKeySource:
    """The key ring in a file (JSON, mode 0600): `{"current": 2, "keys": {"1": "<base64>", "2": ...}}`.

    Before the first rotation there is no ring file: the ring is key 1 alone, the installation's single key
    (`root_key`, from SPOEDPLEIN_ENCRYPTION_KEY or `field-encryption.key`). The first rotation writes the
    ring with that key as 1, so installations from before key rotation need no migration. Key 1 stays in
    the ring for good: pseudonyms and the audit chain are derived from it.
    """

    def __init__(self, path: Path, root_key: bytes) -> None:
        self.path = path
        self._root_key = root_key
        self._mtime: float | None = None

    def _stat(self) -> float | None:
        try:
            return self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def load(self) -> KeyRing:
        self._mtime = self._stat()
        if self._mtime is None:
            return KeyRing.single(self._root_key)
        document = json.loads(self.path.read_text(encoding="utf-8"))
        keys = {int(k): base64.b64decode(v) for k, v in document["keys"].items()}
        if keys.get(ROOT_KEY_ID) != self._root_key:
            raise ValueError(f"{self.path}: key 1 is not this installation's encryption key")
        return KeyRing(keys, int(document["current"]))

    def changed(self) -> bool:
        return self._stat() != self._mtime

    def add_key(self) -> KeyRing:
        ring = self.load()
        new_id = max(ring.keys) + 1
        if new_id > MAX_KEY_ID:
            raise KeyRotationError(f"the ring holds key ids up to {MAX_KEY_ID}")
        keys = {**ring.keys, new_id: secrets.token_bytes(32)}
        document = {
            "current": new_id,
            "keys": {str(k): base64.b64encode(v).decode() for k, v in keys.items()},
        }
        write_secret_text(self.path, json.dumps(document, indent=1))
        return self.load()


class EnvKeySource:
    """Keys from the environment: SPOEDPLEIN_ENCRYPTION_KEY is key 1, SPOEDPLEIN_ENCRYPTION_KEYS adds
    `id:base64` pairs (comma separated); the highest id is current. A process cannot change its own
    environment, so rotating means: add the key printed by `spoedplein keys new` to the variable and
    restart the parts one by one; the rotation job then re-encrypts (docs/operations.md)."""

    def __init__(self, root_key: bytes, extra: str = "") -> None:
        self._ring = KeyRing.single(root_key)
        if extra.strip():
            keys = {ROOT_KEY_ID: root_key}
            for pair in extra.split(","):
                key_id, _, value = pair.strip().partition(":")
                keys[int(key_id)] = base64.b64decode(value)
            self._ring = KeyRing(keys, max(keys))

    def load(self) -> KeyRing:
        return self._ring

    def changed(self) -> bool:
        return False

    def add_key(self) -> KeyRing:
        raise KeyRotationError(
            "the keys come from the environment: add a key to SPOEDPLEIN_ENCRYPTION_KEYS "
            "(`spoedplein keys new` prints one) and restart the parts one by one"
        )
