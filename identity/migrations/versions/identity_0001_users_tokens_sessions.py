"""users, api tokens, login sessions

Revision ID: identity_0001
Revises:
Create Date: 2026-12-02 13:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.db

revision: str = "identity_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("identity",)
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("organisation", sa.String(length=100), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("external_subject", sa.String(length=255), nullable=True),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("totp_secret", sa.LargeBinary(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("created", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_used", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_tokens_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_index(op.f("ix_api_tokens_user_id"), "api_tokens", ["user_id"], unique=False)
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("user_id", _ID, nullable=False),
        sa.Column("csrf_secret", sa.String(length=64), nullable=False),
        sa.Column("created", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("idle_expires_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("absolute_expires_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("auth_method", sa.String(length=32), nullable=False),
        sa.Column("client", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
    )
    op.create_index(op.f("ix_user_sessions_user_id"), "user_sessions", ["user_id"], unique=False)
    # The user the shared SPOEDPLEIN_API_TOKEN acts as, created here once so no request races to create it.
    users = sa.table(
        "users",
        *(sa.column(c) for c in ("username", "display_name", "role", "organisation", "source")),
        *(sa.column(c) for c in ("disabled", "failed_logins")),
        sa.column("created", store.db.UTCDateTime(timezone=True)),
    )
    op.bulk_insert(
        users,
        [
            {
                "username": "bootstrap-admin",
                "display_name": "Beheerder (gedeeld API-token)",
                "role": "admin",
                "organisation": "",
                "source": "bootstrap",
                "disabled": False,
                "failed_logins": 0,
                "created": store.db.utcnow(),
            }
        ],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_user_sessions_user_id"), table_name="user_sessions")
    op.drop_table("user_sessions")
    op.drop_index(op.f("ix_api_tokens_user_id"), table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_table("users")
