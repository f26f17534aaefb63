"""The one DNS resolver setting: offline by default, a zone in memory, a real server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dnsserver import ZoneServer, zone
from tocsin.core.errors import InvalidInputError
from tocsin.intel.resolver import (
    DnsFailure,
    DnsOffline,
    OfflineResolver,
    Resolver,
    StaticResolver,
    SystemResolver,
    resolver_from_setting,
)

ZONE = [
    'example.com TXT "v=spf1 ip4:192.0.2.0/24 -all"',
    'example.com TXT "unrelated" "record"',
    "example.com MX 10 mx1.example.com.",
    "example.com MX 20 mx2.example.com.",
    "mx1.example.com A 192.0.2.25",
    "mx1.example.com AAAA 2001:db8::25",
    "25.2.0.192.in-addr.arpa PTR mx1.example.com.",
]


@pytest.fixture
def server() -> Iterator[ZoneServer]:
    with ZoneServer(zone(ZONE)) as running:
        yield running


def test_offline_resolver_refuses_every_lookup():
    offline = OfflineResolver()
    assert isinstance(offline, Resolver)
    for call in (offline.txt, offline.a, offline.aaaa, offline.mx):
        with pytest.raises(DnsOffline, match="no resolver configured"):
            call("example.com")
    with pytest.raises(DnsOffline):
        offline.ptr("192.0.2.1")


@pytest.mark.network
def test_system_resolver_asks_the_configured_server(server):
    resolver = SystemResolver([server.address], timeout=2.0)
    assert isinstance(resolver, Resolver)
    assert sorted(resolver.txt("Example.COM.")) == [
        "unrelatedrecord",
        "v=spf1 ip4:192.0.2.0/24 -all",
    ]
    assert sorted(resolver.mx("example.com")) == [(10, "mx1.example.com"), (20, "mx2.example.com")]
    assert resolver.a("mx1.example.com") == ["192.0.2.25"]
    assert resolver.aaaa("mx1.example.com") == ["2001:db8::25"]
    assert resolver.ptr("192.0.2.25") == ["mx1.example.com"]
    with pytest.raises(DnsFailure) as missing:
        resolver.txt("nope.example.com")
    assert missing.value.kind == "nxdomain"
    assert not missing.value.is_temporary
    with pytest.raises(DnsFailure) as empty:
        resolver.a("example.com")
    assert empty.value.kind == "nodata"


@pytest.mark.network
def test_system_resolver_caches_answers_and_negative_answers(server):
    resolver = SystemResolver([server.address])
    for _ in range(3):
        resolver.txt("example.com")
        with pytest.raises(DnsFailure):
            resolver.txt("nope.example.com")
    assert server.queries.count(("example.com", "TXT")) == 1
    assert server.queries.count(("nope.example.com", "TXT")) == 1


@pytest.mark.network
def test_system_resolver_cache_is_bounded_in_size_and_time(server):
    small = SystemResolver([server.address], cache_size=1)
    small.txt("example.com")
    small.mx("example.com")  # pushes the TXT answer out
    small.txt("example.com")
    assert server.queries.count(("example.com", "TXT")) == 2
    uncached = SystemResolver([server.address], max_ttl=0)
    uncached.a("mx1.example.com")
    uncached.a("mx1.example.com")
    assert server.queries.count(("mx1.example.com", "A")) == 2


@pytest.mark.network
def test_system_resolver_reports_a_silent_server_as_timeout():
    with ZoneServer(zone(ZONE), silent=True) as silent:
        resolver = SystemResolver([silent.address], timeout=0.3)
        with pytest.raises(DnsFailure) as failed:
            resolver.txt("example.com")
        assert failed.value.kind == "timeout"
        assert failed.value.is_temporary
        asked = len(silent.queries)
        assert asked >= 1
        # the failure is remembered briefly: a dead server is not asked for every message
        with pytest.raises(DnsFailure) as again:
            resolver.txt("example.com")
        assert again.value.kind == "timeout"
        assert len(silent.queries) == asked


def test_static_resolver_answers_from_memory():
    zone = StaticResolver(
        {
            ("Example.com.", "txt"): ["v=spf1 -all"],
            ("example.com", "MX"): ["10 mx.example.com.", (20, "MX2.example.com")],
            ("mx.example.com", "A"): ["192.0.2.25"],
            ("www.example.com", "CNAME"): ["example.com"],
            ("192.0.2.25", "PTR"): ["mx.example.com"],
            ("sel._domainkey.example.com", "TXT"): "v=DKIM1; p=abc",
            ("bücher.example", "A"): ["192.0.2.80"],
        }
    )
    assert zone.txt("EXAMPLE.COM") == ["v=spf1 -all"]
    assert zone.mx("example.com") == [(10, "mx.example.com"), (20, "mx2.example.com")]
    assert zone.txt("www.example.com.") == ["v=spf1 -all"]  # through the CNAME
    assert zone.ptr("192.0.2.25") == ["mx.example.com"]
    assert zone.txt("sel._domainkey.example.com") == ["v=DKIM1; p=abc"]
    assert zone.a("xn--bcher-kva.example") == ["192.0.2.80"]
    assert zone.a("BÜCHER.example") == ["192.0.2.80"]
    with pytest.raises(DnsFailure) as nodata:
        zone.a("example.com")
    assert nodata.value.kind == "nodata"
    with pytest.raises(DnsFailure) as between:
        zone.txt("_domainkey.example.com")  # a name with names below it exists
    assert between.value.kind == "nodata"
    with pytest.raises(DnsFailure) as missing:
        zone.txt("other.example")
    assert missing.value.kind == "nxdomain"
    for bad in ("", "a..b", "x" * 64 + ".example", "no\x00pe.example"):
        with pytest.raises(DnsFailure):
            zone.txt(bad)
    with pytest.raises(DnsFailure):
        zone.ptr("not an address")


def test_static_resolver_stops_cname_loops():
    zone = StaticResolver(
        {("a.example", "CNAME"): ["b.example"], ("b.example", "CNAME"): ["a.example"]}
    )
    with pytest.raises(DnsFailure) as loop:
        zone.txt("a.example")
    assert loop.value.kind == "servfail"


@pytest.mark.parametrize(
    ("records", "message"),
    [
        ({("example.com", "SOA"): ["x"]}, "unsupported record type"),
        ({("example.com", "A"): ["2001:db8::1"]}, "wrong address family"),
        ({("example.com", "A"): ["not-an-ip"]}, "not an address"),
        ({("example.com", "MX"): ["mx.example.com"]}, "preference host"),
        ({("bad..name", "TXT"): ["x"]}, "not a valid domain name"),
    ],
)
def test_static_resolver_rejects_bad_records(records, message):
    with pytest.raises(InvalidInputError, match=message):
        StaticResolver(records)


ZONE_TEXT = """\
# the local zone of an air-gapped site
; both comment styles
example.com.        3600 IN TXT "v=spf1 ip4:192.0.2.0/24 " "include:_spf.example.net -all"
_dmarc.example.com       TXT v=DMARC1; p=reject; rua=mailto:d@example.com
sel._domainkey.example.com IN 300 TXT "v=DKIM1; k=rsa; " "p=MIIB\\"quoted\\"" ; trailing
example.com	MX	10 mx.example.com.
mx.example.com           A   192.0.2.25
mx.example.com           AAAA 2001:db8::25
192.0.2.25               PTR mx.example.com.
alias.example.com        CNAME mx.example.com.
"""


def test_zone_text_reads_simple_lines():
    zone = StaticResolver.from_zone_text(ZONE_TEXT)
    assert zone.txt("example.com") == ["v=spf1 ip4:192.0.2.0/24 include:_spf.example.net -all"]
    assert zone.txt("_dmarc.example.com") == ["v=DMARC1; p=reject; rua=mailto:d@example.com"]
    assert zone.txt("sel._domainkey.example.com") == ['v=DKIM1; k=rsa; p=MIIB"quoted"']
    assert zone.mx("example.com") == [(10, "mx.example.com")]
    assert zone.aaaa("mx.example.com") == ["2001:db8::25"]
    assert zone.ptr("192.0.2.25") == ["mx.example.com"]
    assert zone.a("alias.example.com") == ["192.0.2.25"]
    assert len(zone) == 8


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("example.com TXT ok\nexample.com HINFO x y\n", 2, "TYPE one of"),
        ("$ORIGIN example.com.\n", 1, "not supported"),
        ('example.com TXT "unclosed\n', 1, "unclosed quote"),
        ('example.com TXT "a" b\n', 1, "outside quotes"),
        ("\n\nexample.com A 999.1.1.1\n", 3, "not an address"),
        ("example.com MX\n", 1, "no value"),
    ],
)
def test_zone_text_errors_name_the_line(text, line, message):
    with pytest.raises(InvalidInputError, match=message) as failed:
        StaticResolver.from_zone_text(text, source="zone.txt")
    assert failed.value.line == line
    assert str(failed.value).startswith(f"zone.txt:{line}: ")


@pytest.mark.parametrize("value", [None, "", "off", "OFF", " none "])
def test_setting_off_means_offline(value):
    assert isinstance(resolver_from_setting(value), OfflineResolver)


def test_setting_system_uses_the_system_configuration():
    resolver = resolver_from_setting("system")
    assert isinstance(resolver, SystemResolver)
    assert resolver.nameservers  # read from the system's configuration


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("10.0.0.53,10.0.0.54", ["Do53:10.0.0.53@53", "Do53:10.0.0.54@53"]),
        (" 10.0.0.53:5353 ", ["Do53:10.0.0.53@5353"]),
        ("2001:db8::53, [2001:db8::54]:5353", ["Do53:2001:db8::53@53", "Do53:2001:db8::54@5353"]),
    ],
)
def test_setting_lists_servers(value, expected):
    resolver = resolver_from_setting(value)
    assert isinstance(resolver, SystemResolver)
    assert resolver.nameservers == expected


@pytest.mark.parametrize(
    "value", ["dns.example.com", "10.0.0.53:99999", "10.0.0.53:x", ",", "[::1]x"]
)
def test_setting_rejects_what_is_not_a_server(value):
    with pytest.raises(InvalidInputError):
        resolver_from_setting(value)


def test_setting_file_reads_a_zone(tmp_path):
    path = tmp_path / "zone.txt"
    path.write_text(ZONE_TEXT, encoding="utf-8")
    resolver = resolver_from_setting(f"file:{path}")
    assert isinstance(resolver, StaticResolver)
    assert resolver.a("mx.example.com") == ["192.0.2.25"]
    with pytest.raises(InvalidInputError, match="cannot read"):
        resolver_from_setting(f"file:{tmp_path / 'missing.txt'}")
    with pytest.raises(InvalidInputError, match="needs a path"):
        resolver_from_setting("file:")


@pytest.mark.network
def test_setting_with_a_server_reaches_it(server):
    resolver = resolver_from_setting(server.address)
    assert resolver.a("mx1.example.com") == ["192.0.2.25"]
    assert ("mx1.example.com", "A") in server.queries
