"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The public data set beside the project (``../shared/data``); skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent (only present in the developers' workspace)")
    return SHARED_DATA


PG_ADMIN_URL = os.environ.get("TOCSIN_TEST_DATABASE_URL")
PG_MISSING = (
    "PostgreSQL tests need a server: set TOCSIN_TEST_DATABASE_URL to an admin URL "
    '(`eval "$(.ci/start-postgres)"` starts one from Debian\'s postgresql package)'
)


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory) -> Iterator[dict[str, str]]:
    """A migrated SQLite file and (when available) a migrated PostgreSQL template database.

    Tests copy them instead of running every migration again (a database per test stays).
    """
    from tocsin.workspace.db import Database

    folder = tmp_path_factory.mktemp("workspace-template")
    sqlite_file = folder / "template.db"
    Database(f"sqlite:///{sqlite_file}").close()
    templates = {"sqlite": str(sqlite_file)}
    admin = None
    if PG_ADMIN_URL:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        name = f"tocsin_tpl_{uuid.uuid4().hex[:12]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        Database(url).close()
        templates["postgresql"] = name
    yield templates
    if admin is not None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{templates["postgresql"]}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path, migrated_templates) -> Iterator[str]:
    """A fresh, migrated workspace database URL: SQLite in tmp_path, and PostgreSQL when available.

    Every workspace and API test that takes this fixture runs against both engines.
    """
    if request.param == "sqlite":
        target = tmp_path / "workspace.db"
        shutil.copyfile(migrated_templates["sqlite"], target)
        yield f"sqlite:///{target}"
        return
    if not PG_ADMIN_URL:
        pytest.skip(PG_MISSING)
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"tocsin_t_{uuid.uuid4().hex[:12]}"
    template = migrated_templates["postgresql"]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
