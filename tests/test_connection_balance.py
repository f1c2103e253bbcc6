"""A process holding more than its share of keep-alive connections lets one go after an answer."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.connection_balance import SHED_INTERVAL_S, ConnectionCounts, ShedExcessConnections


async def _answer(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def _headers_of_one_call(middleware: ShedExcessConnections) -> list[tuple[bytes, bytes]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(middleware({"type": "http"}, receive, send))
    assert sent[1]["body"] == b"ok"  # the answer itself is never touched
    return list(sent[0]["headers"])


CLOSE = (b"connection", b"close")


def test_more_than_the_share_closes_one_connection_per_interval_and_a_fair_share_none(tmp_path: Path) -> None:
    path = tmp_path / "counts"
    mine = ConnectionCounts(path, processes=2, slot=0, create=True)
    other = ConnectionCounts(path, processes=2, slot=1)
    held = [15]
    other.publish(5)
    middleware = ShedExcessConnections(_answer, counts=mine, connections=lambda: held[0])

    assert CLOSE in _headers_of_one_call(middleware)  # 15 of 20, share 10
    assert mine.total() == 20  # it published its own count for the others
    assert CLOSE not in _headers_of_one_call(middleware)  # once per interval: the shares settle
    time.sleep(SHED_INTERVAL_S)
    assert CLOSE in _headers_of_one_call(middleware)

    held[0] = 10
    other.publish(10)
    time.sleep(SHED_INTERVAL_S)
    assert CLOSE not in _headers_of_one_call(middleware)  # its share: keep every connection


def test_a_slot_outside_the_processes_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="slot"):
        ConnectionCounts(tmp_path / "counts", processes=2, slot=2, create=True)


def test_the_count_is_published_while_no_request_comes_in(tmp_path: Path) -> None:
    counts = ConnectionCounts(tmp_path / "counts", processes=2, slot=0, create=True)
    held = [3]

    async def serving(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asyncio.sleep(SHED_INTERVAL_S)  # the lifespan of a server that gets no request

    middleware = ShedExcessConnections(serving, counts=counts, connections=lambda: held[0])

    async def nothing(*_: Any) -> None:
        return None

    async def run() -> tuple[int, int]:
        await middleware({"type": "lifespan"}, nothing, nothing)
        first = counts.total()
        held[0] = 0  # its clients went away
        await asyncio.sleep(SHED_INTERVAL_S * 2)
        return first, counts.total()

    assert asyncio.run(run()) == (3, 0)
