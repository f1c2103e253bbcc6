"""The registry of outbox topics: which function does the work a topic names.

Handlers run inside the write transaction that also marks their outbox row done, and must be
idempotent: a row can be delivered more than once (relay redelivery, a worker killed mid-task).
Nothing slow happens while a write transaction is open (on SQLite its lock is one for the whole database,
and the MLLP ACK path needs it): a topic that talks to the outside world registers `handles_io` (run
outside any transaction); a topic with CPU-heavy work registers a `prepares` function as well, which
runs first, outside any write transaction, so that its handler only writes what was prepared.
A topic may also register `gives_up`: after `MAX_ATTEMPTS` failed attempts its item is marked done and
the function records the failure where a person sees it, instead of retrying for ever.
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


# (runtime, session, payloads): a handler that does a whole batch at once, for hot topics where one
# statement per batch instead of per item is the difference that matters.
BatchHandler = Callable[[Any, Session, list[dict[str, Any]]], None]
_BATCH_HANDLERS: dict[str, BatchHandler] = {}


def handles_batch(topic: str) -> Callable[[BatchHandler], BatchHandler]:
    def register(fn: BatchHandler) -> BatchHandler:
        if topic in _BATCH_HANDLERS and _BATCH_HANDLERS[topic] is not fn:
            raise RuntimeError(f"two batch handlers for outbox topic {topic!r}")
        _BATCH_HANDLERS[topic] = fn
        return fn

    return register


def batch_handler_for(topic: str) -> BatchHandler:
    """The batch handler of a topic; a topic with only a per-item handler gets a loop over it."""
    if topic in _BATCH_HANDLERS:
        return _BATCH_HANDLERS[topic]
    single = handler_for(topic)

    def each(runtime: Any, session: Session, payloads: list[dict[str, Any]]) -> None:
        for payload in payloads:
            single(runtime, session, payload)

    return each


def handler_for(topic: str) -> Handler:
    try:
        return _HANDLERS[topic]
    except KeyError:
        if topic in _BATCH_HANDLERS:
            batch = _BATCH_HANDLERS[topic]
            return lambda runtime, session, payload: batch(runtime, session, [payload])
        raise LookupError(f"no handler registered for outbox topic {topic!r}") from None


# (runtime, payloads): a handler that talks to the outside world (an SMS provider, an SMTP server). It is
# run outside any transaction and opens its own short ones, so no database lock is held while a peer
# answers; the runner marks its items done after it returns. It must be idempotent on its own rows (a
# claim guarded by a token), because an item can run twice.
IOHandler = Callable[[Any, list[dict[str, Any]]], None]
_IO_HANDLERS: dict[str, IOHandler] = {}


def handles_io(topic: str) -> Callable[[IOHandler], IOHandler]:
    def register(fn: IOHandler) -> IOHandler:
        if topic in _IO_HANDLERS and _IO_HANDLERS[topic] is not fn:
            raise RuntimeError(f"two I/O handlers for outbox topic {topic!r}")
        _IO_HANDLERS[topic] = fn
        return fn

    return register


def io_handler_for(topic: str) -> IOHandler | None:
    return _IO_HANDLERS.get(topic)


# (runtime, payloads) -> one prepared value per payload, in order; runs outside any write transaction.
Prepare = Callable[[Any, list[dict[str, Any]]], list[Any]]
_PREPARERS: dict[str, Prepare] = {}
PREPARED = "prepared"  # the payload key under which a handler finds what `prepares` made for it


def prepares(topic: str) -> Callable[[Prepare], Prepare]:
    def register(fn: Prepare) -> Prepare:
        _PREPARERS[topic] = fn
        return fn

    return register


def preparer_for(topic: str) -> Prepare | None:
    return _PREPARERS.get(topic)


# (runtime, session, payload, error): the last attempt failed; record it for a person, in `session`.
GiveUp = Callable[[Any, Session, dict[str, Any], str], None]
_GIVE_UP: dict[str, GiveUp] = {}
MAX_ATTEMPTS = 5


def gives_up(topic: str) -> Callable[[GiveUp], GiveUp]:
    def register(fn: GiveUp) -> GiveUp:
        _GIVE_UP[topic] = fn
        return fn

    return register


def give_up_for(topic: str) -> GiveUp | None:
    return _GIVE_UP.get(topic)
