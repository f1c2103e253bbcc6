"""Database engine, sessions and the declarative base shared by every domain's tables.

SQLite (WAL) is the embedded default; PostgreSQL is production. Write transactions on SQLite start with
`BEGIN IMMEDIATE` so two processes never deadlock upgrading a read lock; on PostgreSQL row claims use
`FOR UPDATE SKIP LOCKED` (see `claim_rows`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    DateTime,
    Engine,
    Integer,
    MetaData,
    Select,
    create_engine,
    event,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# Primary keys: 64-bit on PostgreSQL; on SQLite only INTEGER PRIMARY KEY is the auto-incrementing rowid.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both engines (SQLite has no zone; we store UTC and re-attach it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# The largest id the stores hold (SQLite INTEGER, PostgreSQL BIGINT). A larger id names no row, and must
# be answered as "not found" rather than overflow inside the driver.
MAX_ID = 2**63 - 1

Row = TypeVar("Row")


def get_by_id(session: Session, model: type[Row], row_id: int) -> Row | None:
    """`session.get`, but an id outside the stores' integer range is simply not there (no overflow)."""
    return session.get(model, row_id) if 1 <= row_id <= MAX_ID else None


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(
    url: str,
    *,
    sqlite_synchronous: str = "FULL",
    echo: bool = False,
    pool_size: int = 40,
    sqlite_busy_timeout_ms: int = 30_000,
    sqlite_checkpoints: bool = True,
) -> Engine:
    """An engine with the pragmas and transaction behaviour the durability rules need.

    `sqlite_checkpoints=False` for the connections of a latency-critical path: SQLite otherwise copies the
    WAL into the database (with two fsyncs) inside whichever COMMIT takes the WAL past 1,000 pages, tens
    of milliseconds added to that one call. The beat checkpoints instead (`store.checkpoint`)."""
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if not url.startswith("sqlite"):
        return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=10, max_overflow=20)

    engine = create_engine(
        url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=pool_size
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event, not the driver, decide how transactions start.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={sqlite_synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(sqlite_busy_timeout_ms)}")
        if not sqlite_checkpoints:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


class Database:
    """An engine plus its two session factories: deferred reads and immediate (claiming) writes.

    `audit_key` (`store.audit.chain_key`) travels in every session's `info`, so the audit call needs
    nothing but the session it writes in; without it, writing an audit entry fails (no log, no data)."""

    def __init__(self, engine: Engine, *, audit_key: bytes | None = None) -> None:
        self.engine = engine
        info = {"audit_chain_key": audit_key} if audit_key is not None else {}
        self._reads = sessionmaker(bind=engine, expire_on_commit=False, info=info)
        writer = engine.execution_options(sqlite_begin="IMMEDIATE") if self.is_sqlite else engine
        self._writes = sessionmaker(bind=writer, expire_on_commit=False, info=info)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: committed on success, rolled back on any exception."""
        with self._writes() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reads() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


class DriverSQL:
    """Plain driver SQL for hot paths, where SQLAlchemy's per-statement cost (~150 µs) would be the
    largest cost of the statement. Placeholders and timestamps follow the driver: SQLite's `?` and the
    text format SQLAlchemy itself stores; psycopg's `%s` and aware datetimes. Runs in the transaction of
    the driver connection it is given (a session's, or `driver_transaction`'s own); a driver error is
    raised as SQLAlchemy's (`IntegrityError`, `OperationalError`, …), as a Core statement would.
    """

    def __init__(self, dialect: Dialect, dbapi_connection: Any) -> None:
        self.sqlite = dialect.name == "sqlite"
        self._dbapi: Any = dialect.dbapi
        self._cursor = dbapi_connection.cursor()  # the driver's own cursor: no per-statement layers

    def marks(self, count: int) -> str:
        return ", ".join(["?" if self.sqlite else "%s"] * count)

    def timestamp(self, moment: datetime) -> object:
        if self.sqlite:
            return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return moment

    def read_timestamp(self, value: object) -> datetime:
        """A timestamp column's value as an aware UTC datetime (what `UTCDateTime` gives through the ORM)."""
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        if not isinstance(moment, datetime):
            raise TypeError(f"not a timestamp: {type(value).__name__}")
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    def rows(self, statement: str, params: Sequence[object]) -> list[tuple[Any, ...]]:
        cursor = self._cursor
        try:
            cursor.execute(statement, tuple(params))
        except self._dbapi.Error as exc:
            # SQLAlchemy's own wrapper of the driver's error (IntegrityError, OperationalError, …).
            raise DBAPIError.instance(statement, None, exc, self._dbapi.Error) from exc
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []


@contextmanager
def driver_transaction(engine: Engine, *, write: bool) -> Iterator[DriverSQL]:
    """One transaction in plain driver SQL on a pooled connection, without SQLAlchemy's connection and
    transaction objects (on a call that runs two tiny statements they cost more than the statements).

    SQLite: BEGIN IMMEDIATE for a write, else a deferred BEGIN; committed on success, rolled back on
    any exception. `engine` must come from `make_engine` (SQLite connections in driver autocommit mode,
    so these BEGIN/COMMIT statements are the only transaction control)."""
    raw = engine.raw_connection()
    try:
        sql = DriverSQL(engine.dialect, raw.driver_connection)
        if sql.sqlite:
            sql.rows("BEGIN IMMEDIATE" if write else "BEGIN", ())
        try:
            yield sql
        except BaseException:
            raw.rollback()
            raise
        if sql.sqlite:
            sql.rows("COMMIT", ())
        else:
            raw.commit()
    finally:
        raw.close()  # back to the pool (which rolls back anything left open)


def is_busy(exc: DBAPIError) -> bool:
    """True for SQLite's "another connection holds the lock" (recognised by its code, not its text)."""
    return getattr(exc.orig, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED")


# What a 503 for an unavailable store tells the client to wait (a PostgreSQL restart takes seconds).
RETRY_AFTER_S = 5


# Every error a store call raises (a driver's, the pool's): what an app's error handler registers for.
STORE_ERRORS: tuple[type[Exception], ...] = (DBAPIError, DisconnectionError, PoolTimeout)


def unavailable(exc: BaseException) -> bool:
    """True when the store could not be reached or could not answer right now (PostgreSQL restarting or
    gone, a dropped connection, an exhausted pool, SQLite busy): the request changed nothing and is worth
    sending again, so callers answer 503 (or AR 207) rather than 500."""
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


ClaimQuery = TypeVar("ClaimQuery", bound=Select)


def claim_rows(query: ClaimQuery, db: Database) -> ClaimQuery:
    """Make a row-claiming select safe under concurrency: SKIP LOCKED on PostgreSQL.

    On SQLite the enclosing write transaction already holds the database's write lock (BEGIN IMMEDIATE),
    so no other claimer can run at the same time.
    """
    return query if db.is_sqlite else query.with_for_update(skip_locked=True)
