"""The RPZ and STIX 2.1 feed readers: every rule of each, bad records as issues, the rest kept."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from tocsin.intel.indicators import IndicatorSet, detect_format, parse_feed
from tocsin.intel.stixfeed import PatternError, parse_pattern

SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
SHA1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def _pairs(load):
    return [(i.kind, i.value) for i in load.indicators]


# -- RPZ -------------------------------------------------------------------------------

RPZ_ZONE = """\
; a policy zone as BIND serves it
$TTL 300
$ORIGIN rpz.example.
@ IN SOA ns.rpz.example. hostmaster.rpz.example. (
        2026010101 ; serial
        3600 600 86400 300 )
        IN NS ns.rpz.example.
evil.com CNAME .
*.evil.com CNAME .
*.wild.example 300 IN CNAME *.
ads.example.rpz.example. A 0.0.0.0
             AAAA ::
garden.example CNAME walled.garden.example.
drop.example IN 60 CNAME rpz-drop.
good.evil.com CNAME rpz-passthru.
*.good.evil.com CNAME rpz-passthru.
32.9.0.0.10.rpz-ip CNAME rpz-passthru.
32.1.0.0.10.rpz-ip CNAME .
24.0.2.0.192.rpz-ip CNAME .
48.zz.db8.2001.rpz-ip CNAME .
128.1.zz.db8.2001.rpz-ip CNAME .
ns1.evil.rpz-nsdname CNAME .
32.5.0.0.10.rpz-client-ip CNAME rpz-drop.
32.53.0.0.10.rpz-nsip CNAME .
other.example.org. CNAME .
tcp.example CNAME rpz-tcp-only.
24.1.2.0.192.rpz-ip CNAME .
$INCLUDE more.zone
"""


def test_rpz_zone_gives_blocked_names_and_addresses_and_counts_passthru():
    load = parse_feed(RPZ_ZONE, name="policy.rpz", source="rpz-feed")
    assert load.format == "rpz"
    assert _pairs(load) == [
        ("domain", "evil.com"),
        ("domain", "wild.example"),
        ("domain", "ads.example"),
        ("domain", "garden.example"),
        ("domain", "drop.example"),
        ("ip", "10.0.0.1"),
        ("ip", "192.0.2.0/24"),
        ("ip", "2001:db8::/48"),
        ("ip", "2001:db8::1"),
    ]
    # two allow rules: good.evil.com (name and wildcard folded into one) and 10.0.0.9
    assert load.passthru == 2
    assert {i.source for i in load.indicators} == {"rpz-feed"}
    issues = [(i.line, i.reason) for i in load.issues]
    assert [line for line, _ in issues] == [22, 23, 24, 25, 26, 27, 28]
    assert "rpz-nsdname" in issues[0][1]
    assert "rpz-client-ip" in issues[1][1] and "clients" in issues[1][1]
    assert "rpz-nsip" in issues[2][1]
    assert "outside the zone" in issues[3][1]
    assert "rpz-tcp-only" in issues[4][1]
    assert "host bits set" in issues[5][1]
    assert "$INCLUDE is not followed" in issues[6][1]


def test_rpz_wildcard_covers_subdomains_in_the_indicator_set():
    load = parse_feed(RPZ_ZONE, name="policy.rpz")
    found = IndicatorSet(load.indicators)
    assert [i.value for i in found.match_domain("a.b.wild.example")] == ["wild.example"]
    assert [i.value for i in found.match_domain("x.evil.com")] == ["evil.com"]
    assert found.match_ip("192.0.2.77") and found.match_ip("2001:db8::ff")
    assert found.match_ip("10.0.0.9") == []  # a passthru rule is no indicator


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        # no $ORIGIN: the SOA owner is the apex, absolute names under it are stripped
        (
            "rpz.local. IN SOA a. b. 1 2 3 4 5\nrpz.local. NS a.\nx.example.rpz.local. CNAME .\n"
            "y.example CNAME .\n",
            [("domain", "x.example"), ("domain", "y.example")],
        ),
        # a second $ORIGIN below the apex makes relative names longer
        (
            "$ORIGIN rpz.local.\n@ SOA a. b. 1 2 3 4 5\n$ORIGIN com.rpz.local.\nevil CNAME .\n",
            [("domain", "evil.com")],
        ),
        # relative names with no zone named at all are the triggers themselves
        ("$TTL 60\n@ SOA a. b. 1 2 3 4 5\nbad.example CNAME .\n", [("domain", "bad.example")]),
        # class and TTL in either order, upper and lower case
        (
            "$ORIGIN z.\n@ SOA a. b. 1 2 3 4 5\nA.Example 1h in cname .\nb.example IN 30 TXT "
            '"blocked; really"\n',
            [("domain", "a.example"), ("domain", "b.example")],
        ),
    ],
)
def test_rpz_owner_names_relative_absolute_and_origins(zone, expected):
    load = parse_feed(zone, format="rpz")
    assert _pairs(load) == expected
    assert load.issues == ()


def test_rpz_is_told_from_its_content_and_plain_lists_are_not():
    assert detect_format("$ORIGIN rpz.local.\nx.example CNAME .\n") == "rpz"
    assert detect_format("@ IN SOA a. b. 1 2 3 4 5\nx.example CNAME .\n") == "rpz"
    assert detect_format("$TTL 300\n@ IN SOA a. b. ( 1 2 3 4 5 )\n") == "rpz"
    assert detect_format("x.example\n# SOA records\n") == "plain"
    assert detect_format("0.0.0.0 x.example\n") == "hosts"


# -- STIX ------------------------------------------------------------------------------


def _indicator(ident, pattern, **fields):
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{ident}",
        "pattern_type": "stix",
        "pattern": pattern,
        **fields,
    }


def _bundle(*objects):
    return orjson.dumps({"type": "bundle", "id": "bundle--1", "objects": list(objects)}).decode()


def test_stix_bundle_reads_indicators_with_their_context():
    text = _bundle(
        {"type": "identity", "id": "identity--1", "name": "CERT"},
        _indicator(
            "a",
            "[domain-name:value = 'C2.Evil.example']",
            valid_from="2026-01-01T00:00:00Z",
            valid_until="2027-01-01T00:00:00.000Z",
            indicator_types=["malicious-activity"],
            labels=["c2", "malicious-activity"],
            name="Emotet C2",
            description="seen in the March campaign",
            confidence=85,
        ),
    )
    load = parse_feed(text, name="cti.json", source="cti", tags=["stix-feed"])
    assert load.format == "stix"
    assert load.issues == ()
    (found,) = load.indicators
    assert (found.kind, found.value, found.source) == ("domain", "c2.evil.example", "cti")
    assert found.added == datetime(2026, 1, 1, tzinfo=UTC)
    assert found.expires == datetime(2027, 1, 1, tzinfo=UTC)
    assert found.tags == ("stix-feed", "malicious-activity", "c2")
    assert found.description == "Emotet C2: seen in the March campaign"
    assert found.confidence == 85
    assert found.reference == "indicator--a"


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("[url:value = 'http://evil.example/login']", [("url", "http://evil.example/login")]),
        ("[ipv4-addr:value = '203.0.113.5']", [("ip", "203.0.113.5")]),
        ("[ipv6-addr:value = '2001:db8::1']", [("ip", "2001:db8::1")]),
        ("[email-addr:value = 'ceo@fraud.example']", [("email", "ceo@fraud.example")]),
        (
            "[email-message:from_ref.value = 'x@fraud.example']",
            [("email", "x@fraud.example")],
        ),
        (f"[file:hashes.MD5 = '{MD5}']", [("md5", MD5)]),
        (f"[file:hashes.'SHA-1' = '{SHA1}']", [("sha1", SHA1)]),
        (f"[file:hashes.'SHA-256' = '{SHA256.upper()}']", [("sha256", SHA256)]),
        (
            "[domain-name:value = 'a.example' OR domain-name:value = 'b.example']",
            [("domain", "a.example"), ("domain", "b.example")],
        ),
        (
            "[domain-name:value = 'a.example'] OR [ipv4-addr:value = '198.51.100.7']",
            [("domain", "a.example"), ("ip", "198.51.100.7")],
        ),
        (
            "[ipv4-addr:value IN ('192.0.2.1', '192.0.2.2')]",
            [("ip", "192.0.2.1"), ("ip", "192.0.2.2")],
        ),
        ("[ipv4-addr:value ISSUBSET '198.51.100.0/24']", [("ip", "198.51.100.0/24")]),
        ("[(url:value = 'http://x.example/a')]", [("url", "http://x.example/a")]),
    ],
)
def test_stix_patterns_of_every_supported_object(pattern, expected):
    load = parse_feed(_bundle(_indicator("p", pattern)), format="stix")
    assert load.issues == ()
    assert sorted(_pairs(load)) == sorted(expected)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("[domain-name:value = 'a.example' AND url:value = 'http://b.example/']", "AND pattern"),
        ("[domain-name:value = 'a.example'] AND [url:value = 'http://b.example/']", "AND pattern"),
        ("[domain-name:value = 'a.example'] FOLLOWEDBY [url:value = 'http://b/']", "FOLLOWEDBY"),
        ("[domain-name:value = 'a.example'] REPEATS 5 TIMES", "REPEATS pattern"),
        ("[domain-name:value = 'a.example'", "invalid pattern"),
        ("[file:name = 'invoice.exe']", "file:name is not something tocsin matches"),
        ("[domain-name:value LIKE '%.evil.example']", "only = and IN are read"),
        ("[domain-name:value != 'good.example']", "only = and IN are read"),
        ("[file:hashes.'SHA-512' = 'ab']", "hash 'SHA-512' is not read"),
    ],
)
def test_stix_patterns_that_are_no_single_indicator_are_issues_naming_the_id(pattern, reason):
    load = parse_feed(_bundle(_indicator("bad", pattern)), name="feed.json", format="stix")
    assert load.indicators == ()
    (issue,) = load.issues
    assert issue.item == 1
    assert issue.reason.startswith("indicator--bad: ")
    assert reason in issue.reason


def test_stix_one_bad_comparison_in_an_or_keeps_the_others():
    pattern = "[domain-name:value LIKE '%.x.example' OR url:value = 'http://y.example/a']"
    load = parse_feed(_bundle(_indicator("mix", pattern)), format="stix")
    assert _pairs(load) == [("url", "http://y.example/a")]
    assert len(load.issues) == 1 and "LIKE" in load.issues[0].reason


def test_stix_revoked_other_pattern_types_observables_and_context_objects():
    text = _bundle(
        _indicator("revoked", "[domain-name:value = 'old.example']", revoked=True),
        _indicator("yara", "rule x { condition: true }", pattern_type="yara"),
        {"type": "domain-name", "id": "domain-name--1", "value": "sco.example"},
        {"type": "url", "id": "url--1", "value": "http://sco.example/x"},
        {"type": "ipv4-addr", "id": "ipv4-addr--1", "value": "192.0.2.9"},
        {"type": "ipv6-addr", "id": "ipv6-addr--1"},
        {"type": "malware", "id": "malware--1", "name": "Emotet"},
        {"type": "relationship", "id": "relationship--1"},
        "not an object",
    )
    load = parse_feed(text, name="b.json")
    assert _pairs(load) == [
        ("domain", "sco.example"),
        ("url", "http://sco.example/x"),
        ("ip", "192.0.2.9"),
    ]
    assert load.indicators[0].reference == "domain-name--1"
    assert [(i.item, i.reason.split(":")[0]) for i in load.issues] == [
        (2, "indicator--yara"),
        (6, "ipv6-addr--1"),
        (9, "not a STIX object"),
    ]


def test_stix_list_and_single_object_and_invalid_json():
    single = orjson.dumps(_indicator("one", "[domain-name:value = 'one.example']")).decode()
    assert detect_format(single) == "stix"
    assert _pairs(parse_feed(single)) == [("domain", "one.example")]
    listed = orjson.dumps([_indicator("two", "[url:value = 'http://two.example/']")]).decode()
    assert detect_format(listed) == "stix"
    assert _pairs(parse_feed(listed)) == [("url", "http://two.example/")]
    broken = parse_feed('{"type": "bundle", "objects": [\n  {"type": "indicator",,}]}', name="x")
    assert broken.format == "stix" and broken.indicators == ()
    assert broken.issues[0].line == 2 and "invalid JSON" in broken.issues[0].reason


def test_stix_detection_leaves_other_json_alone():
    assert detect_format('["evil.example"]') == "json"
    assert detect_format('{"value": "evil.example"}\n') == "jsonl"
    assert detect_format('{"type": "bundle", "objects": []}') == "stix"


def test_stix_pattern_fast_path_and_library_agree():
    simple = parse_pattern("[domain-name:value = 'it\\'s.example']")
    assert [(c.object_type, c.path, c.operator) for c in simple] == [
        ("domain-name", ("value",), "=")
    ]
    assert simple[0].literal == "'it\\'s.example'"
    spaced = parse_pattern("[ domain-name:value = 'x.example' ] OR [url:value = 'http://x/']")
    assert [c.object_type for c in spaced] == ["domain-name", "url"]
    with pytest.raises(PatternError):
        parse_pattern("[x:value = 'a'] WITHIN 5 SECONDS")
