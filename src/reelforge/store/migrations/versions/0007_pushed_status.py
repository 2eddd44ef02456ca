"""Provider webhooks settle jobs: a verified delivery keeps the status it carried, for the
job's workflow to apply instead of asking the provider.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add ``remote_id``, ``status`` and ``applied_at`` to ``webhook_deliveries``."""
    op.add_column("webhook_deliveries", sa.Column("remote_id", sa.String(1024), nullable=True))
    op.add_column("webhook_deliveries", sa.Column("status", sa.JSON(), nullable=True))
    op.add_column("webhook_deliveries", sa.Column("applied_at", sa.Double(), nullable=True))
    op.create_index(op.f("ix_webhook_deliveries_remote_id"), "webhook_deliveries", ["remote_id"])


def downgrade() -> None:
    """Undo :func:`upgrade`."""
    op.drop_index(op.f("ix_webhook_deliveries_remote_id"), table_name="webhook_deliveries")
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("applied_at")
        batch.drop_column("status")
        batch.drop_column("remote_id")
