"""The CDS Hooks hot path's speed measures, in one place, each beside what it was measured to buy.

A hook call is on the physician's screen: target p99 <= 50 ms at 100 calls/s, open loop, a new
50-resource prefetch on every call, on `spoedplein run` as shipped (bench/cds_hooks.py). The domain code
(`services`, `analysis`, `cards`, `views`) does the work plainly and calls the measures below by name;
nothing here changes an answer, only how fast it comes.

Per call with a new prefetch, in-process without HTTP (2-core development machine, 2026-11-23): ES384
signature check 0.5 ms (OpenSSL; releases the interpreter lock), body parse 0.15 ms, prefetch →
Presentation 0.37 ms, detection 0.15 ms, jti insert 0.1 ms, case lookup 0.1 ms.

The measures, and why (measured on that machine; docs/fhir-and-cds-hooks.md has the runs):
- content cache, `analysis_of`: a re-opened chart (same prefetch) skips mapping and detection, ~0.5 ms of
  a ~2.6 ms call. The cached analyses are compact: full collections walked hundreds of thousands of
  cached model objects (the p99 tail).
- rendered-answer cache, `remembered_answer`: building the card validates two FHIR resources and encodes
  JSON; the same case and rule set give the same bytes.
- raw SQL, `known_case`: the case lookup is the whole reading of a repeated call; two driver
  statements, where SQLAlchemy's layers cost ~150 µs per statement. Its audit entry is group-committed
  (`store.audit_batch`): calls that arrive together share one transaction and one commit.
- GC tuning, `tune_gc`: full collections walked the app's long-lived graph (routes, models, rules) and
  stalled calls for tens of milliseconds.
- concurrency limit, `hook_limiter`: the work is CPU-bound under one interpreter lock; twenty calls
  time-sharing it all finish late together, a few at a time finish one after another.
- no fsync and no WAL checkpoint inside a call (`auth.JtiLedger`, `store.checkpoint`): SQLite copied the
  WAL into the database inside the commit of every few hundredth call (tens of ms); the beat does it.

Together these took the closed-loop new-prefetch run from 98 calls/s and p99 334 ms to 382 calls/s and
p99 68 ms (2026-11-23, one process, 20 clients back to back).
"""

from __future__ import annotations

import gc
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

import anyio

from adapters.fhir.cds import analysis, cards
from adapters.fhir.cds.analysis import Analysis
from adapters.fhir.cds.catalog import Service
from detection.models import Severity
from store.db import Database, driver_transaction
from workflows.models import OPEN_STATES

HOOK_THREADS = 4
_OPEN_STATE_VALUES = tuple(sorted(s.value for s in OPEN_STATES))
_CARD = "\x1fcard"  # cannot be a rule id


class AnalysisCache:
    """The analysis of each prefetch content, for a few minutes, in this process's memory only.

    `patient-view` fires every time someone opens the chart, with the same prefetch until the record
    changes; mapping and detection are most of a call's cost, and the same content always maps to the
    same result. Bounded in size and age; nothing of it is written anywhere. Calls that arrive together
    for the same content wait for the first one's analysis instead of repeating it.
    """

    def __init__(self, *, max_entries: int = 512, max_age_s: float = 300.0) -> None:
        self._entries: OrderedDict[str, tuple[float, Analysis]] = OrderedDict()
        self._max_entries = max_entries
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._in_flight: dict[str, threading.Lock] = {}

    def get(self, data: dict[str, Any], service: Service, zone: str) -> Analysis:
        # The key is the content in the order the EHR sent it (a re-ordered prefetch is only a miss);
        # pydantic-core's encoder is a third of the cost of a sorted `json.dumps`.
        content = analysis.prefetch_json(data)
        key = hashlib.sha256(b"%s|%s|%s" % (service.hook.value.encode(), zone.encode(), content)).hexdigest()
        hit = self._fresh(key)
        if hit is not None:
            return hit
        with self._lock:
            in_flight = self._in_flight.setdefault(key, threading.Lock())
        with in_flight:
            hit = self._fresh(key)
            if hit is not None:
                return hit
            try:
                found = analysis.analyse(data, service, zone, content=content)
                with self._lock:
                    self._entries[key] = (time.monotonic(), found)
                    while len(self._entries) > self._max_entries:
                        self._entries.popitem(last=False)
                return found
            finally:
                with self._lock:
                    self._in_flight.pop(key, None)

    def _fresh(self, key: str) -> Analysis | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is None or time.monotonic() - hit[0] >= self._max_age_s:
                return None
            self._entries.move_to_end(key)
            return hit[1]


_ANALYSES = AnalysisCache()


def analysis_of(data: dict[str, Any], service: Service, zone: str) -> Analysis:
    """`analysis.analyse`, remembered per prefetch content for a few minutes (the content cache)."""
    return _ANALYSES.get(data, service, zone)


Answer = TypeVar("Answer", bound=Callable[..., bytes])


def remembered_answer(render: Answer) -> Answer:
    """Keep the rendered answer of a pure function of hashable values (the rendered-answer cache)."""
    return lru_cache(maxsize=4096)(render)  # type: ignore[return-value]


def known_case(
    db: Database,
    encounter_ref: str,
    *,
    fingerprints: frozenset[tuple[str, str]],
    card_for: Callable[[str], str],
) -> tuple[cards.CaseRef, str] | None:
    """The encounter's open case (and its patient reference, for the audit entry) when it already holds
    these findings and the card `card_for(case reference)`, else None: on a repeated call the whole of
    its reading, in plain driver SQL."""
    with driver_transaction(db.engine, write=False) as sql:
        case = sql.rows(
            "SELECT id, reference, highest_severity, opened_at, patient_ref FROM cases WHERE encounter_ref = "
            f"{sql.marks(1)} AND state IN ({sql.marks(len(_OPEN_STATE_VALUES))}) ORDER BY id DESC LIMIT 1",
            (encounter_ref, *_OPEN_STATE_VALUES),
        )
        if not case:
            return None
        case_id, reference, severity, opened_at, patient_ref = case[0]
        uid = card_for(reference)
        known = sql.rows(
            f"SELECT rule_id, fingerprint FROM case_finding WHERE case_id = {sql.marks(1)} UNION ALL "
            f"SELECT {sql.marks(1)}, uuid FROM cds_card WHERE uuid = {sql.marks(1)}",
            (case_id, _CARD, uid),
        )
        if fingerprints <= set(known) and (_CARD, uid) in known:
            ref = cards.CaseRef(case_id, reference, Severity(severity), sql.read_timestamp(opened_at))
            return ref, str(patient_ref)
    return None


def hook_limiter(state: Any) -> anyio.CapacityLimiter:
    """At most HOOK_THREADS hook calls run at once in this process (`state`: the app's state); the others
    wait their turn in arrival order. More than one, so that a call waiting on the database or verifying a
    signature (both release the interpreter lock) does not leave the processor idle."""
    limiter: anyio.CapacityLimiter | None = getattr(state, "cds_hook_limiter", None)
    if limiter is None:
        limiter = anyio.CapacityLimiter(HOOK_THREADS)
        state.cds_hook_limiter = limiter
    return limiter


def tune_gc() -> None:
    """Call once a serving process has imported and built everything it serves with: what exists now is
    moved out of the collector's reach, and collections of the short-lived request garbage come rarer."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)
