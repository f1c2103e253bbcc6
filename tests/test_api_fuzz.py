"""Every operation of the OpenAPI schema, with and without the API token: no answer is a 5xx, and every
documented answer fits its schema. (An attack run found 42 distinct 5xx: ids beyond the integer range,
bodies that are not UTF-8, …) A bounded schemathesis run (valid and invalid data, a few examples per
operation), then the edge cases it is unlikely to draw, for every operation they apply to. In-process
over ASGI on a migrated SQLite store: about a minute."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error, response_schema_conformance
from starlette.testclient import TestClient

from core.runtime import Runtime
from gateway.app import create_app
from tests.conftest import new_sqlite_database
from tests.fhir_helpers import API_TOKEN, make_runtime

EXAMPLES = 10
TOKEN = {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture(scope="module")
def fuzz_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    directory = tmp_path_factory.mktemp("fuzz")
    runtime = make_runtime(new_sqlite_database(Path(directory)), Path(directory))
    yield runtime
    runtime.close()


@pytest.fixture(scope="module")
def app(fuzz_runtime: Runtime) -> Any:
    return create_app(fuzz_runtime)


@pytest.fixture(scope="module")
def operations(app: Any) -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def check_operation(operation: schemathesis.APIOperation, mode: schemathesis.GenerationMode) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        authorised = case.call(headers=TOKEN)
        checks = [not_a_server_error, response_schema_conformance]
        case.validate_response(authorised, checks=checks if mode.is_positive else [not_a_server_error])
        case.validate_response(case.call(), checks=[not_a_server_error])

    with contextlib.suppress(Unsatisfiable):  # nothing invalid can be made for some (no parameters)
        run()


def test_every_operation_has_its_own_operation_id(app: Any) -> None:
    """Clients generated from the schema, and schemathesis, key operations by their id: a duplicate
    silently hides one of them."""
    ids = [op["operationId"] for path in app.openapi()["paths"].values() for op in path.values()]
    assert len(ids) > 30
    assert sorted({i for i in ids if ids.count(i) > 1}) == []


def test_no_operation_answers_a_server_error_with_or_without_the_token(
    operations: list[schemathesis.APIOperation],
) -> None:
    assert len(operations) > 30
    failures: dict[str, str] = {}
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            try:
                check_operation(operation, mode)
            except Exception as exc:  # every operation is run; all failures are reported together
                text = str(exc).strip()
                failures[f"{operation.label} ({mode.value})"] = text.splitlines()[0] if text else repr(exc)
    assert not failures, "\n".join(f"{label}: {why}" for label, why in failures.items())


def integer_path_operations(operations: list[schemathesis.APIOperation]) -> list[tuple[str, str, str]]:
    out = []
    for operation in operations:
        for parameter in operation.path_parameters:
            if parameter.definition.get("schema", {}).get("type") == "integer":
                out.append((operation.method.upper(), operation.path, parameter.name))
    return out


@pytest.mark.parametrize("huge", [2**63, 10**20, -(2**63) - 1, 0])
def test_ids_beyond_the_integer_range_are_not_found_not_a_server_error(
    operations: list[schemathesis.APIOperation], client: TestClient, huge: int
) -> None:
    probed = integer_path_operations(operations)
    assert len(probed) >= 10
    for method, path, name in probed:
        url = re.sub(r"\{[^}]+\}", "1", path.replace("{" + name + "}", str(huge)))
        reply = client.request(method, url, headers=TOKEN, json={"expected_version": 1})
        assert reply.status_code in (400, 404, 409, 422), (method, url, reply.status_code, reply.text[:200])


NOT_UTF8 = [b"\xff\xfe\x00\x01", b'{"reason": "\xc3\x28"}', b"\x80" * 64]


@pytest.mark.parametrize("body", NOT_UTF8, ids=["binary", "bad-sequence", "continuation-bytes"])
def test_bodies_that_are_not_utf8_are_refused_not_a_server_error(
    operations: list[schemathesis.APIOperation], client: TestClient, body: bytes
) -> None:
    with_body = [op for op in operations if op.method.upper() in ("POST", "PUT", "PATCH")]
    assert len(with_body) >= 10
    for operation in with_body:
        url = re.sub(r"\{[^}]+\}", "1", operation.path)
        for content_type in ("application/json", "application/fhir+json"):
            reply = client.request(
                operation.method.upper(), url, headers={**TOKEN, "Content-Type": content_type}, content=body
            )
            assert reply.status_code < 500, (operation.label, reply.status_code, reply.text[:200])
