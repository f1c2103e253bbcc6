"""Schema migrations: Alembic, one branch per domain package, applied at start with `upgrade heads`.

Each domain that owns tables keeps its revisions in `<package>/migrations/versions/` with its own
branch label, so packages evolve their tables without rebasing onto each other; a revision that needs
another domain's table says so with `depends_on`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

ROOT = Path(__file__).resolve().parent.parent
DOMAINS_WITH_TABLES = ("store", "identity", "workflows", "consent", "notifications", "adapters.fhir")
MODEL_MODULES = (
    "store.inbox",
    "store.outbox",
    "store.audit",
    "identity.models",
    "presentations.models",
    "workflows.models",
    "consent.models",
    "notifications.models",
    "adapters.fhir.models",
)


def import_all_models() -> None:
    """Import every module that declares tables, so `Base.metadata` is complete."""
    for name in MODEL_MODULES:
        importlib.import_module(name)  # every listed module exists: a missing one is an error, not skipped


def version_locations() -> list[str]:
    locations = []
    for package in DOMAINS_WITH_TABLES:
        folder = ROOT.joinpath(*package.split("."), "migrations", "versions")
        if folder.is_dir():
            locations.append(str(folder))
    return locations


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ROOT / "store" / "migrations"))
    config.set_main_option("version_locations", " ".join(version_locations()))
    config.set_main_option("path_separator", "space")
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str) -> None:
    """Bring the database to the newest revision of every branch (idempotent)."""
    command.upgrade(alembic_config(database_url), "heads")


@dataclass(frozen=True)
class SchemaStatus:
    """Where the database's schema stands against this code's migrations."""

    pending: frozenset[str]  # heads of this code the database has not reached
    unknown: frozenset[str]  # revisions in the database this code does not have (a newer release ran)

    @property
    def current(self) -> bool:
        return not self.pending and not self.unknown


def schema_status(database_url: str) -> SchemaStatus:
    """Compare the database's applied heads with this code's heads (one short read; nothing changes).
    Raises SQLAlchemy's OperationalError when the database cannot be reached."""
    script = ScriptDirectory.from_config(alembic_config(database_url))
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            applied = set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()
    known = {revision.revision for revision in script.walk_revisions()}
    heads = set(script.get_heads())
    unknown = applied - known
    reached: set[str] = set()
    for head in applied & known:
        reached.update(r.revision for r in script.iterate_revisions(head, "base"))
    return SchemaStatus(pending=frozenset(heads - reached), unknown=frozenset(unknown))
