"""Authentication-Results as RFC 8601 writes it and as Microsoft 365 and Gmail write it."""

from __future__ import annotations

import pytest

from tocsin.mail.authresults import parse_authentication_results, verdicts

GMAIL = (
    "mx.google.com;\r\n       dkim=pass header.i=@example.com header.s=s1 header.b=abc;\r\n"
    "       spf=pass (google.com: domain of bounce@example.com designates 1.2.3.4 as permitted "
    "sender) smtp.mailfrom=bounce@example.com;\r\n       dmarc=pass (p=REJECT sp=REJECT "
    "dis=NONE) header.from=example.com"
)
M365 = (
    "spf=pass (sender IP is 40.107.1.2) smtp.mailfrom=contoso.com; dkim=pass (signature was "
    "verified) header.d=contoso.com;dmarc=pass action=none header.from=contoso.com;"
    "compauth=pass reason=100"
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            GMAIL,
            [
                (
                    "mx.google.com",
                    "dkim",
                    "pass",
                    {"header.i": "@example.com", "header.s": "s1", "header.b": "abc"},
                ),
                ("mx.google.com", "spf", "pass", {"smtp.mailfrom": "bounce@example.com"}),
                ("mx.google.com", "dmarc", "pass", {"header.from": "example.com"}),
            ],
        ),
        (
            M365,
            [
                (None, "spf", "pass", {"smtp.mailfrom": "contoso.com"}),
                (None, "dkim", "pass", {"header.d": "contoso.com"}),
                (None, "dmarc", "pass", {"action": "none", "header.from": "contoso.com"}),
                (None, "compauth", "pass", {}),
            ],
        ),
        ("example.org 1; none", []),
        (
            'example.org; dkim=fail reason="bad; signature" header.d=x.example',
            [
                ("example.org", "dkim", "fail", {"header.d": "x.example"}),
            ],
        ),
        ("", []),
        ("garbage without structure", []),
    ],
)
def test_parse(value, expected):
    got = [
        (r.authserv_id, r.method, r.result, r.properties)
        for r in parse_authentication_results(value)
    ]
    assert got == expected


def test_reasons_and_comments_are_kept():
    dkim = parse_authentication_results('mx.example; dkim=fail reason="bad; signature" header.d=x')
    assert dkim[0].reason == "bad; signature"
    spf = parse_authentication_results(GMAIL)[1]
    assert spf.comment and "designates 1.2.3.4" in spf.comment
    assert parse_authentication_results(M365)[3].reason == "100"


def test_the_topmost_header_wins_and_untrusted_servers_are_ignored():
    forged = (
        "attacker.example; spf=pass smtp.mailfrom=bank.example; dmarc=pass header.from=bank.example"
    )
    ours = (
        "mx.corp.example; spf=fail smtp.mailfrom=bank.example; dmarc=fail header.from=bank.example"
    )
    # the receiving server's header is on top; the forged one came with the message
    assert verdicts([ours, forged])["dmarc"].result == "fail"
    trusted = verdicts([forged, ours], trusted_ids=["mx.corp.example"])
    assert trusted["spf"].result == "fail"
    assert verdicts([forged], trusted_ids=["mx.corp.example"]) == {}
    # Microsoft 365's headers have no id, and count as the tenant's own
    assert verdicts([M365], trusted_ids=["mx.corp.example"])["dkim"].result == "pass"


def test_the_shared_corpus_headers_read(shared_data):
    from tocsin.mail.intake import RawMessage, read_messages
    from tocsin.mail.message import parse_message

    values = [
        value
        for m in read_messages([shared_data / "mail"])
        if isinstance(m, RawMessage)
        for value in parse_message(m.raw).header_values("Authentication-Results")
    ]
    assert values, "the corpus has Authentication-Results headers"
    read = [parse_authentication_results(v) for v in values]
    # nearly every header names at least one method (a bare "none" names none)
    assert sum(1 for r in read if r) >= 0.8 * len(read)
    assert {r.method for results in read for r in results} >= {"spf", "dkim"}
