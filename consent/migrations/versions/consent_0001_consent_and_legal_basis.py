"""consent and legal basis

Revision ID: consent_0001
Revises:
Create Date: 2026-11-23 18:53:48.214194
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import store.db

revision: str = "consent_0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("consent",)
depends_on: str | Sequence[str] | None = "workflows_0002"


def upgrade() -> None:
    op.create_table(
        "consent_record",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("party", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("subject_age_years", sa.Integer(), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("given_by", sa.String(length=64), nullable=False),
        sa.Column("decided_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("note", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_consent_record_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_record")),
    )
    with op.batch_alter_table("consent_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_record_case_id"), ["case_id"], unique=False)

    op.create_table(
        "legal_basis_record",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("party", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=32), nullable=False),
        sa.Column("basis", sa.String(length=32), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", store.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", store.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("justification", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_legal_basis_record_case_id_cases")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_basis_record")),
    )
    with op.batch_alter_table("legal_basis_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_legal_basis_record_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("legal_basis_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_legal_basis_record_case_id"))

    op.drop_table("legal_basis_record")
    with op.batch_alter_table("consent_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_record_case_id"))

    op.drop_table("consent_record")
