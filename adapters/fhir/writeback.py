"""Write-back to the EHR: a case's Flag, DetectedIssues, Tasks and Provenance, PUT to the EHR's FHIR server.

Only when `SPOEDPLEIN_EHR_FHIR_URL` is set. `request(session, settings, case)` adds an outbox row
(topic `fhir.writeback`, key per case version) in the caller's transaction. The work is done outside any
write transaction (an I/O handler, `write_back`): it reads the case, builds the resources as
they are now and PUTs each to `{base}/{type}/{stable id}` — a slow EHR never holds the database's write
lock (on SQLite that would stall the storage of HL7 messages, and so their ACKs). Only then does a short
transaction mark the outbox row done. A PUT with our stable id is an update-or-create, so a retry after a
crash (the EHR got it, our commit did not happen) writes the same resource again instead of a second
one. Any failure (connection, timeout, non-2xx) raises, the outbox keeps the row and retries it with
back-off; nothing is marked as written that was not.

Cases change in many places (the feed, the workflow, the CDS service); rather than every one of them
remembering to call `request`, a sweep (`@every`, beat) queues each case whose version is newer than the
last one queued (`fhir_writeback_mark`). `request` from a caller only makes it sooner.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from adapters.fhir import emitted
from adapters.fhir.client import ehr_client
from adapters.fhir.emitted import EmittedType
from adapters.fhir.models import WritebackMark
from core.settings import Settings
from store.db import utcnow
from store.handlers import handles_io
from store.outbox import enqueue
from store.periodic import every
from workflows.models import Case

TOPIC = "fhir.writeback"
WRITTEN_BACK = (EmittedType.FLAG, EmittedType.DETECTED_ISSUE, EmittedType.TASK, EmittedType.PROVENANCE)


class WritebackFailed(Exception):
    """The EHR did not take a resource; the outbox retries (the text holds no patient data)."""


def request(session: Session, settings: Settings, case: Case) -> bool:
    """Queue the write-back of this version of the case; False when write-back is not configured."""
    if not settings.ehr_fhir_url:
        return False
    _queue(session, case.id, case.version)
    return True


def _queue(session: Session, case_id: int, version: int) -> None:
    enqueue(
        session,
        topic=TOPIC,
        key=f"{TOPIC}:{case_id}:{version}",
        payload={"case_id": case_id, "version": version},
    )
    mark = session.get(WritebackMark, case_id)
    if mark is None:
        session.add(WritebackMark(case_id=case_id, version=version))
    elif mark.version < version:
        mark.version, mark.queued_at = version, utcnow()
    session.flush()


SWEEP_BATCH = 200


def sweep(runtime: Any) -> int:
    """Queue every case whose current version was not queued yet; returns how many were queued."""
    if not runtime.settings.ehr_fhir_url:
        return 0
    query = (
        select(Case.id, Case.version)
        .outerjoin(WritebackMark, WritebackMark.case_id == Case.id)
        .where(or_(WritebackMark.case_id.is_(None), WritebackMark.version < Case.version))
        .order_by(Case.id)
        .limit(SWEEP_BATCH)
    )
    if not runtime.db.is_sqlite:  # two beats at once: each takes other cases (SQLite writes are exclusive)
        query = query.with_for_update(of=Case, skip_locked=True)
    with runtime.db.write() as session:
        changed = session.execute(query).all()
        for case_id, version in changed:
            _queue(session, case_id, version)
        return len(changed)


@every(30, name="fhir.writeback_sweep")
def sweep_job(runtime: Any) -> None:
    sweep(runtime)


def resources_to_write(session: Session, runtime: Any, case: Case) -> list[dict[str, Any]]:
    subject = emitted.patient_reference(session, runtime.cipher, case)
    return [
        r for kind in WRITTEN_BACK for r in emitted.BUILDERS[kind](session, runtime.cipher, case, subject)
    ]


@handles_io(TOPIC)
def write_back(runtime: Any, payloads: list[dict[str, Any]]) -> None:
    """PUT each case's resources to the EHR, with no transaction open while the EHR answers (the runner
    marks the rows done afterwards); raises `WritebackFailed` on the first resource the EHR does not
    take, and the outbox retries the rows."""
    base = runtime.settings.ehr_fhir_url
    for payload in payloads:
        with runtime.db.read() as session:
            case = session.get(Case, int(payload["case_id"]))
            resources = resources_to_write(session, runtime, case) if base and case is not None else []
        if resources:
            _put(runtime.settings, str(base), resources)


def _put(settings: Settings, base: str, resources: list[dict[str, Any]]) -> None:
    with ehr_client(settings) as client:
        for resource in resources:
            url = f"{base.rstrip('/')}/{resource['resourceType']}/{resource['id']}"
            try:
                reply = client.put(url, json=resource, headers={"Content-Type": "application/fhir+json"})
            except Exception as exc:
                raise WritebackFailed(f"{resource['resourceType']}: {type(exc).__name__}") from None
            if not 200 <= reply.status_code < 300:
                raise WritebackFailed(f"{resource['resourceType']}: EHR answered {reply.status_code}")
