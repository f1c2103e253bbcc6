"""write-back marks

Revision ID: fhir_0002
Revises: fhir_0001
Create Date: 2026-11-23 19:47:20.582705
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.db

revision: str = "fhir_0002"
down_revision: str | Sequence[str] | None = "fhir_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fhir_writeback_mark",
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("queued_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_fhir_writeback_mark_case_id_cases")),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_fhir_writeback_mark")),
    )


def downgrade() -> None:
    op.drop_table("fhir_writeback_mark")
