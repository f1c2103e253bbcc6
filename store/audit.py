"""The NEN 7513 access log: who did what to which patient's data, when, from where, why; keyed-hash chained.

Every entry carries a sequence number, the previous entry's hash and an HMAC-SHA256 over its canonical
content and that previous hash. The HMAC key is derived (HKDF, own label) from the field-encryption key,
so someone with only database access cannot edit, delete, reorder or re-chain entries without
`verify` naming each one; anchors (the chain head written to a file outside the database by the beat,
`anchor_head`) catch truncation of the newest entries and a re-chain by someone who holds the key.

Writers append inside the caller's transaction (the read it logs and the log entry commit together) and
serialise on the one `audit_head` row (FOR UPDATE on PostgreSQL; SQLite write transactions are already
exclusive), so the chain never forks. Entries are never updated or deleted by the product.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import BigInteger, Integer, String, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from store.crypto import derive_key
from store.db import Base, BigIntPK, UTCDateTime, utcnow
from store.periodic import every

log = logging.getLogger(__name__)

GENESIS = "0" * 64
CHAIN_VERSION = 2  # 1: before the keyed chain (plain SHA-256, verified as such); 2: HMAC-SHA256
_LABEL = b"spoedplein-audit-chain"
_MOVE_WINDOW = 16  # how far from its place `verify` looks for a moved entry's original seq
SESSION_KEY = "audit_chain_key"  # where `Database` puts the chain key in each session's `info`


class AuditAction(StrEnum):
    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    EXPORT = "export"
    DISCLOSE = "disclose"
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    BREAK_GLASS = "break_glass"


class AuditOutcome(StrEnum):
    SUCCESS = "success"
    DENIED = "denied"  # a refused read or change: the attempt is recorded too


class AuditEntry(Base):
    __tablename__ = "audit_entry"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    version: Mapped[int] = mapped_column(Integer, default=CHAIN_VERSION)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(200))  # a user id (or `api-token`, `system:<part>`)
    actor_role: Mapped[str] = mapped_column(String(32), default="")
    actor_org: Mapped[str] = mapped_column(String(200), default="")
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16), default=AuditOutcome.SUCCESS.value)
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(200))
    patient_ref: Mapped[str] = mapped_column(String(64), default="", index=True)  # pseudonym, not the BSN
    case_id: Mapped[str] = mapped_column(String(64), default="")
    client: Mapped[str] = mapped_column(String(200), default="")  # network address of the caller
    source: Mapped[str] = mapped_column(String(64), default="")  # api, page, fhir, cds, cli, worker, EHR id
    purpose: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(String(500), default="")  # break-the-glass: the reason given
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_hash: Mapped[str] = mapped_column(String(64))
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)


def chain_key(field_key: bytes) -> bytes:
    """The audit chain's HMAC key, derived from the field-encryption key with its own HKDF label."""
    return derive_key(field_key, _LABEL)


def _canonical(entry: AuditEntry, prev_hash: str, seq: int) -> bytes:
    """The bytes the entry's hash covers: every field but `id` (assigned by the database) and the hash."""
    body = [
        entry.version,
        seq,
        prev_hash,
        entry.at.astimezone(UTC).isoformat(timespec="microseconds"),
        entry.actor,
        entry.actor_role,
        entry.actor_org,
        entry.actor_name,
        entry.action,
        entry.outcome,
        entry.resource_type,
        entry.resource_id,
        entry.patient_ref,
        entry.case_id,
        entry.client,
        entry.source,
        entry.purpose,
        entry.reason,
    ]
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _legacy_digest(entry: AuditEntry, prev_hash: str) -> str:
    """The unkeyed hash of entries written before the keyed chain (version 1); kept only to verify them."""
    body = json.dumps(
        [
            prev_hash,
            entry.at.isoformat(),
            entry.actor,
            entry.action,
            entry.resource_type,
            entry.resource_id,
            entry.patient_ref,
            entry.client,
            entry.purpose,
        ],
        separators=(",", ":"),
    )
    return hashlib.sha256(body.encode()).hexdigest()


def entry_digest(key: bytes, entry: AuditEntry, prev_hash: str, *, seq: int | None = None) -> str:
    """The entry's hash as written after `prev_hash` (at `seq`, default its own)."""
    if entry.version == 1:
        return _legacy_digest(entry, prev_hash)
    body = _canonical(entry, prev_hash, entry.seq if seq is None else seq)
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def session_key(session: Session) -> bytes:
    key = session.info.get(SESSION_KEY)
    if not isinstance(key, bytes):
        raise RuntimeError(
            "this session has no audit chain key: open the database with "
            "Database(engine, audit_key=audit.chain_key(field_key)) (Runtime.start does)"
        )
    return key


@dataclass(frozen=True)
class Entry:
    """One entry to append with `record_many` (the same fields `record` takes)."""

    actor: str
    action: AuditAction
    resource_type: str
    resource_id: str | int
    patient_ref: str = ""
    client: str = ""
    purpose: str = ""
    actor_role: str = ""
    actor_org: str = ""
    actor_name: str = ""
    outcome: AuditOutcome = AuditOutcome.SUCCESS
    case_id: str | int = ""
    source: str = ""
    reason: str = ""


def record(
    session: Session,
    *,
    actor: str,
    action: AuditAction,
    resource_type: str,
    resource_id: str | int,
    patient_ref: str = "",
    client: str = "",
    purpose: str = "",
    actor_role: str = "",
    actor_org: str = "",
    actor_name: str = "",
    outcome: AuditOutcome = AuditOutcome.SUCCESS,
    case_id: str | int = "",
    source: str = "",
    reason: str = "",
) -> AuditEntry:
    """Append one entry inside the caller's transaction (the read it logs and the log commit together)."""
    entry = Entry(
        actor=actor,
        action=action,
        resource_type=resource_type,
        resource_id=resource_id,
        patient_ref=patient_ref,
        client=client,
        purpose=purpose,
        actor_role=actor_role,
        actor_org=actor_org,
        actor_name=actor_name,
        outcome=outcome,
        case_id=case_id,
        source=source,
        reason=reason,
    )
    (written,) = record_many(session, [entry])
    return written


def record_many(session: Session, entries: Iterable[Entry]) -> list[AuditEntry]:
    """Append entries in order inside the caller's transaction: one lock of the chain head and one
    insert for all of them (a batch of pages writes hundreds; one round trip each would dominate)."""
    key = session_key(session)
    pending = list(entries)
    if not pending:
        return []
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:  # the migration creates the row; this only serves a schema made by other means
        head = AuditHead(id=1, last_hash=GENESIS, last_seq=0)
        session.add(head)
    written = []
    for item in pending:
        entry = AuditEntry(
            seq=head.last_seq + 1,
            version=CHAIN_VERSION,
            at=utcnow(),
            actor=item.actor,
            actor_role=item.actor_role,
            actor_org=item.actor_org,
            actor_name=item.actor_name,
            action=item.action.value,
            outcome=item.outcome.value,
            resource_type=item.resource_type,
            resource_id=str(item.resource_id),
            patient_ref=item.patient_ref,
            case_id=str(item.case_id),
            client=item.client,
            source=item.source,
            purpose=item.purpose,
            reason=item.reason,
            prev_hash=head.last_hash,
        )
        entry.entry_hash = entry_digest(key, entry, head.last_hash)
        head.last_hash = entry.entry_hash
        head.last_seq = entry.seq
        written.append(entry)
    # One multi-row insert instead of the unit of work (a batch of pages audits hundreds of sends); the
    # entries returned are not attached to the session.
    columns = [c.key for c in AuditEntry.__table__.columns if c.key != "id"]
    session.execute(insert(AuditEntry), [{name: getattr(e, name) for name in columns} for e in written])
    return written


# --- anchors ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    at: str


def read_anchors(path: Path) -> list[Anchor]:
    """Every anchor in the file, oldest first; a line that is not an anchor is skipped (and logged)."""
    if not path.exists():
        return []
    anchors = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        try:
            data = json.loads(line)
            anchors.append(Anchor(int(data["seq"]), str(data["hash"]), str(data["at"])))
        except (ValueError, KeyError, TypeError):
            log.warning("audit anchor file %s line %d is not an anchor; skipped", path, number)
    return anchors


def _last_anchor(path: Path) -> Anchor | None:
    """The newest anchor, read from the end of the file (it grows for years; reading it whole each
    minute would not do)."""
    if not path.exists():
        return None
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 4096))
        lines = handle.read().decode(errors="replace").splitlines()
    for line in reversed(lines):
        try:
            data = json.loads(line)
            return Anchor(int(data["seq"]), str(data["hash"]), str(data["at"]))
        except (ValueError, KeyError, TypeError):
            continue
    return None


def anchor_head(
    session: Session, path: Path, *, min_interval_s: float, now: datetime | None = None
) -> Anchor | None:
    """Append the chain head to the anchor file (fsynced) and log it, unless the newest anchor is younger
    than `min_interval_s` or already names this head. Returns the anchor written, else None."""
    head = session.get(AuditHead, 1)
    if head is None or head.last_seq == 0:
        return None
    moment = now or utcnow()
    last = _last_anchor(path)
    if last is not None:
        if last.seq == head.last_seq and last.hash == head.last_hash:
            return None
        age = (moment - datetime.fromisoformat(last.at)).total_seconds()
        if age < min_interval_s:
            return None
    anchor = Anchor(head.last_seq, head.last_hash, moment.astimezone(UTC).isoformat(timespec="seconds"))
    line = json.dumps({"seq": anchor.seq, "hash": anchor.hash, "at": anchor.at}, separators=(",", ":"))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    # The same line in the log: a second copy where the log collector keeps it.
    log.info("audit anchor seq=%d hash=%s at=%s", anchor.seq, anchor.hash, anchor.at)
    return anchor


ANCHOR_CHECK_S = 5.0  # how often the beat looks; it writes only every `audit_anchor_interval_s`


@every(ANCHOR_CHECK_S, name="store.audit_anchor")
def anchor_job(runtime: Any) -> None:
    """The beat's periodic anchor of the chain head (runtime typed loosely: store/ sits at the bottom)."""
    settings = runtime.settings
    with runtime.db.read() as session:
        anchor_head(
            session, settings.resolved_audit_anchor_file, min_interval_s=settings.audit_anchor_interval_s
        )


# --- verification -----------------------------------------------------------------------------------


class Problem(StrEnum):
    CHANGED = "changed"
    REMOVED = "removed"
    REORDERED = "reordered"
    INSERTED = "inserted"
    TRUNCATED = "truncated"
    ANCHOR_MISMATCH = "anchor"


@dataclass(frozen=True)
class Finding:
    problem: Problem
    seq: int
    id: int | None
    detail: str

    def line(self) -> str:
        where = f"seq {self.seq}" + (f" (id {self.id})" if self.id is not None else "")
        return f"{where}: {self.problem.value}: {self.detail}"


@dataclass
class Report:
    entries: int = 0
    last_seq: int = 0
    anchors_checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not self.findings


def _walk(session: Session) -> Iterator[AuditEntry]:
    query = select(AuditEntry).order_by(AuditEntry.seq, AuditEntry.id).execution_options(yield_per=2000)
    for entry in session.execute(query).scalars():
        yield entry
        session.expunge(entry)  # years of entries must not pile up in the identity map


def _original_seq(session: Session, key: bytes, entry: AuditEntry) -> int | None:
    """The seq this entry was written with, when its content is intact but it was moved: its HMAC holds
    at that seq. Tried: after the entry it chains from, and a few places around where it stands now (a
    swap or a shift by an insertion moves entries by a little)."""
    candidates: list[int] = []
    if entry.prev_hash == GENESIS:
        candidates.append(1)
    else:
        found = session.execute(
            select(AuditEntry.seq).where(AuditEntry.entry_hash == entry.prev_hash).limit(1)
        ).scalar_one_or_none()
        if found is not None:
            candidates.append(found + 1)
    candidates.extend(s for d in range(1, _MOVE_WINDOW + 1) for s in (entry.seq - d, entry.seq + d))
    for seq in candidates:
        digest = entry_digest(key, entry, entry.prev_hash, seq=seq) if seq >= 1 and seq != entry.seq else ""
        if digest and hmac.compare_digest(digest, entry.entry_hash):
            return seq
    return None


def key_fits(session: Session, *, newest: int = 5) -> bool | None:
    """Whether this session's chain key wrote any of the `newest` keyed entries (None: none written yet).

    A part started with another key than the one the data was written with (a second machine that
    generated its own key file) would write values nobody else can read; this one-query check lets it
    refuse to start instead. Any of a few entries is enough, so one tampered entry does not stop the
    gateway (`verify` is what names tampering)."""
    key = session_key(session)
    entries = session.execute(
        select(AuditEntry).where(AuditEntry.version != 1).order_by(AuditEntry.seq.desc()).limit(newest)
    ).scalars()
    checked = False
    for entry in entries:
        checked = True
        if hmac.compare_digest(entry_digest(key, entry, entry.prev_hash), entry.entry_hash):
            return True
    return False if checked else None


def verify(session: Session, anchors: Iterable[Anchor] = ()) -> Report:
    """Walk the chain in seq order and name every entry that is not as it was written.

    - changed: the entry's content no longer matches its keyed hash (or its hash was replaced);
    - removed: seqs missing between two entries, or before the first;
    - reordered: an intact entry that stands at another place than it was written (its seq was changed,
      or its row was moved ahead of an older one);
    - inserted: a second entry with a seq that is already taken, or an entry after the chain head;
    - truncated: the log ends before the newest anchor (or before the head row's seq);
    - anchor: the entry at an anchored seq is not the one anchored (re-chained with the key)."""
    key = session_key(session)
    anchored = {a.seq: a for a in anchors}
    report = Report(anchors_checked=len(anchored))
    add = report.findings.append
    prev_hash = GENESIS
    prev_seq = 0
    prev_id = 0
    prev_id_seq = 0
    prev_named = False
    seen_version2 = False
    for entry in _walk(session):
        report.entries += 1
        if entry.seq == prev_seq:
            add(Finding(Problem.INSERTED, entry.seq, entry.id, "a second entry with this seq"))
            continue
        if entry.seq > prev_seq + 1:
            missing = f"seq {prev_seq + 1}" + (f"–{entry.seq - 1}" if entry.seq - 1 > prev_seq + 1 else "")
            add(Finding(Problem.REMOVED, prev_seq + 1, None, f"{missing} missing before seq {entry.seq}"))
        intact = hmac.compare_digest(entry_digest(key, entry, entry.prev_hash), entry.entry_hash)
        # A broken link right after a named entry (or a gap) is that entry's doing: named once, not twice.
        linked = entry.prev_hash == prev_hash or entry.seq > prev_seq + 1 or prev_named
        if entry.version == 1 and seen_version2:
            intact = False  # an unkeyed entry after the keyed chain began is a forgery
        named = True
        if not intact:
            moved_from = _original_seq(session, key, entry) if entry.version != 1 else None
            if moved_from is not None:
                add(Finding(Problem.REORDERED, entry.seq, entry.id, f"written as seq {moved_from}"))
            else:
                add(Finding(Problem.CHANGED, entry.seq, entry.id, "content does not match its keyed hash"))
        elif not linked:
            add(Finding(Problem.REORDERED, entry.seq, entry.id, "does not follow the entry before it"))
        elif entry.id < prev_id:
            detail = f"stored before seq {prev_id_seq} (id {prev_id}) though written after it"
            add(Finding(Problem.REORDERED, entry.seq, entry.id, detail))
        else:
            named = False
        if entry.id > prev_id:
            prev_id, prev_id_seq = entry.id, entry.seq
        prev_named = named
        anchor = anchored.get(entry.seq)
        if anchor is not None and anchor.hash != entry.entry_hash:
            add(
                Finding(
                    Problem.ANCHOR_MISMATCH, entry.seq, entry.id, f"not the entry anchored at {anchor.at}"
                )
            )
        seen_version2 = seen_version2 or entry.version != 1
        prev_hash, prev_seq = entry.entry_hash, entry.seq
    report.last_seq = prev_seq
    head = session.get(AuditHead, 1)
    if head is not None and head.last_seq > prev_seq:
        add(
            Finding(
                Problem.TRUNCATED,
                prev_seq + 1,
                None,
                f"the log ends at seq {prev_seq}, the chain head says {head.last_seq}",
            )
        )
    elif head is not None and head.last_seq < prev_seq:
        add(
            Finding(
                Problem.INSERTED,
                head.last_seq + 1,
                None,
                f"entries after the chain head (seq {head.last_seq})",
            )
        )
    if anchored:
        newest = max(anchored.values(), key=lambda a: a.seq)
        if newest.seq > prev_seq:
            add(
                Finding(
                    Problem.TRUNCATED,
                    prev_seq + 1,
                    None,
                    f"the log ends at seq {prev_seq}, before the anchor of seq {newest.seq} at {newest.at}",
                )
            )
    return report


def verify_chain(session: Session) -> int | None:
    """The id of the first broken entry (-1 when the newest were removed), or None if intact."""
    report = verify(session)
    for finding in report.findings:
        return finding.id if finding.id is not None else -1
    return None
