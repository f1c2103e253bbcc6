"""notification requests and melding

Revision ID: notifications_0001
Revises:
Create Date: 2026-11-23 18:53:48.903201
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.db

revision: str = "notifications_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("notifications",)
depends_on: str | Sequence[str] | None = "workflows_0002"


def upgrade() -> None:
    op.create_table(
        "melding",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("approved_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.String(length=200), nullable=False),
        sa.Column("sent_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivery_reference", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_melding_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_melding")),
        sa.UniqueConstraint("case_id", name=op.f("uq_melding_case_id")),
    )
    op.create_table(
        "notification_request",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("party", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.String(length=200), nullable=False),
        sa.Column("requested_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_notification_request_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_request")),
        sa.UniqueConstraint("key", name=op.f("uq_notification_request_key")),
    )
    with op.batch_alter_table("notification_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notification_request_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_notification_request_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_notification_request_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notification_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_request_status"))
        batch_op.drop_index(batch_op.f("ix_notification_request_kind"))
        batch_op.drop_index(batch_op.f("ix_notification_request_case_id"))

    op.drop_table("notification_request")
    op.drop_table("melding")
