"""The CDS analysis cache: one mapping per prefetch content, also when calls arrive together."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from adapters.fhir.cds import analysis
from adapters.fhir.cds.catalog import SERVICES
from adapters.fhir.cds.hot_path import AnalysisCache
from tests import cds_helpers as cds

SERVICE = SERVICES["spoedplein-signals-patient-view"]


@pytest.fixture
def mapping_count(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts calls of the real mapper (it still runs)."""
    count = [0]
    lock = threading.Lock()
    real = analysis.to_presentation

    def counted(*args: Any, **kwargs: Any) -> Any:
        with lock:
            count[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(analysis, "to_presentation", counted)
    return count


def test_twenty_simultaneous_calls_for_one_chart_map_it_once(mapping_count: list[int]) -> None:
    cache = AnalysisCache()
    data = cds.prefetch(n_conditions=8, n_observations=40)

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _: cache.get(data, SERVICE, "Europe/Amsterdam"), range(200)))

    assert mapping_count[0] == 1
    assert all(r is results[0] for r in results) and results[0].derive()[1]


def test_changed_content_or_age_maps_again(mapping_count: list[int]) -> None:
    cache = AnalysisCache()
    first = cds.prefetch()
    cache.get(first, SERVICE, "Europe/Amsterdam")
    cache.get(cds.prefetch(reason="hoest en koorts"), SERVICE, "Europe/Amsterdam")
    assert mapping_count[0] == 2

    stale = AnalysisCache(max_age_s=0.0)
    stale.get(first, SERVICE, "Europe/Amsterdam")
    stale.get(first, SERVICE, "Europe/Amsterdam")
    assert mapping_count[0] == 4


def test_a_cached_analysis_gives_back_the_same_presentation_and_findings() -> None:
    from detection.engine import detect

    data = cds.prefetch(n_conditions=8, n_observations=40)
    presentation = analysis.to_presentation(data, SERVICE, "Europe/Amsterdam")
    kept = AnalysisCache().get(data, SERVICE, "Europe/Amsterdam")

    again, findings = kept.derive()
    assert again == presentation
    assert findings == detect(presentation) and kept.flagged
    assert kept.identity.encounter == presentation.encounter and kept.identity.patient == presentation.patient
    assert kept.identity.observations == [] and kept.identity.notes == []  # no clinical content kept twice
