"""inbox, outbox, presentations, audit log

Revision ID: store_0001
Revises:
Create Date: 2026-11-23 18:45:18.445981
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.db

revision: str = "store_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("store",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "audit_entry",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=200), nullable=False),
        sa.Column("patient_ref", sa.String(length=64), nullable=False),
        sa.Column("client", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_entry")),
    )
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_entry_patient_ref"), ["patient_ref"], unique=False)

    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_head")),
    )
    op.create_table(
        "inbox_message",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("dedupe_key", sa.String(length=64), nullable=False),
        sa.Column("sender", sa.String(length=400), nullable=False),
        sa.Column("control_id", sa.String(length=200), nullable=False),
        sa.Column("message_type", sa.String(length=40), nullable=False),
        sa.Column("received_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.Column("ack_code", sa.String(length=2), nullable=False),
        sa.Column("ack", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("processed_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resend_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_message")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_inbox_message_dedupe_key")),
    )
    with op.batch_alter_table("inbox_message", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbox_message_status"), ["status"], unique=False)

    op.create_table(
        "outbox_item",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("available_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("dispatch_count", sa.Integer(), nullable=False),
        sa.Column("done_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_item")),
        sa.UniqueConstraint("key", name=op.f("uq_outbox_item_key")),
    )
    with op.batch_alter_table("outbox_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_outbox_item_done_at"), ["done_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_outbox_item_topic"), ["topic"], unique=False)

    op.create_table(
        "presentation",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("inbox_message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("patient_ref", sa.String(length=64), nullable=False),
        sa.Column("encounter_ref", sa.String(length=64), nullable=False),
        sa.Column("arrival_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbox_message_id"],
            ["inbox_message.id"],
            name=op.f("fk_presentation_inbox_message_id_inbox_message"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_presentation")),
        sa.UniqueConstraint("inbox_message_id", name=op.f("uq_presentation_inbox_message_id")),
    )
    with op.batch_alter_table("presentation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_presentation_encounter_ref"), ["encounter_ref"], unique=False)
        batch_op.create_index(batch_op.f("ix_presentation_patient_ref"), ["patient_ref"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("presentation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_presentation_patient_ref"))
        batch_op.drop_index(batch_op.f("ix_presentation_encounter_ref"))

    op.drop_table("presentation")
    with op.batch_alter_table("outbox_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_item_topic"))
        batch_op.drop_index(batch_op.f("ix_outbox_item_done_at"))

    op.drop_table("outbox_item")
    with op.batch_alter_table("inbox_message", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_message_status"))

    op.drop_table("inbox_message")
    op.drop_table("audit_head")
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entry_patient_ref"))

    op.drop_table("audit_entry")
