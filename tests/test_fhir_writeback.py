"""Write-back to the EHR over real HTTP: queued in the outbox with the case, PUT with stable ids to a
recording EHR FHIR server, retried after a failure, and never written twice."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.fhir import writeback
from adapters.fhir.cds.analysis import to_presentation
from adapters.fhir.cds.catalog import SERVICES
from adapters.fhir.validate import validate_resource
from core.runtime import Runtime
from detection.engine import detect
from gateway.outbox_runner import run_items
from presentations import service as presentations
from store.outbox import OutboxItem
from tests import cds_helpers as cds
from tests.fhir_helpers import EhrFhirServer, make_runtime
from workflows.cases import record_findings
from workflows.models import Case


@pytest.fixture
def ehr() -> Iterator[EhrFhirServer]:
    with EhrFhirServer() as server:
        yield server


@pytest.fixture
def runtime(database_url: str, tmp_path: Path, ehr: EhrFhirServer) -> Iterator[Runtime]:
    rt = make_runtime(database_url, tmp_path, ehr_fhir_url=ehr.url)
    yield rt
    rt.close()


def open_case(runtime: Runtime) -> Case:
    presentation = to_presentation(cds.prefetch(), SERVICES["spoedplein-signals-encounter-start"], "UTC")
    with runtime.db.write() as session:
        record = presentations.save(
            session,
            cipher=runtime.cipher,
            pseudonyms=runtime.pseudonyms,
            presentation=presentation,
            inbox_message_id=None,
        )
        case = record_findings(
            session, cipher=runtime.cipher, presentation=record, findings=detect(presentation)
        )
        assert case is not None
        assert writeback.request(session, runtime.settings, case)
        assert writeback.request(session, runtime.settings, case)  # asked twice: still one row
        return case


def writeback_rows(runtime: Runtime) -> list[OutboxItem]:
    with runtime.db.read() as session:
        return list(session.execute(select(OutboxItem).where(OutboxItem.topic == writeback.TOPIC)).scalars())


def test_case_is_written_back_with_stable_ids_after_a_failed_first_try(
    runtime: Runtime, ehr: EhrFhirServer
) -> None:
    case = open_case(runtime)
    [row] = writeback_rows(runtime)
    ehr.fail_next = 1

    assert run_items(runtime, [row.id]) == 0  # the EHR answered 503: kept for a retry
    [pending] = writeback_rows(runtime)
    assert pending.done_at is None and "503" in pending.last_error

    assert run_items(runtime, [row.id]) == 1
    assert run_items(runtime, [row.id]) == 0  # a redelivery finds it done and writes nothing

    puts = [r for r in ehr.requests if r.method == "PUT"]
    paths = sorted({r.path for r in puts})
    assert f"/fhir/Flag/sp-flag-{case.id}" in paths
    assert f"/fhir/Provenance/sp-prov-{case.id}" in paths
    assert any(p.startswith("/fhir/DetectedIssue/sp-di-") for p in paths)
    assert f"/fhir/Task/sp-task-review-{case.id}" in paths
    assert len(puts) == 1 + len(paths)  # the failed first PUT, then each resource once
    for put in puts[1:]:
        assert put.headers["Content-Type"] == "application/fhir+json"
        validate_resource(put.json())


def test_a_crash_after_the_ehr_took_it_rewrites_the_same_resources_not_new_ones(
    runtime: Runtime, ehr: EhrFhirServer
) -> None:
    open_case(runtime)
    [row] = writeback_rows(runtime)
    writeback.write_back(runtime, [dict(row.payload)])  # the EHR took it…
    stored_after_first = dict(ehr.resources)  # …and the worker died before marking the row done
    assert stored_after_first and writeback_rows(runtime)[0].done_at is None

    assert run_items(runtime, [row.id]) == 1

    assert ehr.resources.keys() == stored_after_first.keys()  # same ids: updated, not duplicated


def test_without_an_ehr_url_nothing_is_queued(database_url: str, tmp_path: Path) -> None:
    rt = make_runtime(database_url, tmp_path)
    try:
        with rt.db.write() as session:
            case = Case(
                reference="SP-TEST0001", encounter_ref="e", patient_ref="p", highest_severity="warning"
            )
            session.add(case)
            session.flush()
            assert writeback.request(session, rt.settings, case) is False
        assert writeback_rows(rt) == []
    finally:
        rt.close()


def test_sweep_queues_cases_changed_anywhere_once_per_version(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        case = Case(reference="SP-SWEEP001", encounter_ref="e", patient_ref="p", highest_severity="warning")
        session.add(case)
    assert writeback.sweep(runtime) == 1  # a case the feed opened: nobody asked for its write-back
    assert writeback.sweep(runtime) == 0

    with runtime.db.write() as session:
        stored = session.get(Case, case.id)
        assert stored is not None
        stored.highest_severity = "critical"  # any change bumps the version

    assert writeback.sweep(runtime) == 1
    keys = sorted(row.key for row in writeback_rows(runtime))
    assert keys == [f"{writeback.TOPIC}:{case.id}:1", f"{writeback.TOPIC}:{case.id}:2"]
