"""Key rotation with live data: a new key becomes current while rows are written and read; values of
every key stay readable during and after; afterwards no row carries the old key id; pseudonyms and the
audit chain key do not change. On SQLite and PostgreSQL, and through `spoedplein keys` as a process."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import select

from core.runtime import Runtime
from core.settings import Settings
from presentations.models import DATA_AAD, PresentationRecord
from store import encrypted
from store.audit import chain_key
from store.crypto import DecryptionError, FieldCipher, KeyRing, Pseudonymizer
from store.db import Base, Database
from store.inbox import RAW_AAD, InboxMessage, NewMessage, store_messages
from store.keyfile import EnvKeySource, FileKeySource, KeyRotationError
from store.migrate import import_all_models
from tests.conftest import TEST_KEY

ROOT = Path(__file__).resolve().parent.parent


def message(n: int, cipher_name: str) -> NewMessage:
    raw = f"MSH|^~\\&|EPD|ETZ|SP|SP|20260302||ADT^A04|{cipher_name}-{n}|P|2.5\rPID|1||{n}".encode()
    return NewMessage("mllp", f"{cipher_name}-{n}", "EPD", f"{cipher_name}-{n}", "ADT^A04", raw, "AA", b"ACK")


def write(db: Database, cipher: FieldCipher, name: str, count: int) -> None:
    with db.write() as session:
        store_messages(session, cipher, [message(n, name) for n in range(count)])
        for n in range(count):
            session.add(
                PresentationRecord(
                    channel="mllp",
                    event="register",
                    patient_ref=f"p:{name}{n}",
                    encounter_ref=f"e:{name}{n}",
                    data=cipher.encrypt(f"{name}-{n}".encode(), DATA_AAD),
                )
            )


def read_all(db: Database, cipher: FieldCipher) -> tuple[set[bytes], set[bytes]]:
    with db.read() as session:
        raws = {cipher.decrypt(r, RAW_AAD) for r in session.scalars(select(InboxMessage.raw))}
        data = {cipher.decrypt(d, DATA_AAD) for d in session.scalars(select(PresentationRecord.data))}
    return raws, data


def test_the_ring_reads_values_written_before_it_and_pseudonyms_stay(tmp_path: Path) -> None:
    legacy = FieldCipher(TEST_KEY).encrypt(b"oud", b"t:c")  # the layout from before key rotation
    source = FileKeySource(tmp_path / "keys", TEST_KEY)
    before = Pseudonymizer(source.load()).ref("patient", "999999990")

    ring = source.add_key()

    cipher = FieldCipher(ring, source)
    assert ring.current == 2 and cipher.decrypt(legacy, b"t:c") == b"oud"
    assert cipher.encrypt(b"nieuw", b"t:c")[0] == 2
    assert (
        cipher.reencrypt(legacy, b"t:c") is not None
        and cipher.reencrypt(cipher.encrypt(b"x", b"t:c"), b"t:c") is None
    )
    assert Pseudonymizer(ring).ref("patient", "999999990") == before  # a lookup key must not move
    assert chain_key(ring.root) == chain_key(TEST_KEY)
    with pytest.raises(DecryptionError, match="unknown key id 2"):
        FieldCipher(TEST_KEY).decrypt(cipher.encrypt(b"x", b"t:c"), b"t:c")
    with pytest.raises(ValueError, match="key 1 is not"):
        FileKeySource(tmp_path / "keys", bytes(32)).load()  # a ring file of another installation
    with pytest.raises(KeyRotationError, match="SPOEDPLEIN_ENCRYPTION_KEYS"):
        EnvKeySource(TEST_KEY).add_key()


def test_rotation_with_live_data(db: Database, tmp_path: Path) -> None:
    import_all_models()
    source = FileKeySource(tmp_path / "keys", TEST_KEY)
    before = FieldCipher(source.load(), source)  # a process started before the rotation
    write(db, before, "old", 60)

    source.add_key()
    rotating = FieldCipher(source.load(), source)
    stale = FieldCipher(KeyRing.single(TEST_KEY))  # one that has not picked up the new key yet
    stop = threading.Event()
    errors: list[BaseException] = []
    written = {"new": 0, "stale": 0}

    def live() -> None:
        # Writers with both keys and a reader that must decrypt everything, while the rotation runs.
        try:
            while not stop.is_set():
                for name, cipher in (("new", rotating), ("stale", stale)):
                    write(db, cipher, f"{name}{written[name]}", 1)
                    written[name] += 1
                read_all(db, before)
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)

    thread = threading.Thread(target=live)
    thread.start()
    try:
        rewritten = 0
        while rewritten < 120:  # in batches of 7: many short transactions interleaved with the writers
            rewritten += encrypted.rotate(db, rotating, Base.metadata, limit=7)[0]
    finally:
        stop.set()
        thread.join(30)
    assert not errors, errors
    assert written["stale"] > 0

    _rewritten, finished = encrypted.rotate(db, rotating, Base.metadata)  # the stale writer's last rows
    assert finished
    usage = encrypted.key_usage(db, Base.metadata)
    assert usage["inbox_message.raw"] == {2: 60 + written["new"] + written["stale"]}
    assert usage["presentation.data"] == {2: 60 + written["new"] + written["stale"]}
    assert all(set(counts) <= {2} for counts in usage.values())
    raws, data = read_all(db, before)  # the old process reads the new key's values (it reloads)
    assert {f"old-{n}".encode() for n in range(60)} <= data
    assert f"stale{written['stale'] - 1}-0".encode() in data
    assert any(b"|old-59|" in raw for raw in raws)
    assert encrypted.rotate(db, rotating, Base.metadata) == (0, True)  # idempotent


def test_keys_rotate_and_status_as_a_process(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    runtime = Runtime.start(settings)
    write(runtime.db, runtime.cipher, "old", 5)
    runtime.close()
    env = {**os.environ, "SPOEDPLEIN_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("SPOEDPLEIN_DATABASE_URL", None)
    env.pop("SPOEDPLEIN_ENCRYPTION_KEY", None)

    def keys(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "gateway", "keys", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    rotated = keys("rotate", "--now")
    assert rotated.returncode == 0, rotated.stderr
    assert "key 2 is now current" in rotated.stdout and "re-encrypted 10 values" in rotated.stdout
    status = keys("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert (
        "inbox_message.raw" in status.stdout and "key 2: 5" in status.stdout and "key 1" not in status.stdout
    )
    assert TEST_KEY.hex() not in rotated.stdout + status.stdout
    runtime = Runtime.start(settings)  # a restarted part reads everything with the ring from the file
    try:
        assert runtime.cipher.current_key_id == 2
        assert len(read_all(runtime.db, runtime.cipher)[1]) == 5
    finally:
        runtime.close()


def test_the_beat_job_moves_values_and_rests_once_settled(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import_all_models()
    source = FileKeySource(tmp_path / "keys", TEST_KEY)
    cipher = FieldCipher(source.load(), source)
    write(db, cipher, "old", 30)
    runtime = type("BeatRuntime", (), {"db": db, "cipher": cipher})()
    monkeypatch.setattr(encrypted, "_progress", encrypted._Progress())

    encrypted.rotation_job(runtime)  # one key in the ring: nothing to do, nothing scanned
    assert encrypted.key_usage(db, Base.metadata)["inbox_message.raw"] == {1: 30}

    source.add_key()
    cipher.reload()  # as `refresh` does within seconds in a running beat
    encrypted.rotation_job(runtime)
    assert encrypted.key_usage(db, Base.metadata)["inbox_message.raw"] == {2: 30}
    assert not encrypted._progress.settled  # not yet: a part may still write with key 1 for a moment

    monkeypatch.setattr(encrypted, "SETTLE_S", 0.0)
    encrypted.rotation_job(runtime)
    assert encrypted._progress.settled
    write(db, FieldCipher(KeyRing.single(TEST_KEY)), "late", 1)
    encrypted.rotation_job(runtime)  # settled: it rests (the next rotation, or a restart, wakes it)
    assert encrypted.key_usage(db, Base.metadata)["inbox_message.raw"] == {1: 1, 2: 30}
