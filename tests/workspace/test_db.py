"""The workspace schema: migrations match the models, history and audit are append-only."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import delete, select, update
from sqlalchemy.exc import DBAPIError

from tocsin.workspace.db import Base
from tocsin.workspace.history import record_audit, record_change
from tocsin.workspace.tables import AuditRecord, HistoryRecord


def test_the_migrations_build_exactly_the_models(db):
    with db.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


@pytest.mark.parametrize("table", [HistoryRecord, AuditRecord])
def test_history_and_audit_refuse_update_and_delete(db, table):
    with db.session() as session:
        record_change(session, "alert", 1, "ana", "create", after={"status": "new"})
        record_audit(session, "ana", "login", ip="10.0.0.1")
    for statement in (update(table).values(actor="mallory"), delete(table)):
        with pytest.raises(DBAPIError, match="append-only"), db.session() as session:
            session.execute(statement)
    with db.session() as session:
        assert session.scalars(select(table.actor)).all() == ["ana"]
        rows = session.scalars(select(table)).all()
        assert all(r.at <= datetime.now(UTC) for r in rows)
