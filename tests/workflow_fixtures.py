"""Building blocks for the workflow tests: stored presentations, flagged cases, a runtime on a test db."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy.orm import Session

from consent.models import ConsentDecision, Consenter, Party
from core.runtime import Runtime
from core.settings import Settings
from detection.models import (
    Encounter,
    EventType,
    Evidence,
    Finding,
    HumanName,
    Identifier,
    Patient,
    Presentation,
    RelatedPerson,
    Severity,
    SourceRef,
)
from presentations import service as presentations
from store.crypto import FieldCipher, Pseudonymizer
from store.db import Database
from tests.conftest import TEST_KEY
from workflows import service
from workflows.cases import record_findings
from workflows.models import Case

NOW = datetime.now(UTC)


def presentation(
    *,
    visit: str,
    birth_date: date,
    given: str = "Noor",
    family: str = "de Vries",
    event: EventType = EventType.ADMIT,
    related: list[RelatedPerson] | None = None,
    control_id: str = "",
    sender: str = "EPIC|ETZ",
) -> Presentation:
    return Presentation(
        source=SourceRef(
            channel="hl7v2", message_type="ADT^A01", control_id=control_id or visit, sender=sender
        ),
        event=event,
        patient=Patient(
            identifiers=[Identifier(system="ETZ", value=f"MRN-{visit}")],
            name=HumanName(family=family, given=[given]),
            birth_date=birth_date,
        ),
        encounter=Encounter(visit_number=visit, patient_class="E", arrival_at=NOW - timedelta(hours=1)),
        chief_complaint="blauwe plek",
        related_persons=related or [],
    )


def finding(rule_id: str, family: str, text: str, severity: Severity = Severity.WARNING) -> Finding:
    return Finding(
        rule_id=rule_id,
        family=family,
        severity=severity,
        explanation_nl=f"{rule_id} sloeg aan",
        explanation_en=f"{rule_id} fired",
        evidence=[Evidence(field="PV2-3", text=text)],
        source="DOMAIN.md",
    )


def flagged_case(
    db: Database,
    cipher: FieldCipher,
    pseudonyms: Pseudonymizer,
    pres: Presentation,
    findings: list[Finding],
) -> int:
    with db.write() as session:
        record = presentations.save(
            session, cipher=cipher, pseudonyms=pseudonyms, presentation=pres, inbox_message_id=None
        )
        case = record_findings(session, cipher=cipher, presentation=record, findings=findings)
        assert case is not None
        return case.id


def years_ago(years: int, days: int = 10) -> date:
    today = NOW.date()
    return today.replace(year=today.year - years) - timedelta(days=days)


def months_ago(months: int) -> date:
    return (NOW - timedelta(days=int(months * 30.5))).date()


def runtime_for(db: Database, database_url: str, tmp_path: object) -> Runtime:
    from pathlib import Path

    settings = Settings(data_dir=Path(str(tmp_path)), database_url=database_url, api_token="test-token")
    return Runtime(
        settings=settings,
        db=db,
        cipher=FieldCipher(TEST_KEY),
        pseudonyms=Pseudonymizer(TEST_KEY),
        api_token="test-token",
    )


def load(db: Database, case_id: int) -> Case:
    with db.read() as session:
        case = session.get(Case, case_id)
        assert case is not None
        return case


def drain_outbox(runtime: Runtime) -> int:
    """Run every pending outbox item the way the worker does (handler + mark done in one transaction)."""
    from sqlalchemy import select

    import gateway.handlers  # noqa: F401  (registers the topics)
    from gateway.outbox_runner import run_items
    from store.outbox import OutboxItem

    done = 0
    while True:
        with runtime.db.read() as session:
            ids = list(session.execute(select(OutboxItem.id).where(OutboxItem.done_at.is_(None))).scalars())
        if not ids:
            return done
        ran = run_items(runtime, ids)
        if not ran:
            return done
        done += ran


def record_consents(
    session: Session,
    cipher: FieldCipher,
    case: Case,
    parties: tuple[Party, ...],
    decision: ConsentDecision,
    *,
    actor: str,
    given_by: Consenter = Consenter.PATIENT,
    note: str = "",
) -> None:
    """The same consent decision, by one person, for each of `parties` (as on the case page)."""
    for party in parties:
        service.record_consent(
            session,
            cipher,
            case,
            party=party,
            decision=decision,
            given_by=frozenset({given_by}),
            actor=actor,
            note=note,
        )
