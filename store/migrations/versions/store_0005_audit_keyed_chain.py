"""audit: keyed hash chain (seq, version), who/why fields, outcome; the chain head row with its seq

Entries written before this revision keep their unkeyed hashes (version 1) and are numbered in id order;
the keyed chain continues from the last of them. The migration has no key, so it cannot (and need not)
re-hash them: `verify` checks version-1 entries the old way.

Revision ID: store_0005
Revises: store_0004
Create Date: 2026-12-02 13:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "store_0005"
down_revision: str | Sequence[str] | None = "store_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TEXT_COLUMNS = (
    ("actor_role", 32),
    ("actor_org", 200),
    ("actor_name", 200),
    ("case_id", 64),
    ("source", 64),
    ("reason", 500),
)


def upgrade() -> None:
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
        batch_op.add_column(
            sa.Column("outcome", sa.String(length=16), nullable=False, server_default="success")
        )
        for name, length in _TEXT_COLUMNS:
            batch_op.add_column(sa.Column(name, sa.String(length=length), nullable=False, server_default=""))
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_seq", sa.BigInteger(), nullable=False, server_default="0"))

    bind = op.get_bind()
    ids = [row[0] for row in bind.execute(sa.text("SELECT id FROM audit_entry ORDER BY id"))]
    for seq, entry_id in enumerate(ids, 1):
        bind.execute(
            sa.text("UPDATE audit_entry SET seq = :seq WHERE id = :id"), {"seq": seq, "id": entry_id}
        )
    head = bind.execute(sa.text("SELECT id FROM audit_head WHERE id = 1")).first()
    if head is None:
        # One head row from the start: two first writers on PostgreSQL would otherwise both insert it.
        bind.execute(
            sa.text("INSERT INTO audit_head (id, last_hash, last_seq) VALUES (1, :h, :s)"),
            {"h": "0" * 64, "s": len(ids)},
        )
    else:
        bind.execute(sa.text("UPDATE audit_head SET last_seq = :s WHERE id = 1"), {"s": len(ids)})

    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("version", server_default="2")
        batch_op.create_index(batch_op.f("ix_audit_entry_seq"), ["seq"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("audit_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_entry_seq"))
        for name, _ in _TEXT_COLUMNS:
            batch_op.drop_column(name)
        batch_op.drop_column("outcome")
        batch_op.drop_column("version")
        batch_op.drop_column("seq")
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("last_seq")
