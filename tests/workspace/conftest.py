"""A real workspace database (SQLite, and PostgreSQL when available) and a principal per role."""

from __future__ import annotations

import pytest

from tocsin.workspace.db import Database
from tocsin.workspace.permissions import ROLE_PERMISSIONS, Principal, Role


@pytest.fixture
def db(db_url):
    database = Database(db_url)
    yield database
    database.close()


def as_role(role: Role, name: str | None = None, user_id: int | None = None) -> Principal:
    """A principal holding exactly the permissions of ``role`` (no user row behind it)."""
    return Principal(
        kind="user",
        name=name or role.value,
        permissions=ROLE_PERMISSIONS[role],
        user_id=user_id,
        role=role,
    )


@pytest.fixture
def admin() -> Principal:
    return as_role(Role.ADMIN, "ada")


@pytest.fixture
def analyst() -> Principal:
    return as_role(Role.ANALYST, "ana")


@pytest.fixture
def responder() -> Principal:
    return as_role(Role.RESPONDER, "rex")


@pytest.fixture
def reader() -> Principal:
    return as_role(Role.READ_ONLY, "rita")
