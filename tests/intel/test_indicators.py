"""Indicators: normalisation, kind detection, and matching with subdomains, networks, expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tocsin.intel.indicators import (
    Indicator,
    IndicatorSet,
    IndicatorValueError,
    detect_kind,
    normalize_value,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        ("domain", "Evil.EXAMPLE.", "evil.example"),
        ("domain", "*.evil.example", "evil.example"),
        ("domain", "bücher.example", "xn--bcher-kva.example"),
        ("domain", "  _dmarc.evil.example ", "_dmarc.evil.example"),
        ("url", "HTTP://Bad.Example:80/Login?x=1#frag", "http://bad.example/Login?x=1"),
        ("url", "https://bad.example:443", "https://bad.example/"),
        ("url", "https://bad.example:8443/a", "https://bad.example:8443/a"),
        ("url", "http://user:pw@bad.example/a", "http://bad.example/a"),
        ("url", "bad.example/path", "http://bad.example/path"),
        ("url", "http://bücher.example/x", "http://xn--bcher-kva.example/x"),
        ("url", "http://[2001:DB8::1]:8080/x", "http://[2001:db8::1]:8080/x"),
        ("ip", "192.0.2.7", "192.0.2.7"),
        ("ip", "10.1.2.3/8", "10.0.0.0/8"),
        ("ip", "192.0.2.7/32", "192.0.2.7"),
        ("ip", "2001:DB8::/32", "2001:db8::/32"),
        ("ip", "::ffff:192.0.2.9", "192.0.2.9"),
        ("email", "<Bob@Evil.Example>", "bob@evil.example"),
        ("email", "mailto:x@bücher.example", "x@xn--bcher-kva.example"),
        ("md5", "D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e"),
        ("sha1", "A" * 40, "a" * 40),
        ("sha256", " " + "F" * 64 + " ", "f" * 64),
        ("ja3", "E7D705A3286E19EA42F587B344EE6865", "e7d705a3286e19ea42f587b344ee6865"),
        ("ja4", "T13D1516H2_8DAAF6152771_E5627EFA2AB1", "t13d1516h2_8daaf6152771_e5627efa2ab1"),
    ],
)
def test_values_are_normalised(kind, raw, expected):
    assert normalize_value(kind, raw) == expected
    assert Indicator(kind, raw, "test").value == expected


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        ("domain", "bad domain.example"),
        ("domain", "-lead.example"),
        ("domain", "a" * 64 + ".example"),
        ("url", "http://"),
        ("url", "http://bad.example:99999/"),
        ("ip", "300.1.1.1"),
        ("ip", "10.0.0.0/33"),
        ("email", "no-at-sign.example"),
        ("email", "a@b"),
        ("md5", "abc"),
        ("sha256", "g" * 64),
        ("ja4", "not-a-ja4"),
        ("colour", "red"),
    ],
)
def test_bad_values_are_refused(kind, raw):
    with pytest.raises(IndicatorValueError):
        Indicator(kind, raw)


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("https://evil.example/a", "url"),
        ("evil.example/login.php", "url"),
        ("evil.example:8080", "url"),
        ("evil.example", "domain"),
        ("xn--bcher-kva.example", "domain"),
        ("192.0.2.1", "ip"),
        ("198.51.100.0/24", "ip"),
        ("2001:db8::1", "ip"),
        ("phish@evil.example", "email"),
        ("d41d8cd98f00b204e9800998ecf8427e", "md5"),
        ("da39a3ee5e6b4b0d3255bfef95601890afd80709", "sha1"),
        ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "sha256"),
        ("t13d1516h2_8daaf6152771_e5627efa2ab1", "ja4"),
        ("localhost", None),
        ("1.2.3", None),
        ("two words", None),
        ("", None),
    ],
)
def test_kind_is_told_from_the_value(value, kind):
    assert detect_kind(value) == kind


def _set(*items, **kwargs):
    return IndicatorSet([Indicator(k, v, src) for k, v, src in items], **kwargs)


def test_a_listed_domain_covers_its_subdomains_only():
    intel = _set(("domain", "evil.example", "feed-a"))
    assert [i.source for i in intel.match_domain("evil.example")] == ["feed-a"]
    assert intel.match_domain("login.secure.EVIL.example.") != []
    assert intel.match_domain("notevil.example") == []
    assert intel.match_domain("example") == []
    sub = _set(("domain", "cdn.host.example", "feed-b"))
    assert sub.match_domain("host.example") == []
    assert sub.match_domain("x.cdn.host.example") != []


def test_internationalised_domains_match_in_either_form():
    intel = _set(("domain", "bücher.example", "idn"))
    assert intel.match_domain("xn--bcher-kva.example")
    assert intel.match_domain("www.BÜCHER.example")


def test_ip_matches_exact_addresses_and_networks():
    intel = _set(
        ("ip", "192.0.2.7", "exact"),
        ("ip", "198.51.100.0/24", "net24"),
        ("ip", "10.0.0.0/8", "net8"),
        ("ip", "2001:db8::/32", "net6"),
    )
    assert [i.source for i in intel.match_ip("192.0.2.7")] == ["exact"]
    assert intel.match_ip("192.0.2.8") == []
    assert [i.source for i in intel.match_ip("198.51.100.255")] == ["net24"]
    assert intel.match_ip("198.51.101.1") == []
    assert [i.source for i in intel.match_ip("10.200.3.4")] == ["net8"]
    assert [i.source for i in intel.match_ip("[2001:db8:abcd::5]")] == ["net6"]
    assert [i.source for i in intel.match_ip("::ffff:10.1.1.1")] == ["net8"]
    assert intel.match_ip("not an ip") == []


def test_url_matches_as_listed_without_query_and_by_host():
    intel = _set(
        ("url", "http://bad.example/login.php", "path"),
        ("url", "https://other.example/a?id=7", "query"),
        ("domain", "evil.example", "domain"),
        ("ip", "203.0.113.0/24", "net"),
    )
    # scheme, default port, fragment, trailing slash and case of the host do not matter
    assert [i.source for i in intel.match_url("HTTPS://BAD.example:443/login.php/#x")] == ["path"]
    # the query is dropped on the second try
    assert [i.source for i in intel.match_url("http://bad.example/login.php?u=a")] == ["path"]
    assert [i.source for i in intel.match_url("http://other.example/a?id=7")] == ["query"]
    assert intel.match_url("http://other.example/a?id=8") == []
    assert intel.match_url("http://bad.example/other.php") == []
    assert [i.source for i in intel.match_url("https://cdn.evil.example/x")] == ["domain"]
    assert [i.source for i in intel.match_url("http://203.0.113.50:8080/x")] == ["net"]
    assert intel.match_url("http://[::1") == []


def test_email_matches_the_address_then_its_domain():
    intel = _set(("email", "ceo@fraud.example", "addr"), ("domain", "spam.example", "dom"))
    assert [i.source for i in intel.match_email("CEO@fraud.example")] == ["addr"]
    assert intel.match_email("cfo@fraud.example") == []
    assert [i.source for i in intel.match_email("any@mail.spam.example")] == ["dom"]
    assert intel.match_email("not-an-address") == []


def test_hashes_and_fingerprints_match_whatever_their_case():
    digest = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    intel = _set(
        ("sha256", digest, "bazaar"),
        ("md5", "d41d8cd98f00b204e9800998ecf8427e", "md5s"),
        ("ja3", "e7d705a3286e19ea42f587b344ee6865", "ja3s"),
        ("ja4", "t13d1516h2_8daaf6152771_e5627efa2ab1", "ja4s"),
    )
    assert [i.source for i in intel.match_hash(digest.upper())] == ["bazaar"]
    assert [i.source for i in intel.match_hash("D41D8CD98F00B204E9800998ECF8427E")] == ["md5s"]
    # a JA3 is an md5 in form, but it is a fingerprint, not a file hash
    assert intel.match_hash("e7d705a3286e19ea42f587b344ee6865") == []
    assert [i.source for i in intel.match_fingerprint("E7D705A3286E19EA42F587B344EE6865")] == [
        "ja3s"
    ]
    assert [i.source for i in intel.match_fingerprint("t13d1516h2_8daaf6152771_e5627efa2ab1")] == [
        "ja4s"
    ]


def test_expired_indicators_never_match():
    intel = IndicatorSet(
        [
            Indicator("domain", "old.example", "feed", expires=NOW - timedelta(days=1)),
            Indicator("domain", "fresh.example", "feed", expires=NOW + timedelta(days=1)),
            Indicator("domain", "forever.example", "feed"),
        ],
        clock=lambda: NOW,
    )
    assert intel.match_domain("old.example") == []
    assert intel.match_domain("fresh.example")
    assert intel.match_domain("forever.example")
    # "now" can be given per call, too
    later = NOW + timedelta(days=2)
    assert intel.match_domain("fresh.example", now=later) == []
    assert intel.match_domain("forever.example", now=later)


def test_naive_times_are_taken_as_utc():
    indicator = Indicator("domain", "x.example", expires=datetime(2026, 1, 1))
    assert indicator.expires == datetime(2026, 1, 1, tzinfo=UTC)
    assert not indicator.is_active(NOW)


def test_set_counts_iterates_and_skips_exact_duplicates():
    intel = IndicatorSet()
    first = Indicator("domain", "evil.example", "a")
    assert intel.add(first)
    assert not intel.add(Indicator("domain", "EVIL.example", "a"))
    assert intel.add(Indicator("domain", "evil.example", "b"))  # another source counts
    assert intel.extend([Indicator("ip", "192.0.2.1", "a"), Indicator("ip", "10.0.0.0/8", "a")])
    assert len(intel) == 4
    assert intel.kinds == {"domain": 2, "ip": 2}
    assert list(intel)[0] is first
    assert [i.source for i in intel.match_domain("evil.example")] == ["a", "b"]
    assert not IndicatorSet()


def test_hostile_values_match_nothing():
    intel = _set(("domain", "evil.example", "feed"), ("url", "http://evil.example/a", "feed"))
    assert intel.match_domain("a." * 5000 + "evil.example") == []
    assert intel.match_url("http://" + "a." * 5000 + "evil.example/a") == []
    assert intel.match_domain("evil.example\x00") == []
