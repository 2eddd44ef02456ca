"""Executors: which process runs which workflows and batches, so a live process's workflows
are never recovered by another; when an ambiguous create may be sent again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``executors`` and ``batch_runners``; add ``jobs.resend_after``."""
    op.create_table(
        "executors",
        sa.Column("id", sa.String(length=256), nullable=False),
        sa.Column("host", sa.String(length=256), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_executors")),
    )
    op.create_table(
        "batch_runners",
        sa.Column("batch_id", sa.String(length=128), nullable=False),
        sa.Column("executor_id", sa.String(length=256), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name=op.f("pk_batch_runners")),
    )
    op.add_column("jobs", sa.Column("resend_after", sa.Double(), nullable=True))


def downgrade() -> None:
    """Drop what :func:`upgrade` added."""
    # Plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+): a batch copy of ``jobs`` would trip
    # the foreign keys that point at it.
    op.drop_column("jobs", "resend_after")
    op.drop_table("batch_runners")
    op.drop_table("executors")
