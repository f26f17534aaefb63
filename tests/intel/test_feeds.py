"""Feed readers: every common plain format, bad lines reported by number, the rest loaded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tocsin.core.errors import InvalidInputError
from tocsin.intel.indicators import (
    FeedIssue,
    IndicatorSet,
    detect_format,
    load_feed,
    parse_feed,
)

SHA = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def _pairs(load):
    return [(i.kind, i.value) for i in load.indicators]


def test_plain_list_with_comments_and_every_kind():
    text = (
        "# a list written by hand\n"
        "; an ini-style comment\n"
        "// a C-style comment\n"
        "\n"
        "Evil.Example\n"
        "http://bad.example/login  # phishing kit\n"
        "192.0.2.1\n"
        "198.51.100.0/24\n"
        f"{SHA}\n"
        "ceo@fraud.example\n"
        "hxxp://defanged[.]example/x\n"
    )
    load = parse_feed(text, source="hand")
    assert load.format == "plain"
    assert _pairs(load) == [
        ("domain", "evil.example"),
        ("url", "http://bad.example/login"),
        ("ip", "192.0.2.1"),
        ("ip", "198.51.100.0/24"),
        ("sha256", SHA),
        ("email", "ceo@fraud.example"),
        ("url", "http://defanged.example/x"),
    ]
    assert {i.source for i in load.indicators} == {"hand"}
    assert load.issues == ()


def test_bad_lines_are_issues_with_their_line_numbers_and_the_rest_loads():
    text = "good.example\nnot_a_thing\n\nsecond.example\ntwo values.example\n300.1.2.3/8\n"
    load = parse_feed(text, name="list.txt")
    assert _pairs(load) == [("domain", "good.example"), ("domain", "second.example")]
    assert [issue.line for issue in load.issues] == [2, 5, 6]
    assert str(load.issues[0]).startswith("list.txt:2: cannot tell what kind")
    assert "more than one value" in str(load.issues[1])


def test_hosts_file_skips_localhost_names_and_reads_every_name():
    text = (
        "# blocklist in hosts format\n"
        "127.0.0.1 localhost\n"
        "::1 ip6-localhost ip6-loopback\n"
        "0.0.0.0 0.0.0.0\n"
        "0.0.0.0 ads.example  # trailing comment\n"
        "127.0.0.1 a.evil.example b.evil.example\n"
        "not-an-ip c.example\n"
    )
    load = parse_feed(text, name="hosts")
    assert load.format == "hosts"
    assert [i.value for i in load.indicators] == ["ads.example", "a.evil.example", "b.evil.example"]
    assert all(i.kind == "domain" for i in load.indicators)
    assert [(issue.line, "no address first" in issue.reason) for issue in load.issues] == [
        (7, True)
    ]


def test_adblock_rules_give_their_domains():
    text = (
        "[Adblock Plus 2.0]\n"
        "! Title: test list\n"
        "||tracker.example^\n"
        "||ads.example^$third-party\n"
        "example.org##.banner\n"
    )
    load = parse_feed(text, name="adblock.txt")
    assert load.format == "adblock"
    assert [i.value for i in load.indicators] == ["tracker.example", "ads.example"]
    assert [issue.line for issue in load.issues] == [5]


def test_urlhaus_style_csv_with_commented_header_and_quoted_fields():
    text = (
        "################################################################\n"
        "# abuse.ch URLhaus Database Dump (CSV)                          #\n"
        "################################################################\n"
        "#\n"
        "# id,dateadded,url,url_status,last_online,threat,tags,urlhaus_link,reporter\n"
        '"1001","2026-05-01 10:00:00","http://198.51.100.4/bins/x.sh","online",'
        '"2026-05-02 00:00:00","malware_download","elf,mozi","https://urlhaus.example/1001/","r1"\n'
        '"1002","2026-05-01 11:00:00","https://phish.example/a,b?x=1","offline",'
        '"","malware_download","None","https://urlhaus.example/1002/","r2"\n'
        '"1003","2026-05-01 12:00:00","","offline","","","","",""\n'
    )
    load = parse_feed(text, name="urlhaus.csv", source="urlhaus")
    assert load.format == "csv"
    assert [i.value for i in load.indicators] == [
        "http://198.51.100.4/bins/x.sh",
        "https://phish.example/a,b?x=1",
    ]
    first = load.indicators[0]
    assert first.added == datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    assert first.tags == ("malware_download", "elf", "mozi")
    assert load.indicators[1].tags == ("malware_download",)
    assert [(issue.line, "no value" in issue.reason) for issue in load.issues] == [(8, True)]


def test_threatfox_style_csv_with_types_and_ip_port():
    text = (
        "# ThreatFox IOCs: CSV export\n"
        '# "first_seen_utc","ioc_id","ioc_value","ioc_type","threat_type","malware_printable",'
        '"tags"\n'
        '"2026-05-01 08:00:00", "1", "203.0.113.9:4444", "ip:port", "botnet_cc", "Cobalt Strike",'
        ' "cs"\n'
        '"2026-05-01 09:00:00", "2", "c2.evil.example", "domain", "botnet_cc", "Sliver", "None"\n'
        f'"2026-05-01 10:00:00", "3", "{SHA}", "sha256_hash", "payload", "Loader", ""\n'
        '"2026-05-01 11:00:00", "4", "whatever", "mutex", "payload", "Loader", ""\n'
    )
    load = parse_feed(text, name="threatfox.csv")
    assert load.format == "csv"
    assert _pairs(load) == [
        ("ip", "203.0.113.9"),
        ("domain", "c2.evil.example"),
        ("sha256", SHA),
    ]
    assert load.indicators[0].tags == ("botnet_cc", "Cobalt Strike", "cs")
    assert [issue.line for issue in load.issues] == [6]
    assert "unsupported indicator type 'mutex'" in load.issues[0].reason


def test_csv_with_a_plain_header_row():
    text = "domain,comment,expires\nevil.example,seen in a campaign,2026-07-01T00:00:00Z\n"
    load = parse_feed(text)
    assert _pairs(load) == [("domain", "evil.example")]
    assert load.indicators[0].expires == datetime(2026, 7, 1, tzinfo=UTC)


def test_json_array_of_strings_and_objects():
    text = (
        '["evil.example", {"value": "192.0.2.5", "type": "ip", "tags": ["c2"], '
        '"expires": "2026-12-31T00:00:00+00:00"}, {"url": "http://x.example/p"}, 42, '
        '{"note": "no value"}]'
    )
    load = parse_feed(text, name="iocs.json")
    assert load.format == "json"
    assert _pairs(load) == [
        ("domain", "evil.example"),
        ("ip", "192.0.2.5"),
        ("url", "http://x.example/p"),
    ]
    assert load.indicators[1].tags == ("c2",)
    assert load.indicators[1].expires == datetime(2026, 12, 31, tzinfo=UTC)
    assert [(issue.item, issue.line) for issue in load.issues] == [(4, None), (5, None)]
    assert str(load.issues[0]).startswith("iocs.json: item 4: ")


def test_json_lines_report_the_bad_line():
    text = '{"indicator": "evil.example"}\n{"indicator": \n"bare.example"\n'
    load = parse_feed(text, name="iocs.jsonl")
    assert load.format == "jsonl"
    assert _pairs(load) == [("domain", "evil.example"), ("domain", "bare.example")]
    assert [issue.line for issue in load.issues] == [2]
    assert "invalid JSON" in load.issues[0].reason


def test_threatfox_style_json_object_of_records():
    text = (
        '{"1": [{"ioc_value": "198.51.100.7:8080", "ioc_type": "ip:port", '
        '"first_seen_utc": "2026-05-01 08:00:00 UTC", "malware_printable": "Remcos", '
        '"tags": "rat,remcos"}],\n'
        ' "2": [{"ioc_value": "bad.example", "ioc_type": "domain", "tags": null}]}'
    )
    load = parse_feed(text)
    assert load.format == "json"
    assert _pairs(load) == [("ip", "198.51.100.7"), ("domain", "bad.example")]
    assert load.indicators[0].added == datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    assert load.indicators[0].tags == ("rat", "remcos", "Remcos")


def test_invalid_json_document_is_one_issue():
    load = parse_feed('["a.example",\n  "b.example",,]', name="broken.json")
    assert load.indicators == ()
    assert len(load.issues) == 1
    assert load.issues[0].line == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("evil.example\n", "plain"),
        ("0.0.0.0 evil.example\n", "hosts"),
        ("||evil.example^\n", "adblock"),
        ("url,status\nhttp://x.example/,online\n", "csv"),
        ("# id,url\n1,http://x.example/\n", "csv"),
        ("# domains\nevil.example\n", "plain"),
        ('["evil.example"]', "json"),
        ('{"value": "evil.example"}\n', "jsonl"),
        ("", "plain"),
    ],
)
def test_format_is_told_from_the_content(text, expected):
    assert detect_format(text) == expected


def test_format_and_kind_can_be_forced():
    # read as plain, a hosts line is two values: an issue, not a guess
    load = parse_feed("0.0.0.0 evil.example\n", format="plain")
    assert load.indicators == () and load.issues[0].line == 1
    forced = parse_feed("e7d705a3286e19ea42f587b344ee6865\n", kind="ja3")
    assert _pairs(forced) == [("ja3", "e7d705a3286e19ea42f587b344ee6865")]
    wrong = parse_feed("evil.example\n", kind="ip")
    assert wrong.indicators == () and "not an IP" in wrong.issues[0].reason
    with pytest.raises(InvalidInputError):
        parse_feed("x", kind="colour")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        parse_feed("x", format="xml")  # type: ignore[arg-type]


def test_feed_defaults_for_expiry_and_tags():
    until = datetime(2027, 1, 1, tzinfo=UTC)
    load = parse_feed("a.example\n", expires=until, tags=["phishing"])
    assert load.indicators[0].expires == until
    assert load.indicators[0].tags == ("phishing",)
    relative = parse_feed("b.example\n", expires=timedelta(days=7))
    expires = relative.indicators[0].expires
    assert expires is not None and expires > datetime.now(UTC) + timedelta(days=6)


def test_load_feed_reads_a_file_with_bom_crlf_and_bad_bytes(tmp_path):
    path = tmp_path / "intel.txt"
    path.write_bytes(b"\xef\xbb\xbfevil.example\r\nbad\xffvalue\r\nhttp://x.example/a\r\n")
    load = load_feed(path)
    assert _pairs(load) == [("domain", "evil.example"), ("url", "http://x.example/a")]
    assert {i.source for i in load.indicators} == {"intel.txt"}
    assert load.issues == (FeedIssue(str(path), 2, load.issues[0].reason),)
    assert str(load.issues[0]).startswith(f"{path}:2: ")
    with pytest.raises(OSError):
        load_feed(tmp_path / "missing.txt")


def test_a_loaded_feed_matches_in_an_indicator_set(tmp_path):
    path = tmp_path / "blocklist.hosts"
    path.write_text("0.0.0.0 phish.example\n0.0.0.0 bad.example\n", encoding="utf-8")
    intel = IndicatorSet(load_feed(path, source="hosts-feed").indicators)
    hits = intel.match_url("https://login.phish.example/verify?id=1")
    assert [(h.value, h.source) for h in hits] == [("phish.example", "hosts-feed")]
    assert intel.match_email("billing@bad.example")
    assert intel.match_url("https://good.example/") == []
