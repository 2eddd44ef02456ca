"""Sink bookkeeping: a cursor per sink, and the remote object a sink keeps per job.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``sink_cursors`` and ``sink_pages``."""
    op.create_table(
        "sink_cursors",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("cursor", sa.Integer(), nullable=False),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.Double(), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sink_cursors")),
    )
    op.create_table(
        "sink_pages",
        sa.Column("sink", sa.String(length=128), nullable=False),
        sa.Column("job_id", sa.String(length=128), nullable=False),
        sa.Column("external_id", sa.String(length=256), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_sink_pages_job_id_jobs")),
        sa.PrimaryKeyConstraint("sink", "job_id", name=op.f("pk_sink_pages")),
    )


def downgrade() -> None:
    """Drop the sink tables (every sink starts again from the beginning of the outbox)."""
    op.drop_table("sink_pages")
    op.drop_table("sink_cursors")
