"""What bench/scale.py and bench/soak.py feed the whole pipeline, and how they see it processed.

The feed is a synthetic ED shift at Dutch prevalence (`tests/vignettes/generator.py`: HL7 v2 ADT^A04, a few
flags per 1,000 visits), each message with its own control id, and every `flagged_every`-th message a
registration of a new visit that detection flags (a bruise on an infant: a new case, whose "open too long"
timer later pages the coordinator). No real person: the generator's names and the test template only.
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import func, select

from adapters.hl7.msh import read_header
from bench._mllp_load import PayloadFactory
from store.db import Database
from store.inbox import InboxMessage, MessageStatus
from tests.gateway_load import MESSAGE as FLAGGED
from tests.gateway_process import GatewayProcesses


@lru_cache(maxsize=1)
def _shift() -> list[tuple[bytes, bytes]]:
    """(message, its control id as it sits in MSH-10) for a shift of 5,000 visits."""
    from tests.vignettes import generator as vignettes

    out = []
    for vignette in vignettes.ed_shift(5000, 7):
        raw = vignettes.to_hl7(vignette).replace("\n", "\r").encode()
        out.append((raw, f"|{read_header(raw, default_charset='UTF-8').control_id}|".encode()))
    return out


def feed(run_id: str, *, flagged_every: int = 100) -> PayloadFactory:
    """Payloads for `run_load`: control id `<run_id>-<connection>-<sequence>`, unique per run."""
    shift = _shift()

    def make(connection: int, sequence: int) -> bytes:
        cid = f"{run_id}-{connection}-{sequence}"
        if flagged_every and (sequence * 7919 + connection) % flagged_every == 0:
            return FLAGGED.format(cid=cid).encode()
        raw, control_id = shift[(sequence * 31 + connection) % len(shift)]
        return raw.replace(control_id, f"|{cid}|".encode(), 1)

    return make


def as_shipped(gateway: GatewayProcesses) -> None:
    """Drop the test harness's fast relay settings: a benchmark measures the relay's shipped defaults."""
    for test_setting in ("SPOEDPLEIN_RELAY_INTERVAL_S", "SPOEDPLEIN_RELAY_REDELIVER_AFTER_S"):
        gateway.env.pop(test_setting, None)


def processed(db: Database, run_id: str) -> int:
    """Messages of this run no longer waiting (processed, ignored or failed: the worker is done with them)."""
    with db.read() as session:
        return int(
            session.scalar(
                select(func.count()).where(
                    InboxMessage.control_id.like(f"{run_id}-%"),
                    InboxMessage.status != MessageStatus.RECEIVED.value,
                )
            )
            or 0
        )
