"""Getting a long-running serving process ready before its first request: rules loaded, collector tuned."""

from __future__ import annotations

import gc

from detection.configuration import default_config


def freeze_gc() -> None:
    """Call once a long-running process has imported and built everything it serves with.

    The process holds a large, long-lived object graph (FastAPI routes, pydantic and FHIR models, the
    rules); every full collection walked it and stalled requests for tens of milliseconds (the CDS Hooks
    p99 tail). Freezing moves what exists now out of the collector's reach, and a larger first-generation
    threshold makes collections of the short-lived request garbage rarer.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def prepare_to_serve() -> None:
    """Load the detection rules now (half a second of YAML, otherwise paid by the first hook call after a
    start), then `freeze_gc`."""
    default_config()
    freeze_gc()
