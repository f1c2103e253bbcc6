"""A FHIR R4 `Communication` to the EHR (`SPOEDPLEIN_EHR_FHIR_URL`), addressed to the person's
Practitioner (the roster's `fhir:` reference), so the page also appears in the EHR's in-basket.

No `subject`, no `encounter`: the Communication carries the same words as the SMS (opaque case reference,
urgency, role, link) and nothing that points at the patient. It is created with `If-None-Exist` on its
identifier (our reference), so a resend after a crash finds the first one instead of making a second.
"""

from __future__ import annotations

import httpx
from fhir.resources.R4B.communication import Communication

from core.clock import Clock
from core.http import http_client
from notifications.channels.base import OutboundMessage, Outcome, SendResult, http_outcome
from notifications.roster import ChannelName

IDENTIFIER_SYSTEM = "urn:spoedplein:page-attempt"


def communication(message: OutboundMessage, sent: str) -> dict[str, object]:
    resource: dict[str, object] = {
        "resourceType": "Communication",
        "identifier": [{"system": IDENTIFIER_SYSTEM, "value": message.reference}],
        "status": "completed",
        "priority": "stat" if message.data.get("urgency") == "emergency" else "urgent",
        "sent": sent,
        "recipient": [{"reference": message.address}],
        "sender": {"display": "Spoedplein"},
        "payload": [{"contentString": message.text}],
    }
    Communication.model_validate(resource)  # what we send is valid R4
    return resource


class FhirCommunicationChannel:
    name = ChannelName.FHIR

    def __init__(self, base_url: str, clock: Clock, *, token: str = "", timeout_s: float = 10.0) -> None:
        headers = {"Accept": "application/fhir+json", "Content-Type": "application/fhir+json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.url = base_url.rstrip("/") + "/Communication"
        self.clock = clock
        self.client = http_client(headers=headers, timeout_s=timeout_s)

    def send(self, message: OutboundMessage) -> SendResult:
        resource = communication(message, self.clock.now().isoformat())
        headers = {"If-None-Exist": f"identifier={IDENTIFIER_SYSTEM}|{message.reference}"}
        try:
            response = self.client.post(self.url, json=resource, headers=headers)
        except httpx.HTTPError as exc:
            return SendResult(Outcome.RETRY, f"no answer from the EHR ({type(exc).__name__})")
        return SendResult(http_outcome(response.status_code), f"EHR answered {response.status_code}")
