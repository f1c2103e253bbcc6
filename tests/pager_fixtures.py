"""A pager on a test database: a roster of test people, real provider servers, an injectable clock, and
the steps a case takes to page its parties."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from consent.models import ConsentDecision, Party
from core.clock import ManualClock
from core.runtime import Runtime
from core.settings import Settings
from detection.models import Identifier
from notifications import pager, service
from notifications.models import Page, PageAttempt, PagePurpose, PageRecipient
from store.crypto import FieldCipher, Pseudonymizer
from store.db import Database
from tests.conftest import TEST_KEY
from tests.paging_servers import SmsGateway
from tests.workflow_fixtures import drain_outbox, finding, flagged_case, presentation, record_consents
from workflows import intake
from workflows import service as workflow
from workflows.schemas import ConfirmFacts, Melder

NUMBERS = {
    "jansen": "+31611111111",
    "pietersen": "+31622222222",
    "bakker": "+31633333333",
    "vt1": "+31644444444",
    "police1": "+31655555555",
    "kf": "+31666666666",
    "coord": "+31699999999",
    "csg1": "+31677777777",
}
WEBHOOK_SECRET = "whsec_" + "c3BvZWRwbGVpbi10ZXN0LXNlY3JldC0wMTIzNDU2Nzg5"
SMS_WEBHOOK_SECRET = "sms-hook-secret"

ROSTER = """
timezone: Europe/Amsterdam
defaults: {{arrival: 30m}}
people:
  - {{id: jansen, name: "Dr. A. Jansen", phone: "{jansen}", email: jansen@ggd.test}}
  - {{id: pietersen, name: "Dr. B. Pietersen", phone: "{pietersen}", email: pietersen@ggd.test}}
  - {{id: bakker, name: "Dr. C. Bakker", phone: "{bakker}"}}
  - {{id: vt1, name: "VT crisis", phone: "{vt1}"}}
  - {{id: police1, name: "Agent", phone: "{police1}"}}
  - {{id: kf, name: "Kinderforensisch", phone: "{kf}"}}
  - {{id: coord, name: "Coordinator", phone: "{coord}", email: coord@etz.test}}
  - {{id: csg1, name: "CSG", phone: "{csg1}"}}
roles:
  forensic:
    name: GGD forensisch arts
    rotation: {{handover: "08:00", length_days: 1, start: "2026-03-01", members: [jansen, pietersen]}}
    backup: [bakker]
    team_lead: bakker
    escalation:
      - {{notify: on_call, channels: [sms, email], wait: 5m}}
      - {{notify: backup, channels: [sms], wait: 5m}}
  kinder_forensisch:
    rotation: {{handover: "08:00", length_days: 7, start: "2026-03-01", members: [kf]}}
    escalation:
      - {{notify: on_call, channels: [sms], wait: 5m}}
  veilig_thuis:
    rotation: {{handover: "09:00", length_days: 7, start: "2026-03-01", members: [vt1]}}
    escalation:
      - {{notify: on_call, channels: [sms], wait: 5m, repeat: 1}}
  police:
    rotation: {{handover: "07:00", length_days: 7, start: "2026-03-01", members: [police1]}}
    escalation:
      - {{notify: on_call, channels: [sms], wait: 5m}}
  csg:
    rotation: {{handover: "08:00", length_days: 7, start: "2026-03-01", members: [csg1]}}
    escalation:
      - {{notify: on_call, channels: [sms], wait: 5m}}
  coordinator:
    rotation: {{handover: "08:00", length_days: 7, start: "2026-03-01", members: [coord]}}
    escalation:
      - {{notify: on_call, channels: [sms, email], wait: 10m}}
"""


def write_roster(directory: Path, text: str | None = None) -> Path:
    path = directory / "roster.yaml"
    path.write_text(text if text is not None else ROSTER.format(**NUMBERS))
    return path


@dataclass
class Pager:
    runtime: Runtime
    clock: ManualClock
    sms: SmsGateway
    roster_file: Path

    @property
    def db(self) -> Database:
        return self.runtime.db

    def drain(self) -> int:
        """What the worker would do now: every pending outbox item (pages, sends, next channels)."""
        return drain_outbox(self.runtime)

    def tick(self) -> None:
        """What the beat would do now (steps due at the clock's time), then the worker."""
        pager.tick(self.runtime)
        self.drain()

    def advance(self, **delta: float) -> None:
        from datetime import timedelta

        self.clock.advance(timedelta(**delta))
        self.tick()

    def pages(self, case_id: int | None = None, purpose: PagePurpose | None = None) -> list[Page]:
        with self.db.read() as session:
            query = select(Page).order_by(Page.id)
            if case_id is not None:
                query = query.where(Page.case_id == case_id)
            if purpose is not None:
                query = query.where(Page.purpose == purpose)
            return list(session.execute(query).scalars())

    def page(self, case_id: int, party: str) -> Page:
        (found,) = [p for p in self.pages(case_id, PagePurpose.INTAKE) if p.party == party]
        return found

    def attempts(self, page_id: int) -> list[PageAttempt]:
        with self.db.read() as session:
            return list(
                session.execute(
                    select(PageAttempt).where(PageAttempt.page_id == page_id).order_by(PageAttempt.id)
                ).scalars()
            )

    def reply_code(self, page_id: int, person: str) -> str:
        with self.db.read() as session:
            return session.execute(
                select(PageRecipient.reply_code).where(
                    PageRecipient.page_id == page_id, PageRecipient.person == person
                )
            ).scalar_one()

    def summary(self, page_id: int) -> dict[str, Any]:
        with self.db.read() as session:
            page = session.get(Page, page_id)
            assert page is not None
            return service.page_summary(session, page)


def make_runtime(
    db: Database, database_url: str, tmp_path: Path, clock: ManualClock, **settings: Any
) -> Runtime:
    values: dict[str, Any] = {
        "data_dir": tmp_path,
        "database_url": database_url,
        "api_token": "test-token",
        "sms_webhook_secret": SMS_WEBHOOK_SECRET,
        "public_base_url": "https://spoedplein.test",
    }
    values.update(settings)
    return Runtime(
        settings=Settings(**values),
        db=db,
        cipher=FieldCipher(TEST_KEY),
        pseudonyms=Pseudonymizer(TEST_KEY),
        api_token="test-token",
        clock=clock,
    )


@dataclass(frozen=True)
class PatientData:
    given: str = "Noor"
    family: str = "Oudejans"
    bsn: str = "999911120"
    birth_date: date = date(1991, 4, 17)


PATIENT = PatientData()


def case_with_intake(
    pager_: Pager,
    cipher: FieldCipher,
    pseudonyms: Pseudonymizer,
    *,
    visit: str,
    parties: tuple[Party, ...] = (Party.FORENSIC,),
) -> int:
    """A confirmed adult case (strangulation) whose intake is requested for `parties`; the pages are
    started by the worker (`drain`), as in production."""
    pres = presentation(
        visit=visit, birth_date=PATIENT.birth_date, given=PATIENT.given, family=PATIENT.family
    )
    pres.patient.bsn = PATIENT.bsn
    pres.patient.identifiers.append(
        Identifier(system="http://fhir.nl/fhir/NamingSystem/bsn", value=PATIENT.bsn)
    )
    case_id = flagged_case(pager_.db, cipher, pseudonyms, pres, [finding("R-STR-1", "R-STR", "gewurgd")])
    with pager_.db.write() as session:
        case = workflow.get_case(session, case_id)
        workflow.confirm(
            session,
            cipher,
            case,
            ConfirmFacts(melder=Melder(name="Dr. P")),
            actor="dr",
            expected_version=None,
        )
        record_consents(session, cipher, case, parties, ConsentDecision.PERMIT, actor="dr")
        intake.request_intake(session, cipher, case, actor="dr", expected_version=None)
    pager_.drain()
    return case_id


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)
