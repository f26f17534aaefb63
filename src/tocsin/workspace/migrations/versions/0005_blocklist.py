"""Block and allow lists: values with provenance and expiry, soft-deleted for the audit.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

# One live row per (list, kind, value): removed rows keep their values for the audit.
_LIVE = sa.text("removed_at IS NULL")


def upgrade() -> None:
    """Create the blocklist_entries table and its indexes."""
    op.create_table(
        "blocklist_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list", sa.String(length=10), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("value", sa.String(length=2048), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("blocklist_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_blocklist_entries_kind_list", ["kind", "list", "expires_at"], unique=False
        )
        batch_op.create_index("ix_blocklist_entries_source", ["source"], unique=False)
        batch_op.create_index("ix_blocklist_entries_created", ["created_at"], unique=False)
        batch_op.create_index(
            "uq_blocklist_entries_live",
            ["value", "kind", "list"],
            unique=True,
            sqlite_where=_LIVE,
            postgresql_where=_LIVE,
        )


def downgrade() -> None:
    """Drop the blocklist_entries table."""
    with op.batch_alter_table("blocklist_entries", schema=None) as batch_op:
        batch_op.drop_index("uq_blocklist_entries_live")
        batch_op.drop_index("ix_blocklist_entries_created")
        batch_op.drop_index("ix_blocklist_entries_source")
        batch_op.drop_index("ix_blocklist_entries_kind_list")
    op.drop_table("blocklist_entries")
