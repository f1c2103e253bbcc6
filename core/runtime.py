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
from store.crypto import FieldCipher, Pseudonymizer
from store.db import Database, make_engine
from store.keyfile import load_or_create_secret
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
            make_engine(settings.resolved_database_url, sqlite_synchronous=settings.sqlite_synchronous)
        )
        return cls(
            settings=settings,
            db=db,
            cipher=FieldCipher(key),
            pseudonyms=Pseudonymizer(key),
            api_token=settings.api_token or _generated_token(settings.data_dir / "secrets" / "api-token"),
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


def _generated_token(path: Path) -> str:
    return base64.urlsafe_b64encode(load_or_create_secret(path, 24)).decode().rstrip("=")
