"""URL feeds against a real HTTP server on 127.0.0.1: fetch, conditional GET, failures that
keep the last good copy, size limits, gzip, the combined indicator set and the refresh job."""

from __future__ import annotations

import gzip
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from tocsin import __version__
from tocsin.core.errors import InvalidInputError
from tocsin.core.settings import IntelFeed, Settings
from tocsin.intel.feeds import (
    RETRY_AFTER,
    feed_statuses,
    feeds_dir,
    load_feeds,
    load_indicators,
    read_meta,
    refresh_feeds,
)
from tocsin.intel.jobs import CHECK_SECONDS, FeedRefreshJob

DOMAINS = b"# test feed\nevil.example\nbad.example\n"


@dataclass
class Route:
    """What the server answers on one path."""

    body: bytes = DOMAINS
    status: int = 200
    etag: str | None = '"v1"'
    last_modified: str | None = "Wed, 01 Jan 2026 00:00:00 GMT"
    length: bool = True  # send Content-Length (else the body ends when the connection closes)
    encoding: str | None = None


@dataclass
class FeedServer:
    """A feed server and every request it saw as (path, headers)."""

    port: int
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, path: str) -> int:
        return sum(1 for p, _ in self.requests if p == path)


@pytest.fixture
def server() -> Iterator[FeedServer]:
    state = FeedServer(0)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            headers = {k.lower(): v for k, v in self.headers.items()}
            state.requests.append((self.path, headers))
            route = state.routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            if route.status == 200 and route.etag and headers.get("if-none-match") == route.etag:
                self.send_response(304)
                self.end_headers()
                return
            self.send_response(route.status)
            if route.etag:
                self.send_header("ETag", route.etag)
            if route.last_modified:
                self.send_header("Last-Modified", route.last_modified)
            if route.encoding:
                self.send_header("Content-Encoding", route.encoding)
            if route.length:
                self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            self.wfile.write(route.body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()


def make_settings(tmp_path, *feeds, **extra) -> Settings:
    return Settings(home=tmp_path / "home", intel_feeds=list(feeds), **extra)


def url_feed(server, name="abuse", path="/feed.txt", **fields) -> IntelFeed:
    return IntelFeed(name=name, source=server.url(path), **fields)


def status_of(settings, name):
    return next(s for s in feed_statuses(settings) if s.name == name)


def test_first_fetch_writes_the_copy_and_its_metadata(server, tmp_path):
    server.routes["/feed.txt"] = Route()
    settings = make_settings(tmp_path, url_feed(server, tags=["malware"]))
    assert status_of(settings, "abuse").due
    (status,) = refresh_feeds(settings)
    assert status.result == "fetched" and status.error is None
    assert (status.count, status.issues, status.format, status.origin) == (2, 0, "plain", "url")
    assert status.age is not None and not status.due
    data = feeds_dir(settings) / "abuse.data"
    assert data.read_bytes() == DOMAINS
    meta = read_meta(settings, "abuse")
    assert meta["source"] == server.url("/feed.txt")
    assert meta["etag"] == '"v1"' and meta["last_modified"].startswith("Wed, 01 Jan 2026")
    assert meta["bytes"] == len(DOMAINS) and meta["count"] == 2 and meta["issues"] == 0
    assert len(meta["sha256"]) == 64 and meta["error"] is None
    assert server.requests[0][1]["user-agent"] == f"tocsin/{__version__}"
    found = load_indicators(settings).match_domain("www.evil.example")
    assert [(i.value, i.source, i.tags) for i in found] == [("evil.example", "abuse", ("malware",))]


def test_second_fetch_is_conditional_and_a_304_keeps_the_copy(server, tmp_path):
    server.routes["/feed.txt"] = Route()
    settings = make_settings(tmp_path, url_feed(server))
    refresh_feeds(settings)
    (again,) = refresh_feeds(settings)
    assert again.result == "unchanged" and again.count == 2
    conditional = server.requests[1][1]
    assert conditional["if-none-match"] == '"v1"'
    assert conditional["if-modified-since"] == "Wed, 01 Jan 2026 00:00:00 GMT"
    (forced,) = refresh_feeds(settings, force=True)
    assert "if-none-match" not in server.requests[2][1]
    assert forced.result == "unchanged"  # downloaded again, but the same bytes
    server.routes["/feed.txt"] = Route(body=DOMAINS + b"third.example\n", etag='"v2"')
    (changed,) = refresh_feeds(settings)
    assert changed.result == "fetched" and changed.count == 3


def test_a_failed_fetch_keeps_the_last_good_copy_and_records_the_error(server, tmp_path):
    server.routes["/feed.txt"] = Route()
    settings = make_settings(tmp_path, url_feed(server))
    refresh_feeds(settings)
    server.routes["/feed.txt"] = Route(status=503, body=b"down for maintenance")
    (failed,) = refresh_feeds(settings)
    assert failed.result == "failed" and failed.error == "HTTP 503 Service Unavailable"
    assert failed.count == 2  # the old copy still loads
    assert (feeds_dir(settings) / "abuse.data").read_bytes() == DOMAINS
    meta = read_meta(settings, "abuse")
    assert meta["error"] == "HTTP 503 Service Unavailable" and meta["sha256"]
    assert load_indicators(settings).match_domain("bad.example")
    # a 200 that is no feed at all (a captive portal's page) is refused the same way
    server.routes["/feed.txt"] = Route(body=b"<html><body>Log in first</body></html>\n")
    (portal,) = refresh_feeds(settings, force=True)
    assert portal.result == "failed" and "holds no indicators" in (portal.error or "")
    assert (feeds_dir(settings) / "abuse.data").read_bytes() == DOMAINS
    # nobody listening: a connection error, same outcome
    down = make_settings(
        tmp_path, IntelFeed(name="abuse", source=f"http://127.0.0.1:{_closed_port()}/feed.txt")
    )
    (refused,) = refresh_feeds(down)
    assert refused.result == "failed" and "ConnectError" in (refused.error or "")
    assert not [p for p in feeds_dir(settings).iterdir() if p.name.startswith(".")]


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "until-close"])
def test_a_feed_larger_than_the_limit_is_refused(server, tmp_path, length):
    server.routes["/feed.txt"] = Route()
    settings = make_settings(tmp_path, url_feed(server), intel_feed_max_bytes=len(DOMAINS) + 5)
    refresh_feeds(settings)
    server.routes["/feed.txt"] = Route(body=DOMAINS * 50, etag='"big"', length=length)
    (status,) = refresh_feeds(settings)
    assert status.result == "failed" and "intel_feed_max_bytes" in (status.error or "")
    assert (feeds_dir(settings) / "abuse.data").read_bytes() == DOMAINS
    assert sorted(p.name for p in feeds_dir(settings).iterdir()) == [
        "abuse.data",
        "abuse.meta.json",
    ]


def test_gzip_transfer_encoding_and_gzip_bodies_are_unpacked_within_the_limit(server, tmp_path):
    packed = gzip.compress(DOMAINS)
    server.routes["/enc.txt"] = Route(body=packed, encoding="gzip")
    server.routes["/file.txt.gz"] = Route(body=packed, etag=None)
    server.routes["/bomb.gz"] = Route(body=gzip.compress(b"a.example\n" * 100_000), etag=None)
    settings = make_settings(
        tmp_path,
        url_feed(server, "enc", "/enc.txt"),
        url_feed(server, "file", "/file.txt.gz"),
        url_feed(server, "bomb", "/bomb.gz"),
        intel_feed_max_bytes=10_000,
    )
    statuses = {s.name: s for s in refresh_feeds(settings)}
    assert (statuses["enc"].result, statuses["enc"].count) == ("fetched", 2)
    assert (statuses["file"].result, statuses["file"].count) == ("fetched", 2)
    assert (feeds_dir(settings) / "file.data").read_bytes() == DOMAINS
    assert statuses["bomb"].result == "failed"
    assert "unpacks to more than intel_feed_max_bytes" in (statuses["bomb"].error or "")


def test_every_kind_of_feed_loads_with_its_name_as_provenance(server, tmp_path):
    home = tmp_path / "home"
    (home / "intel").mkdir(parents=True)
    (home / "intel" / "local-hosts.txt").write_text("0.0.0.0 ads.example\n")
    (home / "intel" / "notes.md").write_text("not a feed\n")
    (home / "lists").mkdir()
    (home / "lists" / "zone.rpz").write_text("$ORIGIN rpz.local.\nzone.example CNAME .\n")
    mail_list = tmp_path / "mail-urls.txt"
    mail_list.write_text("http://phish.example/login\n")
    server.routes["/stix.json"] = Route(
        body=orjson.dumps(
            {
                "type": "bundle",
                "objects": [
                    {
                        "type": "indicator",
                        "id": "indicator--1",
                        "pattern_type": "stix",
                        "pattern": "[ipv4-addr:value = '203.0.113.9']",
                        "labels": ["c2"],
                    }
                ],
            }
        )
    )
    settings = Settings(
        home=home,
        intel_feeds=[
            IntelFeed(name="zone", source="lists/zone.rpz", tags=["rpz"]),
            IntelFeed(name="cti", source=server.url("/stix.json"), tags=["taxii"]),
        ],
        mail_intel_feeds=[mail_list],
    )
    refresh_feeds(settings)
    loaded = load_feeds(settings)
    assert [(s.name, s.origin, s.format, s.count) for s in loaded.feeds] == [
        ("zone", "file", "rpz", 1),
        ("cti", "url", "stix", 1),
        ("mail-urls.txt", "mail", "plain", 1),
        ("local-hosts.txt", "home", "hosts", 1),
    ]
    found = loaded.indicators
    assert [(i.source, i.tags) for i in found.match_domain("a.zone.example")] == [
        ("zone", ("rpz",))
    ]
    assert [(i.source, i.tags) for i in found.match_ip("203.0.113.9")] == [("cti", ("taxii", "c2"))]
    assert [i.source for i in found.match_url("http://phish.example/login")] == ["mail-urls.txt"]
    assert [i.source for i in found.match_domain("ads.example")] == ["local-hosts.txt"]
    assert loaded.issues == ()


def test_the_set_is_cached_until_a_feed_file_changes(tmp_path):
    home = tmp_path / "home"
    (home / "intel").mkdir(parents=True)
    feed = home / "intel" / "mine.txt"
    feed.write_text("one.example\n")
    settings = Settings(home=home)
    first = load_indicators(settings)
    assert load_indicators(settings) is first
    feed.write_text("one.example\ntwo.example\n")
    stat = feed.stat()
    os.utime(feed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = load_indicators(settings)
    assert second is not first and len(second) == 2
    assert second.match_domain("two.example")


def test_bad_feed_configuration_is_reported_not_raised(server, tmp_path):
    settings = make_settings(
        tmp_path,
        IntelFeed(name="../escape", source=server.url("/feed.txt")),
        IntelFeed(name="odd", source="ftp://example.net/feed.txt"),
        IntelFeed(name="fmt", source="x.txt", format="xml"),
        IntelFeed(name="gone", source=str(tmp_path / "missing.txt")),
    )
    loaded = load_feeds(settings)
    errors = {s.name: s.error or "" for s in loaded.feeds}
    assert "not a safe file name" in errors["../escape"]
    assert "use an http(s):// URL or a path" in errors["odd"]
    assert "unknown format 'xml'" in errors["fmt"]
    assert "cannot read" in errors["gone"]
    assert len(loaded.issues) == 4 and len(loaded.indicators) == 0
    (status,) = refresh_feeds(settings, names=["../escape"])
    assert status.result == "failed" and server.requests == []
    assert not (tmp_path / "escape.data").exists()
    with pytest.raises(InvalidInputError, match="no feed named 'nope'"):
        refresh_feeds(settings, names=["nope"])


def _age_meta(settings, name, **times: timedelta) -> None:
    path = feeds_dir(settings) / f"{name}.meta.json"
    meta = orjson.loads(path.read_bytes())
    for key, ago in times.items():
        meta[key] = (datetime.now(UTC) - ago).isoformat()
    path.write_bytes(orjson.dumps(meta))


def test_the_job_runs_only_with_refreshing_url_feeds_and_fetches_only_due_ones(server, tmp_path):
    server.routes["/a.txt"] = Route(body=b"a.example\n")
    server.routes["/b.txt"] = Route(body=b"b.example\n")
    job = FeedRefreshJob()
    assert job.id == "intel.feeds"
    assert job.interval(make_settings(tmp_path)) is None
    assert job.interval(make_settings(tmp_path, url_feed(server, refresh_hours=0))) is None
    assert job.interval(make_settings(tmp_path, IntelFeed(name="f", source="x.txt"))) is None
    settings = make_settings(
        tmp_path,
        url_feed(server, "a", "/a.txt", refresh_hours=24),
        url_feed(server, "b", "/b.txt", refresh_hours=1),
    )
    assert job.interval(settings) == CHECK_SECONDS
    refresh_feeds(settings, names=["a"])
    assert [s.name for s in feed_statuses(settings) if s.due] == ["b"]
    assert job.run(settings) == "1 feeds refreshed (1 fetched)"
    assert (server.hits("/a.txt"), server.hits("/b.txt")) == (1, 1)
    assert job.run(settings) == "no feed due"
    _age_meta(settings, "b", checked_at=timedelta(hours=2))
    _age_meta(settings, "a", checked_at=timedelta(hours=23))
    assert job.run(settings) == "1 feeds refreshed (1 unchanged)"
    assert (server.hits("/a.txt"), server.hits("/b.txt")) == (1, 2)
    # a failure is retried after RETRY_AFTER, not at every wake-up nor only after a day
    server.routes["/a.txt"] = Route(status=500)
    _age_meta(settings, "a", checked_at=timedelta(hours=25))
    summary = job.run(settings)
    assert summary.startswith("1 feeds refreshed (1 failed); a: HTTP 500")
    assert job.run(settings) == "no feed due"
    later = datetime.now(UTC) + RETRY_AFTER + timedelta(minutes=1)
    assert [s.name for s in feed_statuses(settings, now=later) if s.due] == ["a"]
