"""The paging configuration of a process: the roster and the channels it pages through, built from the
settings once and checked together (`spoedplein oncall --check` and every process start run `load`).

A channel an escalation step uses but the settings do not configure is a configuration error named with
the setting (`SPOEDPLEIN_SMS_URL: not set, but roles.police.escalation[0] pages by sms`), except with the
shipped sample roster: then SMS and e-mail go to files under the data directory, so `make run` works
against nothing real and shows what would be sent.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.clock import Clock
from core.settings import Settings
from notifications.channels.base import Channel
from notifications.channels.email import FileEmailChannel, SmtpChannel
from notifications.channels.fhir import FhirCommunicationChannel
from notifications.channels.sms import CmProvider, FileSmsProvider, SmsChannel, SmsProvider
from notifications.channels.webhook import WebhookChannel
from notifications.roster import ChannelName, Roster, RosterError, RosterProblem, load

SMS_PROVIDERS = ("cm",)


@dataclass
class PagingConfig:
    roster: Roster
    channels: dict[ChannelName, Channel]
    sms: SmsProvider | None
    settings: Settings
    outgoing_dir: Path | None = None  # where the file channels write, when they are in use
    notes: list[str] = field(default_factory=list)

    def channel(self, name: ChannelName) -> Channel:
        return self.channels[name]


def _file_path(url: str) -> Path:
    return Path(url.removeprefix("file://"))


def _used_channels(roster: Roster) -> dict[ChannelName, str]:
    used: dict[ChannelName, str] = {}
    for name, role in roster.document.roles.items():
        for s, step in enumerate(role.escalation):
            for channel in step.channels:
                used.setdefault(channel, f"roles.{name}.escalation[{s}]")
    return used


def build(settings: Settings, clock: Clock) -> PagingConfig:
    """Load the roster and build its channels; `RosterError` names every problem of both."""
    roster = load(settings.roster_file)
    source = roster.source
    problems: list[RosterProblem] = []
    channels: dict[ChannelName, Channel] = {}
    notes: list[str] = []
    outgoing = settings.data_dir.resolve() / "outgoing"
    sms: SmsProvider | None = None
    used = _used_channels(roster)

    def missing(setting: str, channel: ChannelName) -> None:
        problems.append(
            RosterProblem(source, used[channel], f"pages by {channel.value}, but {setting} is not set")
        )

    sms_url = settings.sms_url or (f"file://{outgoing / 'sms.jsonl'}" if roster.is_sample else None)
    if sms_url and sms_url.startswith("file://"):
        sms = FileSmsProvider(_file_path(sms_url))
        notes.append(f"SMS is written to {_file_path(sms_url)}, not sent")
    elif sms_url:
        if settings.sms_provider not in SMS_PROVIDERS:
            problems.append(RosterProblem("settings", "SPOEDPLEIN_SMS_PROVIDER", f"one of {SMS_PROVIDERS}"))
        elif not settings.sms_token:
            problems.append(RosterProblem("settings", "SPOEDPLEIN_SMS_TOKEN", "not set (the product token)"))
        else:
            sms = CmProvider(sms_url, settings.sms_token, sender=settings.sms_sender)
    elif ChannelName.SMS in used:
        missing("SPOEDPLEIN_SMS_URL", ChannelName.SMS)
    if sms is not None:
        channels[ChannelName.SMS] = SmsChannel(sms)

    smtp_url = settings.smtp_url or (f"file://{outgoing / 'mail'}" if roster.is_sample else None)
    if smtp_url and smtp_url.startswith("file://"):
        channels[ChannelName.EMAIL] = FileEmailChannel(_file_path(smtp_url), sender=settings.smtp_from)
        notes.append(f"e-mail is written to {_file_path(smtp_url)}, not sent")
    elif smtp_url:
        try:
            channels[ChannelName.EMAIL] = SmtpChannel(
                smtp_url, sender=settings.smtp_from, ca_file=settings.smtp_ca_file
            )
        except ValueError as exc:
            problems.append(RosterProblem("settings", "SPOEDPLEIN_SMTP_URL", str(exc)))
    elif ChannelName.EMAIL in used:
        missing("SPOEDPLEIN_SMTP_URL", ChannelName.EMAIL)
    if settings.melding_delivery == "email":
        if not settings.melding_email:
            problems.append(
                RosterProblem("settings", "SPOEDPLEIN_MELDING_EMAIL", "not set (melding by e-mail)")
            )
        if ChannelName.EMAIL not in channels:
            problems.append(RosterProblem("settings", "SPOEDPLEIN_SMTP_URL", "not set (melding by e-mail)"))

    if settings.webhook_secret:
        try:
            channels[ChannelName.WEBHOOK] = WebhookChannel(settings.webhook_secret, clock)
        except Exception:
            problems.append(
                RosterProblem("settings", "SPOEDPLEIN_WEBHOOK_SECRET", "not a whsec_/base64 secret")
            )
    elif ChannelName.WEBHOOK in used:
        missing("SPOEDPLEIN_WEBHOOK_SECRET", ChannelName.WEBHOOK)

    if settings.ehr_fhir_url:
        channels[ChannelName.FHIR] = FhirCommunicationChannel(
            settings.ehr_fhir_url, clock, token=settings.ehr_fhir_token or ""
        )
    elif ChannelName.FHIR in used:
        missing("SPOEDPLEIN_EHR_FHIR_URL", ChannelName.FHIR)

    if problems:
        raise RosterError(problems)
    if roster.is_sample:
        notes.insert(0, "the sample roster is in use (SPOEDPLEIN_ROSTER_FILE not set): nobody real is paged")
    return PagingConfig(
        roster=roster,
        channels=channels,
        sms=sms,
        settings=settings,
        outgoing_dir=outgoing if roster.is_sample else None,
        notes=notes,
    )


_cache: dict[tuple[Any, ...], PagingConfig] = {}
_cache_lock = threading.Lock()


def _stamp(path: Path | None) -> float:
    try:
        return path.stat().st_mtime if path is not None else 0.0
    except OSError:
        return -1.0


def paging_config(runtime: Any) -> PagingConfig:
    """The runtime's paging configuration, built once per process and again when the roster file changes
    (an edited roster applies to pages started after the edit; running pages keep their frozen policy)."""
    settings: Settings = runtime.settings
    key = (id(settings), str(settings.roster_file), _stamp(settings.roster_file))
    with _cache_lock:
        config = _cache.get(key)
        if config is None:
            config = build(settings, runtime.clock)
            _cache.clear()
            _cache[key] = config
        return config
