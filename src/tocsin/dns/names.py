"""What the DNS detectors need to know about a queried name, computed once per distinct name.

A window of ten million lookups holds far fewer distinct names, so everything about a name
(its registered domain, the subdomain part in front of it, whether it is internal, allowed or
popular) is computed once here, in Python, and joined back in DuckDB as the table ``names``.
Character statistics are vectorised with numpy: the per-character Python loop would cost more
than the whole DuckDB pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tocsin.intel.lists import INFRASTRUCTURE, POPULAR, covered
from tocsin.intel.lookalike import registrable_split

_REVERSE = ("in-addr.arpa", "ip6.arpa")


@dataclass(frozen=True, slots=True)
class NameParts:
    """A queried name cut where its registered domain starts."""

    domain: str | None  # registered domain (example.co.uk); None for internal or odd names
    sub: str  # what is left of it ("a.b" of a.b.example.co.uk), "" for the domain itself
    label: str | None  # the registered domain's own label ("example")


def split_name(name: str) -> NameParts:
    """Cut ``name`` at its registered domain (public suffix list); internal names get None."""
    for zone in _REVERSE:
        if name.endswith(zone) and (len(name) == len(zone) or name[-len(zone) - 1] == "."):
            # reverse lookups name addresses, not domains: one zone, the address in front
            return NameParts(zone, name[: -len(zone) - 1] if len(name) > len(zone) else "", None)
    domain = registrable_split(name)
    if domain is None:
        return NameParts(None, "", None)
    sub = name[: -len(domain) - 1] if len(name) > len(domain) else ""
    return NameParts(domain, sub, domain.split(".", 1)[0])


class AllowList:
    """Domains the DNS detectors never flag: built-in infrastructure, popular, and the user's."""

    __slots__ = ("_table",)

    def __init__(self, extra: Iterable[str] = ()) -> None:
        own = {d.strip().lower().rstrip(".") for d in extra if d.strip()}
        self._table = frozenset(INFRASTRUCTURE | POPULAR | own)

    def covers(self, name: str) -> bool:
        """Whether the name or one of its parents is allowed."""
        return covered(name, self._table)


_ALPHABET = np.zeros(256, dtype=np.uint8)
for _i, _c in enumerate("abcdefghijklmnopqrstuvwxyz0123456789-_.", start=1):
    _ALPHABET[ord(_c)] = _i
_SYMBOLS = 40  # 0 (padding and other bytes) + the 39 symbols above


def char_entropy(texts: Sequence[str], *, chunk: int = 65536) -> np.ndarray:
    """Shannon entropy (bits per character) of each text, dots left out; 0 for empty texts."""
    out = np.zeros(len(texts), dtype=np.float64)
    for start in range(0, len(texts), chunk):
        part = [t.replace(".", "") for t in texts[start : start + chunk]]
        lengths = np.fromiter((len(t) for t in part), dtype=np.int64, count=len(part))
        width = int(lengths.max()) if len(part) else 0
        if width == 0:
            continue
        joined = "".join(t.ljust(width, "\0") for t in part).encode("latin-1", "replace")
        codes = _ALPHABET[np.frombuffer(joined, dtype=np.uint8)].reshape(len(part), width)
        rows = np.repeat(np.arange(len(part)), width)
        counts = np.bincount(
            rows * _SYMBOLS + codes.ravel(), minlength=len(part) * _SYMBOLS
        ).reshape(len(part), _SYMBOLS)[:, 1:]
        counts = counts.astype(np.float64)
        totals = counts.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            shares = counts / totals[:, None]
            terms = np.where(counts > 0, shares * np.log2(np.where(shares > 0, shares, 1)), 0.0)
        entropy = -terms.sum(axis=1)
        out[start : start + len(part)] = np.where(totals > 0, entropy, 0.0)
    return out


def name_table(
    names: Sequence[str],
    allow: AllowList,
    score_labels: Callable[[list[str]], np.ndarray] | None = None,
) -> pa.Table:
    """The ``names`` table: one row per distinct name with its parts and flags.

    With ``score_labels`` (the DGA model's), each distinct registered label is scored once
    and the ``dga`` column holds its score (null for names without a registered label).
    """
    parts = [split_name(n) for n in names]
    labels = [p.label for p in parts]
    columns: dict[str, object] = {
        "name": pa.array(names, pa.string()),
        "domain": pa.array([p.domain for p in parts], pa.string()),
        "sub": pa.array([p.sub for p in parts], pa.string()),
        "label": pa.array(labels, pa.string()),
        "allowed": pa.array([allow.covers(n) for n in names], pa.bool_()),
    }
    if score_labels is not None:
        unique = sorted({label for label in labels if label})
        scores = score_labels(unique).tolist() if unique else []
        by_label = dict(zip(unique, scores, strict=True))
        columns["dga"] = pa.array([by_label.get(x) if x else None for x in labels], pa.float64())
    return pa.table(columns)
