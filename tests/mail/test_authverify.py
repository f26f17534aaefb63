"""SPF, DKIM, ARC and DMARC read from the headers and verified here, DNS from an in-memory zone.

Keys are generated for each run with ``cryptography``; RSA messages are signed with dkimpy.
dkimpy's ARC sealing needs the ``authres`` package and its ed25519 the ``pynacl`` package,
neither installed here, so ``_sign_relaxed`` below writes those headers from RFC 6376 /
RFC 8617 / RFC 8463 (relaxed canonicalisation, then RSA-SHA256 or Ed25519 over SHA-256).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import re
import time
from collections.abc import Iterator
from functools import cache

import dkim
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from tests.dnsserver import ZoneServer
from tocsin.intel.resolver import (
    DnsFailure,
    OfflineResolver,
    StaticResolver,
    SystemResolver,
)
from tocsin.mail.authverify import (
    OFFLINE,
    check_authentication,
    find_client_hop,
    is_aligned,
    organisational_domain,
)
from tocsin.mail.message import parse_message

HAS_NACL = importlib.util.find_spec("nacl") is not None

# --- keys and signatures --------------------------------------------------------------


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    """One key per size for the whole run (generating a 2048-bit key takes a while)."""
    return _rsa_key(bits)


@cache
def _rsa_key(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def rsa_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def rsa_record(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def ed25519_record(key: ed25519.Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"


def dkim_sign(message: bytes, domain: str, selector: str = "sel", bits: int = 2048) -> bytes:
    """The message with a DKIM-Signature from dkimpy on top."""
    header = dkim.sign(message, selector.encode(), domain.encode(), rsa_pem(rsa_key(bits)))
    return header + message


def _relaxed_header(name: str, value: str) -> bytes:
    unfolded = re.sub(r"\r?\n", "", value)
    return f"{name.strip().lower()}:{' '.join(unfolded.split())}".encode()


def _relaxed_body(body: bytes) -> bytes:
    lines = [b" ".join(line.split()) for line in body.replace(b"\r\n", b"\n").split(b"\n")]
    while lines and not lines[-1]:
        lines.pop()
    return b"".join(line + b"\r\n" for line in lines)


def _split(message: bytes) -> tuple[list[tuple[str, str]], bytes]:
    head, _, body = message.partition(b"\r\n\r\n")
    headers: list[tuple[str, str]] = []
    for line in head.decode().split("\r\n"):
        if line[:1] in (" ", "\t"):
            headers[-1] = (headers[-1][0], headers[-1][1] + "\r\n" + line)
        else:
            name, _, value = line.partition(":")
            headers.append((name, value))
    return headers, body


def _sign_relaxed(data: bytes, key: object) -> str:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        signature = key.sign(hashlib.sha256(data).digest())
    else:
        assert isinstance(key, rsa.RSAPrivateKey)
        signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def ed25519_sign(message: bytes, domain: str, key: ed25519.Ed25519PrivateKey) -> bytes:
    """An ed25519-sha256 DKIM-Signature (RFC 8463), relaxed/relaxed."""
    headers, body = _split(message)
    signed = ["from", "to", "subject"]
    bh = base64.b64encode(hashlib.sha256(_relaxed_body(body)).digest()).decode()
    value = (
        f" v=1; a=ed25519-sha256; c=relaxed/relaxed; d={domain}; s=ed; t={int(time.time())};"
        f" h={':'.join(signed)}; bh={bh}; b="
    )
    data = b"".join(
        _relaxed_header(n, v) + b"\r\n" for want in signed for n, v in headers if n.lower() == want
    )
    data += _relaxed_header("DKIM-Signature", value)
    return f"DKIM-Signature:{value}{_sign_relaxed(data, key)}\r\n".encode() + message


def arc_seal(message: bytes, domain: str, key: rsa.RSAPrivateKey, results: str) -> bytes:
    """The message with an ARC set of instance 1 (RFC 8617) from ``domain`` on top."""
    headers, body = _split(message)
    signed = ["from", "to", "subject", "date"]
    stamp = int(time.time())
    aar = f" i=1; {domain}; {results}"
    bh = base64.b64encode(hashlib.sha256(_relaxed_body(body)).digest()).decode()
    ams = (
        f" i=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=arc; t={stamp};"
        f" h={':'.join(signed)}; bh={bh}; b="
    )
    data = b"".join(
        _relaxed_header(n, v) + b"\r\n" for want in signed for n, v in headers if n.lower() == want
    )
    ams += _sign_relaxed(data + _relaxed_header("ARC-Message-Signature", ams), key)
    seal = f" i=1; cv=none; a=rsa-sha256; d={domain}; s=arc; t={stamp}; b="
    data = (
        _relaxed_header("ARC-Authentication-Results", aar)
        + b"\r\n"
        + _relaxed_header("ARC-Message-Signature", ams)
        + b"\r\n"
        + _relaxed_header("ARC-Seal", seal)
    )
    seal += _sign_relaxed(data, key)
    return (
        f"ARC-Seal:{seal}\r\nARC-Message-Signature:{ams}\r\n"
        f"ARC-Authentication-Results:{aar}\r\n".encode()
        + message
    )


def mail(
    *,
    from_addr: str = "alice@example.com",
    return_path: str | None = "bounce@example.com",
    client: str = "from mail.example.com (mail.example.com [192.0.2.10])",
    extra: str = "",
    body: str = "Hello Bob,\r\nthe report is attached.\r\n",
) -> bytes:
    """A plain message as our edge server would store it."""
    lines = [
        f"Received: {client} by mx.ours.test (Postfix) with ESMTPS id 4Xy; "
        "Mon, 1 Jan 2024 10:00:00 +0000",
    ]
    if return_path is not None:
        lines.insert(0, f"Return-Path: <{return_path}>")
    if extra:
        lines.append(extra.rstrip("\r\n"))
    lines += [
        f"From: Alice <{from_addr}>",
        "To: bob@ours.test",
        "Subject: quarterly report",
        "Date: Mon, 1 Jan 2024 10:00:00 +0000",
        f"Message-ID: <{time.time_ns()}@example.com>",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def check(raw: bytes, resolver=None, **kwargs):
    return check_authentication(
        raw, parse_message(raw), resolver=resolver or OfflineResolver(), **kwargs
    )


def checks(report) -> list[str]:
    return [r.check for r in report.reasons]


def base_records() -> dict[tuple[str, str], list[object]]:
    """example.com with SPF (and an include), a DKIM key and a DMARC policy."""
    return {
        ("example.com", "TXT"): ["v=spf1 ip4:192.0.2.0/24 include:_spf.mailer.test -all"],
        ("_spf.mailer.test", "TXT"): ["v=spf1 ip4:198.51.100.0/24 -all"],
        ("sel._domainkey.example.com", "TXT"): [rsa_record(rsa_key())],
        ("_dmarc.example.com", "TXT"): ["v=DMARC1; p=reject; rua=mailto:dmarc@example.com"],
    }


def with_records(extra: dict[str, list[str]] | None = None) -> StaticResolver:
    """The base records, with ``extra`` ("name TYPE": values) added or replacing them."""
    records = base_records()
    for key, values in (extra or {}).items():
        name, rtype = key.rsplit(" ", 1)
        records[(name, rtype)] = list(values)
    return StaticResolver(records)


def zone() -> StaticResolver:
    return with_records()


# --- DKIM ------------------------------------------------------------------------------


@pytest.mark.parametrize("bits", [1024, 2048])
def test_valid_dkim_signature_passes(bits):
    raw = dkim_sign(mail(), "example.com", bits=bits)
    report = check(
        raw,
        with_records({"sel._domainkey.example.com TXT": [rsa_record(rsa_key(bits))]}),
        verify=True,
    )
    assert report.dkim.result == "pass"
    assert report.dkim.source == "local"
    assert report.dkim.domain == "example.com"
    assert report.aligned_dkim is True
    assert report.dmarc.result == "pass"
    assert report.reasons == []


def test_tampered_body_fails_dkim():
    raw = dkim_sign(mail(), "example.com").replace(b"report is attached", b"invoice is attached")
    report = check(raw, zone(), verify=True)
    assert report.dkim.result == "fail"
    assert "body hash mismatch" in report.dkim.detail
    assert "auth.dkim_fail" in checks(report)


def test_tampered_signed_header_fails_dkim():
    raw = dkim_sign(mail(), "example.com").replace(b"quarterly report", b"urgent payment")
    report = check(raw, zone(), verify=True)
    assert report.dkim.result == "fail"
    assert "did not verify" in report.dkim.detail


def test_missing_key_is_a_permanent_error():
    raw = dkim_sign(mail(), "example.com", selector="gone")
    report = check(raw, zone(), verify=True)
    assert report.dkim.result == "permerror"
    assert "no key at gone._domainkey.example.com" in report.dkim.detail


def test_unreachable_key_is_a_temporary_error():
    class Unreachable(StaticResolver):
        def txt(self, name: str) -> list[str]:
            if "._domainkey." in name:
                raise DnsFailure(name, "timeout")
            return super().txt(name)

    raw = dkim_sign(mail(), "example.com")
    report = check(raw, Unreachable(base_records()), verify=True)
    assert report.dkim.result == "temperror"
    assert "timeout" in report.dkim.detail
    assert "auth.dkim_fail" not in checks(report)


def test_unusable_key_record_is_a_permanent_error():
    raw = dkim_sign(mail(), "example.com")
    report = check(
        raw,
        with_records({"sel._domainkey.example.com TXT": ["v=DKIM1; k=rsa; p=bm90IGEga2V5"]}),
        verify=True,
    )
    assert report.dkim.result == "permerror"
    assert "unusable key" in report.dkim.detail


@pytest.mark.parametrize(
    "signature",
    [
        "DKIM-Signature: this is ; not = a ; signature",
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=!!!; b=???",
        "DKIM-Signature: v=1; a=rot13; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA",
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=sel; h=from; bh=AAAA; b=AAAA; x=1",
        "DKIM-Signature: \x00\x01 \xff binary junk",
    ],
)
def test_garbage_dkim_signature_is_a_permerror_not_an_exception(signature):
    raw = signature.encode("utf-8", "surrogateescape") + b"\r\n" + mail()
    report = check(raw, zone(), verify=True)
    assert report.dkim.result == "permerror"
    assert report.dkim.source == "local"
    assert "auth.dkim_fail" in checks(report)


def test_message_dkimpy_cannot_read_is_a_permerror():
    raw = b"DKIM-Signature: v=1; d=example.com\r\nnot a header line\r\n" + mail()
    report = check(raw, zone(), verify=True)
    assert report.dkim.result == "permerror"


def test_one_good_signature_among_bad_ones_passes():
    good = dkim_sign(mail(), "example.com")
    raw = dkim_sign(good, "example.com", selector="gone")  # a second, unverifiable signature
    report = check(raw, zone(), verify=True)
    assert report.dkim.result == "pass"
    assert "s=gone: permerror" in report.dkim.detail
    assert "s=sel: pass" in report.dkim.detail


def test_ed25519_signature():
    key = ed25519.Ed25519PrivateKey.generate()
    raw = ed25519_sign(mail(), "example.com", key)
    report = check(
        raw, with_records({"ed._domainkey.example.com TXT": [ed25519_record(key)]}), verify=True
    )
    if HAS_NACL:
        assert report.dkim.result == "pass"
    else:
        # dkimpy verifies ed25519 only with pynacl: said, never taken for a failure
        assert report.dkim.result == "neutral"
        assert "pynacl" in report.dkim.detail
        assert "auth.dkim_fail" not in checks(report)


def test_tampered_ed25519_signature_is_not_a_pass():
    key = ed25519.Ed25519PrivateKey.generate()
    raw = ed25519_sign(mail(), "example.com", key).replace(b"Hello", b"Hi")
    report = check(
        raw, with_records({"ed._domainkey.example.com TXT": [ed25519_record(key)]}), verify=True
    )
    assert report.dkim.result == ("fail" if HAS_NACL else "neutral")


# --- SPF -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ip", "record", "expected", "reason"),
    [
        ("192.0.2.10", "v=spf1 ip4:192.0.2.0/24 -all", "pass", None),
        ("203.0.113.9", "v=spf1 ip4:192.0.2.0/24 -all", "fail", "auth.spf_fail"),
        ("203.0.113.9", "v=spf1 ip4:192.0.2.0/24 ~all", "softfail", "auth.spf_softfail"),
        ("203.0.113.9", "v=spf1 ?all", "neutral", None),
        ("198.51.100.7", "v=spf1 include:_spf.mailer.test -all", "pass", None),
        ("203.0.113.9", "v=spf1 include:_spf.mailer.test -all", "fail", "auth.spf_fail"),
        ("192.0.2.25", "v=spf1 mx -all", "pass", None),
        ("192.0.2.99", "v=spf1 a:relay.example.com -all", "pass", None),
        ("2001:db8::25", "v=spf1 mx -all", "pass", None),
        ("192.0.2.10", "v=spf1 ptr:example.com -all", "pass", None),
        ("192.0.2.11", "v=spf1 ptr:example.com -all", "fail", "auth.spf_fail"),
        ("203.0.113.9", "v=spf1 include:missing.test -all", "permerror", None),
        ("203.0.113.9", "v=spf1 ip4:192.0.2.0/24 moo -all", "permerror", None),
    ],
)
def test_spf(ip, record, expected, reason):
    resolver = with_records(
        {
            "example.com TXT": [record],
            "example.com MX": ["10 mx.example.com"],
            "mx.example.com A": ["192.0.2.25"],
            "mx.example.com AAAA": ["2001:db8::25"],
            "relay.example.com A": ["192.0.2.99"],
            "192.0.2.10 PTR": ["mail.example.com"],
            "192.0.2.11 PTR": ["forged.example.com"],  # its name does not point back
            "mail.example.com A": ["192.0.2.10"],
        }
    )
    raw = mail(client=f"from mail.example.com (mail.example.com [{ip}])")
    report = check(raw, resolver, verify=True)
    assert report.spf.result == expected
    assert report.spf.source == "local"
    assert report.spf.domain == "example.com"
    assert ip in report.spf.detail
    assert (
        (reason in checks(report))
        if reason
        else not any(c.startswith("auth.spf") for c in checks(report))
    )


def test_spf_without_a_record_is_none():
    raw = mail(from_addr="a@plain.test", return_path="b@plain.test")
    report = check(raw, with_records({"plain.test A": ["192.0.2.1"]}), verify=True)
    assert report.spf.result == "none"


def test_spf_checks_helo_for_the_null_sender():
    raw = mail(return_path=None, client="from mail.example.com (mail.example.com [192.0.2.10])")
    raw = b"Return-Path: <>\r\n" + raw
    report = check(
        raw, with_records({"mail.example.com TXT": ["v=spf1 ip4:192.0.2.10 -all"]}), verify=True
    )
    assert report.spf.result == "pass"
    assert report.spf.domain == "mail.example.com"
    assert "postmaster@mail.example.com" in report.spf.detail


def test_spf_without_a_public_hop_keeps_the_header_result():
    raw = mail(
        client="from relay.ours.test (relay.ours.test [10.1.2.3])",
        extra="Authentication-Results: mx.ours.test; spf=softfail smtp.mailfrom=bounce@example.com",
    )
    report = check(raw, zone(), verify=True)
    assert report.spf.result == "softfail"
    assert report.spf.source == "header"


@pytest.mark.parametrize(
    ("received", "expected"),
    [
        (
            ["from mail.example.com (mail.example.com [203.0.113.5]) by mx.ours.test (Postfix)"],
            ("203.0.113.5", "mail.example.com"),
        ),
        (
            ["from host.example.org ([203.0.113.6]) (helo=smtp.example.org) by mx with esmtps"],
            ("203.0.113.6", "smtp.example.org"),
        ),
        (
            ["from [203.0.113.7] (helo=[203.0.113.7]) by mx.ours.test with esmtp"],
            ("203.0.113.7", "203.0.113.7"),
        ),
        (
            ["from unknown (HELO mail.qmail.test) (203.0.113.8) by mx.ours.test"],
            ("203.0.113.8", "mail.qmail.test"),
        ),
        (
            [
                "from AM0PR01MB1234.eurprd01.prod.outlook.com (2603:10a6:208:9a::23) by "
                "AM0PR01MB5678.eurprd01.prod.outlook.com with HTTPS"
            ],
            ("2603:10a6:208:9a::23", "AM0PR01MB1234.eurprd01.prod.outlook.com"),
        ),
        (
            [
                "from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41]) "
                "by mx.google.com"
            ],
            ("209.85.220.41", "mail-sor-f41.google.com"),
        ),
        (
            [
                "from filter.ours.test (localhost [127.0.0.1]) by mx.ours.test",
                "from relay.ours.test (relay [10.0.0.5]) by filter.ours.test",
                "from edge.ours.test (edge [100.64.1.1]) by relay.ours.test",
                "from bad.example (bad.example [IPv6:2001:db8::66]) by edge.ours.test",
                "from forged.example (forged [198.51.100.1]) by bad.example",
            ],
            ("2001:db8::66", "bad.example"),
        ),
        (["by mx.ours.test with LMTP", "from x (x [192.168.1.1]) by y"], None),
        (["from nothing-here by mx.ours.test"], None),
        ([], None),
    ],
)
def test_client_hop_is_the_newest_hop_from_outside(received, expected):
    assert find_client_hop(received) == expected


# --- DMARC -----------------------------------------------------------------------------


def test_dmarc_reject_with_unaligned_from_fails():
    # the attacker's own domain passes SPF and DKIM, but From claims example.com
    raw = dkim_sign(
        mail(
            return_path="bounce@attacker.test",
            client="from mx.attacker.test (mx.attacker.test [203.0.113.66])",
        ),
        "attacker.test",
    )
    resolver = with_records(
        {
            "attacker.test TXT": ["v=spf1 ip4:203.0.113.66 -all"],
            "sel._domainkey.attacker.test TXT": [rsa_record(rsa_key())],
        }
    )
    report = check(raw, resolver, verify=True)
    assert report.spf.result == "pass"
    assert report.dkim.result == "pass"
    assert report.aligned_spf is False
    assert report.aligned_dkim is False
    assert report.dmarc.result == "fail"
    assert report.dmarc_policy == "reject"
    dmarc = [r for r in report.reasons if r.check == "auth.dmarc_fail"]
    assert dmarc and "p=reject" in dmarc[0].detail
    assert "auth.unaligned" not in checks(report)  # DMARC already says it


def test_passes_for_another_domain_without_dmarc_are_unaligned():
    raw = mail(
        from_addr="ceo@nodmarc.test",
        return_path="bounce@attacker.test",
        client="from mx.attacker.test (mx.attacker.test [203.0.113.66])",
    )
    resolver = with_records({"attacker.test TXT": ["v=spf1 ip4:203.0.113.66 -all"]})
    report = check(raw, resolver, verify=True)
    assert report.spf.result == "pass"
    assert report.dmarc.result == "none"
    assert report.dmarc_policy is None
    assert {"auth.unaligned", "auth.dmarc_none"} <= set(checks(report))
    unaligned = next(r for r in report.reasons if r.check == "auth.unaligned")
    assert "attacker.test" in unaligned.detail and "nodmarc.test" in unaligned.detail


def test_dmarc_falls_back_to_the_organisational_domain():
    raw = dkim_sign(
        mail(
            from_addr="alerts@mail.sub.example.co.uk",
            return_path="bounce@attacker.test",
            client="from mx.attacker.test (mx.attacker.test [203.0.113.66])",
        ),
        "attacker.test",
    )
    resolver = with_records(
        {
            "_dmarc.example.co.uk TXT": ["v=DMARC1; p=quarantine; sp=reject"],
            "attacker.test TXT": ["v=spf1 -all"],
            "sel._domainkey.attacker.test TXT": [rsa_record(rsa_key())],
        }
    )
    report = check(raw, resolver, verify=True)
    assert report.from_domain == "mail.sub.example.co.uk"
    assert report.org_domain == "example.co.uk"
    assert report.dmarc.result == "fail"
    assert report.dmarc_policy == "reject"  # sp= governs the organisation's subdomains
    assert "_dmarc.example.co.uk" in report.dmarc.detail
    assert {"auth.dmarc_fail", "auth.spf_fail"} <= set(checks(report))


@pytest.mark.parametrize(
    ("record", "expected", "aligned"),
    [
        ("v=DMARC1; p=reject", "pass", True),
        ("v=DMARC1; p=reject; adkim=s; aspf=s", "fail", False),
        ("v=DMARC1; p=reject; adkim=s", "pass", True),  # relaxed SPF still aligns
    ],
)
def test_relaxed_and_strict_alignment(record, expected, aligned):
    # DKIM by a subdomain of the From domain, SPF for another subdomain
    raw = dkim_sign(
        mail(return_path="bounce@bounces.example.com", client="from m (m [192.0.2.10])"),
        "mail.example.com",
    )
    resolver = with_records(
        {
            "_dmarc.example.com TXT": [record],
            "bounces.example.com TXT": ["v=spf1 ip4:192.0.2.0/24 -all"],
            "sel._domainkey.mail.example.com TXT": [rsa_record(rsa_key())],
        }
    )
    report = check(raw, resolver, verify=True)
    assert report.dkim.result == "pass" and report.spf.result == "pass"
    assert report.dmarc.result == expected
    assert (report.aligned_spf or report.aligned_dkim) is aligned
    assert ("auth.dmarc_fail" in checks(report)) is (expected == "fail")


def test_dmarc_none_only_when_known():
    raw = dkim_sign(mail(from_addr="a@example.org", return_path="b@example.org"), "example.org")
    resolver = with_records(
        {
            "example.org TXT": ["v=spf1 ip4:192.0.2.0/24 -all"],
            "sel._domainkey.example.org TXT": [rsa_record(rsa_key())],
        }
    )
    known = check(raw, resolver, verify=True)
    assert known.dmarc.result == "none"
    assert "auth.dmarc_none" in checks(known)
    assert "auth.unaligned" not in checks(known)  # aligned passes, just no policy
    unknown = check(raw, OfflineResolver(), verify=True)
    assert "auth.dmarc_none" not in checks(unknown)


def test_two_dmarc_records_mean_no_policy():
    raw = mail()
    resolver = with_records({"_dmarc.example.com TXT": ["v=DMARC1; p=reject", "v=DMARC1; p=none"]})
    report = check(raw, resolver, verify=True)
    assert report.dmarc.result == "none"
    assert "2 DMARC records" in report.dmarc.detail


def test_organisational_domain_and_alignment():
    assert organisational_domain("mail.sub.example.co.uk") == "example.co.uk"
    assert organisational_domain("Example.COM.") == "example.com"
    assert organisational_domain("co.uk") == "co.uk"
    assert is_aligned("mail.example.com", "example.com")
    assert not is_aligned("mail.example.com", "example.com", "s")
    assert is_aligned("EXAMPLE.com", "example.com.", "s")
    assert not is_aligned("example.co.uk", "other.co.uk")
    assert not is_aligned("", "example.com")


# --- ARC -------------------------------------------------------------------------------

RESULTS = "spf=pass smtp.mailfrom=example.com; dkim=pass header.d=example.com; dmarc=pass"


def arc_zone() -> StaticResolver:
    return with_records({"arc._domainkey.lists.example.net TXT": [rsa_record(rsa_key(1024))]})


def test_arc_chain_of_one_hop_passes():
    raw = arc_seal(dkim_sign(mail(), "example.com"), "lists.example.net", rsa_key(1024), RESULTS)
    report = check(raw, arc_zone(), verify=True)
    assert report.arc.result == "pass"
    assert report.arc.source == "local"
    assert report.arc.domain == "lists.example.net"
    assert "auth.arc_fail" not in checks(report)


def test_tampered_arc_chain_fails():
    sealed = arc_seal(mail(), "lists.example.net", rsa_key(1024), RESULTS)
    raw = sealed.replace(b"quarterly report", b"payment details")
    report = check(raw, arc_zone(), verify=True)
    assert report.arc.result == "fail"
    assert "auth.arc_fail" in checks(report)


def test_arc_as_reported_without_verification():
    raw = arc_seal(mail(), "lists.example.net", rsa_key(1024), RESULTS)
    report = check(raw)
    assert report.arc.source == "header"
    assert report.arc.result == "none"  # the first sealer saw no chain before it
    assert "i=1" in report.arc.detail and "spf=pass" in report.arc.detail
    failed = raw.replace(b"cv=none", b"cv=fail", 1)
    assert check(failed).arc.result == "fail"
    assert "auth.arc_fail" in checks(check(failed))
    stamped = b"Authentication-Results: mx.ours.test; arc=pass\r\n" + raw
    assert check(stamped).arc.result == "pass"
    odd = raw.replace(b"cv=none", b"cv=maybe", 1)
    assert check(odd).arc.result == "permerror"


def test_garbage_arc_headers_do_not_raise():
    raw = b"ARC-Seal: i=1; cv=maybe; b=@@@\r\nARC-Message-Signature: i=x\r\n" + mail()
    report = check(raw, arc_zone(), verify=True)
    assert report.arc.result in ("fail", "permerror")
    assert report.arc.source == "local"


# --- headers and offline ---------------------------------------------------------------

M365 = (
    "Authentication-Results: spf=pass (sender IP is 40.107.22.53) smtp.mailfrom=contoso.com; "
    "dkim=pass (signature was verified) header.d=contoso.com;dmarc=pass action=none "
    "header.from=contoso.com;compauth=pass reason=100"
)


def test_microsoft_365_header_without_id_is_read():
    raw = mail(from_addr="ann@contoso.com", return_path="ann@contoso.com", extra=M365)
    report = check(raw, trusted_authserv_ids=["mx.ours.test"])
    assert (report.spf.result, report.spf.domain, report.spf.source) == (
        "pass",
        "contoso.com",
        "header",
    )
    assert (report.dkim.result, report.dkim.domain) == ("pass", "contoso.com")
    assert (report.dmarc.result, report.dmarc.domain) == ("pass", "contoso.com")
    assert report.aligned_spf is True and report.aligned_dkim is True
    assert report.reasons == []


def test_header_failures_become_reasons():
    value = (
        "Authentication-Results: mx.google.com; dkim=fail header.i=@example.com; "
        "spf=softfail smtp.mailfrom=x@example.com; "
        "dmarc=fail (p=REJECT sp=REJECT dis=QUARANTINE) header.from=example.com"
    )
    report = check(mail(extra=value))
    assert report.dmarc_policy == "reject"
    assert {"auth.dkim_fail", "auth.spf_softfail", "auth.dmarc_fail"} <= set(checks(report))
    assert "auth.none" not in checks(report)
    dmarc = next(r for r in report.reasons if r.check == "auth.dmarc_fail")
    assert "p=reject" in dmarc.detail and "reported" in dmarc.detail


def test_topmost_trusted_header_wins():
    forged = "Authentication-Results: mx.ours.test; spf=pass smtp.mailfrom=x@example.com"
    ours = "Authentication-Results: mx.ours.test; spf=fail smtp.mailfrom=x@example.com"
    other = "Authentication-Results: evil.test; spf=pass smtp.mailfrom=x@example.com"
    raw = (f"{other}\r\n{ours}\r\n{forged}\r\n").encode() + mail()
    report = check(raw, trusted_authserv_ids=["mx.ours.test"])
    assert report.spf.result == "fail"
    assert check(raw).spf.result == "pass"  # untrusted, the topmost counts


def test_header_dkim_with_several_signatures_counts_any_pass():
    value = (
        "Authentication-Results: mx.ours.test; dkim=fail header.d=old.example; "
        "dkim=pass header.d=example.com"
    )
    report = check(mail(extra=value))
    assert report.dkim.result == "pass"
    assert report.aligned_dkim is True
    assert "auth.dkim_fail" not in checks(report)


def test_offline_verification_keeps_header_results_and_says_offline():
    value = (
        "Authentication-Results: mx.ours.test; spf=pass smtp.mailfrom=bounce@example.com; "
        "dkim=pass header.d=example.com; dmarc=pass header.from=example.com"
    )
    raw = dkim_sign(mail(extra=value), "example.com")
    report = check(raw, OfflineResolver(), verify=True)
    for method in (report.spf, report.dkim, report.dmarc):
        assert method.result == "pass"
        assert method.source == "header"
        assert OFFLINE in method.detail
    assert report.reasons == []


def test_offline_verification_without_headers_is_temperror():
    raw = dkim_sign(mail(), "example.com")
    report = check(raw, OfflineResolver(), verify=True)
    for method in (report.spf, report.dkim, report.dmarc):
        assert method.result == "temperror"
        assert method.detail == OFFLINE
    assert checks(report) == ["auth.none"]
    assert OFFLINE in report.reasons[0].detail


def test_no_authentication_at_all():
    report = check(mail(client="from x (x [192.0.2.10])"))
    assert checks(report) == ["auth.none"]
    assert report.spf.source == report.dkim.source == report.dmarc.source == "none"
    verified = check(mail(), zone(), verify=True)
    assert "auth.none" not in checks(verified)  # SPF passed here


def test_local_result_is_preferred_to_the_header():
    value = "Authentication-Results: mx.ours.test; dkim=pass header.d=example.com"
    raw = dkim_sign(mail(extra=value), "example.com").replace(b"Hello", b"Goodbye")
    report = check(raw, zone(), verify=True)
    assert report.dkim.result == "fail"
    assert report.dkim.source == "local"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage",
        b"From: <>\r\n\r\n",
        b"Received: from \r\nReceived: from [999.1.1.1] by x\r\nFrom: a@b\r\n\r\n",
        b"Authentication-Results: ;;;===\r\nARC-Seal: i=99999999999999999999; cv=\r\n\r\n",
        b"ARC-Seal: i=" + b"9" * 5000 + b"; cv=pass\r\nARC-Seal: i=\xc2\xb2; cv=x\r\n\r\n",
        b"Received: from "
        + b" " * 100_000
        + b"x\r\nReceived-SPF: envelope-from="
        + b"<" * 50_000
        + b"\r\nFrom: a@example.com\r\n\r\n",
        b"From: a@" + b"x" * 300 + b".example\r\nReturn-Path: <a@" + b"y" * 70 + b".test>\r\n"
        b"Received: from h (h [192.0.2.1]) by m\r\n\r\n",
    ],
)
def test_hostile_messages_never_raise(raw):
    for verify in (False, True):
        report = check(raw, zone(), verify=verify)
        assert report.spf.result and report.dkim.result and report.dmarc.result


# --- the real DNS path -----------------------------------------------------------------


@pytest.fixture
def dns_server() -> Iterator[ZoneServer]:
    records = {
        ("example.com", "TXT"): ["v=spf1 include:_spf.mailer.test -all"],
        ("_spf.mailer.test", "TXT"): ["v=spf1 a:out.mailer.test -all"],
        ("out.mailer.test", "A"): ["198.51.100.7"],
        ("sel._domainkey.example.com", "TXT"): [rsa_record(rsa_key())],
        ("_dmarc.example.com", "TXT"): ["v=DMARC1; p=reject"],
    }
    with ZoneServer(records) as server:
        yield server


@pytest.mark.network
def test_verification_through_a_real_dns_server(dns_server):
    raw = dkim_sign(
        mail(client="from out.mailer.test (out.mailer.test [198.51.100.7])"), "example.com"
    )
    resolver = SystemResolver([dns_server.address], timeout=2.0)
    report = check(raw, resolver, verify=True)
    assert report.spf.result == "pass"
    assert report.dkim.result == "pass"
    assert report.dmarc.result == "pass"
    assert report.reasons == []
    assert {
        ("example.com", "TXT"),
        ("_spf.mailer.test", "TXT"),
        ("out.mailer.test", "A"),
        ("sel._domainkey.example.com", "TXT"),
        ("_dmarc.example.com", "TXT"),
    } <= set(dns_server.queries)
    # a second message asks nothing new: the resolver's cache answers
    asked = len(dns_server.queries)
    again = check(
        dkim_sign(mail(client="from o (o [198.51.100.7])"), "example.com"), resolver, verify=True
    )
    assert again.dmarc.result == "pass"
    assert len(dns_server.queries) == asked
