"""Display-name impersonation: accents, look-alikes, word order, brand words, real senders."""

from __future__ import annotations

import pytest

from tocsin.intel.names import Impersonated, NameMatcher, normalize_name

JANE = Impersonated("Jane Doe", "vip", ("jane.doe@acme.example", "jd@acme.example"), ())
JOHN = Impersonated("John Smith", "vip", ("john.smith@acme.example",), ("acme.example",))
PAYPAL = Impersonated("PayPal", "brand", (), ("paypal.com", "paypal.me"))
BOFA = Impersonated("Bank of America", "brand", (), ("bankofamerica.com",))
DHL = Impersonated("DHL", "brand", (), ("dhl.com",))
WEBMAIL = Impersonated("Webmail", "brand", (), ())


@pytest.fixture(scope="module")
def matcher():
    return NameMatcher([JANE, JOHN, PAYPAL, BOFA, DHL, WEBMAIL])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Jane Doe", "jane doe"),
        ("  JÁNE   DÖE ", "jane doe"),
        ("Doe, Jane (CEO)", "doe jane ceo"),
        ("Јane Dое", "jane doe"),  # Cyrillic Ј, о and е
        ("Ｊａｎｅ Ｄｏｅ", "jane doe"),  # fullwidth
        ("PayPaI", "paypal"),  # capital I inside a word reads as l
        ("pay_pal.com", "pay pal com"),
        ("", ""),
        ("!!!", ""),
    ],
)
def test_normalize_name(text, expected):
    assert normalize_name(text) == expected


@pytest.mark.parametrize(
    ("display", "entry", "technique"),
    [
        ("Jane Doe", JANE, "exact"),
        ("Jáne Döe", JANE, "exact"),
        ("Јane Dое", JANE, "exact"),
        ("Doe, Jane", JANE, "token-order"),
        ("Jane Doee", JANE, "jaro-winkler"),
        ("Jon Smith", JOHN, "jaro-winkler"),
        ("Smith John", JOHN, "token-order"),
        ("Jane Doe via Acme Portal", JANE, "name-word"),
        ("PayPal", PAYPAL, "exact"),
        ("PayPal Service Team", PAYPAL, "name-word"),
        ("PayPaI Support", PAYPAL, "name-word"),
        ("BankOfAmerica Alerts", BOFA, "name-word"),
        ("Bank of America Online", BOFA, "jaro-winkler"),
        ("Your Bank of America Online Banking Account", BOFA, "name-word"),
        ("DHL", DHL, "exact"),
        ("Webmail Administrator", WEBMAIL, "name-word"),
    ],
)
def test_impersonation_is_found(matcher, display, entry, technique):
    match = matcher.check(display, "someone@attacker.example")
    assert match is not None, display
    assert (match.entry, match.technique) == (entry, technique)
    assert 0.92 <= match.score <= 1.0


@pytest.mark.parametrize(
    ("display", "address"),
    [
        ("Jane Doe", "jane.doe@acme.example"),
        ("Jane Doe", "JD@ACME.EXAMPLE"),
        ("Doe, Jane", "<jane.doe@acme.example>"),
        ("John Smith", "john@mail.acme.example"),  # a subdomain of his domain
        ("PayPal Service", "service@paypal.com"),
        ("PayPal", "noreply@e.paypal.me"),
        ("Bank of America", "alerts@bankofamerica.com"),
    ],
)
def test_legitimate_senders_are_not_flagged(matcher, display, address):
    assert matcher.check(display, address) is None


@pytest.mark.parametrize(
    "display",
    [
        "Janet Dobson",
        "Anna Schmidt",
        "Smithers",
        "DHL Freight Forwarding Partners",  # short brands only match the whole name
        "Dhlakama Nkosi",
        "Paypalooza Festival",  # the brand inside a longer word is not the brand
        "Bank Holiday Newsletter",
        "",
    ],
)
def test_other_names_are_not_flagged(matcher, display):
    assert matcher.check(display, "x@elsewhere.example") is None


def test_a_sender_without_address_can_still_impersonate(matcher):
    match = matcher.check("Jane Doe", None)
    assert match is not None and match.entry == JANE


def test_a_legitimate_match_does_not_hide_another_entry():
    microsoft = Impersonated("Microsoft", "brand", (), ("microsoft.com",))
    google = Impersonated("Google", "brand", (), ("google.com",))
    names = NameMatcher([microsoft, google])
    assert names.check("Microsoft", "no-reply@microsoft.com") is None
    match = names.check("Microsoft Google Team", "no-reply@microsoft.com")
    assert match is not None and match.entry == google


def test_empty_matcher_and_empty_names():
    assert NameMatcher([]).check("Jane Doe", "x@y.example") is None
    assert len(NameMatcher([Impersonated("!!!", "vip"), JANE])) == 1


def test_a_huge_display_name_is_read_only_so_far(matcher):
    assert matcher.check("x" * 1_000_000 + " Jane Doe", "a@b.example") is None
    match = matcher.check("Jane Doe " + "x" * 1_000_000, "a@b.example")
    assert match is None or match.entry == JANE
