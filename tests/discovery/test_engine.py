"""The scanner over texts: secrets and PII found, scored, masked, located; decoys left."""

from __future__ import annotations

import random

import pytest

from tocsin.discovery.engine import Scanner, digit_windows, lower_same_length
from tocsin.discovery.findings import mask
from tocsin.discovery.rules import load_rules
from tocsin.testing import secrets as fakes


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner(load_rules())


def by_rule(findings):
    return {f.rule_id: f for f in findings}


def test_secrets_in_a_config_file_are_found_located_and_masked(scanner: Scanner) -> None:
    rng = random.Random(1)
    key_id, secret, pat = fakes.aws_key_id(rng), fakes.aws_secret(rng), fakes.github_pat(rng)
    text = (
        "# deploy settings\n"
        f"aws_access_key_id = {key_id}\n"
        f'aws_secret_access_key = "{secret}"\n'
        f"GITHUB_TOKEN={pat}\n"
    )
    found = by_rule(scanner.scan_text(text, "deploy/settings.env"))
    assert {"aws-access-key-id", "aws-secret-access-key", "github-pat"} <= set(found)
    gh = found["github-pat"]
    assert (gh.location.line, gh.location.column) == (4, 14)
    assert gh.location.end_column == 14 + len(pat)
    assert gh.level == "high" and any(r.check == "checksum" for r in gh.reasons)
    for f in found.values():
        # never the secret: a masked form that keeps only a short head and tail
        assert key_id not in f.masked and secret not in f.masked and pat not in f.masked
        assert "*" in f.masked and len(f.hash) == 64 and len(f.fingerprint) == 32
    assert found["aws-access-key-id"].masked.startswith("AKIA")


def test_github_token_with_a_wrong_checksum_is_not_reported(scanner: Scanner) -> None:
    rng = random.Random(2)
    text = f"token: {fakes.github_pat(rng, valid=False)}\n"
    assert "github-pat" not in by_rule(scanner.scan_text(text, "a.yaml"))


def test_decoys_are_not_secrets(scanner: Scanner) -> None:
    text = "\n".join(
        [
            "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
            'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"',
            'password = "${DB_PASSWORD}"',
            "password: {{ .Values.password }}",
            'api_key = os.environ["API_KEY"]',
            'password = "changeme"',
            "id = 9b2c4c3e-5f7a-4d8e-9b1c-2f3a4b5c6d7e",
            "commit 4b825dc642cb6eb9a060e54bf8d69288fbee4904",
            "url = https://user:${PASSWORD}@example.org/",
        ]
    )
    found = [f for f in scanner.scan_text(text, "app/config.py") if f.category == "secret"]
    assert found == []


def test_a_private_key_spanning_lines_is_one_finding(scanner: Scanner) -> None:
    key = fakes.private_key(random.Random(3))
    text = f"notes\n{key}\nmore\n"
    found = [f for f in scanner.scan_text(text, "id_rsa") if f.rule_id == "private-key"]
    assert len(found) == 1
    f = found[0]
    assert (f.location.line, f.location.end_line) == (2, 9)
    assert f.masked.startswith("-----BEGIN RSA PRIVATE KEY-----") and "hidden" in f.masked


def test_jwt_needs_json_header(scanner: Scanner) -> None:
    rng = random.Random(4)
    good = fakes.jwt(rng)
    bad = "eyJub3QganNvbiBhdCBhbGw." + good.split(".", 1)[1]
    assert "jwt" in by_rule(scanner.scan_text(f"Authorization: {good}\n", "a.txt"))
    assert "jwt" not in by_rule(scanner.scan_text(f"x = {bad}\n", "a.txt"))


def test_test_paths_and_placeholders_lower_confidence(scanner: Scanner) -> None:
    rng = random.Random(5)
    text = f'password = "{fakes.rand(rng, 20)}"\n'
    prod = by_rule(scanner.scan_text(text, "app/settings.py"))["generic-password"]
    test = by_rule(scanner.scan_text(text, "tests/test_settings.py"))["generic-password"]
    assert test.confidence < prod.confidence
    assert any(r.check == "test-path" for r in test.reasons)


def test_pii_with_checksums_context_and_overlaps(scanner: Scanner) -> None:
    rng = random.Random(6)
    card = fakes.luhn_complete("4", 16, rng)
    bad_card = card[:-1] + str((int(card[-1]) + 1) % 10)
    text = (
        f"Customer jane.roe@example.org paid with card {card[:4]} {card[4:8]} {card[8:12]} "
        f"{card[12:]}.\nRefund to IBAN GB82 WEST 1234 5698 7654 32, SSN 123-45-6780.\n"
        f"Order {bad_card} shipped. Born 1985-03-12. Server 10.1.2.3.\n"
    )
    kinds = {f.kind: f for f in scanner.scan_text(text, "crm/notes.txt")}
    assert set(kinds) >= {"EMAIL", "CREDIT_CARD", "IBAN", "US_SSN", "DATE_OF_BIRTH", "IP_ADDRESS"}
    assert (
        kinds["CREDIT_CARD"].masked.endswith(card[12:])
        and card[:4] not in kinds["CREDIT_CARD"].masked
    )
    # the Luhn-invalid order number is no card
    assert sum(f.kind == "CREDIT_CARD" for f in scanner.scan_text(text, "n.txt")) == 1
    # a date without birth context is not a date of birth
    assert "DATE_OF_BIRTH" not in {
        f.kind for f in scanner.scan_text("Invoice date 1985-03-12.", "n.txt")
    }


def test_phone_numbers_need_validity_or_context(scanner: Scanner) -> None:
    assert {f.kind for f in scanner.scan_text("call +44 20 7946 0958 today", "a")} == {"PHONE"}
    # a street number pair is no phone without context
    assert scanner.scan_text("lives at 3747 3911 Fourth Avenue", "a") == []
    # with context, a plain number that libphonenumber accepts is
    assert {f.kind for f in scanner.scan_text("mobile: 4155550132 ", "a")} <= {"PHONE"}
    assert scanner.scan_text("driver's license number 2270-66-1551", "a") == []


def test_context_required_ids_only_near_their_words(scanner: Scanner) -> None:
    # 111222333 is a valid Dutch BSN (11-proof); alone it is just a number
    assert scanner.scan_text("ref 111222333", "a") == []
    kinds = {f.kind for f in scanner.scan_text("BSN: 111222333", "a")}
    assert "NL_BSN" in kinds


def test_min_confidence_and_categories() -> None:
    rules = load_rules()
    only_pii = Scanner(rules, categories=("pii",))
    rng = random.Random(7)
    text = f"GITHUB_TOKEN={fakes.github_pat(rng)} mail bob@example.com"
    assert {f.category for f in only_pii.scan_text(text, "a")} == {"pii"}
    strict = Scanner(rules, min_confidence=0.99)
    assert strict.scan_text(text, "a") == []


def test_digit_windows_cover_clusters_and_merge() -> None:
    text = "abc " * 10 + "call 415 555 0132 or" + " x" * 40 + "id 12"
    spans = digit_windows(text)
    assert len(spans) == 1
    lo, hi, biggest = spans[0]
    assert text.index("415") - 16 == lo and biggest == 10
    assert digit_windows("no digits here 12 3") == []
    # non-ASCII text keeps character offsets
    uni = "é" * 5 + " 1234"
    assert digit_windows(uni)[0][1] == len(uni)


def test_lowering_keeps_offsets() -> None:
    text = "İstanbul TOKEN ghp_X"
    low = lower_same_length(text)
    assert len(low) == len(text) and low.index("token") == text.index("TOKEN")


@pytest.mark.parametrize(
    ("value", "kind", "category", "expected"),
    [
        ("jane.roe@example.org", "EMAIL", "pii", "j***@example.org"),
        ("4111 1111 1111 1234", "CREDIT_CARD", "pii", "**** **** **** 1234"),
        ("123-45-6780", "US_SSN", "pii", "***-**-**80"),
        ("AKIAZ4QX7Y2BNM3KLP5W", "AWS_ACCESS_KEY_ID", "secret", "AKIA**************5W"),
        ("short", "X", "secret", "*****"),
    ],
)
def test_mask(value: str, kind: str, category: str, expected: str) -> None:
    assert mask(value, kind, category) == expected


def test_url_credentials_are_not_email_addresses(scanner: Scanner) -> None:
    for text in ("git clone https://tok3n@github.com/acme/app", "db://admin:pw1@db.example.org/"):
        assert "EMAIL" not in {f.kind for f in scanner.scan_text(text, "a")}
    assert {f.kind for f in scanner.scan_text("<a href='mailto:jane@example.org'>", "a")} == {
        "EMAIL"
    }


def test_kubernetes_secret_values_are_decoded(scanner: Scanner) -> None:
    import base64

    rng = random.Random(12)
    key = fakes.aws_key_id(rng)

    def b64(value: str) -> str:
        return base64.b64encode(value.encode()).decode()

    manifest = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: shop\ndata:\n"
        f"  AWS_ACCESS_KEY_ID: {b64(key)}\n"
        f"  DB_PASSWORD: {b64('changeme')}\n"
        f"  API_TOKEN: {b64('<your-token-here>')}\n"
    )
    found = [f for f in scanner.scan_text(manifest, "k8s/secret.yaml") if f.category == "secret"]
    assert [(f.rule_id, f.location.line, f.location.column) for f in found] == [
        ("aws-access-key-id", 6, 22)
    ]
    assert any(r.check == "decoded" for r in found[0].reasons)
    assert found[0].masked.startswith("AKIA") and key not in found[0].masked
