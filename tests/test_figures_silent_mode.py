"""Silent mode: detection runs and is counted, but no case is opened and no card is shown.

Both ways a flag arrives are covered: an HL7 message processed by the worker's handler, and a CDS Hooks
call over real HTTP. The flag appears in the pilot figures (`/api/figures`), once per encounter and rule.
"""

from __future__ import annotations

from pathlib import Path

import httpx
from sqlalchemy import func, select

from core.runtime import Runtime
from store.db import Database
from tests import cds_helpers as cds
from tests.fhir_helpers import CLIENT_TIMEOUT_S, GatewayServer, make_runtime
from tests.test_processing_bounds import receive
from tests.workflow_fixtures import drain_outbox, runtime_for
from workflows.models import Case, SilentFlag

SIGNALS_PV = "spoedplein-signals-patient-view"


def count(runtime: Runtime, model: type) -> int:
    with runtime.db.read() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_flagged_message_in_silent_mode_opens_no_case_but_is_counted(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    runtime = runtime_for(db, database_url, tmp_path)
    runtime.settings.silent_mode = True
    receive(runtime, "SIL-1", "blauwe plek achter het oor, geen verklaring")
    drain_outbox(runtime)
    assert count(runtime, Case) == 0
    assert count(runtime, SilentFlag) >= 1
    counted = count(runtime, SilentFlag)
    receive(runtime, "SIL-2", "blauwe plek achter het oor, geen verklaring")  # another visit
    drain_outbox(runtime)
    assert count(runtime, SilentFlag) == 2 * counted
    assert count(runtime, Case) == 0
    with runtime.db.read() as session:
        encounters = session.scalar(select(func.count(func.distinct(SilentFlag.encounter_ref))))
    assert encounters == 2

    runtime.settings.silent_mode = False  # the same signal with silent mode off opens a case
    receive(runtime, "SIL-3", "blauwe plek achter het oor, geen verklaring")
    drain_outbox(runtime)
    assert count(runtime, Case) == 1


def test_a_cds_call_in_silent_mode_shows_no_card_and_the_figures_count_the_flag(
    database_url: str, tmp_path: Path
) -> None:
    key = cds.SigningKey("ehr-key-1")
    runtime = make_runtime(
        database_url,
        tmp_path,
        silent_mode=True,
        cds_trusted_issuers={cds.ISSUER: str(key.write_jwks(tmp_path / "ehr-jwks.json"))},
    )
    try:
        with GatewayServer(runtime) as gateway:
            url = f"{gateway.url}/cds-services/{SIGNALS_PV}"
            body = cds.hook_request("patient-view", cds.prefetch())
            for _ in range(2):  # the chart opened twice: counted once
                token = {"Authorization": f"Bearer {key.token(url)}"}
                reply = httpx.post(url, json=body, headers=token, timeout=CLIENT_TIMEOUT_S)
                assert reply.status_code == 200, reply.text
                assert reply.json() == {"cards": []}
            assert count(runtime, Case) == 0
            flags = count(runtime, SilentFlag)
            assert flags >= 1
            figures = httpx.get(
                f"{gateway.url}/api/figures",
                headers={"Authorization": f"Bearer {runtime.api_token}"},
                timeout=CLIENT_TIMEOUT_S,
            ).json()
            assert figures["silent"]["flags"] == flags
            assert figures["silent"]["encounters"] == 1
            assert figures["cases"]["value"] == 0
    finally:
        runtime.close()
