"""Firewall exports (nftables, ipset, EDL): from real block lists, loaded by the real tools.

nftables and ipset files are loaded into a fresh network namespace (``unshare -rn``: no root
needed, nothing touches the host's firewall) when the tools are installed; the sets read back
must hold exactly the exported networks.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tocsin.cli import app
from tocsin.respond.blocklist import BlockLists, EntryDraft
from tocsin.respond.exporters import ExportData, export_formats, get_exporter
from tocsin.respond.netfw import split_networks
from tocsin.respond.values import EntryKind, ListName

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
BLOCKED = ["10.0.0.1", "10.0.0.0/30", "10.0.0.4/30", "192.0.2.0/24", "2001:db8::/48", "::1"]


def data(ips: list[str]) -> ExportData:
    return ExportData(ListName.BLOCK, T0, {EntryKind.IP: tuple(ips)}, {})


def netns(script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["unshare", "-rn", "sh", "-c", script], capture_output=True, text=True)


def need(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is absent (Debian package {package})")
    if shutil.which("unshare") is None:
        pytest.skip("unshare is absent (Debian package util-linux)")
    probe = netns("true")
    if probe.returncode != 0:
        pytest.skip(f"no user and network namespaces here: {probe.stderr.strip()}")


def test_formats_are_registered() -> None:
    assert {"nftables", "ipset", "edl"} <= set(export_formats())


def test_networks_are_merged_per_version() -> None:
    v4, v6 = split_networks(BLOCKED)
    assert [str(n) for n in v4] == ["10.0.0.0/29", "192.0.2.0/24"]
    assert [str(n) for n in v6] == ["::1/128", "2001:db8::/48"]


def test_edl_is_plain_lines() -> None:
    text = get_exporter("edl").render(data(BLOCKED))
    assert text == "10.0.0.0/29\n192.0.2.0/24\n::1\n2001:db8::/48\n"


def test_nftables_and_ipset_texts_without_the_tools() -> None:
    nft = get_exporter("nftables").render(data(BLOCKED))
    assert "# count: 2 IPv4, 2 IPv6 (after merging overlaps)" in nft
    # the sets are emptied before the refill, in the same file (one nft transaction)
    assert nft.index("flush set inet tocsin blocklist_v4") < nft.index("add element")
    assert "add element inet tocsin blocklist_v6 { ::1, 2001:db8::/48 }\n" in nft
    assert "chain" not in nft  # the user's own ruleset decides what matching the sets does
    ipset = get_exporter("ipset").render(data(BLOCKED)).splitlines()
    # a temporary left over by an interrupted restore is emptied before it is filled
    assert ipset.index("flush tocsin-v4-new") < ipset.index("add tocsin-v4-new 10.0.0.0/29 -exist")
    assert ipset.index("swap tocsin-v4-new tocsin-v4") < ipset.index("destroy tocsin-v4-new")
    assert "add tocsin-v6-new 2001:db8::/48 -exist" in ipset


def members(listing: str) -> set[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    found = set()
    for token in listing.replace(",", " ").replace("{", " ").replace("}", " ").split():
        try:
            found.add(ipaddress.ip_network(token, strict=False))
        except ValueError:
            continue
    return found


def test_nftables_file_loads_and_reloads(tmp_path: Path) -> None:
    need("nft", "nftables")
    first = tmp_path / "first.nft"
    second = tmp_path / "second.nft"
    first.write_text(get_exporter("nftables").render(data(BLOCKED)))
    second.write_text(get_exporter("nftables").render(data(["198.51.100.7"])))
    got = netns(
        f"nft -f {first} && nft -f {second} && nft list set inet tocsin blocklist_v4 && "
        f"nft list set inet tocsin blocklist_v6 && nft -f {first} && "
        "nft list set inet tocsin blocklist_v4"
    )
    assert got.returncode == 0, got.stderr
    after_second, v6_after_second, after_third = got.stdout.split("table inet tocsin")[1:4]
    assert members(after_second) == {ipaddress.ip_network("198.51.100.7/32")}
    assert members(v6_after_second) == set()  # the reload emptied what left the list
    assert members(after_third) == {
        ipaddress.ip_network("10.0.0.0/29"),
        ipaddress.ip_network("192.0.2.0/24"),
    }


def test_ipset_file_restores_and_swaps(tmp_path: Path) -> None:
    need("ipset", "ipset")
    first = tmp_path / "first.ipset"
    second = tmp_path / "second.ipset"
    first.write_text(get_exporter("ipset").render(data(BLOCKED)))
    second.write_text(get_exporter("ipset").render(data(["198.51.100.7", "2001:db8::1"])))
    got = netns(
        f"ipset restore < {first} && ipset restore < {second} && ipset list tocsin-v4 && "
        "ipset list tocsin-v6 && ipset list -n"
    )
    assert got.returncode == 0, got.stderr
    v4_part, v6_part = got.stdout.split("Name: tocsin-v6")
    assert members(v4_part.split("Members:")[1]) == {ipaddress.ip_network("198.51.100.7/32")}
    assert members(v6_part.split("Members:")[1].split("tocsin-v4")[0]) == {
        ipaddress.ip_network("2001:db8::1/128")
    }
    assert "tocsin-v4-new" not in got.stdout  # the temporary sets are gone


def test_service_export_respects_expiry_and_allow_holes(db, responder) -> None:
    lists = BlockLists(db)
    lists.add(
        responder,
        [
            EntryDraft("192.0.2.0/24", reason="scanner range"),
            EntryDraft("203.0.113.9", ttl=timedelta(hours=1)),
            EntryDraft("192.0.2.128/25", list=ListName.ALLOW, reason="partner"),
        ],
        now=T0,
    )
    later = T0 + timedelta(hours=2)
    assert lists.export(responder, "edl", now=T0) == "192.0.2.0/25\n203.0.113.9\n"
    assert lists.export(responder, "edl", now=later) == "192.0.2.0/25\n"
    assert "add element inet tocsin blocklist_v4 { 192.0.2.0/25 }" in lists.export(
        responder, "nftables", now=later
    )


def test_cli_export(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TOCSIN_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0
    added = runner.invoke(app, ["blocklist", "add", "198.51.100.0/24", "--reason", "c2"])
    assert added.exit_code == 0, added.output
    out = runner.invoke(app, ["blocklist", "export", "--format", "edl"])
    assert out.exit_code == 0, out.output
    assert out.stdout == "198.51.100.0/24\n"
    nft = runner.invoke(app, ["blocklist", "export", "--format", "nftables"])
    assert "add element inet tocsin blocklist_v4 { 198.51.100.0/24 }" in nft.stdout


def test_ipset_reloads_after_the_list_grows(tmp_path: Path) -> None:
    need("ipset", "ipset")
    small = tmp_path / "small.ipset"
    large = tmp_path / "large.ipset"
    small.write_text(get_exporter("ipset").render(data(["198.51.100.7"])))
    # 40,000 addresses that do not merge: past the size the first file's sets were made for
    grown = [f"10.{i // 32768}.{(i // 128) % 256}.{(i % 128) * 2}" for i in range(40_000)]
    large.write_text(get_exporter("ipset").render(data(grown)))
    got = netns(f"ipset restore < {small} && ipset restore < {large} && ipset list -t tocsin-v4")
    assert got.returncode == 0, got.stderr
    assert "Number of entries: 40000" in got.stdout
