"""Indexes for the console's overview: open alerts by severity and by rule.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    """Add the two indexes."""
    op.create_index("ix_alerts_status_severity", "alerts", ["status", "severity_rank"])
    op.create_index("ix_alerts_status_rule", "alerts", ["status", "rule_id"])


def downgrade() -> None:
    """Drop them."""
    op.drop_index("ix_alerts_status_rule", table_name="alerts")
    op.drop_index("ix_alerts_status_severity", table_name="alerts")
