"""What each CDS hook call does (the services themselves are listed in `catalog`).

- `patient-view` and `encounter-start` (signals): the prefetch becomes a `Presentation` (through the
  FHIR mapper), the detector runs synchronously on it, and a flagged presentation opens (or joins) the
  encounter's case; the answer is one neutral card linking to that case. A repeat call for a case that
  already holds these findings only reads. A presentation that only calls for the Kindcheck (Haags
  protocol, R-PAR, an `info` finding) gets an `info` card with the question to ask; it opens no case.
- `encounter-discharge` (safe-discharge check): an open case of this encounter or patient whose
  safe-discharge check is not complete gets a critical card, and the workflow's discharge guard
  records it and alerts the coordinator (once per hook instance).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from adapters.fhir import writeback
from adapters.fhir.cds import cards, hot_path, prefetch
from adapters.fhir.cds.analysis import Analysis
from adapters.fhir.cds.catalog import Service, ServiceKind
from adapters.fhir.cds.prefetch import PrefetchKey
from adapters.fhir.models import CdsCard
from adapters.fhir.outcome import FhirError, IssueType
from core.deps import Actor, Caller, audit_access
from core.runtime import Runtime
from detection.models import Presentation, Severity
from presentations import service as presentations
from store import audit, audit_batch
from store.audit import AuditAction
from store.db import utcnow
from workflows import silent
from workflows.cases import open_case_for_encounter, record_findings
from workflows.discharge import discharge_check_status, guard_discharge
from workflows.models import OPEN_STATES, Case


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


def call(
    runtime: Runtime,
    service: Service,
    request: HookRequest,
    *,
    case_url_base: str,
    launch_url: str | None = None,
    actor: Actor | None = None,
) -> bytes:
    """The hook's answer, as the JSON body to send. `launch_url`: cards link to the case as a SMART app
    (docs/identity.md) instead of by its plain URL. With `actor` (the EHR's user, `ehr_actor`), a card
    about a case is written to the audit log in the transaction that opens or joins the case."""
    if request.hook != service.hook:
        raise FhirError.one(400, IssueType.INVALID, f"this service answers the {service.hook} hook", "hook")
    patient_id = request.context.get("patientId")
    if not isinstance(patient_id, str) or not patient_id:
        raise FhirError.one(400, IssueType.REQUIRED, "context.patientId is required", "context.patientId")
    server = (
        prefetch.server_access(
            request.fhirServer,
            request.fhirAuthorization.access_token if request.fhirAuthorization else "",
            [*runtime.settings.cds_fhir_servers, runtime.settings.ehr_fhir_url or ""],
        )
        if request.fhirServer
        else None
    )
    data = prefetch.resolve(service.prefetch, request.prefetch, request.context, server)
    if not prefetch.resources_of(PrefetchKey.PATIENT, data.get(PrefetchKey.PATIENT)):
        raise FhirError.one(412, IssueType.PROCESSING, "prefetch patient: no Patient", "prefetch.patient")
    analysis = hot_path.analysis_of(data, service, runtime.settings.timezone)
    if service.kind is ServiceKind.SIGNALS:
        return _signals(runtime, service, analysis, patient_id, case_url_base, launch_url, actor)
    answer = _discharge(
        runtime,
        service,
        analysis.identity,
        patient_id,
        request.hookInstance,
        case_url_base,
        launch_url,
        actor,
    )
    return json.dumps(answer, separators=(",", ":")).encode()


def _case_ref(case: Case) -> cards.CaseRef:
    return cards.CaseRef(case.id, case.reference, Severity(case.highest_severity), case.opened_at)


NO_CARDS = b'{"cards":[]}'


def _signals(
    runtime: Runtime,
    service: Service,
    analysis: Analysis,
    patient_id: str,
    case_url_base: str,
    launch_url: str | None,
    actor: Actor | None = None,
) -> bytes:
    if runtime.settings.silent_mode:
        return _silent(runtime, service, analysis)
    if not analysis.flagged:
        return _kindcheck(runtime, service, analysis, case_url_base) if analysis.kindcheck else NO_CARDS
    case = ensure_case(runtime, service, analysis, actor)
    case_url = f"{case_url_base}/{case.id}"
    return _signals_answer(service.id, case, analysis.rule_ids, patient_id, case_url, launch_url)


def _silent(runtime: Runtime, service: Service, analysis: Analysis) -> bytes:
    """Silent mode: what would have flagged is counted (pilot figures), and the EHR gets no card."""
    if analysis.flagged:
        systems = presentations.IdentifierSystems.of(runtime.settings)
        encounter_ref = presentations.encounter_ref(runtime.pseudonyms, analysis.identity, systems)
        _presentation, findings = analysis.derive()  # before the write transaction, never inside it
        with runtime.db.write() as session:
            silent.record(session, encounter_ref=encounter_ref, findings=findings, source="cds")
    return NO_CARDS


def _kindcheck(runtime: Runtime, service: Service, analysis: Analysis, case_url_base: str) -> bytes:
    """The Kindcheck prompt alone (nothing flags): an info card; it opens no case and writes nothing."""
    systems = presentations.IdentifierSystems.of(runtime.settings)
    encounter_ref = presentations.encounter_ref(runtime.pseudonyms, analysis.identity, systems)
    with runtime.db.read() as session:
        case = open_case_for_encounter(session, encounter_ref)
    url = f"{case_url_base}/{case.id}" if case else f"{case_url_base.removesuffix('/cases')}/kindcheck"
    card = cards.kindcheck_card(
        service_id=service.id, encounter_key=encounter_ref, rule_ids=list(analysis.rule_ids), url=url
    )
    return json.dumps({"cards": [card]}, separators=(",", ":")).encode()


@hot_path.remembered_answer
def _signals_answer(
    service_id: str,
    case: cards.CaseRef,
    rule_ids: tuple[str, ...],
    patient_id: str,
    case_url: str,
    launch_url: str | None,
) -> bytes:
    card = cards.signals_card(
        service_id=service_id,
        case=case,
        rule_ids=list(rule_ids),
        patient_id=patient_id,
        case_url=case_url,
        launch_url=launch_url,
    )
    return json.dumps({"cards": [card]}, separators=(",", ":")).encode()


def ehr_actor(context: dict[str, Any], claims: dict[str, Any], client: str) -> Caller:
    """The EHR's user behind a hook call, for the audit log: `context.userId` (a Practitioner), acting
    for the CDS client that signed the call (`iss`)."""
    user = str(context.get("userId") or claims.get("sub") or "unknown")[:150]
    issuer = str(claims.get("iss", ""))[:200]
    return Caller(
        actor=f"ehr:{user}", client=client, role="physician", organisation=issuer, display_name=user
    )


def _audit_card(session: Any, actor: Actor | None, action: AuditAction, case: Case) -> None:
    if actor is not None:
        audit_access(
            session,
            actor,
            action,
            resource_type="Case/cds-card",
            resource_id=case.id,
            patient_ref=case.patient_ref,
            case_id=case.id,
            source="cds",
        )


def _audit_known(runtime: Runtime, actor: Actor, case_id: int, patient_ref: str) -> None:
    """The audit entry of a card about a case already known (the same fields as `_audit_card`)."""
    entry = audit.Entry(
        actor=actor.actor,
        actor_role=str(actor.role),
        actor_org=actor.organisation,
        actor_name=actor.display_name,
        action=AuditAction.READ,
        resource_type="Case/cds-card",
        resource_id=case_id,
        patient_ref=patient_ref,
        case_id=case_id,
        client=actor.client,
        source="cds",
        purpose=actor.purpose,
        reason=actor.reason,
    )
    try:
        audit_batch.appender(runtime.db).append(entry)
    except audit_batch.AuditUnavailable:
        # No log, no card: the EHR shows nothing and may call again.
        raise FhirError.one(503, IssueType.TRANSIENT, "the access could not be recorded; try again") from None


def ensure_case(
    runtime: Runtime, service: Service, analysis: Analysis, actor: Actor | None = None
) -> cards.CaseRef:
    """The encounter's open case holding these findings, written only when something is new. A repeated
    call whose case and card are already known (`hot_path.known_case`) writes only its audit entry, group
    committed with the other calls of the moment (`store.audit_batch`), before the card is answered."""
    systems = presentations.IdentifierSystems.of(runtime.settings)
    encounter_ref = presentations.encounter_ref(runtime.pseudonyms, analysis.identity, systems)
    rule_ids = list(analysis.rule_ids)
    known = hot_path.known_case(
        runtime.db,
        encounter_ref,
        fingerprints=analysis.fingerprints,
        card_for=lambda reference: cards.card_uuid(service.id, reference, rule_ids),
    )
    if known is not None:
        case_ref, patient_ref = known
        if actor is not None:
            _audit_known(runtime, actor, case_ref.id, patient_ref)
        return case_ref
    # Mapped and detected again before the write transaction, never inside it (on SQLite that
    # transaction holds the one write lock, which the ACK path needs).
    presentation, findings = analysis.derive()
    with runtime.db.write() as session:
        existing = open_case_for_encounter(session, encounter_ref)
        if existing is not None and analysis.fingerprints <= {
            (f.rule_id, f.fingerprint) for f in existing.findings
        }:
            # The feed already brought these findings: only the card is new.
            uid = cards.card_uuid(service.id, existing.reference, rule_ids)
            _remember_card(session, uid, service, existing, rule_ids)
            _audit_card(session, actor, AuditAction.READ, existing)
            return _case_ref(existing)
        record = presentations.save(
            session,
            cipher=runtime.cipher,
            pseudonyms=runtime.pseudonyms,
            presentation=presentation,
            inbox_message_id=None,
            systems=systems,
        )
        found = record_findings(session, cipher=runtime.cipher, presentation=record, findings=findings)
        if found is None:  # cannot happen for flagged findings; kept explicit for the type checker
            raise FhirError.one(500, IssueType.EXCEPTION, "no case for flagged findings")
        _remember_card(
            session, cards.card_uuid(service.id, found.reference, rule_ids), service, found, rule_ids
        )
        writeback.request(session, runtime.settings, found)
        _audit_card(session, actor, AuditAction.CREATE, found)
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
    launch_url: str | None,
    actor: Actor | None = None,
) -> dict[str, Any]:
    systems = presentations.IdentifierSystems.of(runtime.settings)
    encounter_ref = presentations.encounter_ref(runtime.pseudonyms, presentation, systems)
    patient_ref = presentations.patient_ref(runtime.pseudonyms, presentation, systems)
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
            _audit_card(session, actor, AuditAction.READ, case)
            out.append(
                cards.discharge_card(
                    service_id=service.id,
                    case=ref,
                    missing_items=len(status.missing),
                    patient_id=patient_id,
                    case_url=f"{case_url_base}/{case.id}",
                    now=utcnow(),
                    launch_url=launch_url,
                )
            )
    return {"cards": out}
