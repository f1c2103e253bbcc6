"""The one settings object: every knob comes from an environment variable `SPOEDPLEIN_*` or its default.

The embedded default keeps everything in one data directory (`./var`): the SQLite database, the
server-less Celery broker, the generated encryption key and API token. Production points
`SPOEDPLEIN_DATABASE_URL` at PostgreSQL and `SPOEDPLEIN_BROKER_URL` at Redis.
"""

from __future__ import annotations

import ipaddress
import os
from functools import cached_property
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Secrets that may come from a file instead: SPOEDPLEIN_<NAME>_FILE=/run/secrets/… (Docker and Kubernetes
# secrets), so they never sit in the environment of a container or in `docker inspect`.
SECRETS_FROM_FILES = (
    "api_token",
    "database_url",
    "broker_url",
    "encryption_key",
    "sms_token",
    "sms_webhook_secret",
    "smtp_url",
    "webhook_secret",
    "ehr_fhir_token",
    "oidc_client_secret",
    "smart_client_secret",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPOEDPLEIN_", extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _secrets_from_files(cls, data: object) -> object:
        """`SPOEDPLEIN_<NAME>_FILE` gives the value of `<name>` from that file (one trailing newline
        dropped). Setting both the variable and its `_FILE` is refused: which one wins would be a guess."""
        if not isinstance(data, dict):
            return data
        for name in SECRETS_FROM_FILES:
            variable = f"SPOEDPLEIN_{name.upper()}_FILE"
            path = os.environ.get(variable)
            if not path:
                continue
            if data.get(name) is not None:
                raise ValueError(f"set SPOEDPLEIN_{name.upper()} or {variable}, not both")
            try:
                data[name] = Path(path).read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
            except OSError as exc:
                raise ValueError(f"{variable}: {path}: {exc.strerror}") from None
        return data

    data_dir: Path = Path("var")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite file in the data directory"
    )
    broker_url: str | None = Field(
        default=None, description="Celery broker; default: kombu's SQLAlchemy transport on a SQLite file"
    )
    encryption_key: str | None = Field(
        default=None,
        description="base64 of 32 bytes for AES-GCM; default: generated into the data directory once",
    )
    encryption_keys: str = Field(
        default="",
        description="keys after SPOEDPLEIN_ENCRYPTION_KEY (key 1): id:base64,...; the highest id encrypts",
    )
    api_token: str | None = Field(
        default=None, description="bearer token for /api; default: generated into the data directory once"
    )
    sqlite_synchronous: str = Field(
        default="FULL", description="SQLite synchronous pragma; FULL survives power loss, NORMAL a crash"
    )

    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_max_body_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="larger request bodies get 413, checked while reading"
    )
    http_workers: int = Field(
        default=1, ge=1, le=32, description="uvicorn worker processes answering HTTP on the one port"
    )
    mllp_host: str = "127.0.0.1"
    mllp_port: int = 2575
    mllp_tls_cert: Path | None = None
    mllp_tls_key: Path | None = None
    mllp_tls_ca: Path | None = None
    mllp_max_message_bytes: int = 1024 * 1024
    mllp_idle_timeout_s: float = 300.0
    mllp_max_connections: int = Field(
        default=64, ge=1, description="MLLP connections served at once; more are closed at once, logged"
    )
    mllp_journal: bool = Field(
        default=True,
        description="SQLite: the MLLP part commits ACKed messages to a file of its own (the beat moves them"
        " into the database), so the worker's writes never delay an ACK",
    )
    mllp_frame_deadline_s: float = Field(
        default=60.0, gt=0, description="a message not complete this long after its first byte is dropped"
    )

    max_free_text_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        description="a message with more free text is processed without it and marked for a person",
    )
    hl7_default_charset: str = Field(
        default="UNICODE UTF-8", description="charset for messages whose MSH-18 is empty"
    )
    timezone: str = Field(default="Europe/Amsterdam", description="zone for timestamps sent without one")

    public_base_url: str | None = Field(
        default=None, description="gateway URL as users/EHR reach it; default http://host:port"
    )
    ehr_fhir_url: str | None = Field(
        default=None, description="EHR FHIR R4 base: id-only fetches, write-back when set"
    )
    ehr_fhir_token: str | None = Field(
        default=None, description="bearer token for the EHR FHIR server, if it needs one"
    )
    patient_id_systems: dict[str, str] = Field(
        default_factory=dict,
        description="JSON: FHIR Patient.identifier system -> the HL7 PID-3 assigning authority it equals",
    )
    visit_number_systems: dict[str, str] = Field(
        default_factory=dict,
        description="JSON: FHIR Encounter.identifier system carrying the visit number -> the HL7 PV1-19 "
        "assigning authority it equals; empty: any visit number, authority not compared",
    )
    cds_trusted_issuers: dict[str, str] = Field(
        default_factory=dict, description="JSON: CDS client iss -> JWKS URL or path"
    )
    cds_fhir_servers: list[str] = Field(
        default_factory=list,
        description="JSON list: fhirServer bases a CDS client may send with an access token to fetch "
        "prefetch from (https only, http on loopback); SPOEDPLEIN_EHR_FHIR_URL is always among them",
    )
    cds_cors_origins: list[str] = Field(
        default_factory=list, description="origins allowed to call /cds-services (CORS)"
    )

    ready_max_lag_s: float = Field(
        default=300.0,
        gt=0,
        description="/readyz is not ready when a message has waited longer for the worker",
    )

    metrics_dir: Path | None = Field(
        default=None,
        description="where each process writes its metrics (prometheus multiprocess mode); "
        "default <data dir>/metrics; `run` empties it at start",
    )
    metrics_allow: list[str] = Field(
        default_factory=lambda: ["127.0.0.0/8", "::1/128"],
        description="JSON list of networks that may read /metrics without a token",
    )

    relay_interval_s: float = 0.2
    relay_batch_size: int = 400
    relay_redeliver_after_s: float = 60.0

    ack_deadline_s: float = Field(default=900.0, description="how long a paged party has to acknowledge")
    intake_overdue_s: float = Field(default=3600.0, description="agreed intake time + this = intake overdue")
    case_open_limit_s: float = Field(default=48 * 3600.0, description="an open case older than this alerts")
    silent_mode: bool = Field(
        default=False,
        description="detection runs and is counted (pilot figures), but no CDS card is shown and no case "
        "is opened: validate the rules on the hospital's own patients before go-live",
    )

    # Paging (docs/paging.md). Without a roster file the shipped sample roster is used and every channel
    # writes to files under the data directory (`outgoing/`): `make run` pages nobody real.
    roster_file: Path | None = Field(
        default=None, description="YAML roster: people, roles, rotations, escalation; default: the sample"
    )
    sms_url: str | None = Field(
        default=None, description="CM.com-compatible SMS API base (POST {url}/v1.0/message); file:// = a file"
    )
    sms_token: str | None = Field(default=None, description="the SMS provider's product token")
    sms_provider: str = Field(default="cm", description="SMS provider protocol: cm")
    sms_sender: str = Field(default="Spoedplein", description="sender name or number on pages")
    sms_webhook_secret: str | None = Field(
        default=None, description="secret the SMS provider puts in its webhook URLs (?secret=)"
    )
    smtp_url: str | None = Field(
        default=None, description="smtp://user:pass@host:587 (STARTTLS required); file:// = a directory"
    )
    smtp_from: str = Field(default="spoedplein@localhost", description="From: of pages and the melding")
    smtp_ca_file: Path | None = Field(default=None, description="CA bundle to verify the SMTP server with")
    webhook_secret: str | None = Field(
        default=None, description="Standard Webhooks signing secret (whsec_… base64) for webhook pages"
    )
    pager_stall_s: float = Field(
        default=60.0, gt=0, description="no pager tick for this long: the watchdog alerts the coordinator"
    )
    page_link_ttl_s: float = Field(default=600.0, gt=0, le=600, description="lifetime of a page link")
    melding_delivery: str = Field(
        default="manual", description="manual (prepared, sent by the physician) or email (SMTP, with PDF)"
    )
    melding_email: str | None = Field(default=None, description="Veilig Thuis' secure e-mail address")
    session_idle_minutes: float = Field(
        default=30.0, gt=0, description="a login session unused this long ends (server-side)"
    )
    session_absolute_hours: float = Field(
        default=12.0, gt=0, description="a login session ends this long after the login, used or not"
    )
    cookie_secure: bool | None = Field(
        default=None,
        description="session cookies only over https; default: when the request or public base URL is https",
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="failed logins in a row before an account is locked for a while"
    )
    login_lockout_minutes: float = Field(
        default=15.0, gt=0, description="how long a locked account stays locked"
    )
    case_scope_after_close_hours: float = Field(
        default=72.0,
        ge=0,
        description="ED staff open a dismissed or closed case this long after its last change without "
        "breaking the glass; after that only with a reason (docs/identity.md)",
    )
    break_glass_minutes: float = Field(
        default=60.0,
        gt=0,
        le=720,
        description="how long a page login's break-the-glass access to a case lasts",
    )
    totp_required_for_parties: bool = Field(
        default=False,
        description="outside parties' local logins need a TOTP code (enrol: spoedplein user totp NAME)",
    )
    ed_address: str = Field(
        default="Spoedeisende Hulp, Elisabeth-TweeSteden Ziekenhuis, Doctor Deelenlaan 5, 5042 AD Tilburg",
        max_length=300,
        description="where a paged party goes for the joint intake (shown on the page a page links to)",
    )
    rate_limit_storage: str = Field(
        default="memory://", description="where rate-limit counters live (`limits` URI; redis://… to share)"
    )
    login_rate_per_client: str = Field(
        default="60/minute", description="login attempts allowed per client address (`limits` notation)"
    )
    login_rate_per_user: str = Field(default="20/minute", description="login attempts allowed per username")
    clock_offset_file: Path | None = Field(
        default=None, description="tests only: a file holding seconds to add to the system clock"
    )

    # The NEN 7513 audit log (docs/audit.md): the beat appends the chain head to this file, outside the
    # database, so someone with only database access cannot rewrite history past an anchor unseen.
    audit_anchor_file: Path | None = Field(
        default=None,
        description="append-only file of audit chain heads; default: audit-anchors.jsonl in the data dir",
    )
    audit_anchor_interval_s: float = Field(
        default=300.0, gt=0, description="how often the beat anchors the audit chain head (when it moved)"
    )

    # Retention (docs/operations.md "Retention"): `spoedplein retention` and the beat's daily job apply it.
    # The audit log is not here: the product never prunes it (NEN 7513 asks at least 5 years).
    retention_raw_message_days: int = Field(
        default=30,
        ge=1,
        description="raw messages (and presentations no case refers to) are deleted this long after receipt",
    )
    retention_dismissed_days: int = Field(
        default=90,
        ge=1,
        description="a dismissed flag is pseudonymised this long after the dismissal (codes stay)",
    )
    retention_closed_case_days: int = Field(
        default=730,
        ge=0,
        description="a closed case is deleted with everything about it this long after closing; 0 = never",
    )
    retention_batch_size: int = Field(
        default=200, ge=1, le=10_000, description="rows per retention transaction (each one short)"
    )

    # Sign-in through the hospital's identity provider, and the SMART App Launch from the EHR
    # (docs/identity.md). No issuer: no OIDC button; no allowed iss: `/launch` refuses every launch.
    oidc_issuer: str | None = Field(
        default=None, description="the hospital's OpenID Connect issuer URL (discovery at /.well-known/…)"
    )
    oidc_client_id: str | None = Field(default=None, description="this gateway's client id at the provider")
    oidc_client_secret: str | None = Field(default=None, description="client secret (or _FILE)")
    oidc_scopes: str = Field(default="openid profile email", description="scopes asked for at login")
    oidc_role_claim: str = Field(
        default="roles", description="ID-token claim holding the groups/roles (dotted path for nested)"
    )
    oidc_role_map: str = Field(
        default="",
        description="claim value=role pairs, comma-separated, first match wins (ed-arts=physician,…)",
    )
    smart_allowed_iss: list[str] = Field(
        default_factory=list, description="JSON list: EHR FHIR bases (iss) allowed to launch this app"
    )
    smart_client_id: str | None = Field(default=None, description="this app's client id at the EHR")
    smart_client_secret: str | None = Field(default=None, description="EHR client secret (or _FILE)")
    smart_scopes: str = Field(
        default="launch openid fhirUser patient/*.read", description="scopes asked for at a launch"
    )
    smart_role: str = Field(default="physician", description="the role of the EHR user who launches")

    @field_validator("melding_delivery")
    @classmethod
    def _known_melding_delivery(cls, value: str) -> str:
        if value not in {"manual", "email"}:
            raise ValueError("must be manual or email")
        return value

    @field_validator("metrics_allow")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            ipaddress.ip_network(network, strict=False)  # a ValueError names the bad one
        return value

    @field_validator("sqlite_synchronous")
    @classmethod
    def _known_sync_mode(cls, value: str) -> str:
        value = value.upper()
        if value not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError("must be one of OFF, NORMAL, FULL, EXTRA")
        return value

    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'spoedplein.sqlite').resolve()}"

    @cached_property
    def resolved_broker_url(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{(self.data_dir / 'broker.sqlite').resolve()}"

    @property
    def resolved_audit_anchor_file(self) -> Path:
        return self.audit_anchor_file or self.data_dir / "audit-anchors.jsonl"


def get_settings() -> Settings:
    """A fresh settings object read from the environment (cheap; callers keep the one they need)."""
    return Settings()
