"""Field encryption for patient data at rest: AES-256-GCM with a random 96-bit nonce per value, and a key
ring so the key can be rotated while the gateway runs (docs/operations.md, "Rotating the encryption key").

Stored layout: 1 key-id byte | 12-byte nonce | ciphertext+tag. Key 1 is the installation's first key;
its values have the layout that was written before key rotation existed (whose version byte `0x01` now
reads as "key 1"), so nothing stored before has to change. A cipher decrypts a value of any key in its
ring and encrypts with the current key; a value of a key id it does not know makes it reload the ring
once (another process may have rotated), then fails.

The associated data binds a ciphertext to its column (e.g. `b"inbox:raw"`), so a value copied into
another column fails to decrypt instead of silently showing other data.

The pseudonym and audit-chain keys are derived from key 1, the ring's *root*, and never from the current
key: pseudonyms are lookup keys in clear columns and must not change when the encryption key rotates.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_NONCE_BYTES = 12
ROOT_KEY_ID = 1
MAX_KEY_ID = 255  # one byte; a key a year for longer than this software will run
_RELOAD_CHECK_S = 2.0  # how often a cipher looks whether the ring changed (cheap: a file's mtime)


class DecryptionError(Exception):
    """The value was not written with a known key, or it was altered, or moved to another column."""


@dataclass(frozen=True)
class KeyRing:
    """The encryption keys by id, which one encrypts, and the root the derived keys come from."""

    keys: dict[int, bytes]
    current: int
    root: bytes = field(default=b"")

    def __post_init__(self) -> None:
        for key_id, key in self.keys.items():
            if not 1 <= key_id <= MAX_KEY_ID:
                raise ValueError(f"key id {key_id} is outside 1..{MAX_KEY_ID}")
            if len(key) != 32:
                raise ValueError(f"key {key_id} must be 32 bytes (AES-256)")
        if self.current not in self.keys:
            raise ValueError(f"the current key {self.current} is not in the ring")
        if not self.root:
            if ROOT_KEY_ID not in self.keys:
                raise ValueError("the ring has no root key (key 1)")
            object.__setattr__(self, "root", self.keys[ROOT_KEY_ID])

    @classmethod
    def single(cls, key: bytes) -> KeyRing:
        return cls({ROOT_KEY_ID: key}, ROOT_KEY_ID)


class KeySource(Protocol):
    """Where the key ring comes from: a file (store/keyfile.py), the environment, or a KMS."""

    def load(self) -> KeyRing:
        """The ring as it is now."""
        ...

    def changed(self) -> bool:
        """Cheap: may the ring differ from the last `load`? (A file compares its mtime.)"""
        ...

    def add_key(self) -> KeyRing:
        """Add a new random key and make it current; the ring after. Raises if this source cannot."""
        ...


class FieldCipher:
    """Encrypts with the ring's current key; decrypts with whichever key a value names."""

    def __init__(self, keys: bytes | KeyRing, source: KeySource | None = None) -> None:
        self._source = source
        self._lock = threading.Lock()
        self._checked_at = time.monotonic()
        self._use(keys if isinstance(keys, KeyRing) else KeyRing.single(keys))

    def _use(self, ring: KeyRing) -> None:
        # One AESGCM object per key, built once; the tuple is replaced whole, so readers need no lock.
        aeads = {key_id: AESGCM(key) for key_id, key in ring.keys.items()}
        self._state = (ring, aeads, bytes([ring.current]), aeads[ring.current])

    @property
    def ring(self) -> KeyRing:
        return self._state[0]

    @property
    def current_key_id(self) -> int:
        return self._state[0].current

    def reload(self) -> bool:
        """Read the ring from the source again; True if it changed."""
        if self._source is None:
            return False
        with self._lock:
            ring = self._source.load()
            if ring == self._state[0]:
                return False
            self._use(ring)
            return True

    def refresh(self) -> None:
        """Reload the ring if the source says it changed (looked at most every couple of seconds): a
        process started before a rotation encrypts with the new key within seconds."""
        now = time.monotonic()
        if self._source is not None and now - self._checked_at >= _RELOAD_CHECK_S:
            self._checked_at = now
            if self._source.changed():
                self.reload()

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        self.refresh()
        _ring, _aeads, prefix, aead = self._state
        nonce = os.urandom(_NONCE_BYTES)
        return prefix + nonce + aead.encrypt(nonce, plaintext, associated_data)

    def decrypt(self, stored: bytes, associated_data: bytes) -> bytes:
        if not stored:
            raise DecryptionError("empty ciphertext")
        aead = self._state[1].get(stored[0])
        if aead is None and self.reload():
            aead = self._state[1].get(stored[0])
        if aead is None:
            raise DecryptionError(f"unknown key id {stored[0]}")
        nonce = stored[1 : 1 + _NONCE_BYTES]
        try:
            return aead.decrypt(nonce, stored[1 + _NONCE_BYTES :], associated_data)
        except InvalidTag as exc:
            raise DecryptionError("ciphertext does not match key or associated data") from exc

    def reencrypt(self, stored: bytes, associated_data: bytes) -> bytes | None:
        """`stored` under the current key, or None if it already is."""
        if stored[:1] == self._state[2]:
            return None
        return self.encrypt(self.decrypt(stored, associated_data), associated_data)


def derive_key(key: bytes, label: bytes) -> bytes:
    """A 32-byte key for one purpose, derived from the field encryption key (HKDF-SHA256, `label` as info):
    one secret to keep, and a key for one purpose tells nothing about the others."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(key)


class Pseudonymizer:
    """Deterministic HMAC-SHA256 references to a patient or encounter, for linking rows without the BSN.

    The HMAC key is derived from the key ring's root (key 1; HKDF, own label): it stays the same when the
    encryption key rotates, as it must for a lookup key.
    """

    def __init__(self, key: bytes | KeyRing) -> None:
        root = key.root if isinstance(key, KeyRing) else key
        self._key = derive_key(root, b"spoedplein-pseudonym")

    def ref(self, kind: str, value: str) -> str:
        import hmac
        from hashlib import sha256

        digest = hmac.new(self._key, f"{kind}\x1f{value}".encode(), sha256).hexdigest()
        return f"{kind}:{digest[:32]}"
