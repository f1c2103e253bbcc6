"""cases and findings

Revision ID: workflows_0001
Revises:
Create Date: 2026-11-23 18:48:29.305061
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.db

revision: str = "workflows_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("workflows",)
depends_on: str | Sequence[str] | None = "store_0001"


def upgrade() -> None:

    op.create_table(
        "cases",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("reference", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("encounter_ref", sa.String(length=64), nullable=False),
        sa.Column("patient_ref", sa.String(length=64), nullable=False),
        sa.Column("highest_severity", sa.String(length=16), nullable=False),
        sa.Column("opened_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
        sa.UniqueConstraint("reference", name=op.f("uq_cases_reference")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cases_encounter_ref"), ["encounter_ref"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_patient_ref"), ["patient_ref"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_state"), ["state"], unique=False)

    op.create_table(
        "case_finding",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("presentation_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("rule_id", sa.String(length=64), nullable=False),
        sa.Column("family", sa.String(length=16), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_case_finding_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["presentation_id"],
            ["presentation.id"],
            name=op.f("fk_case_finding_presentation_id_presentation"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_finding")),
        sa.UniqueConstraint(
            "case_id", "rule_id", "fingerprint", name=op.f("uq_case_finding_case_id_rule_id_fingerprint")
        ),
    )
    with op.batch_alter_table("case_finding", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_finding_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_finding_family"), ["family"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("case_finding", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_finding_family"))
        batch_op.drop_index(batch_op.f("ix_case_finding_case_id"))

    op.drop_table("case_finding")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_state"))
        batch_op.drop_index(batch_op.f("ix_cases_patient_ref"))
        batch_op.drop_index(batch_op.f("ix_cases_encounter_ref"))

    op.drop_table("cases")
