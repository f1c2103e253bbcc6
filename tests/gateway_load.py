"""Load on a running gateway for the kill and fault tests: MLLP senders that behave like an interface
engine (a message without a positive ACK is sent again, on a new connection, until it gets one), a
physician who confirms every flagged case and asks for the joint intake over the API, and the checks
that nothing acknowledged was lost and nothing was stored, processed or opened twice.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from adapters.hl7.ack import parse_ack
from adapters.hl7.client import MLLPClient
from tests.gateway_process import API_TOKEN, GatewayProcesses

# An infant's A04 with a bruise on the cheek: flagged; each control id is its own patient and visit.
MESSAGE = (
    "MSH|^~\\&|HIX|ETZ|SPOEDPLEIN|ETZ|20261123100000+0100||ADT^A04^ADT_A01|{cid}|P|2.5\r"
    "PID|1||{cid}^^^ETZ^PI||Testpersoon^Kind||20260801|F\r"
    "PV1|1|E|SEH^K1^1^ETZ||||||||||||||||V{cid}|||||||||||||||||||||||||20261123095500+0100\r"
    "PV2|||^blauwe plek op de wang\r"
)


class Sender(threading.Thread):
    """Streams its messages in order, `interval_s` apart; resends whatever did not get a positive ACK.

    `negative` counts the negative ACKs by code and error (e.g. `AR 207`): what the hospital's interface
    engine saw while the gateway could not take messages in."""

    def __init__(
        self, port: int, control_ids: list[str], *, interval_s: float = 0.0, deadline_s: float = 120
    ) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.pending = list(control_ids)
        self.interval_s = interval_s
        self.acked: list[str] = []
        self.acked_at: list[float] = []
        self.failures = 0
        self.negative: Counter[str] = Counter()
        self.deadline = time.monotonic() + deadline_s

    def more(self) -> bool:
        """Whether there is a next message once `pending` is empty (a fixed list: no)."""
        return False

    def run(self) -> None:
        client: MLLPClient | None = None
        while (self.pending or self.more()) and time.monotonic() < self.deadline:
            cid = self.pending[0]
            try:
                if client is None:
                    client = MLLPClient("127.0.0.1", self.port, timeout_s=5)
                ack = parse_ack(client.send(MESSAGE.format(cid=cid).encode()))
            except Exception:
                self.failures += 1
                if client is not None:
                    client.close()
                client = None
                time.sleep(0.05)
                continue
            if ack.code == "AA" and ack.acked_control_id == cid:
                self.acked.append(cid)
                self.acked_at.append(time.monotonic())
                self.pending.pop(0)
                time.sleep(self.interval_s)
            else:
                errors = ",".join(e.code for e in ack.errors)
                self.negative[f"{ack.code} {errors}".strip()] += 1
                time.sleep(0.2)  # as an interface engine waits before it resends
        if client is not None:
            client.close()


class StreamingSender(Sender):
    """Sends `prefix-0`, `prefix-1`, … until `stop` is set (the message in hand still gets its ACK)."""

    def __init__(self, port: int, prefix: str, stop: threading.Event, **kwargs: Any) -> None:
        super().__init__(port, [], **kwargs)
        self.prefix = prefix
        self.stop = stop
        self.sent = 0

    def more(self) -> bool:
        if self.stop.is_set():
            return False
        self.pending.append(f"{self.prefix}-{self.sent}")
        self.sent += 1
        return True


def processed_everything(gateway: GatewayProcesses, expected: int) -> bool:
    rows = gateway.api("/api/messages", limit=1000)
    return isinstance(rows, list) and len(rows) >= expected and all(r["status"] == "processed" for r in rows)


def assert_each_stored_and_processed_once(gateway: GatewayProcesses, acked: list[str]) -> None:
    rows = gateway.api("/api/messages", limit=1000)
    assert isinstance(rows, list)
    per_control_id = Counter(r["control_id"] for r in rows)
    assert set(acked) <= set(per_control_id), "a positively acknowledged message is missing"
    assert max(per_control_id.values()) == 1, "a message was stored twice"
    presentations = gateway.api("/api/presentations", limit=1000)
    assert isinstance(presentations, list)
    per_message = Counter(p["inbox_message_id"] for p in presentations)
    assert len(per_message) == len(rows) and max(per_message.values()) == 1, "processed twice or not at all"
    cases = gateway.api("/api/cases", limit=1000)
    assert isinstance(cases, list) and len(cases) == len(rows), "one case per flagged visit, no more"


def answered(gateway: GatewayProcesses, check: Callable[[], bool]) -> Callable[[], bool]:
    """`check`, counted as not yet true while the HTTP part is being restarted."""

    def tolerant() -> bool:
        try:
            return check()
        except httpx.HTTPError:
            return False

    return tolerant


class StepRefused(Exception):
    """The API answered a step with something other than success or a version conflict."""


class Physician(threading.Thread):
    """Confirms every flagged case and asks forensic medicine (the parents' consent) and Veilig Thuis
    (meldrecht) to the joint intake, which pages both. Each step is read back before it is taken again,
    so a request whose answer was lost (a part killed, the store restarting) is not repeated. `refused`
    keeps every non-2xx answer other than a version conflict, for the test to judge."""

    def __init__(self, http_url: str, *, deadline_s: float = 300) -> None:
        super().__init__(daemon=True)
        self.http_url = http_url
        self.done: set[int] = set()
        self.refused: list[str] = []
        self.transport_errors = 0
        self.finish = threading.Event()
        self.deadline = time.monotonic() + deadline_s

    def run(self) -> None:
        with httpx.Client(
            base_url=self.http_url, headers={"Authorization": f"Bearer {API_TOKEN}"}, timeout=15
        ) as client:
            while time.monotonic() < self.deadline:
                finishing = self.finish.is_set()
                try:
                    todo = [
                        c["id"]
                        for c in self._get(client, "/api/cases?limit=1000")
                        if c["id"] not in self.done
                    ]
                    for case_id in todo:
                        self._advance(client, case_id)
                except httpx.HTTPError:
                    self.transport_errors += 1
                    time.sleep(0.2)
                    continue
                except StepRefused:
                    time.sleep(0.2)
                    continue
                if finishing and not todo:
                    return
                time.sleep(0.1)

    def _get(self, client: httpx.Client, path: str) -> Any:
        response = client.get(path)
        if response.status_code != 200:
            self.refused.append(f"GET {path.split('?')[0]} {response.status_code} {response.text[:200]}")
            raise StepRefused
        return response.json()

    def _post(self, client: httpx.Client, path: str, body: dict[str, Any]) -> None:
        response = client.post(path, json=body)
        if response.status_code == 409:  # someone (our own lost request) changed it: read again
            return
        if response.status_code not in (200, 201):
            self.refused.append(f"POST {path} {response.status_code} {response.text[:200]}")
            raise StepRefused

    def _advance(self, client: httpx.Client, case_id: int) -> None:
        url = f"/api/cases/{case_id}"
        for _ in range(8):
            workflow = self._get(client, f"{url}/workflow")
            if workflow["state"] == "flagged":
                body = {"expected_version": workflow["version"], "melder": {"name": "Dr. Fout"}}
                self._post(client, f"{url}/confirm", body)
            elif workflow["state"] == "confirmed":
                overview = self._get(client, f"{url}/consents")
                if not any(c["party"] == "forensic" for c in overview["consents"]):
                    consent = {"party": "forensic", "decision": "permit", "given_by": ["parent_or_guardian"]}
                    self._post(client, f"{url}/consents", consent)
                    continue
                if not any(b["party"] == "veilig_thuis" for b in overview["legal_bases"]):
                    basis = {"party": "veilig_thuis", "basis": "meldrecht", "justification": "zuigeling"}
                    self._post(client, f"{url}/legal-bases", basis)
                    continue
                self._post(client, f"{url}/intake", {"expected_version": workflow["version"]})
            else:
                self.done.add(case_id)
                return
