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
from store.audit import chain_key
from store.crypto import FieldCipher, Pseudonymizer
from store.db import Database, make_engine
from store.keyfile import load_or_create_secret, load_or_create_token, write_secret_text
from store.migrate import upgrade


@dataclass
class Runtime:
    settings: Settings
    db: Database
    cipher: FieldCipher
    pseudonyms: Pseudonymizer
    api_token: str
    clock: Clock = field(default_factory=SystemClock)

    @classmethod
    def start(cls, settings: Settings, *, migrate: bool = True) -> Runtime:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        key = _encryption_key(settings)
        if migrate:
            upgrade(settings.resolved_database_url)
        db = Database(
            make_engine(settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous),
            audit_key=chain_key(key),
        )
        return cls(
            settings=settings,
            db=db,
            cipher=FieldCipher(key),
            pseudonyms=Pseudonymizer(key),
            api_token=_api_token(settings),
            clock=clock_for(settings.clock_offset_file),
        )

    def close(self) -> None:
        self.db.dispose()


def _encryption_key(settings: Settings) -> bytes:
    if settings.encryption_key:
        key = base64.b64decode(settings.encryption_key)
        if len(key) != 32:
            raise ValueError("SPOEDPLEIN_ENCRYPTION_KEY must be base64 of exactly 32 bytes")
        return key
    return load_or_create_secret(settings.data_dir / "secrets" / "field-encryption.key", 32)


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
