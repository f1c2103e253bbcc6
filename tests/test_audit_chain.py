"""The keyed audit chain on SQLite and PostgreSQL: rows edited, deleted, reordered, forged, re-chained or
truncated directly in the database are each named by `verify`; an untouched log verifies clean."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update

from store import audit
from store.db import Database
from tests.conftest import TEST_KEY


def write_entries(db: Database, count: int) -> None:
    for n in range(count):
        with db.write() as session:
            audit.record(
                session,
                actor=f"user-{n}",
                actor_role="physician",
                actor_org="ETZ",
                actor_name=f"Dr {n}",
                action=audit.AuditAction.READ,
                resource_type="Case",
                resource_id=n,
                patient_ref=f"bsn:{n:032x}",
                case_id=n,
                client="127.0.0.1",
                source="api",
                purpose="treatment",
            )


def findings(db: Database, anchors: list[audit.Anchor] | None = None) -> list[tuple[str, int]]:
    with db.read() as session:
        report = audit.verify(session, anchors or [])
    return [(f.problem.value, f.seq) for f in report.findings]


def id_of(db: Database, seq: int) -> int:
    with db.read() as session:
        return session.execute(select(audit.AuditEntry.id).where(audit.AuditEntry.seq == seq)).scalar_one()


def test_an_untouched_log_verifies_clean_and_is_numbered_without_gaps(db: Database) -> None:
    write_entries(db, 6)
    with db.read() as session:
        report = audit.verify(session)
        seqs = session.execute(select(audit.AuditEntry.seq).order_by(audit.AuditEntry.id)).scalars().all()
    assert report.intact and report.entries == 6 and report.last_seq == 6
    assert seqs == [1, 2, 3, 4, 5, 6]


def test_an_edited_entry_is_named_changed(db: Database) -> None:
    write_entries(db, 5)
    with db.write() as session:
        session.execute(
            update(audit.AuditEntry).where(audit.AuditEntry.seq == 3).values(actor="someone-else")
        )
    assert findings(db) == [("changed", 3)]


def test_an_edited_hash_is_named_changed_once(db: Database) -> None:
    """Replacing a hash breaks the entry itself and the link of the one after it: one line, one cause."""
    write_entries(db, 5)
    with db.write() as session:
        session.execute(update(audit.AuditEntry).where(audit.AuditEntry.seq == 2).values(entry_hash="f" * 64))
    assert findings(db) == [("changed", 2)]


def test_a_deleted_entry_is_named_removed(db: Database) -> None:
    write_entries(db, 6)
    with db.write() as session:
        session.execute(delete(audit.AuditEntry).where(audit.AuditEntry.seq.in_([3, 4])))
    assert findings(db) == [("removed", 3)]
    with db.read() as session:
        (line,) = [f.line() for f in audit.verify(session).findings]
    assert line == "seq 3: removed: seq 3–4 missing before seq 5"


def test_entries_whose_places_were_swapped_are_named_reordered(db: Database) -> None:
    write_entries(db, 6)
    with db.write() as session:  # swap seq 3 and 4 (through a free value: seq is unique)
        session.execute(update(audit.AuditEntry).where(audit.AuditEntry.seq == 3).values(seq=-3))
        session.execute(update(audit.AuditEntry).where(audit.AuditEntry.seq == 4).values(seq=3))
        session.execute(update(audit.AuditEntry).where(audit.AuditEntry.seq == -3).values(seq=4))
    with db.read() as session:
        lines = [f.line() for f in audit.verify(session).findings]
    assert [line.split(":")[1].strip() for line in lines] == ["reordered", "reordered"]
    assert "written as seq 4" in lines[0] and "written as seq 3" in lines[1]


def test_rows_moved_in_storage_order_are_named_reordered(db: Database) -> None:
    write_entries(db, 5)
    first, second = id_of(db, 2), id_of(db, 3)
    with db.write() as session:  # swap the two rows' ids: `ORDER BY id` shows them the other way round
        session.execute(update(audit.AuditEntry).where(audit.AuditEntry.id == first).values(id=-first))
        session.execute(update(audit.AuditEntry).where(audit.AuditEntry.id == second).values(id=first))
        session.execute(update(audit.AuditEntry).where(audit.AuditEntry.id == -first).values(id=second))
    assert findings(db) == [("reordered", 3)]


def test_an_entry_inserted_without_the_key_is_named(db: Database) -> None:
    """A forged entry appended at the end, head moved along: its hash cannot be made without the key."""
    write_entries(db, 3)
    with db.write() as session:
        head = session.get(audit.AuditHead, 1)
        assert head is not None
        forged = audit.AuditEntry(
            seq=4,
            version=audit.CHAIN_VERSION,
            at=audit.utcnow(),
            actor="nobody",
            action="read",
            resource_type="Case",
            resource_id="1",
            prev_hash=head.last_hash,
        )
        forged.entry_hash = audit.entry_digest(b"\x00" * 32, forged, head.last_hash)
        session.add(forged)
        head.last_hash, head.last_seq = forged.entry_hash, 4
    assert findings(db) == [("changed", 4)]


def test_a_rechain_with_plain_hashes_is_named_entry_by_entry(db: Database) -> None:
    """An attacker edits entry 2 and recomputes every later hash the unkeyed way: each one is named."""
    write_entries(db, 4)
    with db.write() as session:
        rows = session.execute(select(audit.AuditEntry).order_by(audit.AuditEntry.seq)).scalars().all()
        rows[1].actor = "someone-else"
        prev = rows[0].entry_hash
        for row in rows[1:]:
            row.prev_hash = prev
            body = json.dumps([prev, row.seq, row.actor, row.resource_id]).encode()
            row.entry_hash = prev = hashlib.sha256(body).hexdigest()
        head = session.get(audit.AuditHead, 1)
        assert head is not None
        head.last_hash = prev
    assert findings(db) == [("changed", 2), ("changed", 3), ("changed", 4)]


def test_truncation_after_an_anchor_is_named_even_with_the_head_rewritten(
    db: Database, tmp_path: Path
) -> None:
    write_entries(db, 5)
    anchor_file = tmp_path / "anchors.jsonl"
    with db.read() as session:
        anchor = audit.anchor_head(session, anchor_file, min_interval_s=0)
    assert anchor is not None and anchor.seq == 5
    with db.write() as session:  # drop the newest two and make the head agree: invisible in the database
        gone = session.execute(select(audit.AuditEntry).where(audit.AuditEntry.seq == 3)).scalar_one()
        session.execute(delete(audit.AuditEntry).where(audit.AuditEntry.seq > 3))
        session.execute(update(audit.AuditHead).values(last_seq=3, last_hash=gone.entry_hash))
    assert findings(db) == []
    assert findings(db, audit.read_anchors(anchor_file)) == [("truncated", 4)]


def test_a_rechain_with_the_key_is_caught_by_the_anchor(db: Database, tmp_path: Path) -> None:
    """Someone holding the key rewrites entry 2 and re-chains: the chain is whole, the anchor disagrees."""
    write_entries(db, 3)
    anchor_file = tmp_path / "anchors.jsonl"
    with db.read() as session:
        audit.anchor_head(session, anchor_file, min_interval_s=0)
    key = audit.chain_key(TEST_KEY)
    with db.write() as session:
        rows = session.execute(select(audit.AuditEntry).order_by(audit.AuditEntry.seq)).scalars().all()
        rows[1].actor = "someone-else"
        prev = rows[0].entry_hash
        for row in rows[1:]:
            row.prev_hash = prev
            row.entry_hash = prev = audit.entry_digest(key, row, prev)
        session.execute(update(audit.AuditHead).values(last_hash=prev))
    assert findings(db) == []
    assert findings(db, audit.read_anchors(anchor_file)) == [("anchor", 3)]


def test_the_anchor_file_is_appended_only_when_the_head_moved_and_the_interval_passed(
    db: Database, tmp_path: Path
) -> None:
    anchor_file = tmp_path / "anchors.jsonl"
    with db.read() as session:
        assert audit.anchor_head(session, anchor_file, min_interval_s=0) is None  # empty log
    write_entries(db, 2)
    with db.read() as session:
        assert audit.anchor_head(session, anchor_file, min_interval_s=3600) is not None
        assert audit.anchor_head(session, anchor_file, min_interval_s=0) is None  # head unchanged
    write_entries(db, 1)
    with db.read() as session:
        assert audit.anchor_head(session, anchor_file, min_interval_s=3600) is None  # too soon
        assert audit.anchor_head(session, anchor_file, min_interval_s=0) is not None
    assert [a.seq for a in audit.read_anchors(anchor_file)] == [2, 3]
    assert anchor_file.stat().st_mode & 0o777 == 0o600


def test_concurrent_writers_never_fork_the_chain(db: Database) -> None:
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            write_entries(db, 10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with db.read() as session:
        report = audit.verify(session)
    assert report.intact and report.entries == 60 and report.last_seq == 60


def test_a_session_without_the_key_writes_nothing(database_url: str) -> None:
    from store.db import make_engine

    keyless = Database(make_engine(database_url))
    try:
        with pytest.raises(RuntimeError, match="audit chain key"), keyless.write() as session:
            audit.record(
                session, actor="a", action=audit.AuditAction.READ, resource_type="Case", resource_id=1
            )
        with keyless.read() as session:
            assert session.execute(text("SELECT count(*) FROM audit_entry")).scalar_one() == 0
    finally:
        keyless.dispose()


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_entries_from_before_the_keyed_chain_are_numbered_and_still_verified(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A database upgraded from the unkeyed chain: old entries get seqs and are checked the old way; the
    keyed chain continues from the last of them; an old entry edited afterwards is still named."""
    from alembic import command

    from store.db import make_engine
    from store.migrate import alembic_config

    if engine == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.url("t_legacy_audit")
        server.execute("DROP DATABASE IF EXISTS t_legacy_audit")
        server.execute("CREATE DATABASE t_legacy_audit")
    command.upgrade(alembic_config(url), "store_0004")
    engine_ = make_engine(url)
    prev = audit.GENESIS
    with engine_.begin() as conn:
        for n in range(3):
            at = audit.utcnow()
            body = json.dumps(
                [prev, at.isoformat(), "api-token", "read", "Case", str(n), "bsn:x", "127.0.0.1", ""],
                separators=(",", ":"),
            )
            digest = hashlib.sha256(body.encode()).hexdigest()
            conn.execute(
                text(
                    "INSERT INTO audit_entry (at, actor, action, resource_type, resource_id, patient_ref,"
                    " client, purpose, prev_hash, entry_hash) VALUES (:at, 'api-token', 'read', 'Case', :r,"
                    " 'bsn:x', '127.0.0.1', '', :p, :h)"
                ),
                {
                    "at": at.replace(tzinfo=None) if engine == "sqlite" else at,
                    "r": str(n),
                    "p": prev,
                    "h": digest,
                },
            )
            prev = digest
        conn.execute(text("INSERT INTO audit_head (id, last_hash) VALUES (1, :h)"), {"h": prev})
    engine_.dispose()
    from store.migrate import upgrade

    upgrade(url)
    db = Database(make_engine(url), audit_key=audit.chain_key(TEST_KEY))
    try:
        write_entries(db, 2)
        with db.read() as session:
            report = audit.verify(session)
            versions = session.execute(
                select(audit.AuditEntry.seq, audit.AuditEntry.version).order_by(audit.AuditEntry.seq)
            ).all()
        assert report.intact and report.last_seq == 5
        assert [tuple(v) for v in versions] == [(1, 1), (2, 1), (3, 1), (4, 2), (5, 2)]
        with db.write() as session:
            session.execute(update(audit.AuditEntry).where(audit.AuditEntry.seq == 2).values(actor="x"))
        assert findings(db) == [("changed", 2)]
    finally:
        db.dispose()
