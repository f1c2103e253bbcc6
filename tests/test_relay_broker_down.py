"""The relay with its broker away (Redis stopped): what it claimed but could not publish is due again at
once, so the catch-up starts as soon as the broker is back instead of after the redelivery wait (60 s by
default). Real Redis; a closed port for the broker that is down."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from core.runtime import Runtime
from core.settings import Settings
from gateway.relay import relay_once
from gateway.worker import make_celery
from store.db import Database
from store.outbox import OutboxItem, claim_for_dispatch, enqueue
from tests.servers import RedisServer, free_port
from tests.workflow_fixtures import runtime_for


def with_broker(runtime: Runtime, url: str) -> Settings:
    return runtime.settings.model_copy(update={"broker_url": url})


def pending(db: Database) -> list[tuple[int, object]]:
    with db.read() as session:
        return [
            (r.id, r.dispatched_at)
            for r in session.execute(select(OutboxItem).order_by(OutboxItem.id)).scalars()
        ]


def test_work_the_broker_did_not_take_is_handed_out_in_the_next_round(
    db: Database, database_url: str, tmp_path: Path, redis_server: RedisServer
) -> None:
    runtime = runtime_for(db, database_url, tmp_path)
    with db.write() as session:
        for n in range(3):
            enqueue(session, topic="test.relay", key=f"relay-{n}", payload={})
    down = make_celery(with_broker(runtime, f"redis://127.0.0.1:{free_port()}/0"))
    with pytest.raises(Exception):  # noqa: B017 - whatever the broker client raises: it is down
        relay_once(runtime, down)
    assert [at for _, at in pending(db)] == [None, None, None], "claimed rows left waiting for redelivery"

    redis.Redis.from_url(redis_server.url).flushdb()
    up = make_celery(with_broker(runtime, redis_server.url))
    assert relay_once(runtime, up) == 3
    assert all(at is not None for _, at in pending(db))
    assert redis.Redis.from_url(redis_server.url).llen("celery") == 1  # one task with the three ids
    assert claim_for_dispatch(db, limit=10, redeliver_after=timedelta(seconds=60)) == []
