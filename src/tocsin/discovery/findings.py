"""What discovery found: a data type at a place, how sure we are and why, never the value.

A finding keeps a **masked form** (enough to recognise the value: ``ghp_****...Xy``,
``************4242``, ``j***@example.com``) and a **keyed hash** (HMAC-SHA256), never the secret
itself. The hash key defaults to a public constant, so two people scanning the same repository
get the same fingerprints (a repository's baseline is shared); set ``discovery_hash_key`` to a
private value so that low-entropy values (a 9-digit SSN) cannot be recovered from their hash.

The **fingerprint** names the finding for baselines and allow-lists: rule, place (source and
path, or table and column) and the value's hash. It leaves out the line, so moving code does not
make an old finding new (detect-secrets does the same).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from tocsin.core.event import Reason

DEFAULT_HASH_KEY = b"tocsin-discovery-v1"

LEVELS = (("high", 0.8), ("medium", 0.5), ("low", 0.0))
"""Confidence level by score: the one table (high alerts, medium and low are reported)."""


def level_of(confidence: float) -> str:
    """``high``, ``medium`` or ``low`` for a confidence in [0, 1]."""
    for name, floor in LEVELS:
        if confidence >= floor:
            return name
    return "low"


def keyed_hash(value: str, key: bytes = DEFAULT_HASH_KEY) -> str:
    """HMAC-SHA256 of the value, hex."""
    return hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def mask(value: str, kind: str = "", category: str = "secret") -> str:
    """A form that lets a person recognise the value without being able to use it.

    Personal data keeps its separators and its last 2 characters (4 when there are 10 or
    more); an email keeps its first letter and its domain; a secret keeps a short head and
    tail, enough to find it in its vault; a multi-line value (a private key) its first line.
    """
    if "\n" in value or kind == "PRIVATE_KEY":
        first = value.split("\n", 1)[0].strip()
        return f"{first[:40]} [{len(value):,} characters hidden]"
    if kind == "EMAIL" and "@" in value:
        local, _, domain = value.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if category == "pii" or kind in ("CREDIT_CARD", "IBAN"):
        digits = sum(ch.isalnum() for ch in value)
        keep = 4 if digits >= 10 else 2
        seen = 0
        out = []
        for ch in value:
            if ch.isalnum():
                seen += 1
                out.append(ch if seen > digits - keep else "*")
            else:
                out.append(ch)
        return "".join(out)
    n = len(value)
    if n <= 6:
        return "*" * n
    if n <= 12:
        return value[:2] + "*" * (n - 3) + value[-1:]
    head = 4 if n < 24 else 6
    return value[:head] + "*" * min(n - head - 2, 24) + value[-2:]


@dataclass(frozen=True, slots=True)
class Location:
    """Where a finding is: a file (path, line, column), a commit, a table cell or an event."""

    source: str = "file"
    path: str = ""
    line: int = 0
    column: int = 0
    end_line: int = 0
    end_column: int = 0
    commit: str | None = None
    author: str | None = None
    date: str | None = None
    table: str | None = None
    column_name: str | None = None
    row: str | None = None
    dataset: str | None = None
    event_id: str | None = None
    owner: str | None = None

    def place(self) -> str:
        """The part of the location a fingerprint depends on (not the line)."""
        if self.table is not None:
            return f"{self.source}:{self.path}:{self.table}.{self.column_name}"
        if self.dataset is not None:
            return f"{self.source}:{self.dataset}:{self.column_name or ''}"
        return f"{self.source}:{self.path}"

    def display(self) -> str:
        """One short human string: ``path:line:col``, ``table.column row 3``, ``commit path``."""
        if self.table is not None:
            return f"{self.path}:{self.table}.{self.column_name} row {self.row}"
        if self.dataset is not None:
            return f"{self.dataset} {self.event_id} {self.column_name}"
        where = f"{self.path}:{self.line}:{self.column}" if self.line else self.path
        return f"{self.commit[:12]} {where}" if self.commit else where


@dataclass(frozen=True, slots=True)
class Finding:
    """One value of a sensitive type at one place."""

    rule_id: str
    title: str
    category: str
    kind: str
    confidence: float
    reasons: tuple[Reason, ...]
    location: Location
    masked: str
    hash: str
    severity: str = "high"
    entropy: float | None = None
    tags: tuple[str, ...] = ()
    fingerprint: str = field(default="")

    @property
    def level(self) -> str:
        """``high``, ``medium`` or ``low``."""
        return level_of(self.confidence)

    def to_dict(self) -> dict[str, Any]:
        """The flat form the CLI prints and the lake stores (no secret, ever)."""
        loc = self.location
        out: dict[str, Any] = {
            "rule": self.rule_id,
            "category": self.category,
            "kind": self.kind,
            "level": self.level,
            "confidence": round(self.confidence, 3),
            "location": loc.display(),
            "source": loc.source,
            "path": loc.path,
            "line": loc.line or None,
            "column": loc.column or None,
            "masked": self.masked,
            "hash": self.hash,
            "fingerprint": self.fingerprint,
            "title": self.title,
            "severity": self.severity,
            "reasons": [
                {"check": r.check, "detail": r.detail, "weight": r.weight} for r in self.reasons
            ],
            "tags": list(self.tags),
        }
        if self.entropy is not None:
            out["entropy"] = round(self.entropy, 2)
        for key in ("commit", "author", "date", "table", "row", "dataset", "event_id", "owner"):
            value = getattr(loc, key)
            if value is not None:
                out[key] = value
        if loc.column_name is not None:
            out["field"] = loc.column_name
        return out


def fingerprint(rule_id: str, location: Location, value_hash: str) -> str:
    """Rule, place and value: stable when lines move, distinct per file and rule."""
    raw = f"{rule_id}\0{location.place()}\0{value_hash}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]
