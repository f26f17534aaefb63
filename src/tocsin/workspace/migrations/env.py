"""Alembic environment: runs migrations on the connection tocsin hands over."""

from __future__ import annotations

from alembic import context

from tocsin.workspace.db import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - tocsin always passes a connection
    raise RuntimeError("run migrations through tocsin.workspace.db.upgrade")
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
