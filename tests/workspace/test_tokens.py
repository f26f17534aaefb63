from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tocsin.core.errors import AuthenticationError, InvalidInputError, PermissionDeniedError
from tocsin.workspace.db import ApiToken, Database
from tocsin.workspace.tokens import TokenService, parse_scopes


@pytest.fixture
def tokens(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'ws.db'}")
    yield TokenService(db)
    db.close()


def test_token_is_stored_hashed_and_checked_by_scope(tokens):
    token, info = tokens.create("fluent-bit", ["ingest"])
    assert token.startswith(f"tcn_{info.prefix}_")
    with tokens.db.session() as session:
        row = session.scalars(select(ApiToken)).one()
        assert token not in (row.token_hash, row.prefix, row.name)
        assert len(row.token_hash) == 64
    assert tokens.check(token, "ingest").name == "fluent-bit"
    with pytest.raises(PermissionDeniedError, match="read"):
        tokens.check(token, "read")
    with pytest.raises(AuthenticationError):
        tokens.check(token + "x", "ingest")
    with pytest.raises(AuthenticationError):
        tokens.check(None, "ingest")
    assert tokens.list()[0].owner == "system"
    assert tokens.list()[0].last_used_at is not None


def test_admin_implies_every_scope(tokens):
    token, _ = tokens.create("ops", ["admin"])
    for scope in ("ingest", "read", "write", "admin"):
        tokens.check(token, scope)


def test_revoked_and_expired_tokens_are_refused(tokens):
    token, info = tokens.create("old", ["read"])
    tokens.check(token, "read")
    tokens.revoke(info.prefix)
    with pytest.raises(AuthenticationError, match="revoked"):
        tokens.check(token, "read")
    token2, info2 = tokens.create("short", ["read"], expires_days=1)
    with tokens.db.session() as session:
        row = session.get(ApiToken, info2.id)
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    tokens._cache.clear()
    with pytest.raises(AuthenticationError, match="expired"):
        tokens.check(token2, "read")


@pytest.mark.parametrize(
    ("values", "expected"),
    [(["ingest"], ("ingest",)), (["read,write"], ("read", "write")), (["READ", "read"], ("read",))],
)
def test_parse_scopes(values, expected):
    assert parse_scopes(values) == expected


@pytest.mark.parametrize("values", [["root"], [""], []])
def test_bad_scopes(values):
    with pytest.raises(InvalidInputError):
        parse_scopes(values)


def test_revoke_by_an_all_digit_prefix_or_by_id(tokens):
    from tocsin.workspace.db import ApiToken

    token, info = tokens.create("digits", ["read"])
    with tokens.db.session() as session:
        session.get(ApiToken, info.id).prefix = "12345678"  # what token_hex gives 2 % of the time
    assert tokens.revoke("12345678").name == "digits"
    other, other_info = tokens.create("by id", ["read"])
    assert tokens.revoke(str(other_info.id)).name == "by id"
