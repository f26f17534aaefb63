"""Saved searches: a query, its time range and columns, kept by name for its owner or shared.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    """Create the saved_searches table."""
    op.create_table(
        "saved_searches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("time_range", sa.String(length=20), nullable=True),
        sa.Column("since", sa.String(length=64), nullable=True),
        sa.Column("until", sa.String(length=64), nullable=True),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("shared", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner", "name", name="uq_saved_searches_owner_name"),
    )
    with op.batch_alter_table("saved_searches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_saved_searches_owner"), ["owner"], unique=False)
        batch_op.create_index(batch_op.f("ix_saved_searches_owner_id"), ["owner_id"], unique=False)


def downgrade() -> None:
    """Drop the saved_searches table."""
    with op.batch_alter_table("saved_searches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_saved_searches_owner_id"))
        batch_op.drop_index(batch_op.f("ix_saved_searches_owner"))
    op.drop_table("saved_searches")
