"""workflow timeline, facts, meldcode, intake, timers, discharge

Revision ID: workflows_0002
Revises: workflows_0001
Create Date: 2026-11-23 18:53:43.061148
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.db

revision: str = "workflows_0002"
down_revision: str | Sequence[str] | None = "workflows_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_event",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("from_state", sa.String(length=32), nullable=False),
        sa.Column("to_state", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("detail", sa.LargeBinary(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_event_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_event")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_case_event_dedupe_key")),
    )
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_event_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_event_code"), ["code"], unique=False)

    op.create_table(
        "case_facts",
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("confirmed_by", sa.String(length=200), nullable=False),
        sa.Column("confirmed_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("injuries", sa.Boolean(), nullable=False),
        sa.Column("child_involved", sa.Boolean(), nullable=False),
        sa.Column("patient_age_years", sa.Integer(), nullable=True),
        sa.Column("sexual_violence_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("melder", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_facts_case_id_cases")),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_facts")),
    )
    op.create_table(
        "case_timer",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("party", sa.String(length=32), nullable=False),
        sa.Column("due_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("created_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fired_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_timer_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_timer")),
        sa.UniqueConstraint("token", name=op.f("uq_case_timer_token")),
    )
    with op.batch_alter_table("case_timer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_timer_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_timer_due_at"), ["due_at"], unique=False)

    op.create_table(
        "discharge_check",
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("updated_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("completed_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answers", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_discharge_check_case_id_cases")),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_discharge_check")),
    )
    op.create_table(
        "intake",
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("route", sa.String(length=32), nullable=False),
        sa.Column("requested_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("proposed_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("agreed_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("agreed_by", sa.String(length=200), nullable=False),
        sa.Column("done_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_intake_case_id_cases")),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_intake")),
    )
    op.create_table(
        "intake_party",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("party", sa.String(length=32), nullable=False),
        sa.Column("required_because", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requested_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("request_round", sa.Integer(), nullable=False),
        sa.Column("acknowledged_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=False),
        sa.Column("earliest_available_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_intake_party_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_intake_party")),
        sa.UniqueConstraint("case_id", "party", name=op.f("uq_intake_party_case_id_party")),
    )
    with op.batch_alter_table("intake_party", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_intake_party_case_id"), ["case_id"], unique=False)

    op.create_table(
        "kindcheck",
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("cares_for_minors", sa.String(length=16), nullable=False),
        sa.Column("asked_by", sa.String(length=200), nullable=False),
        sa.Column("asked_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("children", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_kindcheck_case_id_cases")),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_kindcheck")),
    )
    op.create_table(
        "meldcode_step",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=32), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_meldcode_step_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_meldcode_step")),
        sa.UniqueConstraint("case_id", "step", name=op.f("uq_meldcode_step_case_id_step")),
    )
    with op.batch_alter_table("meldcode_step", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_meldcode_step_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("meldcode_step", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_meldcode_step_case_id"))

    op.drop_table("meldcode_step")
    op.drop_table("kindcheck")
    with op.batch_alter_table("intake_party", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_intake_party_case_id"))

    op.drop_table("intake_party")
    op.drop_table("intake")
    op.drop_table("discharge_check")
    with op.batch_alter_table("case_timer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_timer_due_at"))
        batch_op.drop_index(batch_op.f("ix_case_timer_case_id"))

    op.drop_table("case_timer")
    op.drop_table("case_facts")
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_event_code"))
        batch_op.drop_index(batch_op.f("ix_case_event_case_id"))

    op.drop_table("case_event")
