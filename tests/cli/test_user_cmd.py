"""``tocsin user`` and ``tocsin token`` against a real home."""

import json

import pytest
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.core.settings import load_settings
from tocsin.workspace.service import Workspace

runner = CliRunner()


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    monkeypatch.setenv("TOCSIN_HOME", str(path))
    return path


def run(*args, input=None):
    return runner.invoke(app, list(args), input=input)


def test_user_add_list_disable_and_teams(home):
    assert run("user", "team", "add", "Security").exit_code == 0
    added = run("user", "add", "ana", "--role", "analyst", "--team", "Security")
    assert added.exit_code == 0, added.output
    one_time = added.stdout.strip().splitlines()[-1]
    assert len(one_time) >= 16
    given = run("user", "add", "rex", "--role", "responder", "--password-stdin", input="x" * 14)
    assert given.exit_code == 0, given.output
    listed = json.loads(run("user", "list", "-o", "json").stdout)
    assert {(u["username"], u["role"], u["teams"]) for u in listed} == {
        ("ana", "analyst", "Security"),
        ("rex", "responder", ""),
    }
    ws = Workspace.open(load_settings(home=home))
    try:
        assert ws.users.login("ana", one_time).user.must_change_password
        assert not ws.users.login("rex", "x" * 14).user.must_change_password
    finally:
        ws.close()
    assert run("user", "disable", "ana").exit_code == 0
    listed = json.loads(run("user", "list", "-o", "json").stdout)
    assert [u["disabled"] for u in listed if u["username"] == "ana"] == [True]
    assert run("user", "role", "rex", "read-only").exit_code == 0
    bad = run("user", "role", "rex", "wizard")
    assert bad.exit_code == 1 and "unknown role" in bad.output
    teams = json.loads(run("user", "team", "list", "-o", "json").stdout)
    assert teams[0]["members"] == "ana"


def test_token_for_a_user_and_revoke(home):
    run("user", "add", "ana", "--role", "analyst")
    made = run("token", "create", "--scope", "write", "--user", "ana", "--name", "laptop")
    assert made.exit_code == 0, made.output
    token = made.stdout.strip()
    listed = json.loads(run("token", "list", "-o", "json").stdout)
    assert [(t["owner"], t["scopes"]) for t in listed] == [("ana", "write")]
    ws = Workspace.open(load_settings(home=home))
    try:
        assert ws.users.principal_for_token(token).name == "ana"
    finally:
        ws.close()
    assert run("token", "revoke", listed[0]["prefix"]).exit_code == 0
    listed = json.loads(run("token", "list", "-o", "json").stdout)
    assert listed[0]["active"] is False
    refused = run("token", "create", "--scope", "admin", "--user", "ana")
    assert refused.exit_code == 1 and "admin" in refused.output
