"""Field encryption for patient data at rest: AES-256-GCM with a random 96-bit nonce per value.

Stored layout: 1 version byte (`0x01`) | 12-byte nonce | ciphertext+tag. The associated data binds a
ciphertext to its row and column (e.g. `b"inbox:raw"`), so a value copied into another row fails to
decrypt instead of silently showing another patient's data.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = b"\x01"
_NONCE_BYTES = 12


class DecryptionError(Exception):
    """The value was not written with this key, or it was altered, or moved to another row/column."""


class FieldCipher:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the field encryption key must be 32 bytes (AES-256)")
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: bytes, associated_data: bytes) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, associated_data)

    def decrypt(self, stored: bytes, associated_data: bytes) -> bytes:
        if not stored or stored[:1] != _VERSION:
            raise DecryptionError("unknown ciphertext version")
        nonce = stored[1 : 1 + _NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, stored[1 + _NONCE_BYTES :], associated_data)
        except InvalidTag as exc:
            raise DecryptionError("ciphertext does not match key or associated data") from exc


def derive_key(key: bytes, label: bytes) -> bytes:
    """A 32-byte key for one purpose, derived from the field encryption key (HKDF-SHA256, `label` as info):
    one secret to keep, and a key for one purpose tells nothing about the others."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(key)


class Pseudonymizer:
    """Deterministic HMAC-SHA256 references to a patient or encounter, for linking rows without the BSN.

    The HMAC key is derived from the field encryption key (HKDF, own label), so one secret protects both.
    """

    def __init__(self, key: bytes) -> None:
        self._key = derive_key(key, b"spoedplein-pseudonym")

    def ref(self, kind: str, value: str) -> str:
        import hmac
        from hashlib import sha256

        digest = hmac.new(self._key, f"{kind}\x1f{value}".encode(), sha256).hexdigest()
        return f"{kind}:{digest[:32]}"
