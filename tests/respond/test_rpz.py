"""The RPZ export: a zone dnspython loads, read back by the RPZ feed reader, and the CLI path."""

from __future__ import annotations

from datetime import UTC, datetime

import dns.name
import dns.zone
import pytest
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.intel.indicators import parse_feed
from tocsin.respond.exporters import ExportData, export_formats, get_exporter
from tocsin.respond.rpz import rpz_ip_owner
from tocsin.respond.values import EntryKind, ListName

MOMENT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
BLOCKED_DOMAINS = ("_dmarc.spoof.example", "evil.com", "xn--bcher-kva.example")
BLOCKED_IPS = ("10.0.0.1", "192.0.2.0/24", "::1", "2001:db8::/32", "2001:db8:0:1::5")


def _data(*, list_name=ListName.BLOCK, moment=MOMENT, domains=BLOCKED_DOMAINS, ips=BLOCKED_IPS):
    return ExportData(
        list_name,
        moment,
        {
            EntryKind.DOMAIN: domains,
            EntryKind.IP: ips,
            EntryKind.URL: ("http://evil.com/login",),
            EntryKind.HASH: (),
            EntryKind.EMAIL: (),
        },
        {EntryKind.DOMAIN: ("good.evil.com",), EntryKind.IP: ("10.0.0.9",)},
    )


def _zone(text):
    return dns.zone.from_text(text, origin="rpz.example.", relativize=False, check_origin=True)


@pytest.mark.parametrize(
    ("value", "owner"),
    [
        ("10.0.0.1", "32.1.0.0.10.rpz-ip"),
        ("192.0.2.0/24", "24.0.2.0.192.rpz-ip"),
        ("2001:db8::/32", "32.zz.db8.2001.rpz-ip"),
        ("2001:db8::1", "128.1.zz.db8.2001.rpz-ip"),
        ("::1", "128.1.zz.rpz-ip"),
        ("2001:db8:0:1:0:0:0:5", "128.5.zz.1.0.db8.2001.rpz-ip"),
        ("fe80::", "128.zz.fe80.rpz-ip"),
    ],
)
def test_rpz_ip_owner_names(value, owner):
    assert rpz_ip_owner(value) == owner


def test_the_export_is_a_zone_dnspython_loads_with_its_policy_records():
    exporter = get_exporter("rpz")
    assert "rpz" in export_formats()
    text = exporter.render(_data())
    zone = _zone(text)
    soa = zone.get_rdataset("rpz.example.", "SOA")[0]
    assert soa.serial == int(MOMENT.timestamp())
    assert str(zone.get_rdataset("rpz.example.", "NS")[0].target) == "localhost."

    def target(owner):
        rdataset = zone.get_rdataset(dns.name.from_text(owner, zone.origin), "CNAME")
        return str(rdataset[0].target)

    for domain in BLOCKED_DOMAINS:
        assert target(domain) == "."
        assert target(f"*.{domain}") == "."
    assert target("good.evil.com") == "rpz-passthru."
    assert target("*.good.evil.com") == "rpz-passthru."
    assert target("24.0.2.0.192.rpz-ip") == "."
    assert target("128.5.zz.1.0.db8.2001.rpz-ip") == "."
    # apex, two names per domain (blocked and allowed), one per address
    assert len(zone.nodes) == 1 + 2 * (len(BLOCKED_DOMAINS) + 1) + len(BLOCKED_IPS)
    assert "; blocked domains: 3, allowed domains (passthru): 1" in text
    assert "1 URLs, 0 email addresses, 0 hashes" in text


def test_the_export_reads_back_as_the_same_lists():
    load = parse_feed(get_exporter("rpz").render(_data()), name="tocsin.rpz")
    assert load.format == "rpz" and load.issues == ()
    assert {i.value for i in load.indicators if i.kind == "domain"} == set(BLOCKED_DOMAINS)
    ips = {i.value for i in load.indicators if i.kind == "ip"}
    assert ips == {"10.0.0.1", "192.0.2.0/24", "::1", "2001:db8::/32", "2001:db8:0:1::5"}
    assert load.passthru == 1


def test_the_serial_grows_with_the_export_time_and_empty_lists_still_load():
    later = datetime(2026, 5, 1, 12, 0, 1, tzinfo=UTC)
    first = _zone(get_exporter("rpz").render(_data()))
    second = _zone(get_exporter("rpz").render(_data(moment=later)))
    serial = [z.get_rdataset("rpz.example.", "SOA")[0].serial for z in (first, second)]
    assert serial[1] > serial[0]
    empty = get_exporter("rpz").render(_data(domains=(), ips=()))
    assert len(_zone(empty).nodes) == 1 + 2  # the apex and the passthru rule
    assert parse_feed(empty).indicators == ()


def test_names_that_would_be_read_as_other_triggers_or_overflow_are_left_out():
    long_name = ".".join(["a" * 60] * 3 + ["b" * 40, "example"])  # 231 characters: no room
    text = get_exporter("rpz").render(_data(domains=("x.rpz-ip", long_name, "ok.example"), ips=()))
    zone = _zone(text)
    assert {i.value for i in parse_feed(text).indicators} == {"ok.example"}
    assert "; left out: 2 names too long or under a reserved rpz- label" in text
    assert len(zone.nodes) == 1 + 2 * 2


def test_blocklist_export_rpz_through_the_command_line(tmp_path):
    runner = CliRunner()
    home = tmp_path / "home"

    def run(*args):
        return runner.invoke(app, ["--home", str(home), "blocklist", *args])

    assert run("add", "evil.com", "203.0.113.0/24", "2001:db8::/32").exit_code == 0
    assert run("add", "safe.evil.com", "--list", "allow").exit_code == 0
    exported = run("export", "--format", "rpz")
    assert exported.exit_code == 0, exported.stderr
    zone = _zone(exported.stdout)
    assert zone.get_rdataset("evil.com.rpz.example.", "CNAME") is not None
    passthru = zone.get_rdataset("*.safe.evil.com.rpz.example.", "CNAME")
    assert str(passthru[0].target) == "rpz-passthru."
    load = parse_feed(exported.stdout)
    assert sorted((i.kind, i.value) for i in load.indicators) == [
        ("domain", "evil.com"),
        ("ip", "2001:db8::/32"),
        ("ip", "203.0.113.0/24"),
    ]
    assert load.passthru == 1
    target = tmp_path / "tocsin.rpz"
    written = run("export", "-f", "rpz", "--output-file", str(target))
    assert written.exit_code == 0 and "wrote" in written.stderr
    assert _zone(target.read_text()).get_rdataset("24.0.113.0.203.rpz-ip.rpz.example.", "CNAME")


def test_the_allow_list_alone_is_a_zone_of_passthru_rules():
    allowed = ExportData(
        ListName.ALLOW,
        MOMENT,
        {EntryKind.DOMAIN: ("good.example", "partner.example"), EntryKind.IP: ("10.0.0.9",)},
        {EntryKind.DOMAIN: ("good.example", "partner.example"), EntryKind.IP: ("10.0.0.9",)},
    )
    text = get_exporter("rpz").render(allowed)
    zone = _zone(text)
    targets = {
        str(name): str(rdataset[0].target) for name, rdataset in zone.iterate_rdatasets("CNAME")
    }
    assert targets == {
        "good.example.rpz.example.": "rpz-passthru.",
        "*.good.example.rpz.example.": "rpz-passthru.",
        "partner.example.rpz.example.": "rpz-passthru.",
        "*.partner.example.rpz.example.": "rpz-passthru.",
        "32.9.0.0.10.rpz-ip.rpz.example.": "rpz-passthru.",
    }
    load = parse_feed(text)
    assert load.indicators == () and load.passthru == 3
