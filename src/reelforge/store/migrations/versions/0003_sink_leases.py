"""Sink leases: one runner (one process) at a time delivers a sink.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``sink_leases``."""
    op.create_table(
        "sink_leases",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("owner", sa.String(length=256), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sink_leases")),
    )


def downgrade() -> None:
    """Drop ``sink_leases`` (a lease only matters while a runner is delivering)."""
    op.drop_table("sink_leases")
