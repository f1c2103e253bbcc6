"""What the detector makes of a prefetch: the `Analysis` a hook call answers from.

`hot_path.analysis_of` keeps it per prefetch content for a few minutes: `patient-view` fires every time
someone opens the chart, with the same prefetch until the record changes.
"""

from __future__ import annotations

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


def prefetch_json(data: dict[str, Any]) -> bytes:
    """The prefetch as JSON bytes, in the order the EHR sent it (kept in an `Analysis` to derive from)."""
    return to_json(data)


def analyse(data: dict[str, Any], service: Service, zone: str, *, content: bytes | None = None) -> Analysis:
    """Map the prefetch and run the detector on it (`content`: its `prefetch_json`, if already made)."""
    presentation = to_presentation(data, service, zone)
    findings = detect(presentation) if service.kind is ServiceKind.SIGNALS else []
    return Analysis.of(
        presentation,
        findings,
        service=service,
        zone=zone,
        prefetch_json=prefetch_json(data) if content is None else content,
    )


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
