"""Outbox handlers of notifications: start pages (after one more disclosure check), fire a step now,
deliver messages (I/O, outside any transaction), send the intake time and the melding.

Each is idempotent on its key: a redelivered or re-run item finds its page (or its claimed attempt)
and adds nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import Party
from consent.service import DisclosureField, decide_disclosure, decide_disclosures
from notifications import service
from notifications.hooks import PageEventKind, hooks
from notifications.models import Melding, PagePurpose, Urgency
from notifications.topics import (
    ALERT_COORDINATOR,
    EMERGENCY_ALERTS,
    INTAKE_TIME,
    PAGE_PARTY,
    SEND_MELDING,
    AlertReason,
)
from store import audit
from store.handlers import handles, handles_batch, handles_io

log = logging.getLogger(__name__)


@handles_batch(PAGE_PARTY)
def page_party(runtime: Any, session: Session, payloads: list[dict[str, Any]]) -> None:
    """A page carries only the case reference; even that needs a ground for this party, checked now.
    The batch's pages are started together (`service.start_pages`) and their disclosures audited
    together."""
    now = runtime.clock.now()
    requests: list[service.PageRequest] = []
    grounds: list[str] = []
    asked = [(int(p["case_id"]), Party(p["party"]), DisclosureField.CASE_REFERENCE) for p in payloads]
    for payload, (case_id, party, _), decision in zip(
        payloads, asked, decide_disclosures(session, asked), strict=True
    ):
        key = str(payload["key"])
        reference = str(payload.get("case_reference", ""))
        if not decision.allowed:
            service.suppress(
                session,
                runtime,
                key=key,
                case_id=case_id,
                case_reference=reference,
                party=party.value,
                reason=str(payload.get("reason", "")),
                why=decision.reason,
                now=now,
            )
            log.info("page for case %s to %s suppressed: no disclosure ground", case_id, party.value)
            continue
        requests.append(
            service.PageRequest(
                key=key,
                purpose=PagePurpose.INTAKE,
                role=party.value,
                case_id=case_id,
                case_reference=reference,
                party=party.value,
                reason=str(payload.get("reason", "")),
            )
        )
        grounds.append(decision.ground.value if decision.ground else "")
    pages = service.start_pages(session, runtime, requests, now=now, disclosure_checked=True)
    audit.record_many(
        session,
        [
            audit.Entry(
                actor=service.ACTOR,
                action=audit.AuditAction.DISCLOSE,
                resource_type="Case",
                resource_id=str(request.case_id),
                client="notifications",
                purpose=f"page {page.id} to {request.party}: case reference ({ground})",
            )
            for request, page, ground in zip(requests, pages, grounds, strict=True)
        ],
    )


@handles(ALERT_COORDINATOR)
def alert_coordinator(runtime: Any, session: Session, payload: dict[str, Any]) -> None:
    reason = AlertReason(payload["reason"])
    service.start_page(
        session,
        runtime,
        key=str(payload["key"]),
        purpose=PagePurpose.ALERT,
        role="coordinator",
        now=runtime.clock.now(),
        case_id=int(payload["case_id"]),
        case_reference=str(payload.get("case_reference", "")),
        reason=reason.value,
        urgency=Urgency.EMERGENCY if reason in EMERGENCY_ALERTS else Urgency.NORMAL,
    )


@handles(INTAKE_TIME)
def intake_time(runtime: Any, session: Session, payload: dict[str, Any]) -> None:
    """The intake time goes to everyone who acknowledged, for each party that may know it."""
    case_id = int(payload["case_id"])
    people = []
    for party, role, person in service.acknowledged_people(session, case_id):
        decision = decide_disclosure(
            session, case_id=case_id, party=Party(party), field=DisclosureField.INTAKE_TIME
        )
        if decision.allowed:
            people.append([role, person])
    if not people:
        return
    service.start_page(
        session,
        runtime,
        key=str(payload["key"]),
        purpose=PagePurpose.INTAKE_TIME,
        role="",
        now=runtime.clock.now(),
        case_id=case_id,
        case_reference=str(payload.get("case_reference", "")),
        reason=str(payload["kind"]),
        urgency=Urgency.EMERGENCY,
        policy={"steps": [{"notify": [], "channels": ["sms", "email"], "wait_s": 0, "repeat": 0}]},
        info={"at": payload["at"], "kind": payload["kind"], "people": people},
    )


@handles(SEND_MELDING)
def send_melding(runtime: Any, session: Session, payload: dict[str, Any]) -> None:
    """The approved melding: by secure e-mail with its PDF, or prepared for the physician to send
    (`SPOEDPLEIN_MELDING_DELIVERY`); a ground revoked in the meantime stops it."""
    case_id = int(payload["case_id"])
    key = str(payload["key"])
    decision = decide_disclosure(
        session, case_id=case_id, party=Party.VEILIG_THUIS, field=DisclosureField.MELDING
    )
    melding = session.get(Melding, int(payload["melding_id"]))
    if melding is None:
        return
    if not decision.allowed:
        hooks().event(
            session,
            runtime.cipher,
            case_id=case_id,
            kind=PageEventKind.MELDING_DELIVERY,
            code="suppressed",
            detail={"reason": decision.reason},
            dedupe_key=f"{key}:suppressed",
            warning=True,
        )
        return
    if runtime.settings.melding_delivery != "email":
        hooks().event(
            session,
            runtime.cipher,
            case_id=case_id,
            kind=PageEventKind.MELDING_DELIVERY,
            code="prepared",
            detail={"revision": payload["revision"]},
            dedupe_key=f"{key}:prepared",
        )
        return
    if session.execute(select(Melding.id).where(Melding.id == melding.id)).first() is None:
        return
    service.start_page(
        session,
        runtime,
        key=key,
        purpose=PagePurpose.MELDING,
        role="veilig_thuis",
        now=runtime.clock.now(),
        case_id=case_id,
        case_reference=str(payload.get("case_reference", "")),
        party=Party.VEILIG_THUIS.value,
        reason="melding",
        urgency=Urgency.NORMAL,
        policy={"steps": [{"notify": [], "channels": ["email"], "wait_s": 0, "repeat": 0}]},
        info={"melding_id": melding.id, "revision": int(payload["revision"])},
    )


@handles(service.FIRE_STEP)
def fire_step(runtime: Any, session: Session, payload: dict[str, Any]) -> None:
    service.fire_step(
        session, runtime, int(payload["step_id"]), str(payload["token"]), now=runtime.clock.now()
    )


@handles_io(service.DELIVER)
def deliver(runtime: Any, payloads: list[dict[str, Any]]) -> None:
    service.deliver(runtime, sorted({int(p["attempt_id"]) for p in payloads}))
