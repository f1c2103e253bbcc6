"""The CDS services: what discovery announces and what each hook call does.

- `patient-view` and `encounter-start` (signals): the prefetch becomes a `Presentation` (through the
  FHIR mapper), the detector runs synchronously on it, and a flagged presentation opens (or joins) the
  encounter's case; the answer is one neutral card linking to that case. A repeat call for a case that
  already holds these findings only reads.
- `encounter-discharge` (safe-discharge check): an open case of this encounter or patient whose
  safe-discharge check is not complete gets a critical card, and the workflow's discharge guard
  records it and alerts the coordinator (once per hook instance).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from adapters.fhir import writeback
from adapters.fhir.cds import cards, prefetch
from adapters.fhir.cds.prefetch import FhirServerAccess, PrefetchKey
from adapters.fhir.models import CdsCard
from adapters.fhir.outcome import FhirError, IssueType
from adapters.fhir.to_presentation import FhirMappingError, bundle_to_presentation
from adapters.fhir.validate import check_nested_types
from detection.engine import detect, is_flagged
from detection.models import Finding, Presentation, Severity, SourceRef
from store import presentations
from store.db import utcnow
from workflows.cases import fingerprint, open_case_for_encounter, record_findings
from workflows.discharge import discharge_check_status, guard_discharge
from workflows.models import OPEN_STATES, Case, CaseFinding

if TYPE_CHECKING:
    from gateway.runtime import Runtime


class Hook(StrEnum):
    PATIENT_VIEW = "patient-view"
    ENCOUNTER_START = "encounter-start"
    ENCOUNTER_DISCHARGE = "encounter-discharge"


class ServiceKind(StrEnum):
    SIGNALS = "signals"
    SAFE_DISCHARGE = "safe-discharge"


@dataclass(frozen=True)
class Service:
    id: str
    hook: Hook
    kind: ServiceKind
    title: str
    description: str
    prefetch: dict[str, str]

    def discovery(self) -> dict[str, Any]:
        return {
            "hook": self.hook.value,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "prefetch": self.prefetch,
        }


_SIGNALS_TEXT = "Spoedplein: signalen die om een beoordeling vragen (neutrale kaart, details in de casus)."
SERVICES: dict[str, Service] = {
    s.id: s
    for s in (
        Service(
            "spoedplein-signals-patient-view",
            Hook.PATIENT_VIEW,
            ServiceKind.SIGNALS,
            "Spoedplein signalen",
            _SIGNALS_TEXT,
            prefetch.templates(with_encounter=False),
        ),
        Service(
            "spoedplein-signals-encounter-start",
            Hook.ENCOUNTER_START,
            ServiceKind.SIGNALS,
            "Spoedplein signalen bij aanvang",
            _SIGNALS_TEXT,
            prefetch.templates(with_encounter=True),
        ),
        Service(
            "spoedplein-safe-discharge",
            Hook.ENCOUNTER_DISCHARGE,
            ServiceKind.SAFE_DISCHARGE,
            "Spoedplein veilig-naar-huischeck",
            "Waarschuwt bij ontslag als de veilig-naar-huischeck van een open casus niet is afgerond.",
            {
                k: v
                for k, v in prefetch.templates(with_encounter=True).items()
                if k in (PrefetchKey.PATIENT, PrefetchKey.ENCOUNTER)
            },
        ),
    )
}


class FhirAuthorization(BaseModel):
    access_token: str
    token_type: str = "Bearer"


class HookRequest(BaseModel):
    hook: str
    hookInstance: str = Field(min_length=1, max_length=200)
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None


def discovery() -> dict[str, Any]:
    return {"services": [s.discovery() for s in SERVICES.values()]}


def call(runtime: Runtime, service: Service, request: HookRequest, *, case_url_base: str) -> dict[str, Any]:
    if request.hook != service.hook:
        raise FhirError.one(400, IssueType.INVALID, f"this service answers the {service.hook} hook", "hook")
    patient_id = request.context.get("patientId")
    if not isinstance(patient_id, str) or not patient_id:
        raise FhirError.one(400, IssueType.REQUIRED, "context.patientId is required", "context.patientId")
    server = (
        FhirServerAccess(
            request.fhirServer, request.fhirAuthorization.access_token if request.fhirAuthorization else ""
        )
        if request.fhirServer
        else None
    )
    data = prefetch.resolve(service.prefetch, request.prefetch, request.context, server)
    if not prefetch.resources_of(PrefetchKey.PATIENT, data.get(PrefetchKey.PATIENT)):
        raise FhirError.one(412, IssueType.PROCESSING, "prefetch patient: no Patient", "prefetch.patient")
    analysis = ANALYSED.get(data, service, runtime.settings.timezone)
    if service.kind is ServiceKind.SIGNALS:
        return _signals(runtime, service, analysis, patient_id, case_url_base)
    return _discharge(
        runtime, service, analysis.presentation, patient_id, request.hookInstance, case_url_base
    )


@dataclass(frozen=True)
class Analysis:
    """What the detector made of one prefetch; shared between calls, never changed."""

    presentation: Presentation
    findings: list[Finding]
    fingerprints: frozenset[tuple[str, str]]
    rule_ids: tuple[str, ...]

    @classmethod
    def of(cls, presentation: Presentation, findings: list[Finding]) -> Analysis:
        return cls(
            presentation,
            findings,
            frozenset((f.rule_id, fingerprint(f)) for f in findings),
            tuple(sorted({f.rule_id for f in findings})),
        )


class AnalysisCache:
    """Presentation and findings per prefetch content, for a few minutes, in this process only.

    `patient-view` fires every time someone opens the chart, with the same prefetch until the record
    changes; mapping (R4B validation of every resource) is most of a call's cost, and the same content
    always maps to the same result. Bounded in size and age; nothing of it is written anywhere.
    """

    def __init__(self, *, max_entries: int = 512, max_age_s: float = 300.0) -> None:
        self._entries: OrderedDict[str, tuple[float, Analysis]] = OrderedDict()
        self._max_entries = max_entries
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._in_flight: dict[str, threading.Lock] = {}

    def get(self, data: dict[str, Any], service: Service, zone: str) -> Analysis:
        canonical = json.dumps([service.hook.value, zone, data], sort_keys=True, separators=(",", ":"))
        key = hashlib.sha256(canonical.encode()).hexdigest()
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
                analysis = Analysis.of(presentation, findings)
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
    entries = [{"resource": r} for key in service.prefetch for r in prefetch.resources_of(key, data.get(key))]
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    for key in service.prefetch:
        if data.get(key) is not None:
            check_nested_types(data[key], f"prefetch.{key}")
    try:
        presentation = bundle_to_presentation(bundle, default_zone=zone)
    except FhirMappingError as exc:
        where = exc.location or "prefetch"
        raise FhirError.one(400, IssueType.INVALID, "prefetch data is not valid FHIR R4", where) from None
    # The sender stays as the FHIR mapper set it, so the encounter joins the case the FHIR feed opened.
    source = SourceRef(
        channel="cds-hooks", message_type=service.hook.value, sender=presentation.source.sender
    )
    return presentation.model_copy(update={"source": source})


def _case_ref(case: Case) -> cards.CaseRef:
    return cards.CaseRef(case.id, case.reference, Severity(case.highest_severity), case.opened_at)


def _signals(
    runtime: Runtime, service: Service, analysis: Analysis, patient_id: str, case_url_base: str
) -> dict[str, Any]:
    if not is_flagged(analysis.findings):
        return {"cards": []}
    case = ensure_case(runtime, service, analysis)
    case_url = f"{case_url_base}/{case.id}"
    return {"cards": [_signals_card(service.id, case, analysis.rule_ids, patient_id, case_url)]}


@lru_cache(maxsize=4096)
def _signals_card(
    service_id: str, case: cards.CaseRef, rule_ids: tuple[str, ...], patient_id: str, case_url: str
) -> dict[str, Any]:
    # The card is a pure function of these values; building it validates two resources, so it is kept.
    # Callers only serialise it, never change it.
    return cards.signals_card(
        service_id=service_id, case=case, rule_ids=list(rule_ids), patient_id=patient_id, case_url=case_url
    )


def ensure_case(runtime: Runtime, service: Service, analysis: Analysis) -> cards.CaseRef:
    """The encounter's open case holding these findings, written only when something is new."""
    presentation, findings = analysis.presentation, analysis.findings
    encounter_ref = presentations.encounter_ref(runtime.pseudonyms, presentation)
    rule_ids = list(analysis.rule_ids)
    with runtime.db.read() as session:
        # Core selects, not ORM objects: this read is the whole cost of a repeated patient-view.
        case = session.execute(
            select(Case.id, Case.reference, Case.highest_severity, Case.opened_at)
            .where(Case.encounter_ref == encounter_ref, Case.state.in_([s.value for s in OPEN_STATES]))
            .order_by(Case.id.desc())
            .limit(1)
        ).first()
        if case is not None:
            rows = session.execute(
                select(CaseFinding.rule_id, CaseFinding.fingerprint).where(CaseFinding.case_id == case.id)
            )
            known = {(rule_id, print_) for rule_id, print_ in rows}
            uid = cards.card_uuid(service.id, case.reference, rule_ids)
            if (
                analysis.fingerprints <= known
                and session.scalar(select(CdsCard.uuid).where(CdsCard.uuid == uid)) is not None
            ):
                return cards.CaseRef(case.id, case.reference, Severity(case.highest_severity), case.opened_at)
    with runtime.db.write() as session:
        existing = open_case_for_encounter(session, encounter_ref)
        if existing is not None and analysis.fingerprints <= {
            (f.rule_id, f.fingerprint) for f in existing.findings
        }:
            # The feed already brought these findings: only the card is new.
            uid = cards.card_uuid(service.id, existing.reference, rule_ids)
            _remember_card(session, uid, service, existing, rule_ids)
            return _case_ref(existing)
        record = presentations.save(
            session,
            cipher=runtime.cipher,
            pseudonyms=runtime.pseudonyms,
            presentation=presentation,
            inbox_message_id=None,
        )
        found = record_findings(session, cipher=runtime.cipher, presentation=record, findings=findings)
        if found is None:  # cannot happen for flagged findings; kept explicit for the type checker
            raise FhirError.one(500, IssueType.EXCEPTION, "no case for flagged findings")
        _remember_card(
            session, cards.card_uuid(service.id, found.reference, rule_ids), service, found, rule_ids
        )
        writeback.request(session, runtime.settings, found)
        return _case_ref(found)


def _remember_card(session: Any, uid: str, service: Service, case: Case, rule_ids: list[str]) -> None:
    if session.get(CdsCard, uid) is not None:
        return
    try:
        with session.begin_nested():
            session.add(CdsCard(uuid=uid, service_id=service.id, case_id=case.id, rule_ids=rule_ids))
    except IntegrityError:
        pass  # a concurrent call issued the same card first


def _discharge(
    runtime: Runtime,
    service: Service,
    presentation: Presentation,
    patient_id: str,
    hook_instance: str,
    case_url_base: str,
) -> dict[str, Any]:
    encounter_ref = presentations.encounter_ref(runtime.pseudonyms, presentation)
    patient_ref = presentations.patient_ref(runtime.pseudonyms, presentation)
    out: list[dict[str, Any]] = []
    with runtime.db.write() as session:
        open_cases = session.execute(
            select(Case)
            .where(
                or_(Case.encounter_ref == encounter_ref, Case.patient_ref == patient_ref),
                Case.state.in_([s.value for s in OPEN_STATES]),
            )
            .order_by(Case.id)
        ).scalars()
        for case in open_cases:
            status = discharge_check_status(session, case, runtime.cipher)
            if status.ok_to_discharge:
                continue
            guard_discharge(
                session, runtime.cipher, case, source="cds-encounter-discharge", source_id=hook_instance
            )
            ref = _case_ref(case)
            _remember_card(session, cards.card_uuid(service.id, case.reference, []), service, case, [])
            out.append(
                cards.discharge_card(
                    service_id=service.id,
                    case=ref,
                    missing_items=len(status.missing),
                    patient_id=patient_id,
                    case_url=f"{case_url_base}/{case.id}",
                    now=utcnow(),
                )
            )
    return {"cards": out}
