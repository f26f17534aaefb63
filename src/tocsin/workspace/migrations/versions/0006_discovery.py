"""Discovery findings' triage states and their history.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    """Create discovery_findings and discovery_triage."""
    op.create_table(
        "discovery_findings",
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=200), nullable=False),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=100), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("place", sa.String(length=2048), nullable=False),
        sa.Column("location", sa.String(length=2048), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=True),
        sa.Column("masked", sa.String(length=300), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("fingerprint"),
    )
    with op.batch_alter_table("discovery_findings", schema=None) as batch_op:
        batch_op.create_index("ix_discovery_findings_state", ["state", "last_seen"], unique=False)
        batch_op.create_index("ix_discovery_findings_kind", ["kind"], unique=False)
    op.create_table(
        "discovery_triage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("old_state", sa.String(length=20), nullable=False),
        sa.Column("new_state", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("discovery_triage", schema=None) as batch_op:
        batch_op.create_index(
            "ix_discovery_triage_fingerprint", ["fingerprint", "at"], unique=False
        )


def downgrade() -> None:
    """Drop both tables."""
    with op.batch_alter_table("discovery_triage", schema=None) as batch_op:
        batch_op.drop_index("ix_discovery_triage_fingerprint")
    op.drop_table("discovery_triage")
    with op.batch_alter_table("discovery_findings", schema=None) as batch_op:
        batch_op.drop_index("ix_discovery_findings_kind")
        batch_op.drop_index("ix_discovery_findings_state")
    op.drop_table("discovery_findings")
