"""The registry of outbox topics: which function does the work a topic names.

Handlers run inside the write transaction that also marks their outbox row done, and must be
idempotent: a row can be delivered more than once (relay redelivery, a worker killed mid-task).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

# (runtime, session, payload): the runtime is the gateway's `Runtime`, typed loosely to keep store/ at the
# bottom of the dependency graph.
Handler = Callable[[Any, Session, dict[str, Any]], None]
_HANDLERS: dict[str, Handler] = {}


def handles(topic: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        if topic in _HANDLERS and _HANDLERS[topic] is not fn:
            raise RuntimeError(f"two handlers for outbox topic {topic!r}")
        _HANDLERS[topic] = fn
        return fn

    return register


def handler_for(topic: str) -> Handler:
    try:
        return _HANDLERS[topic]
    except KeyError:
        raise LookupError(f"no handler registered for outbox topic {topic!r}") from None


def registered_topics() -> list[str]:
    return sorted(_HANDLERS)
