"""What the detector makes of a prefetch, cached per content for a few minutes (in this process only).

`patient-view` fires every time someone opens the chart, with the same prefetch until the record
changes; mapping and detection are most of a call's cost, and the same content always maps to the
same result.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from pydantic_core import from_json, to_json

from adapters.fhir.cds import prefetch
from adapters.fhir.cds.catalog import Service, ServiceKind
from adapters.fhir.outcome import FhirError, IssueType
from adapters.fhir.to_presentation import FhirMappingError, resources_to_presentation
from detection.engine import detect, is_flagged
from detection.models import Finding, Presentation, SourceRef
from workflows.cases import fingerprint


@dataclass(frozen=True)
class Analysis:
    """What the detector made of one prefetch; shared between calls, never changed.

    Kept compact, because up to `max_entries` of them live for minutes and every full garbage
    collection walked the models of each (thousands of objects; the tail of the new-prefetch
    benchmark). Every call needs only whether it flags, the findings' fingerprints and rule ids, and
    `identity`: the presentation without its clinical content (source, patient and encounter), which
    is all the links to a case are made from. The whole presentation and the findings are derived
    again from the prefetch (kept as the JSON bytes the cache key was made of) when a case is written.
    """

    identity: Presentation
    flagged: bool
    fingerprints: frozenset[tuple[str, str]]
    rule_ids: tuple[str, ...]
    service: Service
    zone: str
    prefetch_json: bytes

    @classmethod
    def of(
        cls,
        presentation: Presentation,
        findings: list[Finding],
        *,
        service: Service,
        zone: str,
        prefetch_json: bytes,
    ) -> Analysis:
        identity = presentation.model_copy(
            update={"diagnoses": [], "observations": [], "notes": [], "related_persons": []}
        )
        return cls(
            identity,
            is_flagged(findings),
            frozenset((f.rule_id, fingerprint(f)) for f in findings),
            tuple(sorted({f.rule_id for f in findings})),
            service,
            zone,
            prefetch_json,
        )

    @property
    def kindcheck(self) -> bool:
        """A Kindcheck (Haags protocol) prompt among the findings: an info card even when nothing flags."""
        return any(rule_id.startswith("R-PAR") for rule_id in self.rule_ids)

    def derive(self) -> tuple[Presentation, list[Finding]]:
        """The whole presentation and its findings again, mapped and detected once."""
        presentation = to_presentation(from_json(self.prefetch_json), self.service, self.zone)
        return presentation, detect(presentation) if self.service.kind is ServiceKind.SIGNALS else []


class AnalysisCache:
    """The analysis of each prefetch content, for a few minutes, in this process's memory only.

    `patient-view` fires every time someone opens the chart, with the same prefetch until the record
    changes; mapping and detection are most of a call's cost, and the same content always maps to
    the same result. Bounded in size and age; nothing of it is written anywhere.
    """

    def __init__(self, *, max_entries: int = 512, max_age_s: float = 300.0) -> None:
        self._entries: OrderedDict[str, tuple[float, Analysis]] = OrderedDict()
        self._max_entries = max_entries
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._in_flight: dict[str, threading.Lock] = {}

    def get(self, data: dict[str, Any], service: Service, zone: str) -> Analysis:
        # In the order the EHR sent it (a re-ordered prefetch is only a miss); pydantic-core's encoder is
        # a third of the cost of a sorted `json.dumps`, which showed in the hook's profile.
        content = to_json(data)
        key = hashlib.sha256(b"%s|%s|%s" % (service.hook.value.encode(), zone.encode(), content)).hexdigest()
        hit = self._fresh(key)
        if hit is not None:
            return hit
        # One mapping per content: calls that arrive together for the same chart wait for the first.
        with self._lock:
            in_flight = self._in_flight.setdefault(key, threading.Lock())
        with in_flight:
            hit = self._fresh(key)
            if hit is not None:
                return hit
            try:
                presentation = to_presentation(data, service, zone)
                findings = detect(presentation) if service.kind is ServiceKind.SIGNALS else []
                analysis = Analysis.of(
                    presentation, findings, service=service, zone=zone, prefetch_json=content
                )
                with self._lock:
                    self._entries[key] = (time.monotonic(), analysis)
                    while len(self._entries) > self._max_entries:
                        self._entries.popitem(last=False)
                return analysis
            finally:
                with self._lock:
                    self._in_flight.pop(key, None)

    def _fresh(self, key: str) -> Analysis | None:
        with self._lock:
            hit = self._entries.get(key)
            if hit is None or time.monotonic() - hit[0] >= self._max_age_s:
                return None
            self._entries.move_to_end(key)
            return hit[1]


ANALYSED = AnalysisCache()


def to_presentation(data: dict[str, Any], service: Service, zone: str) -> Presentation:
    """The prefetch as a Presentation. Not validated as whole R4B resources (that costs more than a hook
    answer's budget): the mapper reads the elements it maps strictly, and an error names the prefetch
    element; what it does not read (e.g. `contained` resources) cannot fail the call."""
    located = [pair for key in service.prefetch for pair in prefetch.located_resources(key, data.get(key))]
    try:
        presentation = resources_to_presentation(located, zone=ZoneInfo(zone), message_type="Bundle")
    except FhirMappingError as exc:
        raise FhirError.one(400, IssueType.INVALID, exc.reason, exc.location or "prefetch") from None
    # The sender stays as the FHIR mapper set it: a prefetch without patient identifiers links by it.
    source = SourceRef(
        channel="cds-hooks", message_type=service.hook.value, sender=presentation.source.sender
    )
    return presentation.model_copy(update={"source": source})
