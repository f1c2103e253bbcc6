"""The Celery application and its one task: run a batch of outbox items.

Celery carries outbox ids only. It is never the source of truth: if the broker loses a task (the
embedded SQLite broker can, on a hard crash), the relay hands the still-pending rows out again.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from celery import Celery
from celery.signals import worker_process_init

from core.runtime import Runtime
from core.settings import Settings, get_settings
from gateway.outbox_runner import run_items

log = logging.getLogger(__name__)
TASK_NAME = "spoedplein.run_outbox"


def make_celery(settings: Settings) -> Celery:
    app = Celery("spoedplein", broker=settings.resolved_broker_url)
    transport_options: dict[str, object] = {}
    if settings.resolved_broker_url.startswith("sqla+"):
        # kombu hands every transport option of this transport to create_engine, so the polling interval
        # cannot go there; the class attribute is the one place it reads. The busy timeout lets the relay
        # and the worker share the broker file without "database is locked".
        from kombu.transport import sqlalchemy as kombu_sqla

        kombu_sqla.Transport.polling_interval = 0.05
        transport_options["connect_args"] = {"timeout": 30}
    elif settings.resolved_broker_url.startswith("redis"):
        transport_options["visibility_timeout"] = 3600
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=4,
        broker_connection_retry_on_startup=True,
        broker_transport_options=transport_options,
        worker_hijack_root_logger=False,
        # A lost broker connection cancels running tasks; their ids come again (acks_late + the relay).
        worker_cancel_long_running_tasks_on_connection_loss=True,
    )
    app.task(name=TASK_NAME, acks_late=True)(_run_outbox_task)
    return app


@lru_cache(maxsize=1)
def worker_runtime() -> Runtime:
    import gateway.handlers  # noqa: F401  (registers every outbox topic)

    return Runtime.start(get_settings(), migrate=False)


def _run_outbox_task(item_ids: list[int]) -> int:
    return run_items(worker_runtime(), [int(i) for i in item_ids])


@worker_process_init.connect
def _reset_runtime(**_: object) -> None:
    worker_runtime.cache_clear()


celery_app = make_celery(get_settings())
