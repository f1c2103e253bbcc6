"""silent mode: flags detection raised that opened no case and showed no card

Revision ID: workflows_0003_silent
Revises: workflows_0002
Create Date: 2026-12-02 13:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.db

revision: str = "workflows_0003_silent"
down_revision: str | Sequence[str] | None = "workflows_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "silent_flag",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("encounter_ref", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("family", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("recorded_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_silent_flag")),
        sa.UniqueConstraint(
            "encounter_ref",
            "rule_id",
            "fingerprint",
            name=op.f("uq_silent_flag_encounter_ref_rule_id_fingerprint"),
        ),
    )
    with op.batch_alter_table("silent_flag", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_silent_flag_encounter_ref"), ["encounter_ref"], unique=False)
        batch_op.create_index(batch_op.f("ix_silent_flag_recorded_at"), ["recorded_at"], unique=False)


def downgrade() -> None:
    op.drop_table("silent_flag")
