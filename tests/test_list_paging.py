"""List endpoints page with a cursor: everything can be listed, not only the newest 1,000; the order is
stable (newest first, by id) and rows arriving meanwhile neither push older ones off a page nor repeat
them. Over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.runtime import Runtime
from store.inbox import NewMessage, dedupe_key, store_messages
from tests.fhir_helpers import GatewayServer, auth, make_runtime
from tests.workflow_fixtures import finding, flagged_case, presentation, years_ago


@pytest.fixture
def runtime(database_url: str, tmp_path: Path) -> Iterator[Runtime]:
    rt = make_runtime(database_url, tmp_path)
    yield rt
    rt.close()


@pytest.fixture
def gateway(runtime: Runtime) -> Iterator[GatewayServer]:
    with GatewayServer(runtime) as server:
        yield server


def add_messages(runtime: Runtime, first: int, count: int) -> None:
    with runtime.db.write() as session:
        store_messages(
            session,
            runtime.cipher,
            [
                NewMessage(
                    channel="hl7v2",
                    dedupe_key=dedupe_key("hl7v2", "HIX", "ETZ", f"P-{n}"),
                    sender="HIX|ETZ",
                    control_id=f"P-{n}",
                    message_type="ADT^A04",
                    raw=b"MSH|",
                    ack_code="AA",
                    ack=b"",
                )
                for n in range(first, first + count)
            ],
        )


def every_page(gateway: GatewayServer, path: str, **params: object) -> Iterator[list[dict[str, object]]]:
    url: str | None = path
    query: dict[str, object] | None = dict(params)
    with httpx.Client(base_url=gateway.url, headers=auth(), timeout=30) as client:
        while url is not None:
            reply = client.get(url, params=query)  # type: ignore[arg-type]
            assert reply.status_code == 200, reply.text
            yield reply.json()
            link = reply.links.get("next")
            url, query = (link["url"], None) if link else (None, None)


def test_all_2500_messages_can_be_listed_page_by_page_in_a_stable_order(
    gateway: GatewayServer, runtime: Runtime
) -> None:
    add_messages(runtime, 0, 2500)
    seen: list[int] = []
    for number, rows in enumerate(every_page(gateway, "/api/messages", limit=1000)):
        seen += [int(str(r["id"])) for r in rows]
        if number == 0:
            add_messages(runtime, 2500, 50)  # new messages arrive while the pages are read
    assert len(seen) == 2500 and len(set(seen)) == 2500  # none skipped, none twice
    assert seen == sorted(seen, reverse=True)  # newest first, by id
    assert int(str(next(every_page(gateway, "/api/messages", limit=1))[0]["control_id"])[2:]) == 2549


def test_cases_and_presentations_page_the_same_way(gateway: GatewayServer, runtime: Runtime) -> None:
    for n in range(5):
        flagged_case(
            runtime.db,
            runtime.cipher,
            runtime.pseudonyms,
            presentation(visit=f"V-PAGE-{n}", birth_date=years_ago(30)),
            [finding("R-STR-1", "R-STR", "gewurgd")],
        )
    for path in ("/api/cases", "/api/presentations"):
        pages = list(every_page(gateway, path, limit=2))
        assert [len(p) for p in pages] == [2, 2, 1], path
        ids = [int(str(r["id"])) for p in pages for r in p]
        assert ids == sorted(set(ids), reverse=True)
