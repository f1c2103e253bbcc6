"""`spoedplein fhir-post` against a real gateway over HTTP: the corpus is sent, refusals are named."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from tests.fhir_helpers import API_TOKEN, GatewayServer, make_runtime

CORPUS = Path(__file__).resolve().parent / "corpus" / "fhir" / "fhir-converter"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayServer]:
    from tests.conftest import new_sqlite_database

    runtime = make_runtime(new_sqlite_database(tmp_path), tmp_path)
    with GatewayServer(runtime) as server:
        yield server
    runtime.close()


def test_fhir_post_sends_the_corpus_and_names_each_refusal(gateway: GatewayServer) -> None:
    result = CliRunner().invoke(app, ["fhir-post", str(CORPUS), "--url", gateway.url, "--token", API_TOKEN])

    assert result.exit_code == 1  # six corpus files are invalid on purpose (test_fhir_ingest.py says why)
    refusals = [line for line in result.output.splitlines() if ": 400 " in line]
    assert len(refusals) == 6 and all("Bundle.entry[" in line for line in refusals)
    assert "accepted 12" in result.output and "refused 6" in result.output


def test_fhir_post_of_a_single_resource_twice_reports_the_duplicate(
    gateway: GatewayServer, tmp_path: Path
) -> None:
    file = tmp_path / "patient.json"
    file.write_text('{"resourceType": "Patient", "id": "p1", "birthDate": "2020-01-01"}')
    args = ["fhir-post", str(file), "--url", gateway.url, "--token", API_TOKEN]

    first, again = CliRunner().invoke(app, args), CliRunner().invoke(app, args)

    assert first.exit_code == again.exit_code == 0
    assert "accepted 1" in first.output and "duplicate 1" in again.output
