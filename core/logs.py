"""Structured logs: one JSON object per line on stderr, from every process, with a correlation id.

`configure(part)` routes the standard library's logging (ours, uvicorn's, Celery's) through structlog's
formatter, so every line — whoever wrote it — is JSON with `timestamp` (UTC, ISO 8601), `level`,
`logger`, `event` (the message), `part` (http, mllp, worker, beat, run …) and, when one is bound, the
`correlation_id`:
- HTTP: the request's `X-Request-ID` (taken when it is a plain token of at most 64 characters, else made)
  and sent back in the response (`gateway/request_id.py`);
- MLLP and worker: the first 16 hex digits of the message's dedupe key (a SHA-256 of channel, sender and
  control id), so the line of the listener and the lines of the worker about one message share it
  without the control id itself being logged.

`SPOEDPLEIN_LOG_LEVEL` sets the level (default INFO); `SPOEDPLEIN_LOG_FORMAT=console` gives readable
lines for a terminal instead of JSON. Log lines never carry patient data: messages name ids, types and
counts only (a test scans the logs of a whole run for the test patients' names and BSNs).
"""

from __future__ import annotations

import logging
import os
import sys

import structlog

CORRELATION_ID = "correlation_id"


def configure(part: str) -> None:
    level = os.environ.get("SPOEDPLEIN_LOG_LEVEL", "INFO").upper()
    console = os.environ.get("SPOEDPLEIN_LOG_FORMAT", "json").lower() == "console"
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer(colors=False) if console else structlog.processors.JSONRenderer()
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Exceptions as type and place only: an exception's text may quote the data it choked on.
            _exception_type_only,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(part=part)


def _exception_type_only(
    _logger: object, _method: str, event: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    info = event.pop("exc_info", None)
    if info:
        if info is True:
            info = sys.exc_info()
        if isinstance(info, BaseException):
            info = (type(info), info, info.__traceback__)
        if isinstance(info, tuple) and info[0] is not None:
            event["exception"] = info[0].__name__
            tb = info[2]
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            if tb is not None:
                event["at"] = f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
    return event


def message_correlation(dedupe_key: str) -> str:
    """The correlation id of a stored message: a prefix of its dedupe key (a hash, no control id)."""
    return dedupe_key[:16]
