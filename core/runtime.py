"""What a running process needs, built once from the settings: database, cipher, pseudonyms, token.

Every process (gateway, worker, relay, CLI) calls `Runtime.start(settings)`; the embedded default's
secrets are generated into the data directory on first start and read back afterwards.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

from core.clock import Clock, SystemClock, clock_for
from core.settings import Settings
from store import encrypted
from store.audit import chain_key
from store.crypto import FieldCipher, KeySource, Pseudonymizer
from store.db import Database, make_engine
from store.keyfile import (
    EnvKeySource,
    FileKeySource,
    load_or_create_secret,
    load_or_create_token,
    write_secret_text,
)
from store.migrate import upgrade


@dataclass
class Runtime:
    settings: Settings
    db: Database
    cipher: FieldCipher
    pseudonyms: Pseudonymizer
    api_token: str
    clock: Clock = field(default_factory=SystemClock)
    keys: KeySource | None = None  # where the key ring comes from (`spoedplein keys rotate` adds to it)

    @classmethod
    def start(cls, settings: Settings, *, migrate: bool = True) -> Runtime:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        keys = key_source(settings)
        ring = keys.load()
        if migrate:
            upgrade(settings.resolved_database_url)
        db = Database(
            make_engine(settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous),
            audit_key=chain_key(ring.root),  # the root, not the current key: the chain outlives rotations
        )
        cipher = FieldCipher(ring, keys)
        encrypted.install(cipher, db.engine)
        return cls(
            settings=settings,
            db=db,
            cipher=cipher,
            pseudonyms=Pseudonymizer(ring),
            api_token=_api_token(settings),
            clock=clock_for(settings.clock_offset_file),
            keys=keys,
        )

    def close(self) -> None:
        self.db.dispose()


def key_source(settings: Settings) -> KeySource:
    """The environment's keys when SPOEDPLEIN_ENCRYPTION_KEY is set, else the data directory's ring file
    (whose key 1 is the key generated there on first start)."""
    if settings.encryption_key:
        key = base64.b64decode(settings.encryption_key)
        if len(key) != 32:
            raise ValueError("SPOEDPLEIN_ENCRYPTION_KEY must be base64 of exactly 32 bytes")
        return EnvKeySource(key, settings.encryption_keys)
    secrets_dir = settings.data_dir / "secrets"
    root = load_or_create_secret(secrets_dir / "field-encryption.key", 32)
    return FileKeySource(secrets_dir / "field-encryption.keys", root)


def token_file(settings: Settings) -> Path:
    return settings.data_dir / "secrets" / "api-token"


def _api_token(settings: Settings) -> str:
    """The token the API accepts: SPOEDPLEIN_API_TOKEN when set, else one generated once. Either way
    `var/secrets/api-token` holds it, so `$(cat var/secrets/api-token)` is always the token to send."""
    path = token_file(settings)
    if settings.api_token:
        if not path.exists() or path.read_text().strip() != settings.api_token:
            write_secret_text(path, settings.api_token)
        return settings.api_token
    return load_or_create_token(path)
