"""Worker-path benchmark: processed ED messages per second in one worker process, embedded default.

The inbox is filled with a synthetic ED shift at Dutch prevalence (`tests/vignettes/generator.py`, HL7 v2 ADT;
a few flags per 1,000 visits), each message with its own control id, as the gateway would store them.
Then:
  1. the worker path in this process: `run_items` over outbox batches of 50 ids, exactly what one
     Celery task does (decrypt, parse, map, store the presentation, detect, open/update cases);
  2. baseline in the same run: the same batches with a handler that only marks the work done, i.e. the
     fixed cost of the outbox transaction, so the ratio shows what parsing and detection add;
  3. end to end: real `worker` and `beat` processes over the SQLite broker drain a fresh inbox;
  4. the worker path on the labelled vignette set (about half flagged: the case-heavy worst case).
Target: >= 500 ED messages/s on one worker process.

    .venv/bin/python bench/process.py [--messages 3000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

import gateway.handlers  # noqa: E402, F401
from adapters.hl7.ack import build_ack  # noqa: E402
from adapters.hl7.msh import read_header  # noqa: E402
from adapters.hl7.receiver import content_fingerprint  # noqa: E402
from core.runtime import Runtime  # noqa: E402
from core.settings import Settings  # noqa: E402
from gateway.outbox_runner import run_items  # noqa: E402
from store.handlers import handles  # noqa: E402
from store.inbox import Channel, InboxMessage, MessageStatus, NewMessage, dedupe_key, store_messages  # noqa: E402
from store.outbox import OutboxItem  # noqa: E402

VIGNETTES = ROOT / "tests" / "vignettes" / "hl7"
BASELINE_TOPIC = "bench.noop"


@handles(BASELINE_TOPIC)
def _noop(_runtime: Any, _session: Session, _payload: dict[str, Any]) -> None:
    """Baseline: the outbox bookkeeping without any work."""


def vignette_messages() -> list[bytes]:
    return [p.read_bytes().replace(b"\n", b"\r") for p in sorted(VIGNETTES.glob("*.hl7"))]


def shift_messages(visits: int = 5000) -> list[bytes]:
    from tests.vignettes import generator as vignettes

    return [vignettes.to_hl7(v).replace("\n", "\r").encode() for v in vignettes.ed_shift(visits, 7)]


def fill_inbox(runtime: Runtime, count: int, run: str, templates: list[bytes]) -> None:
    batch: list[NewMessage] = []
    for n in range(count):
        raw = templates[n % len(templates)]
        header = read_header(raw, default_charset="UTF-8")
        cid = f"{run}-{n}"
        raw = raw.replace(f"|{header.control_id}|".encode(), f"|{cid}|".encode(), 1)
        header = read_header(raw, default_charset="UTF-8")
        batch.append(
            NewMessage(
                channel=Channel.HL7V2,
                dedupe_key=dedupe_key(Channel.HL7V2, "BENCH", run, cid),
                sender="BENCH",
                control_id=cid,
                message_type=header.message_type_code,
                raw=raw,
                ack_code="AA",
                ack=build_ack(header),
                content_hash=content_fingerprint(header),
            )
        )
        if len(batch) == 200:
            with runtime.db.write() as session:
                store_messages(session, runtime.cipher, batch)
            batch = []
    if batch:
        with runtime.db.write() as session:
            store_messages(session, runtime.cipher, batch)


def pending_ids(runtime: Runtime, topic: str) -> list[int]:
    with runtime.db.read() as session:
        return list(
            session.scalars(
                select(OutboxItem.id).where(OutboxItem.topic == topic, OutboxItem.done_at.is_(None))
            )
        )


def timed_run(runtime: Runtime, ids: list[int]) -> float:
    start = time.perf_counter()
    for i in range(0, len(ids), 50):
        run_items(runtime, ids[i : i + 50])
    return time.perf_counter() - start


def in_process(
    runtime: Runtime, count: int, templates: list[bytes], run: str
) -> tuple[float, float, int, int]:
    fill_inbox(runtime, count, run, templates)
    ids = pending_ids(runtime, "inbox.process")
    seconds = timed_run(runtime, ids)
    with runtime.db.read() as session:
        processed = session.scalar(
            select(func.count()).where(
                InboxMessage.status == MessageStatus.PROCESSED.value, InboxMessage.control_id.like(f"{run}-%")
            )
        )
        cases = session.scalar(text("SELECT count(*) FROM cases"))
    with runtime.db.write() as session:
        session.add_all(
            OutboxItem(topic=BASELINE_TOPIC, key=f"noop:{run}:{n}", payload={"n": n}) for n in range(len(ids))
        )
    baseline = timed_run(runtime, pending_ids(runtime, BASELINE_TOPIC))
    return len(ids) / seconds, len(ids) / baseline, int(processed or 0), int(cases or 0)


def end_to_end(data_dir: Path, count: int, templates: list[bytes]) -> float:
    env = dict(
        os.environ, SPOEDPLEIN_DATA_DIR=str(data_dir), SPOEDPLEIN_LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT)
    )
    runtime = Runtime.start(Settings(data_dir=data_dir))
    fill_inbox(runtime, count, "E", templates)
    worker = subprocess.Popen([sys.executable, "-m", "gateway", "worker"], env=env, cwd=ROOT)
    time.sleep(3)  # let the worker connect before the clock starts
    start = time.perf_counter()
    beat = subprocess.Popen([sys.executable, "-m", "gateway", "beat"], env=env, cwd=ROOT)
    try:
        while True:
            with runtime.db.read() as session:
                left = session.scalar(
                    select(func.count()).where(InboxMessage.status == MessageStatus.RECEIVED.value)
                )
            if not left:
                break
            time.sleep(0.05)
        return count / (time.perf_counter() - start)
    finally:
        for proc in (beat, worker):
            proc.terminate()
            proc.wait(timeout=30)
        runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=3000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="spoedplein-process-bench-"))
    try:
        shift = shift_messages()
        runtime = Runtime.start(Settings(data_dir=work / "inprocess"))
        rate, baseline, processed, cases = in_process(runtime, args.messages, shift, "S")
        print(
            f"worker path, one process, embedded default, {args.messages} messages of a simulated ED shift "
            f"({processed} processed, {cases} cases opened)"
        )
        print(f"  worker path (decrypt, parse, map, store, detect, cases): {rate:8.0f} msg/s")
        print(f"  baseline (outbox transaction only, no-op handler):       {baseline:8.0f} msg/s")
        print(f"  ratio worker/baseline: {rate / baseline:.2f}")
        heavy, _, heavy_processed, _ = in_process(runtime, args.messages // 2, vignette_messages(), "V")
        runtime.close()
        print(
            f"  worker path on the vignette set (~half flagged, {heavy_processed} processed): "
            f"{heavy:8.0f} msg/s"
        )
        e2e = end_to_end(work / "e2e", args.messages, shift)
        print(f"  end to end (real worker + beat processes, SQLite broker): {e2e:8.0f} msg/s")
        print(
            f"  target (>= 500 msg/s on one worker process): {'met' if min(rate, e2e) >= 500 else 'NOT met'}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
