"""The one small interface every channel implements: send one message, get an outcome back as a value.

A channel never raises for a delivery problem: it answers ACCEPTED (the provider took it; a delivery
report will follow), SENT (handed over for good; no report will come), RETRY (transient: the peer was
unreachable, answered 5xx or 429 — try again later with the same reference) or FAILED (permanent: this
address or channel will not work — move on to the next channel at once). `detail` says why in words that
hold no patient data (a status code, an error class), because it is stored and logged.

`reference` is the idempotency key of the message on the wire (the SMS provider's `reference`, the
e-mail's Message-ID, the webhook's `webhook-id`, the Communication's identifier): a resend after a crash
between "sent" and "recorded" carries the same reference, so the receiving side can drop the duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from notifications.roster import ChannelName


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    SENT = "sent"
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class OutboundMessage:
    reference: str
    address: str
    subject: str
    text: str
    data: dict[str, Any] = field(default_factory=dict)  # the same facts, structured (webhook, FHIR)
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    detail: str = ""


class Channel(Protocol):
    name: ChannelName

    def send(self, message: OutboundMessage) -> SendResult:
        """Deliver one message; never raises for a delivery problem (see the module docstring)."""
        ...


def http_outcome(status_code: int) -> Outcome:
    """What an HTTP answer means for a delivery: 2xx taken, 408/429/5xx try again, other 4xx give up."""
    if 200 <= status_code < 300:
        return Outcome.SENT
    if status_code in (408, 425, 429) or status_code >= 500:
        return Outcome.RETRY
    return Outcome.FAILED
