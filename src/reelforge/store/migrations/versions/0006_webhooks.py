"""Provider webhooks: the deliveries ``reelforge serve`` accepted, so a redelivery changes
nothing.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``webhook_deliveries``."""
    op.create_table(
        "webhook_deliveries",
        sa.Column("scheme", sa.String(length=32), nullable=False),
        sa.Column("delivery_id", sa.String(length=256), nullable=False),
        sa.Column("job_id", sa.String(length=128), nullable=True),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("scheme", "delivery_id", name=op.f("pk_webhook_deliveries")),
    )


def downgrade() -> None:
    """Undo :func:`upgrade`."""
    op.drop_table("webhook_deliveries")
