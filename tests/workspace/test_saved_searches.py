"""Saved searches: owner and shared visibility, owner-only delete (or admin), checked input."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from tests.workspace.conftest import as_role
from tocsin.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    QuerySyntaxError,
)
from tocsin.lake.querylang import parse_query
from tocsin.workspace.permissions import Permission, Principal, Role
from tocsin.workspace.saved_searches import SavedSearchService
from tocsin.workspace.tables import AuditRecord, User


@pytest.fixture
def searches(db):
    return SavedSearchService(db)


def test_create_list_get_and_the_search_parameters(searches, analyst):
    saved = searches.create(
        analyst,
        "  Certutil   downloads ",
        "CommandLine:*certutil*",
        time_range="7d",
        columns=["@timestamp", "host.name", "CommandLine", "host.name", ""],
    )
    assert saved.name == "Certutil downloads"
    assert saved.owner == "ana"
    assert saved.shared is False
    assert saved.columns == ("@timestamp", "host.name", "CommandLine")
    assert saved.params() == {
        "q": "CommandLine:*certutil*",
        "range": "7d",
        "cols": "@timestamp,host.name,CommandLine",
    }
    assert searches.list(analyst) == [saved]
    assert searches.get(analyst, saved.id) == saved
    absolute = searches.create(analyst, "Night", "*", since="2026-11-01T00:00Z", until="-1h")
    assert absolute.params() == {"q": "*", "since": "2026-11-01T00:00Z", "until": "-1h"}
    assert [s.name for s in searches.list(analyst)] == ["Certutil downloads", "Night"]
    assert saved.to_dict()["columns"] == ["@timestamp", "host.name", "CommandLine"]


def test_private_searches_are_the_owners_and_shared_ones_everyones(searches, analyst, reader):
    private = searches.create(analyst, "mine", "user.name:ana")
    shared = searches.create(analyst, "team", "host.name:WS-01", shared=True)
    assert [s.name for s in searches.list(reader)] == ["team"]
    assert searches.get(reader, shared.id).name == "team"
    with pytest.raises(NotFoundError):
        searches.get(reader, private.id)
    with pytest.raises(NotFoundError):
        searches.get(analyst, 999_999)


def test_only_the_owner_or_an_admin_deletes(db, searches, analyst, reader, admin):
    private = searches.create(analyst, "mine", "user.name:ana")
    shared = searches.create(analyst, "team", "host.name:WS-01", shared=True)
    # another user sees the shared one but may not delete it; the private one does not exist
    with pytest.raises(PermissionDeniedError, match="may not delete"):
        searches.delete(reader, shared.id)
    with pytest.raises(NotFoundError):
        searches.delete(reader, private.id)
    assert {s.id for s in searches.list(analyst)} == {private.id, shared.id}
    assert searches.delete(analyst, private.id).name == "mine"
    assert searches.delete(admin, shared.id).name == "team"
    assert searches.list(analyst) == []
    with db.session() as session:
        actions = session.scalars(
            select(AuditRecord.action).where(AuditRecord.action.like("saved_search.%"))
        ).all()
    assert sorted(actions) == ["saved_search.create"] * 2 + ["saved_search.delete"] * 2


def test_users_are_told_apart_by_id_not_name(db, searches):
    now = datetime.now(UTC)
    with db.session() as session:
        ids = []
        for name in ("ana", "bob"):
            user = User(username=name, role="analyst", password_hash="x", created_at=now)
            session.add(user)
            session.flush()
            ids.append(user.id)
    ana = as_role(Role.ANALYST, "ana", user_id=ids[0])
    bob = as_role(Role.ANALYST, "bob", user_id=ids[1])
    # a token principal carrying ana's name is not ana
    impostor = Principal(kind="token", name="ana", permissions=ana.permissions)
    saved = searches.create(ana, "mine", "x")
    assert searches.list(bob) == []
    assert searches.list(impostor) == []
    with pytest.raises(NotFoundError):
        searches.delete(impostor, saved.id)
    # bob may use the same name: names are unique per owner
    assert searches.create(bob, "mine", "y").owner_id == ids[1]
    with pytest.raises(ConflictError, match="already have"):
        searches.create(ana, "mine", "z")
    assert searches.delete(ana, saved.id).owner_id == ids[0]


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"name": " "}, "1 to 200 characters"),
        ({"name": "x" * 201}, "1 to 200 characters"),
        ({"time_range": "3y"}, "unknown time range"),
        ({"since": "yesterday-ish"}, "cannot read"),
        ({"until": "x" * 70}, "too long"),
        ({"columns": ["a,b"]}, "not a column name"),
        ({"columns": [f"c{i}" for i in range(51)]}, "at most 50 columns"),
        ({"query": "a" * 10_001}, "too long"),
    ],
)
def test_bad_input_is_refused(searches, analyst, fields, error):
    arguments = {"name": "n", "query": "x", **fields}
    with pytest.raises(InvalidInputError, match=error):
        searches.create(analyst, arguments.pop("name"), arguments.pop("query"), **arguments)
    assert searches.list(analyst) == []


def test_the_callers_check_refuses_a_broken_query(searches, analyst):
    with pytest.raises(QuerySyntaxError) as caught:
        searches.create(analyst, "broken", "host.name:(a", check_query=parse_query)
    assert caught.value.column == 11
    assert searches.list(analyst) == []


def test_every_call_needs_search_read(searches, analyst):
    saved = searches.create(analyst, "mine", "x", shared=True)
    nobody = Principal(kind="token", name="forwarder", permissions=frozenset({Permission.INGEST}))
    for call in (
        lambda: searches.create(nobody, "n", "x"),
        lambda: searches.list(nobody),
        lambda: searches.get(nobody, saved.id),
        lambda: searches.delete(nobody, saved.id),
    ):
        with pytest.raises(PermissionDeniedError):
            call()
