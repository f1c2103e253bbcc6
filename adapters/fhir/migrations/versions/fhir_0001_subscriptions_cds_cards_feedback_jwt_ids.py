"""subscriptions, cds cards, feedback, jwt ids

Revision ID: fhir_0001
Revises:
Create Date: 2026-11-23 18:57:50.348015
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.db

revision: str = "fhir_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("fhir",)
depends_on: str | Sequence[str] | None = "workflows_0001"


def upgrade() -> None:
    op.create_table(
        "cds_jwt_id",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("issuer", sa.String(length=400), nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("expires_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cds_jwt_id")),
        sa.UniqueConstraint("issuer", "jti", name=op.f("uq_cds_jwt_id_issuer_jti")),
    )
    with op.batch_alter_table("cds_jwt_id", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cds_jwt_id_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "fhir_subscription",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("reference", sa.String(length=400), nullable=False),
        sa.Column("topic", sa.String(length=400), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("events_seen", sa.BigInteger(), nullable=False),
        sa.Column("handshake_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_heartbeat_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_event_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_subscription")),
        sa.UniqueConstraint("reference", name=op.f("uq_fhir_subscription_reference")),
    )
    op.create_table(
        "cds_card",
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("service_id", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("rule_ids", sa.JSON(), nullable=False),
        sa.Column("first_issued_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_cds_card_case_id_cases")),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_cds_card")),
    )
    with op.batch_alter_table("cds_card", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cds_card_case_id"), ["case_id"], unique=False)

    op.create_table(
        "fhir_subscription_gap",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("subscription_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("first_missing", sa.BigInteger(), nullable=False),
        sa.Column("last_missing", sa.BigInteger(), nullable=False),
        sa.Column("detected_by", sa.String(length=24), nullable=False),
        sa.Column("detected_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["fhir_subscription.id"],
            name=op.f("fk_fhir_subscription_gap_subscription_id_fhir_subscription"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_subscription_gap")),
        sa.UniqueConstraint(
            "subscription_id",
            "first_missing",
            name=op.f("uq_fhir_subscription_gap_subscription_id_first_missing"),
        ),
    )
    with op.batch_alter_table("fhir_subscription_gap", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_fhir_subscription_gap_subscription_id"), ["subscription_id"], unique=False
        )

    op.create_table(
        "cds_feedback",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("card_uuid", sa.String(length=36), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("override_reason", sa.String(length=64), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON(), nullable=False),
        sa.Column("user_comment", sa.LargeBinary(), nullable=True),
        sa.Column("outcome_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["card_uuid"], ["cds_card.uuid"], name=op.f("fk_cds_feedback_card_uuid_cds_card")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cds_feedback")),
        sa.UniqueConstraint("card_uuid", "outcome", name=op.f("uq_cds_feedback_card_uuid_outcome")),
    )
    with op.batch_alter_table("cds_feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cds_feedback_card_uuid"), ["card_uuid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cds_feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cds_feedback_card_uuid"))

    op.drop_table("cds_feedback")
    with op.batch_alter_table("fhir_subscription_gap", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fhir_subscription_gap_subscription_id"))

    op.drop_table("fhir_subscription_gap")
    with op.batch_alter_table("cds_card", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cds_card_case_id"))

    op.drop_table("cds_card")
    op.drop_table("fhir_subscription")
    with op.batch_alter_table("cds_jwt_id", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cds_jwt_id_expires_at"))

    op.drop_table("cds_jwt_id")
