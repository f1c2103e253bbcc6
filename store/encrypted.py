"""Encrypted columns: one column type that carries its associated data, and key rotation over all of them.

`Encrypted(aad)` declares a column of patient data at rest. The associated data lives with the column,
once, instead of beside every `encrypt`/`decrypt` call. Two modes:

- `Encrypted(aad, transparent=True)`: the model attribute holds the plaintext bytes; the column type
  encrypts on write and decrypts on read with the process's key ring (`install`, done by the Runtime),
  so no `cipher` is passed through the functions that read or write it.
- `Encrypted(aad)`: the attribute holds the ciphertext and code encrypts explicitly (`cipher.encrypt`
  with the column's associated-data constant). The hot paths that write in plain driver SQL (the
  inbox, the group-commit writer) need this, and so does code not yet moved to the transparent mode.
  It costs nothing per row.

Either way the rotation job below finds every encrypted column by its type, so a new encrypted column is
rotated without being listed anywhere.

Key rotation (`spoedplein keys rotate`, docs/operations.md): after a new key is made current, the
periodic job `store.key_rotation` re-encrypts, in small batches and short transactions, every value
that is not under the current key. Each row is rewritten only if it still holds the value that was read
(compare-and-set), so a concurrent update is never overwritten; a row already under the current key is
skipped, so the job is idempotent and resumes wherever it stopped. Values of every key in the ring stay
readable throughout: there is no downtime and no order in which the parts must be restarted.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, LargeBinary, MetaData, Table, and_, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.types import TypeDecorator

from store.crypto import FieldCipher
from store.periodic import every

ROTATION_BATCH = 200  # rows per transaction: short enough not to hold SQLite's write lock noticeably
ROTATION_BUDGET_S = 0.5  # per job run; the beat runs the job again a few seconds later
ROTATION_INTERVAL_S = 5.0

# The cipher of each engine, found through the engine's dialect (the one thing a column type is given);
# a dialect of an engine nobody installed a cipher for falls back to the process's last installed one.
_by_dialect: weakref.WeakKeyDictionary[Any, FieldCipher] = weakref.WeakKeyDictionary()
_installed: list[FieldCipher] = []


def install(cipher: FieldCipher, engine: Engine | None = None) -> None:
    """The key ring transparent columns use on `engine` (and, by default, in this process). The Runtime
    installs its cipher for its database."""
    if engine is not None:
        _by_dialect[engine.dialect] = cipher
    _installed[:] = [cipher]


def installed_cipher(dialect: Any = None) -> FieldCipher:
    cipher = _by_dialect.get(dialect) if dialect is not None else None
    if cipher is not None:
        return cipher
    if not _installed:
        raise RuntimeError("no key ring installed: start a Runtime (or call store.encrypted.install)")
    return _installed[0]


class Encrypted(TypeDecorator[bytes]):
    """A column of AES-GCM ciphertext bound to associated data `aad` (see the module docstring)."""

    impl = LargeBinary
    cache_ok = True

    def __init__(self, aad: bytes, *, transparent: bool = False) -> None:
        super().__init__()
        self.aad = aad
        self.transparent = transparent

    def bind_processor(self, dialect: Any) -> Any:
        if not self.transparent:
            return None  # the value is already ciphertext: no per-row call at all
        aad = self.aad

        def encrypt(value: bytes | None) -> bytes | None:
            return None if value is None else installed_cipher(dialect).encrypt(value, aad)

        return encrypt

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        if not self.transparent:
            return None
        aad = self.aad

        def decrypt(value: bytes | None) -> bytes | None:
            return None if value is None else installed_cipher(dialect).decrypt(bytes(value), aad)

        return decrypt


@dataclass(frozen=True)
class EncryptedColumn:
    table: Table
    column: str
    aad: bytes

    @property
    def name(self) -> str:
        return f"{self.table.name}.{self.column}"


def encrypted_columns(metadata: MetaData) -> list[EncryptedColumn]:
    """Every `Encrypted` column in `metadata`, in a stable order."""
    found = []
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        for column in table.columns:
            if isinstance(column.type, Encrypted):
                found.append(EncryptedColumn(table, column.name, column.type.aad))
    return found


def _raw(target: EncryptedColumn) -> tuple[Column[Any], Column[Any]]:
    """The primary key and the encrypted column as plain bytes (no transparent processing)."""
    (pk,) = target.table.primary_key.columns
    raw = Table(target.table.name, MetaData(), Column(pk.name, pk.type, primary_key=True))
    raw.append_column(Column(target.column, LargeBinary))
    return raw.c[pk.name], raw.c[target.column]


def _not_current(value: Column[Any], cipher: FieldCipher) -> Any:
    return and_(value.is_not(None), func.substr(value, 1, 1) != bytes([cipher.current_key_id]))


def rotate_batch(db: Any, cipher: FieldCipher, target: EncryptedColumn, limit: int = ROTATION_BATCH) -> int:
    """Re-encrypt up to `limit` values of one column under the current key; how many were rewritten."""
    pk, value = _raw(target)
    done = 0
    with db.write() as session:
        rows = session.execute(select(pk, value).where(_not_current(value, cipher)).order_by(pk).limit(limit))
        for row_id, stored in rows.all():
            fresh = cipher.reencrypt(bytes(stored), target.aad)
            if fresh is None:
                continue
            # Compare-and-set: a row changed since it was read keeps its (newer) value; the next run
            # re-encrypts it if it still needs to.
            result = session.execute(
                update(pk.table).where(pk == row_id, value == stored).values({value: fresh})
            )
            done += result.rowcount or 0
    return done


def rotate(
    db: Any,
    cipher: FieldCipher,
    metadata: MetaData,
    *,
    budget_s: float | None = None,
    limit: int = ROTATION_BATCH,
) -> tuple[int, bool]:
    """Re-encrypt values not under the current key, batch by batch, until none is left or the budget is
    spent: (how many were rewritten, whether every column was found done)."""
    deadline = None if budget_s is None else time.monotonic() + budget_s
    total = 0
    for target in encrypted_columns(metadata):
        while True:
            done = rotate_batch(db, cipher, target, limit)
            total += done
            if done < limit:
                break  # this column is done; every column gets at least its one look per run
            if deadline is not None and time.monotonic() >= deadline:
                return total, False
    return total, True


def key_usage(db: Any, metadata: MetaData) -> dict[str, dict[int, int]]:
    """Per encrypted column: how many values each key id holds (for `spoedplein keys status`)."""
    usage: dict[str, dict[int, int]] = {}
    with db.read() as session:
        for target in encrypted_columns(metadata):
            _pk, value = _raw(target)
            key_id = func.substr(value, 1, 1)
            counts = session.execute(select(key_id, func.count()).where(value.is_not(None)).group_by(key_id))
            usage[target.name] = {bytes(k)[0]: int(n) for k, n in counts if k}
    return usage


@dataclass
class _Progress:
    key_id: int = 0
    since: float = 0.0
    settled: bool = False


_progress = _Progress()
SETTLE_S = 60.0  # after this long under one current key, every process has picked it up (they look every 2 s)


@every(ROTATION_INTERVAL_S, name="store.key_rotation")
def rotation_job(runtime: Any) -> None:
    """Re-encrypt a few batches of values still under an older key.

    After a clean pass that began more than SETTLE_S after the current key became current, the job rests
    until the next rotation: no table is scanned every few seconds for nothing. A restarted beat scans
    once more."""
    from store.db import Base
    from store.migrate import import_all_models

    cipher: FieldCipher = runtime.cipher
    cipher.refresh()
    if len(cipher.ring.keys) == 1:
        return  # never rotated: every value is under the one key
    now = time.monotonic()
    if cipher.current_key_id != _progress.key_id:
        _progress.key_id, _progress.since, _progress.settled = cipher.current_key_id, now, False
    if _progress.settled:
        return
    import_all_models()
    _rewritten, finished = rotate(runtime.db, cipher, Base.metadata, budget_s=ROTATION_BUDGET_S)
    if finished and now - _progress.since >= SETTLE_S:
        _progress.settled = True
