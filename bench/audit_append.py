"""What a repeated CDS card's audit entry costs: `store.audit_batch` (group commit) against one write
transaction per entry (the plain way), on the embedded SQLite (synchronous=FULL) in a temporary directory.

Each call appends one `Case/cds-card` read entry and returns after its commit. Printed: median per-entry
wall time of `--rounds` rounds, for 1 and for 4 threads calling at once (the CDS hook's thread limit).

    .venv/bin/python bench/audit_append.py [--entries 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.runtime import Runtime  # noqa: E402
from core.settings import Settings  # noqa: E402
from store import audit, audit_batch  # noqa: E402


def entry(n: int) -> audit.Entry:
    return audit.Entry(
        actor="ehr:Practitioner/bench",
        action=audit.AuditAction.READ,
        resource_type="Case/cds-card",
        resource_id=n,
        patient_ref="p" * 64,
        case_id=n,
        source="cds",
    )


def plain(runtime: Runtime, n: int) -> None:
    with runtime.db.write() as session:
        audit.record_many(session, [entry(n)])


def batched(runtime: Runtime, n: int) -> None:
    audit_batch.appender(runtime.db).append(entry(n))


def per_entry_ms(runtime: Runtime, how: str, threads: int, entries: int) -> float:
    call = plain if how == "plain" else batched
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(lambda n: call(runtime, n), range(entries)))
    return (time.perf_counter() - started) / entries * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="spoedplein-bench-audit-") as tmp:
        runtime = Runtime.start(Settings(data_dir=Path(tmp), api_token="bench"))
        try:
            for threads in (1, 4):
                for how in ("plain", "batched"):
                    rounds = [per_entry_ms(runtime, how, threads, args.entries) for _ in range(args.rounds)]
                    median = statistics.median(rounds)
                    print(f"{threads} thread(s) {how:8s}: {median:6.2f} ms per entry (median of rounds)")
        finally:
            runtime.close()
    with open("/proc/loadavg") as load:
        print(f"load average at the end: {load.read().split()[0]} (2 cores, shared with other work)")


if __name__ == "__main__":
    main()
