"""The worker judges a visit as a whole: an ORU's fracture meets the A04's story (detection/visit.py).

Real database (the `db` fixture), the real worker handler run from the outbox. A 20-month-old's A04
says nobody saw a fall; the later ORU reports a tibial fracture. Neither message fires on its own; the
visit does (R-FX-7: a fracture under 24 months with no trauma history).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from adapters.hl7.msh import read_header
from adapters.hl7.receiver import content_fingerprint
from core.runtime import Runtime
from detection.engine import detect
from detection.models import Note, Presentation, SourceRef
from detection.visit import combine
from store.db import Database
from store.inbox import Channel, NewMessage, dedupe_key, store_messages
from tests.detection_helpers import presentation
from tests.workflow_fixtures import drain_outbox, runtime_for
from workflows.cases import read_findings
from workflows.models import Case

HEAD = (
    "MSH|^~\\&|HIX|ETZ|SPOEDPLEIN|ETZ|20260307173000+0100||{kind}|{cid}|P|2.5.1|||AL|NE|NLD|UNICODE UTF-8\r"
    "PID|1||{patient}^^^ETZ^PI||Proef^Kind||20240704|M\r"
    "PV1|1|E|SEH^K6^2^ETZ||||||||||||||||{visit}|||||||||||||||||||||||||20260307173000+0100\r"
)
STORY = "PV2|||^loopt sinds gisteren mank\rNTE|1||Moeder: geen val gezien, geen trauma.\r"
RESULT = (
    "OBR|1||R1|^X-onderbeen re|||20260307181000+0100\r"
    "OBX|1|TX|^X-onderbeen re||Spiraalfractuur distale tibiaschacht re.||||||F\r"
)


@pytest.fixture
def runtime(db: Database, database_url: str, tmp_path: Path) -> Runtime:
    return runtime_for(db, database_url, tmp_path)


def receive(runtime: Runtime, cid: str, kind: str, body: str, patient: str, visit: str) -> None:
    raw = (HEAD.format(kind=kind, cid=cid, patient=patient, visit=visit) + body).encode()
    header = read_header(raw, default_charset="UNICODE UTF-8")
    with runtime.db.write() as session:
        store_messages(
            session,
            runtime.cipher,
            [
                NewMessage(
                    channel=Channel.HL7V2,
                    dedupe_key=dedupe_key(Channel.HL7V2, "HIX", "ETZ", cid),
                    sender="HIX|ETZ",
                    control_id=cid,
                    message_type=kind.rsplit("^", 1)[0],
                    raw=raw,
                    ack_code="AA",
                    ack=b"",
                    content_hash=content_fingerprint(header),
                )
            ],
        )


def rule_ids_of_cases(runtime: Runtime) -> list[set[str]]:
    with runtime.db.read() as session:
        cases = session.execute(select(Case)).scalars().all()
        return [{f.rule_id for f in read_findings(runtime.cipher, case)} for case in cases]


def test_the_worker_judges_the_result_together_with_the_visits_story(runtime: Runtime) -> None:
    receive(runtime, "V1-1", "ADT^A04^ADT_A01", STORY, "8100001", "V1")
    drain_outbox(runtime)
    assert rule_ids_of_cases(runtime) == []  # no injury yet
    receive(runtime, "V1-2", "ORU^R01^ORU_R01", RESULT, "8100001", "V1")
    drain_outbox(runtime)
    (found,) = rule_ids_of_cases(runtime)
    assert "R-FX-7" in found


def test_messages_of_one_visit_in_one_batch_are_judged_together(runtime: Runtime) -> None:
    receive(runtime, "V2-1", "ADT^A04^ADT_A01", STORY, "8100002", "V2")
    receive(runtime, "V2-2", "ORU^R01^ORU_R01", RESULT, "8100002", "V2")
    drain_outbox(runtime)
    (found,) = rule_ids_of_cases(runtime)
    assert "R-FX-7" in found


def test_another_visit_of_the_same_patient_is_not_read_with_it(runtime: Runtime) -> None:
    receive(runtime, "V3-1", "ADT^A04^ADT_A01", STORY, "8100003", "V3")
    drain_outbox(runtime)
    receive(runtime, "V4-1", "ORU^R01^ORU_R01", RESULT, "8100003", "V4")
    drain_outbox(runtime)
    assert rule_ids_of_cases(runtime) == []


def test_combine_keeps_every_messages_text_once_and_the_latest_patient() -> None:
    story = presentation("mank", months=20, note="Geen val gezien, geen trauma.")
    xray = presentation(months=20).model_copy(
        update={
            "source": SourceRef(channel="hl7v2", message_type="ORU^R01"),
            "notes": [Note(text="Spiraalfractuur distale tibia re.", source_field="OBX[1]-5")],
        }
    )
    assert "R-FX-7" not in {f.rule_id for f in detect(xray)}
    visit: Presentation = combine([story, story, xray])
    assert [n.text for n in visit.texts()].count("Geen val gezien, geen trauma.") == 1
    assert visit.source.message_type == "ORU^R01"
    assert "R-FX-7" in {f.rule_id for f in detect(visit)}
