"""inbox content hash

Revision ID: store_0002
Revises: store_0001
Create Date: 2026-11-23 19:04:32.081868
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "store_0002"
down_revision: str | Sequence[str] | None = "store_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("inbox_message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("content_hash", sa.String(length=64), nullable=False, server_default="")
        )


def downgrade() -> None:

    with op.batch_alter_table("inbox_message", schema=None) as batch_op:
        batch_op.drop_column("content_hash")
