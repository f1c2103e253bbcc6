"""Shared fixtures: real PostgreSQL and Redis servers, migrated databases on both engines."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from store.audit import chain_key
from store.crypto import FieldCipher, Pseudonymizer
from store.db import Database, make_engine
from store.migrate import upgrade
from tests.servers import PostgresServer, RedisServer

# The public sample corpus, kept in the repository with its licence (tests/corpus/README.md).
CORPUS = Path(__file__).resolve().parent / "corpus"

TEST_KEY = bytes(range(32))
_db_counter = itertools.count()


@pytest.hookimpl(tryfirst=True)  # before `-m` selects: the added mark must already be there
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A `slow` test (kill/restart, load) is also `serial`: `make unit` runs it after the parallel pass."""
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("serial"):
            item.add_marker(pytest.mark.serial)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    template = "spoedplein_template"
    server.execute(f"CREATE DATABASE {template}")
    upgrade(server.url(template))
    server.template = template  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.stop()


def new_postgres_database(server: PostgresServer) -> str:
    """A fresh, already migrated database cloned from the session's template (fast)."""
    name = f"t_{os.getpid()}_{next(_db_counter)}"
    server.execute(f"CREATE DATABASE {name} TEMPLATE {server.template}")  # type: ignore[attr-defined]
    return server.url(name)


def new_sqlite_database(directory: Path) -> str:
    url = f"sqlite:///{directory / 'spoedplein.sqlite'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database: each test runs once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return new_sqlite_database(tmp_path)
    return new_postgres_database(request.getfixturevalue("postgres_server"))


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(make_engine(database_url), audit_key=chain_key(TEST_KEY))
    yield database
    database.dispose()


@pytest.fixture
def cipher() -> FieldCipher:
    return FieldCipher(TEST_KEY)


@pytest.fixture
def pseudonyms() -> Pseudonymizer:
    return Pseudonymizer(TEST_KEY)
