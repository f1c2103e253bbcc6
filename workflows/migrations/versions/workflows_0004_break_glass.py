"""break-the-glass grants: a page login's bounded access to a case outside its scope

Revision ID: workflows_0004_break_glass
Revises: workflows_0003_silent
Create Date: 2026-12-02 17:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.db

revision: str = "workflows_0004_break_glass"
down_revision: str | Sequence[str] | None = "workflows_0003_silent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "break_glass_grant",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("granted_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_break_glass_grant_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_break_glass_grant")),
    )
    with op.batch_alter_table("break_glass_grant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_break_glass_grant_session_id"), ["session_id"], unique=False)


def downgrade() -> None:
    op.drop_table("break_glass_grant")
