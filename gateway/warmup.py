"""Getting a long-running serving process ready before its first request: rules loaded, collector tuned."""

from __future__ import annotations

from adapters.fhir.cds import hot_path
from detection.configuration import default_config


def prepare_to_serve() -> None:
    """Call once the HTTP app is built: the detection rules load now (half a second of YAML, otherwise
    paid by the first hook call after a start), then the collector is tuned (`hot_path.tune_gc`)."""
    default_config()
    hot_path.tune_gc()
