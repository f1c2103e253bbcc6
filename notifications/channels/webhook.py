"""A generic webhook signed per Standard Webhooks: `POST` JSON to the person's URL with `webhook-id` (the
attempt's reference: the receiver drops a repeated id), `webhook-timestamp` (Unix seconds; the receiver
refuses anything outside its replay window, five minutes in the reference library) and
`webhook-signature` (`v1,` + base64 HMAC-SHA256 over `id.timestamp.body` with the shared secret,
`SPOEDPLEIN_WEBHOOK_SECRET`). Signing is the `standardwebhooks` library's, so a receiver can verify
with any Standard Webhooks implementation.
"""

from __future__ import annotations

import json
from datetime import datetime

import httpx
from standardwebhooks.webhooks import Webhook

from core.clock import Clock
from core.http import http_client
from notifications.channels.base import OutboundMessage, Outcome, SendResult, http_outcome
from notifications.roster import ChannelName


def signed_headers(secret: str, msg_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id=msg_id, timestamp=timestamp, data=body)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


class WebhookChannel:
    name = ChannelName.WEBHOOK

    def __init__(self, secret: str, clock: Clock, *, timeout_s: float = 10.0) -> None:
        Webhook(secret)  # a malformed secret fails here, at start, not at 3 a.m.
        self.secret = secret
        self.clock = clock
        self.client = http_client(timeout_s=timeout_s)

    def send(self, message: OutboundMessage) -> SendResult:
        body = json.dumps({"type": "page", "reference": message.reference, **message.data}, sort_keys=True)
        headers = signed_headers(self.secret, message.reference, self.clock.now(), body)
        try:
            response = self.client.post(message.address, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return SendResult(Outcome.RETRY, f"no answer from the webhook ({type(exc).__name__})")
        return SendResult(http_outcome(response.status_code), f"webhook answered {response.status_code}")
