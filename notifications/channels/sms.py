"""SMS: a provider protocol behind the channel interface. `CmProvider` speaks CM.com's JSON API; a second
provider implements the same three methods (`send`, `delivery_reports`, `inbound_messages`).

CM.com-compatible wire format (docs/paging.md):
- send: `POST {SPOEDPLEIN_SMS_URL}/v1.0/message`, header `X-CM-PRODUCTTOKEN`, JSON
  `{"messages": {"authentication": {"producttoken"}, "msg": [{"from", "to": [{"number"}], "body":
  {"type": "auto", "content"}, "reference"}]}}`. 200 with the message `Accepted` → ACCEPTED (a delivery
  report follows); a message `Rejected` or another 4xx → FAILED; 429/5xx/no answer → RETRY with the same
  `reference` (the provider drops a message whose reference it already took: no double SMS).
- delivery reports: GET with query `REFERENCE`, `STATUS` (0 accepted, 1 rejected, 2 delivered, 3 failed)
  …, or POST JSON `{"messages": {"msg": {"reference", "status": {"code"}, …}}}`.
- inbound replies: GET or POST with `from`, `to`, `message` (flat, or CM's nested JSON), and an `id`.

`FileSmsProvider` (`SPOEDPLEIN_SMS_URL=file:///path/sms.jsonl`, and the sample roster's default) writes
each message as one JSON line: for trying the gateway out without sending anything.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import httpx

from core.http import http_client
from notifications.channels.base import OutboundMessage, Outcome, SendResult, http_outcome
from notifications.roster import ChannelName


class ReportStatus(StrEnum):
    ACCEPTED = "accepted"  # taken by the operator; still on its way
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"  # rejected or failed: move to the next channel


@dataclass(frozen=True)
class DeliveryReportIn:
    reference: str
    status: ReportStatus
    provider_status: str
    provider_time: str  # as the provider wrote it; part of the dedupe key


@dataclass(frozen=True)
class InboundSms:
    sender: str
    text: str
    provider_id: str


class SmsProvider(Protocol):
    name: str

    def send(self, message: OutboundMessage) -> SendResult: ...

    def delivery_reports(self, params: Mapping[str, str], body: Any) -> list[DeliveryReportIn]:
        """The reports in one webhook call (query parameters, parsed JSON body or None)."""
        ...

    def inbound_messages(self, params: Mapping[str, str], body: Any) -> list[InboundSms]: ...


class SmsChannel:
    """The channel the pager uses; the provider decides the wire format."""

    name = ChannelName.SMS

    def __init__(self, provider: SmsProvider) -> None:
        self.provider = provider

    def send(self, message: OutboundMessage) -> SendResult:
        return self.provider.send(message)


_CM_STATUS = {"0": ReportStatus.ACCEPTED, "1": ReportStatus.UNDELIVERED, "2": ReportStatus.DELIVERED}
_CM_STATUS["3"] = ReportStatus.UNDELIVERED


def _lower(params: Mapping[str, Any]) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in params.items()}


class CmProvider:
    name = "cm"

    def __init__(self, base_url: str, token: str, *, sender: str, timeout_s: float = 10.0) -> None:
        self.url = base_url.rstrip("/") + "/v1.0/message"
        self.token = token
        self.sender = sender
        self.client = http_client(headers={"X-CM-PRODUCTTOKEN": token}, timeout_s=timeout_s)

    def send(self, message: OutboundMessage) -> SendResult:
        body = {
            "messages": {
                "authentication": {"producttoken": self.token},
                "msg": [
                    {
                        "from": self.sender,
                        "to": [{"number": message.address}],
                        "body": {"type": "auto", "content": message.text},
                        "reference": message.reference,
                        "minimumNumberOfMessageParts": 1,
                        "maximumNumberOfMessageParts": 8,
                    }
                ],
            }
        }
        try:
            response = self.client.post(self.url, json=body)
        except httpx.HTTPError as exc:
            return SendResult(Outcome.RETRY, f"no answer from the SMS provider ({type(exc).__name__})")
        outcome = http_outcome(response.status_code)
        if outcome is not Outcome.SENT:
            return SendResult(outcome, f"SMS provider answered {response.status_code}")
        try:
            answer = response.json()
            statuses = {str(m.get("status", "")).lower() for m in answer.get("messages", [])}
        except (ValueError, AttributeError):
            statuses = set()
        if "rejected" in statuses:
            return SendResult(Outcome.FAILED, "SMS provider rejected the message")
        return SendResult(Outcome.ACCEPTED, f"SMS provider answered {response.status_code}")

    def delivery_reports(self, params: Mapping[str, str], body: Any) -> list[DeliveryReportIn]:
        items: list[dict[str, Any]] = []
        if params:
            items.append(_lower(params))
        if isinstance(body, dict):
            msgs = _lower(body).get("messages", body)
            msg = _lower(msgs).get("msg", msgs) if isinstance(msgs, dict) else msgs
            for item in msg if isinstance(msg, list) else [msg]:
                if isinstance(item, dict):
                    items.append(_lower(item))
        reports = []
        for item in items:
            reference = str(item.get("reference", "")).strip()
            status = item.get("status", "")
            if isinstance(status, dict):
                status = _lower(status).get("code", "")
            code = str(status).strip()
            if not reference or code not in _CM_STATUS:
                continue
            when = str(item.get("received") or item.get("sent") or "")
            reports.append(DeliveryReportIn(reference, _CM_STATUS[code], code, when))
        return reports

    def inbound_messages(self, params: Mapping[str, str], body: Any) -> list[InboundSms]:
        item = _lower(params) if params else {}
        if isinstance(body, dict):
            item = {**item, **_lower(body)}
        sender, text = item.get("from", ""), item.get("message", item.get("body", ""))
        if isinstance(sender, dict):
            sender = _lower(sender).get("number", "")
        if isinstance(text, dict):
            text = _lower(text).get("text", "")
        provider_id = str(item.get("id") or item.get("reference") or item.get("messageid") or "")
        if not sender or not provider_id:
            return []
        return [InboundSms(str(sender), str(text), provider_id)]


class FileSmsProvider:
    """Writes each SMS as one JSON line instead of sending it (no reports, no replies)."""

    name = "file"
    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path

    def send(self, message: OutboundMessage) -> SendResult:
        line = json.dumps({"reference": message.reference, "to": message.address, "text": message.text})
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        return SendResult(Outcome.SENT, f"written to {self.path.name}")

    def delivery_reports(self, params: Mapping[str, str], body: Any) -> list[DeliveryReportIn]:
        return []

    def inbound_messages(self, params: Mapping[str, str], body: Any) -> list[InboundSms]:
        return []
