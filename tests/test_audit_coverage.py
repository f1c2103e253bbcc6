"""Every API route that reads or changes a case's patient data leaves an audit entry for that patient,
with who (id, role, name), from where and through what; the routes are read from the app itself, so a
new case route is covered (or fails here) without anyone remembering to add it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from core.runtime import Runtime
from gateway.app import create_app
from store import audit
from store.crypto import FieldCipher, Pseudonymizer
from store.db import Database
from tests.fhir_helpers import GatewayServer
from tests.workflow_fixtures import finding, flagged_case, presentation, runtime_for, years_ago


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """SQLite only: the entry is written by the route's code, the engine is covered by the chain tests."""
    from tests.conftest import new_sqlite_database

    return new_sqlite_database(tmp_path)


@pytest.fixture
def runtime(db: Database, database_url: str, tmp_path: Path) -> Runtime:
    return runtime_for(db, database_url, tmp_path)


@pytest.fixture
def api(runtime: Runtime) -> Iterator[httpx.Client]:
    with (
        GatewayServer(runtime) as server,
        httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {runtime.api_token}"}, timeout=30
        ) as client,
    ):
        yield client


def newest_seq(runtime: Runtime) -> int:
    with runtime.db.read() as session:
        return int(session.execute(select(func.coalesce(func.max(audit.AuditEntry.seq), 0))).scalar_one())


def entries_after(runtime: Runtime, seq: int) -> list[audit.AuditEntry]:
    with runtime.db.read() as session:
        query = select(audit.AuditEntry).where(audit.AuditEntry.seq > seq).order_by(audit.AuditEntry.seq)
        return list(session.execute(query).scalars())


def case_get_routes(runtime: Runtime) -> list[str]:
    """The app's own list (its OpenAPI paths): every GET under a case id."""
    paths = create_app(runtime).openapi()["paths"]
    return sorted(path for path, methods in paths.items() if "{case_id}" in path and "get" in methods)


def test_every_case_read_route_and_the_lists_leave_an_entry_for_the_patient(
    api: httpx.Client, runtime: Runtime, cipher: FieldCipher, pseudonyms: Pseudonymizer
) -> None:
    case_id = flagged_case(
        runtime.db,
        cipher,
        pseudonyms,
        presentation(visit="V-AUDIT-1", birth_date=years_ago(4)),
        [finding("R-STR-1", "R-STR", "gewurgd")],
    )
    with runtime.db.read() as session:
        from workflows.models import Case

        case = session.get(Case, case_id)
        assert case is not None
        patient_ref = case.patient_ref

    routes = case_get_routes(runtime)
    assert len(routes) >= 8, routes
    answered = []
    for template in routes:
        before = newest_seq(runtime)
        response = api.get(template.replace("{case_id}", str(case_id)))
        if response.status_code >= 400:
            # Nothing was shown (a melding not yet prepared is a 404): nothing to log, and nothing is.
            assert entries_after(runtime, before) == [], template
            continue
        answered.append(template)
        new = entries_after(runtime, before)
        assert [(e.patient_ref, e.action, e.case_id) for e in new] == [(patient_ref, "read", str(case_id))], (
            template
        )
        # The shared token acts as the bootstrap administrator: a real user id, role and name.
        assert new[0].resource_type.startswith("Case") and new[0].actor.startswith("user:")
        assert new[0].actor_role == "admin" and new[0].actor_name and new[0].client == "127.0.0.1"
        assert new[0].source == "api"
    assert len(answered) >= 6, answered

    for listing in ("/api/cases", "/api/presentations"):
        before = newest_seq(runtime)
        assert api.get(listing).status_code == 200
        assert patient_ref in {e.patient_ref for e in entries_after(runtime, before)}, listing

    before = newest_seq(runtime)
    version = api.get(f"/api/cases/{case_id}").json()["version"]
    confirmed = api.post(
        f"/api/cases/{case_id}/confirm",
        json={"expected_version": version, "melder": {"name": "Dr. Test"}, "reason": "striemen"},
    )
    assert confirmed.status_code == 200, confirmed.text
    changes = [e for e in entries_after(runtime, before) if e.action == "update"]
    assert [(e.resource_type, e.patient_ref) for e in changes] == [("Case/confirm", patient_ref)]
    with runtime.db.read() as session:
        assert audit.verify(session).intact
