"""Lookalike domains: the permutation techniques, and the detector's verdicts and restraint."""

from __future__ import annotations

import re

import pytest

from tocsin.intel.lookalike import (
    LookalikeDetector,
    permutations,
    public_suffix,
    registrable,
    skeleton,
)

PROTECTED = ("example.com", "paypal.com", "contoso.com", "microsoft.com", "acmebank.co.uk")
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")

# fifty well-known domains that must never look like any protected one
WELL_KNOWN = """
google.com youtube.com facebook.com amazon.com wikipedia.org twitter.com instagram.com
linkedin.com netflix.com apple.com yahoo.com bing.com github.com stackoverflow.com reddit.com
ebay.com cnn.com bbc.co.uk nytimes.com theguardian.com spotify.com zoom.us dropbox.com
salesforce.com adobe.com oracle.com ibm.com intel.com nvidia.com cisco.com slack.com
atlassian.com gitlab.com python.org mozilla.org debian.org ubuntu.com cloudflare.com
akamai.com fastly.com wordpress.com tumblr.com pinterest.com twitch.tv discord.com
whatsapp.com telegram.org booking.com airbnb.com uber.com
""".split()


@pytest.fixture(scope="module")
def detector():
    return LookalikeDetector(PROTECTED)


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("a.b.example.com", "example.com"),
        ("WWW.Example.CO.UK.", "example.co.uk"),
        ("user.github.io", "user.github.io"),  # a private suffix: each user is an owner
        ("example.com", "example.com"),
        ("com", None),
        ("report.pdf", None),  # not a known suffix
        ("corp.internal", None),
        ("", None),
    ],
)
def test_registrable(domain, expected):
    assert registrable(domain) == expected


def test_public_suffix():
    assert public_suffix("shop.example.co.uk") == "co.uk"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("paypal", "paypal"),
        ("PAYPAL", "paypal"),
        ("paypa1", "paypal"),
        ("g00gle", "google"),
        ("rnicrosoft", "microsoft"),
        ("pаypаl", "paypal"),  # Cyrillic а
        ("exámple", "example"),
        ("ｅｘａｍｐｌｅ", "example"),  # fullwidth
        ("vvikipedia", "wikipedia"),
    ],
)
def test_skeleton_reads_names_as_they_look(text, expected):
    assert skeleton(text) == expected


@pytest.mark.parametrize(
    ("variant", "technique"),
    [
        ("examplea.com", "addition"),
        ("eyample.com", "bitsquatting"),
        ("examp1e.com", "homoglyph"),
        ("exarnple.com", "homoglyph"),
        ("exаmple.com", "homoglyph"),  # Cyrillic а, as Unicode ...
        ("xn--exmple-4nf.com", "homoglyph"),  # ... and as punycode
        ("exa-mple.com", "hyphenation"),
        ("exsample.com", "insertion"),
        ("exmple.com", "omission"),
        ("exammple.com", "repetition"),
        ("examplw.com", "replacement"),
        ("exam.ple.com", "subdomain"),
        ("exmaple.com", "transposition"),
        ("exomple.com", "vowel-swap"),
        ("example.net", "tld-swap"),
        ("example.co.uk", "tld-swap"),
        ("example-login.com", "various"),
        ("secure-example.com", "various"),
        ("examplecom.com", "various"),
    ],
)
def test_each_technique_yields_its_variants(variant, technique):
    found = {p.domain: p.technique for p in permutations("www.Example.com")}
    assert found[variant] == technique


def test_permutations_are_unique_valid_and_exclude_the_original():
    found = permutations("example.com")
    names = [p.domain for p in found]
    assert len(names) == len(set(names)) > 300
    assert "example.com" not in names
    for name in names:
        ascii_name = name.encode("idna").decode("ascii") if not name.isascii() else name
        assert _HOSTNAME.match(ascii_name), name
        if not name.isascii():
            assert ascii_name in names  # the punycode twin is there too
    assert {p.technique for p in found} == {
        "addition", "bitsquatting", "homoglyph", "hyphenation", "insertion", "omission",
        "repetition", "replacement", "subdomain", "transposition", "vowel-swap", "tld-swap",
        "various",
    }  # fmt: skip


def test_permutations_of_nothing_usable():
    assert permutations("localhost") == []
    assert permutations("") == []


@pytest.mark.parametrize(
    ("domain", "protected", "technique"),
    [
        ("examp1e.com", "example.com", "homoglyph"),
        ("exmaple.com", "example.com", "transposition"),
        ("example-login.com", "example.com", "embedded"),
        ("xn--exmple-cua.com", "example.com", "punycode"),  # exämple.com
        ("exámple.com", "example.com", "punycode"),
        ("pаypal.com", "paypal.com", "punycode"),  # Cyrillic а
        ("micr0s0ft.com", "microsoft.com", "homoglyph"),  # two swaps: by skeleton
        ("rnicrosoft.com", "microsoft.com", "homoglyph"),
        ("exampel.org", "example.com", "edit-distance"),
        ("micrsooft.co", "microsoft.com", "edit-distance"),
        ("xmicrosofy.com", "microsoft.com", "edit-distance"),  # two edits, long name
        ("example.org", "example.com", "tld-swap"),
        ("example.co.za", "example.com", "tld-swap"),  # not in the swap list
        ("acmebank.com", "acmebank.co.uk", "tld-swap"),
        ("acme-bank.co.uk", "acmebank.co.uk", "hyphenation"),
        ("exam.ple.com", "example.com", "subdomain"),
        ("www.exam.ple.com", "example.com", "subdomain"),
        ("login.examp1e.com", "example.com", "homoglyph"),
        ("paypal.com.secure-login.xyz", "paypal.com", "embedded"),
        ("paypal.com-secure.xyz", "paypal.com", "embedded"),
        ("paypal-verify.net", "paypal.com", "embedded"),
        ("login-paypal.com", "paypal.com", "embedded"),
        ("paypalsecure.com", "paypal.com", "embedded"),
        ("mypaypal-account.example", "paypal.com", "embedded"),
        ("secure.paypal-login.evil.example", "paypal.com", "embedded"),
        ("micros0ft-support.net", "microsoft.com", "embedded"),
    ],
)
def test_detector_flags_lookalikes(detector, domain, protected, technique):
    match = detector.check(domain)
    assert match is not None, domain
    assert (match.protected, match.technique) == (protected, technique)
    assert protected in match.detail


def test_detail_shows_the_unicode_form_of_punycode(detector):
    match = detector.check("xn--exmple-cua.com")
    assert match is not None
    assert match.domain == "xn--exmple-cua.com"
    assert "exämple.com" in match.detail


@pytest.mark.parametrize(
    "domain",
    [
        "example.com",
        "WWW.Example.COM.",
        "mail.paypal.com",
        "a.b.acmebank.co.uk",
        "contoso.sharepoint.com",  # a SaaS tenant named after the customer
        "purchase.example",
        "paypalcredit.example",  # the name plus a word that is no bait
        "exampleville.org",
        "192.0.2.1",
        "localhost",
        "",
        "not a domain",
    ],
)
def test_detector_leaves_protected_and_unrelated_names_alone(detector, domain):
    assert detector.check(domain) is None


def test_fifty_well_known_domains_are_not_lookalikes(detector):
    assert len(WELL_KNOWN) == 50
    assert {d: detector.check(d) for d in WELL_KNOWN if detector.check(d)} == {}


def test_short_protected_names_only_match_exact_permutations():
    short = LookalikeDetector(["ups.com"])
    assert short.check("upss.com") is not None  # repetition
    assert short.check("ups.net") is not None  # tld-swap from the list
    assert short.check("ups-login.com") is not None  # various
    assert short.check("ups.fi") is None  # another suffix, but not one of the list
    assert short.check("myups-tracking.com") is None  # no embedding for three letters
    assert short.check("upx.org") is None  # no edit distance either


def test_protected_domains_that_are_variants_of_each_other():
    both = LookalikeDetector(["example.com", "example.net"])
    assert both.check("example.net") is None
    assert both.check("example.org") is not None
    assert both.protected == ("example.com", "example.net")


def test_no_protected_domains_means_no_lookalikes():
    assert LookalikeDetector([]).check("examp1e.com") is None


def test_repeated_checks_give_the_same_answer(detector):
    first = detector.check("exmaple.com")
    assert detector.check("exmaple.com") == first
    assert detector.check("example.com") is None
    assert detector.check("example.com") is None


def test_hostile_names_are_refused_not_walked(detector):
    # thousands of labels: longer than DNS allows, so no lookalike (and no quadratic walk)
    assert detector.check("a." * 5000 + "examp1e.com") is None
    assert detector.check("examp1e.com" + "\x00") is None
