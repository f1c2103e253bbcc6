"""Backing up and restoring the database: SQLite through its online backup API, PostgreSQL through
pg_dump/pg_restore (docs/operations.md "Backup and restore").

A backup is one file: a SQLite database (a consistent snapshot taken while the gateway runs: WAL readers
never block the writers) or a pg_dump archive in its custom format. It holds the encrypted values, not
the keys: without the key file (or SPOEDPLEIN_ENCRYPTION_KEY) a backup is unreadable, which is why the
keys are backed up apart from it. Restoring refuses a database that already holds tables unless told to
replace it (`force`).
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from store.db import make_engine
from store.journal import copy_pending, journal_path

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"


class BackupError(Exception):
    """A backup or restore that cannot go ahead; the message says why and what to do."""


class BackupKind(StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


def kind_of_url(url: str) -> BackupKind:
    return BackupKind.SQLITE if url.startswith("sqlite") else BackupKind.POSTGRESQL


def kind_of_file(path: Path) -> BackupKind:
    """What a backup file holds, from its first bytes (refuses anything else)."""
    with path.open("rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return BackupKind.SQLITE
    if head.startswith(PG_DUMP_MAGIC):
        return BackupKind.POSTGRESQL
    raise BackupError(f"{path} is neither a SQLite backup nor a pg_dump archive")


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def is_empty(url: str) -> bool:
    """True when the database holds no table (a SQLite file that does not exist yet is empty too)."""
    if kind_of_url(url) is BackupKind.SQLITE and not sqlite_path(url).exists():
        return True
    engine = make_engine(url)
    try:
        return not inspect(engine).get_table_names()
    finally:
        engine.dispose()


def _write_atomically(out: Path, write: Callable[[Path], None]) -> None:
    """Write to a temporary file beside `out` (mode 0600: the backup holds patient data, encrypted),
    fsync it, then rename it into place: a backup that stopped half-way is never left under `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        write(tmp)
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _copy_sqlite(source: Path, target: Path) -> None:
    """SQLite's online backup API in one step: one read transaction, so the copy is one consistent
    snapshot even while the gateway writes (in steps, every write would restart the copy)."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target, timeout=30)
    try:
        src.backup(dst, pages=-1)
    finally:
        dst.close()
        src.close()


def _copy_sqlite_and_journal(source: Path, target: Path) -> None:
    """The database, then what its MLLP journal holds that was not moved into it yet (acknowledged in
    the last milliseconds): those are in the backup too, as ordinary inbox rows waiting for the worker."""
    _copy_sqlite(source, target)
    copy_pending(source, target)


def backup(url: str, out: Path) -> BackupKind:
    """Back up the database at `url` into the file `out` (replaced atomically)."""
    if kind_of_url(url) is BackupKind.SQLITE:
        source = sqlite_path(url)
        if not source.exists():
            raise BackupError(f"no database at {source}")
        _write_atomically(out, lambda tmp: _copy_sqlite_and_journal(source, tmp))
        return BackupKind.SQLITE
    _write_atomically(
        out,
        lambda tmp: _pg(
            "pg_dump", url, ["--format=custom", "--no-owner", "--no-privileges", f"--file={tmp}"]
        ),
    )
    return BackupKind.POSTGRESQL


def restore(url: str, source: Path, *, force: bool = False) -> None:
    """Restore the backup file `source` into the database at `url`; a database that holds tables is
    refused unless `force` (then it is replaced; stop the gateway first)."""
    kind = kind_of_file(source)
    target = kind_of_url(url)
    if kind is not target:
        raise BackupError(
            f"{source} is a {kind.value} backup, but the database to restore into is {target.value} "
            "(set SPOEDPLEIN_DATABASE_URL to a database of the same kind)"
        )
    if not force and not is_empty(url):
        raise BackupError("the database to restore into is not empty; restore into an empty one, or --force")
    if kind is BackupKind.SQLITE:
        check = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        try:
            verdict = check.execute("PRAGMA quick_check").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{source} is damaged: {exc}") from None
        finally:
            check.close()
        if verdict != "ok":
            raise BackupError(f"{source} is damaged: {verdict}")
        path = sqlite_path(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        _copy_sqlite(source, path)  # through SQLite, so a -wal file of the old database cannot mix in
        journal = journal_path(url)
        for name in ("", "-wal", "-shm"):  # the replaced database's journal is not the backup's
            if journal is not None:
                journal.with_name(journal.name + name).unlink(missing_ok=True)
        return
    args = ["--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error"]
    if force:
        args += ["--clean", "--if-exists"]
    _pg("pg_restore", url, [*args, str(source)])


def pg_binary(name: str) -> str:
    """pg_dump/pg_restore of the newest PostgreSQL installed (Debian keeps each major version under
    /usr/lib/postgresql/<n>/bin; a newer one reads older servers), else the one on PATH."""
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=_major)
    if versions:
        return versions[-1]
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} not found: install PostgreSQL's client programs (Debian: postgresql-client)"
        )
    return found


def _major(path: str) -> int:
    part = Path(path).parent.parent.name
    return int(part) if part.isdigit() else 0


def _pg(program: str, url: str, args: list[str]) -> None:
    """Run pg_dump/pg_restore against `url`, the connection given in libpq's environment variables, so
    the password never shows in the process list."""
    parsed = make_url(url)
    env = dict(os.environ)
    for variable, value in (
        ("PGHOST", parsed.host),
        ("PGPORT", parsed.port),
        ("PGUSER", parsed.username),
        ("PGPASSWORD", parsed.password),
        ("PGDATABASE", parsed.database),
    ):
        if value is not None:
            env[variable] = str(value)
    if "sslmode" in parsed.query:
        env["PGSSLMODE"] = str(parsed.query["sslmode"])
    database = ["--dbname", str(parsed.database)] if program == "pg_restore" else []
    result = subprocess.run(
        [pg_binary(program), *database, *args], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise BackupError(f"{program} failed: {lines[-1] if lines else f'exit {result.returncode}'}")
