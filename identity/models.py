"""Users, their API tokens and their server-side login sessions; the roles a user can hold.

Secrets are never stored as given: a password as an argon2id hash, an API token and a session cookie as
their SHA-256 (both are long random values, so a fast hash is enough), a TOTP secret encrypted.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from store.db import Base, BigIntPK, UTCDateTime, utcnow
from store.encrypted import Encrypted

TOTP_AAD = b"users:totp_secret"


class Role(StrEnum):
    """What a user is: it decides which cases and which fields of a case the user sees."""

    PHYSICIAN = "physician"
    COORDINATOR = "coordinator"
    FORENSIC = "forensic"
    VEILIG_THUIS = "veilig_thuis"
    POLICE = "police"
    CSG = "csg"
    ADMIN = "admin"
    INTEGRATION = "integration"  # a machine: the EHR, the SMS gateway's callbacks


ROLE_LABELS_NL: dict[Role, str] = {
    Role.PHYSICIAN: "arts SEH",
    Role.COORDINATOR: "coördinator",
    Role.FORENSIC: "forensisch arts",
    Role.VEILIG_THUIS: "Veilig Thuis",
    Role.POLICE: "politie",
    Role.CSG: "Centrum Seksueel Geweld",
    Role.ADMIN: "beheerder",
    Role.INTEGRATION: "koppeling",
}

ROLE_LABELS_EN: dict[Role, str] = {
    Role.PHYSICIAN: "ED physician",
    Role.COORDINATOR: "coordinator",
    Role.FORENSIC: "forensic physician",
    Role.VEILIG_THUIS: "Veilig Thuis",
    Role.POLICE: "police",
    Role.CSG: "Sexual Assault Centre",
    Role.ADMIN: "administrator",
    Role.INTEGRATION: "integration",
}

# The emergency department's own staff; everyone else is an outside party that sees only what it was
# paged for.
ED_ROLES = frozenset({Role.PHYSICIAN, Role.COORDINATOR, Role.ADMIN})


class AuthMethod(StrEnum):
    """How a principal proved who it is (kept on the session and in the audit trail)."""

    PASSWORD = "password"
    PASSWORD_TOTP = "password+totp"
    API_TOKEN = "api_token"
    SHARED_TOKEN = "shared_token"  # the embedded default's bootstrap token
    OIDC = "oidc"
    SMART = "smart"
    PAGE_LINK = "page_link"  # a signed page link plus its one-time code


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    organisation: Mapped[str] = mapped_column(String(100), default="")
    # Where the account comes from: "local", or the issuer of an OIDC / SMART login, or "roster".
    source: Mapped[str] = mapped_column(String(200), default="local")
    external_subject: Mapped[str | None] = mapped_column(String(255), nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The TOTP secret (base32), encrypted at rest with the field key (transparently: rotated with the rest).
    totp_secret: Mapped[bytes | None] = mapped_column(Encrypted(TOTP_AAD, transparent=True), nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # a code is good once
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    # The roles this token may act as; empty means the user's own role. A token never widens a user's role.
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    created: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class UserSession(Base):
    __tablename__ = "user_sessions"

    # SHA-256 of the random cookie value: a copy of this table logs no one in.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    csrf_secret: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    idle_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    absolute_expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    auth_method: Mapped[str] = mapped_column(String(32))
    client: Mapped[str] = mapped_column(String(200), default="")
