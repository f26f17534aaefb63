"""Precision and recall on generated, labelled data (``tocsin.testing.discovery_corpus``).

**Personal data**: sentences with valid values and the same shapes with invalid checksums;
each type is scored as :mod:`tocsin.discovery.evaluate` scores labelled spans.

**Secrets**: a tree of realistic files with planted fake secrets and look-alikes that are not
secrets (UUIDs, hashes, documented example keys, placeholders, public keys, tokens with a wrong
checksum). A planted secret is found when a secret finding sits on its line; any secret finding
on a look-alike's line, or on no label at all, is a false positive. ``right_rule`` is the share
of found secrets whose rule is the one made for their kind.
"""

from __future__ import annotations

import re
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from tocsin.discovery.allow import AllowList
from tocsin.discovery.engine import Scanner
from tocsin.discovery.evaluate import evaluate
from tocsin.discovery.rules import load_rules
from tocsin.discovery.scan import ScanOptions, scan_files

PII_TYPES = (
    "EMAIL",
    "PHONE",
    "CREDIT_CARD",
    "IBAN",
    "US_SSN",
    "UK_NINO",
    "IP_ADDRESS",
    "DATE_OF_BIRTH",
    "ES_DNI",
    "FR_NIR",
    "NL_BSN",
    "IN_AADHAAR",
    "IT_CODICE_FISCALE",
    "CA_SIN",
    "AU_TFN",
)

SECRET_RULES = {
    "aws-access-key-id": "aws-access-key-id",
    "aws-secret-access-key": "aws-secret-access-key",
    "github-pat": "github-pat",
    "github-oauth": "github-pat",
    "github-fine-grained-pat": "github-fine-grained-pat",
    "gitlab-pat": "gitlab-pat",
    "slack-bot-token": "slack-token",
    "slack-user-token": "slack-token",
    "slack-webhook-url": "slack-webhook-url",
    "stripe-secret-key": "stripe-key",
    "stripe-restricted-key": "stripe-key",
    "google-api-key": "google-api-key",
    "gcp-service-account": "gcp-service-account",
    "azure-storage-key": "azure-storage-key",
    "openai-api-key": "openai-api-key",
    "anthropic-api-key": "anthropic-api-key",
    "twilio-api-key": "twilio-api-key",
    "sendgrid-api-key": "sendgrid-api-key",
    "npm-token": "npm-token",
    "pypi-token": "pypi-token",
    "private-key": "private-key",
    "jwt": "jwt",
    "password-in-url": "password-in-url",
    "generic-password": "generic-password",
    "mailgun-api-key": "mailgun-api-key",
    "datadog-api-key": "datadog-api-key",
    "heroku-api-key": "heroku-api-key",
    "hashicorp-vault-token": "vault-token",
    "doppler-token": "doppler-token",
    "shopify-token": "shopify-token",
    "square-access-token": "square-access-token",
    "telegram-bot-token": "telegram-bot-token",
    "discord-webhook-url": "discord-webhook-url",
    "basic-auth-header": "basic-auth-header",
}
"""The corpus's kinds and the rule made for each."""


def _ratio(a: int, b: int) -> float:
    return round(a / b, 3) if b else 1.0


def pii_quality(seed: int = 7, n: int = 2000) -> dict[str, dict[str, Any]]:
    """Per type: precision, recall and counts on the generated PII sentences."""
    from tocsin.testing.discovery_corpus import pii_corpus

    samples = [(s.text, s.spans) for s in pii_corpus(seed=seed, n=n)]
    present = {t for _, spans in samples for _, _, t in spans}
    scanner = Scanner(load_rules(), categories=("pii",))
    scores = evaluate(scanner, samples, [t for t in PII_TYPES if t in present])
    return {
        t: {
            "precision": round(s.precision, 3),
            "recall": round(s.recall, 3),
            "tp": s.tp,
            "fp": s.fp,
            "fn": s.fn,
            "false_positives": s.false_positives[:5],
            "missed": s.missed[:5],
        }
        for t, s in scores.items()
    }


def secrets_quality(seed: int = 7, files: int = 200) -> dict[str, Any]:
    """Precision and recall of the secret rules on the generated tree."""
    from tocsin.testing.discovery_corpus import secrets_corpus

    with tempfile.TemporaryDirectory(prefix="tocsin-secrets-") as folder:
        root = Path(folder)
        labels = secrets_corpus(root, seed=seed, files=files)
        skip_labels = AllowList(paths=(re.compile(r"^labels\.json$"),))
        report = scan_files([root], ScanOptions(categories=("secret",), allow=skip_labels))
    planted: dict[tuple[str, int], str] = {}
    decoys: dict[tuple[str, int], str] = {}
    for label in labels:
        key = (label.path, label.line)
        if label.kind.startswith("decoy:"):
            decoys[key] = label.kind
        else:
            planted[key] = label.kind
    found: dict[tuple[str, int], set[str]] = defaultdict(set)
    false_pos: list[str] = []
    for f in report.findings:
        key = (f.location.path, f.location.line)
        if key in planted:
            found[key].add(f.rule_id)
        else:
            why = decoys.get(key, "unlabelled")
            false_pos.append(f"{why} {f.rule_id} {f.location.display()} {f.masked}")
    per_kind: dict[str, dict[str, int]] = defaultdict(lambda: {"planted": 0, "found": 0})
    right = 0
    for key, kind in planted.items():
        per_kind[kind]["planted"] += 1
        if key in found:
            per_kind[kind]["found"] += 1
            right += SECRET_RULES.get(kind) in found[key]
    tp = len(found)
    decoy_hits = sum(1 for x in false_pos if x.startswith("decoy:"))
    return {
        "planted": len(planted),
        "decoys": len(decoys),
        "found": tp,
        "false_positives": len(false_pos),
        "false_positives_on_decoys": decoy_hits,
        "precision": _ratio(tp, tp + len(false_pos)),
        "recall": _ratio(tp, len(planted)),
        "right_rule": _ratio(right, tp),
        "missed_by_kind": {k: v for k, v in sorted(per_kind.items()) if v["found"] < v["planted"]},
        "false_positive_examples": false_pos[:10],
    }
