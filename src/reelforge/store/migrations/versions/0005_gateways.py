"""Gateways: opaque remote ids up to 1,024 characters, what each account's endpoint offers,
derived assets, one-job batches written flat.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Widen ``jobs.remote_id``; create ``endpoint_capabilities``; add ``assets.derived`` and
    ``batches.flat``."""
    if op.get_bind().dialect.name != "sqlite":
        # SQLite does not enforce VARCHAR lengths (and a batch copy of ``jobs`` would trip the
        # foreign keys that point at it): only other databases need the wider column.
        op.alter_column(
            "jobs",
            "remote_id",
            existing_type=sa.String(length=256),
            type_=sa.String(length=1024),
            existing_nullable=True,
        )
    op.create_table(
        "endpoint_capabilities",
        sa.Column("account", sa.String(length=128), nullable=False),
        sa.Column("capability", sa.String(length=64), nullable=False),
        sa.Column("supported", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("observed_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("account", "capability", name=op.f("pk_endpoint_capabilities")),
    )
    op.add_column(
        "assets",
        sa.Column("derived", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column(
        "batches",
        sa.Column("flat", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    """Undo :func:`upgrade` (ids longer than 256 characters must be gone first)."""
    op.drop_column("batches", "flat")
    op.drop_column("assets", "derived")
    op.drop_table("endpoint_capabilities")
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column(
            "jobs",
            "remote_id",
            existing_type=sa.String(length=1024),
            type_=sa.String(length=256),
            existing_nullable=True,
        )
