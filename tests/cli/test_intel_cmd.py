"""``tocsin intel`` through Typer's runner: feeds, refresh against 127.0.0.1, lookup."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from tocsin.cli import app

runner = CliRunner()
FEED = b"evil.example\nhttp://phish.example/login\n203.0.113.7\n"


@pytest.fixture
def server():
    """Serves FEED at /ok.txt and an error at /down.txt; counts requests."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            seen.append(self.path)
            if self.path != "/ok.txt":
                self.send_error(500)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(FEED)))
            self.end_headers()
            self.wfile.write(FEED)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def run(home, *args):
    return runner.invoke(app, ["--home", str(home), *args])


def make_home(tmp_path, feeds: str):
    home = tmp_path / "home"
    assert run(home, "init").exit_code == 0
    with (home / "tocsin.toml").open("a") as config:
        config.write("\n" + feeds)
    return home


def test_feeds_refresh_and_lookup(server, tmp_path):
    base, seen = server
    home = make_home(
        tmp_path,
        f'[[intel_feeds]]\nname = "ok"\nsource = "{base}/ok.txt"\ntags = ["c2"]\n',
    )
    (home / "intel").mkdir(exist_ok=True)
    (home / "intel" / "local.txt").write_text("local.example\n")
    before = run(home, "intel", "feeds", "--output", "json")
    assert before.exit_code == 0, before.stderr
    rows = {r["name"]: r for r in json.loads(before.stdout)}
    assert rows["ok"]["due"] is True and rows["ok"]["count"] == 0
    assert "not fetched yet" in rows["ok"]["error"]
    assert (rows["local.txt"]["origin"], rows["local.txt"]["count"]) == ("home", 1)

    refreshed = run(home, "intel", "refresh")
    assert refreshed.exit_code == 0, refreshed.stderr
    assert refreshed.stdout == ""
    assert "ok: fetched, 3 indicators" in refreshed.stderr
    assert seen == ["/ok.txt"]

    after = {r["name"]: r for r in json.loads(run(home, "intel", "feeds", "-o", "json").stdout)}
    assert after["ok"]["count"] == 3 and after["ok"]["due"] is False
    assert after["ok"]["error"] is None and after["ok"]["age"] is not None

    assert run(home, "blocklist", "add", "example", "--kind", "domain").exit_code != 0
    assert run(home, "blocklist", "add", "phish.example", "203.0.113.0/24").exit_code == 0
    assert run(home, "blocklist", "add", "safe.evil.example", "--list", "allow").exit_code == 0
    looked = run(
        home,
        "intel",
        "lookup",
        "www.evil.example",
        "203.0.113.7",
        "http://phish.example/login?x=1",
        "safe.evil.example",
        "nothing.example",
        "--output",
        "json",
    )
    assert looked.exit_code == 0, looked.stderr
    found = {r["value"]: r for r in json.loads(looked.stdout)}
    evil = found["www.evil.example"]
    assert (evil["kind"], evil["feeds"], evil["list"]) == ("domain", ["ok"], None)
    assert evil["matches"][0]["value"] == "evil.example"
    assert evil["matches"][0]["tags"] == ["c2"]
    address = found["203.0.113.7"]
    assert (address["feeds"], address["list"]) == (["ok"], "block")
    assert [e["value"] for e in address["entries"]] == ["203.0.113.0/24"]
    url = found["http://phish.example/login?x=1"]
    assert url["feeds"] == ["ok"] and url["list"] == "block"
    assert [(e["list"], e["value"]) for e in url["entries"]] == [("block", "phish.example")]
    safe = found["safe.evil.example"]
    assert safe["list"] == "allow" and safe["feeds"] == ["ok"]
    assert [(e["list"], e["value"]) for e in safe["entries"]] == [("allow", "safe.evil.example")]
    assert found["nothing.example"]["feeds"] == [] and found["nothing.example"]["list"] is None

    table = run(home, "intel", "lookup", "www.evil.example", "--output", "csv")
    assert table.stdout.splitlines() == [
        "value,kind,feeds,list,entries",
        "www.evil.example,domain,ok,,",
    ]


def test_refresh_fails_with_exit_1_and_keeps_going(server, tmp_path):
    base, seen = server
    home = make_home(
        tmp_path,
        f'[[intel_feeds]]\nname = "down"\nsource = "{base}/down.txt"\n\n'
        f'[[intel_feeds]]\nname = "ok"\nsource = "{base}/ok.txt"\n',
    )
    result = run(home, "intel", "refresh")
    assert result.exit_code == 1
    assert "down: failed: HTTP 500" in result.stderr
    assert "ok: fetched, 3 indicators" in result.stderr
    assert sorted(seen) == ["/down.txt", "/ok.txt"]
    only = run(home, "intel", "refresh", "ok")
    assert only.exit_code == 0 and "ok: unchanged" in only.stderr
    unknown = run(home, "intel", "refresh", "nope")
    assert unknown.exit_code == 1 and "no feed named 'nope'" in unknown.stderr


def test_refresh_without_url_feeds_says_so(tmp_path):
    home = make_home(tmp_path, "")
    result = run(home, "intel", "refresh")
    assert result.exit_code == 0
    assert "no URL feeds configured" in result.stderr
    listed = run(home, "intel", "feeds", "--output", "json")
    assert json.loads(listed.stdout) == [] and "no feeds" in listed.stderr
