"""Rebuild the DGA model shipped in src/tocsin/dns/data/ from Chromium's HSTS preload list.

The benign class is every registrable label of the HSTS preload list as packaged on PyPI by
``hstspreload`` (BSD-3-Clause; ``pip install 'tocsin[train]'``): host names people chose and
registered. The other class is generic synthetic randomness (uniform letters, letters and
digits, hex, consonant-vowel strings, letters drawn with benign letter frequencies), never the
DGA families the model is measured on (``tocsin.dns.dgagen``). Labels are split by a hash
into train (80%) and held-out test (20%); only train is used here, test is for
benchmarks/dga_eval.py. Everything is numpy: n-gram tables by counting, and a logistic
regression fitted by Newton's method. Run: ``python scripts/train_dga.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from tocsin.dns.dga import (
    FEATURES,
    MIN_LENGTH,
    MODEL_FILE,
    DgaModel,
    NgramTables,
    build_tables,
    label_features,
    normalise_labels,
    registrable_label,
)

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "tocsin" / "dns" / "data" / MODEL_FILE
TEST_SHARE = 5  # one label in five (by hash) is held out
CALIBRATION_FPR = 0.01  # a score of 0.5 is exceeded by this share of benign training labels


# -- the HSTS preload list ------------------------------------------------------------------


_IS_LEAF = 0x80


def _entries(block: bytes) -> Iterator[tuple[bool, bytes]]:
    """(is_leaf, text) of each entry of a block: a flags byte, a length byte, the text."""
    position = 0
    while position + 2 <= len(block):
        flags, size = block[position], block[position + 1]
        yield bool(flags & _IS_LEAF), block[position + 2 : position + 2 + size]
        position += 2 + size


def hsts_hosts() -> tuple[list[str], str]:
    """Every host name of the HSTS preload list in ``hstspreload``, and the package version.

    The package stores the list in layers, one per depth of label counted from the TLD. A
    lookup reads, at each depth, the block that the layer's jump table gives for the CRC-8 of
    the host's label at that depth, and scans its entries: a leaf is a whole preloaded host
    name, any other entry a label that sends the lookup one layer deeper. A block therefore
    holds the entries of every host whose label at that depth has that CRC, whatever its
    parents, so reading every block of every layer meets every leaf exactly where a lookup
    would find it.
    """
    try:
        import hstspreload  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SystemExit(
            "the benign list comes from the hstspreload package: pip install 'tocsin[train]'"
        ) from exc
    jump: list[list[tuple[int, int] | None]] = hstspreload._JUMPTABLE
    data = resources.files("hstspreload").joinpath("hstspreload.bin").read_bytes()
    hosts: set[bytes] = set()
    for layer in jump:
        for entry in layer:
            if entry is None:
                continue
            offset, size = entry
            hosts.update(
                text for is_leaf, text in _entries(data[offset : offset + size]) if is_leaf
            )
    return sorted(h.decode("ascii", "replace") for h in hosts), str(hstspreload.__version__)


# -- data -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BenignSplit:
    """The benign labels, deduplicated and split by hash."""

    version: str
    hosts: int
    labels: int
    train: tuple[str, ...]
    test: tuple[str, ...]


def is_test_label(label: str) -> bool:
    """Whether a label belongs to the held-out test split (a stable hash, not a random draw)."""
    digest = hashlib.blake2b(label.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % TEST_SHARE == 0


def split_labels(labels: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(train, test) of unique labels, sorted."""
    unique = sorted(set(labels))
    test = tuple(label for label in unique if is_test_label(label))
    train = tuple(label for label in unique if not is_test_label(label))
    return train, test


def benign_split() -> BenignSplit:
    """The HSTS preload list reduced to registrable labels and split 80/20."""
    hosts, version = hsts_hosts()
    labels = {label for label in map(registrable_label, hosts) if label}
    train, test = split_labels(sorted(labels))
    return BenignSplit(version, len(hosts), len(labels), train, test)


def synthetic_random(count: int, seed: int = 7, benign: Sequence[str] = ()) -> list[str]:
    """Generic random labels in five equal shares (none of them a DGA family's algorithm).

    Uniform letters (6-24), letters and digits (8-28), hex (8-40), consonant-vowel
    alternation (6-14), and letters drawn with the letter frequencies of ``benign`` (6-20).
    """
    rng = np.random.default_rng(seed)
    letters = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)
    alnum = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8)
    hexdigits = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
    consonants = np.frombuffer(b"bcdfghjklmnpqrstvwxz", dtype=np.uint8)
    vowels = np.frombuffer(b"aeiouy", dtype=np.uint8)
    freq = np.ones(26)
    if benign:
        raw = np.frombuffer("".join(benign).encode("ascii", "replace"), dtype=np.uint8)
        raw = raw[(raw >= ord("a")) & (raw <= ord("z"))]
        freq += np.bincount(raw - ord("a"), minlength=26)
    freq /= freq.sum()
    share = count // 5
    out: list[str] = []

    def draw(
        alphabet: np.ndarray, low: int, high: int, n: int, p: np.ndarray | None = None
    ) -> None:
        lengths = rng.integers(low, high + 1, n)
        chars = rng.choice(alphabet, size=(n, high), p=p)
        out.extend(bytes(row[:length]).decode() for row, length in zip(chars, lengths, strict=True))

    draw(letters, 6, 24, share)
    draw(alnum, 8, 28, share)
    draw(hexdigits, 8, 40, share)
    draw(letters, 6, 20, share, p=freq)
    rest = count - 4 * share
    lengths = rng.integers(6, 15, rest)
    cons = rng.choice(consonants, size=(rest, 14))
    vows = rng.choice(vowels, size=(rest, 14))
    parity = (np.arange(14)[None, :] + rng.integers(0, 2, rest)[:, None]) % 2 == 0
    chars = np.where(parity, cons, vows)
    out.extend(bytes(row[:length]).decode() for row, length in zip(chars, lengths, strict=True))
    return out


# -- fitting --------------------------------------------------------------------------------


def fit_logistic(
    x: np.ndarray, y: np.ndarray, *, l2: float = 1e-3, iterations: int = 50
) -> tuple[np.ndarray, float]:
    """Weights and intercept of an L2-regularised logistic regression (Newton's method).

    Both classes get the same total weight, whatever their counts.
    """
    n, features = x.shape
    design = np.hstack([x, np.ones((n, 1))])
    positives = max(float(y.sum()), 1.0)
    negatives = max(float(n - y.sum()), 1.0)
    sample = np.where(y > 0, n / (2 * positives), n / (2 * negatives))
    w = np.zeros(features + 1)
    penalty = np.full(features + 1, l2 * n)
    penalty[-1] = 0.0  # the intercept is not shrunk
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(design @ w, -50, 50)))
        gradient = design.T @ (sample * (p - y)) + penalty * w
        curvature = sample * p * (1 - p)
        hessian = (design * curvature[:, None]).T @ design + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])


def judged_texts(labels: Sequence[str]) -> list[str]:
    """The labels as the model reads them, keeping only those it judges."""
    texts, judged = normalise_labels(labels)
    return [t for t, ok in zip(texts, judged.tolist(), strict=True) if ok]


def train_model(
    train: Sequence[str],
    *,
    seed: int = 7,
    meta: dict[str, object] | None = None,
    positives: Sequence[str] | None = None,
) -> DgaModel:
    """A model from benign training labels and synthetic random ones.

    Benign features are cross-fitted: the n-gram tables that score one half of the benign
    labels are built from the other half, so the regression sees benign names as unseen names
    look at run time, not as memorised ones.
    """
    all_texts, _ = normalise_labels(train)
    all_texts = [t for t in all_texts if t]
    benign = judged_texts(train)
    randoms = (
        list(positives) if positives is not None else synthetic_random(len(benign), seed, benign)
    )
    randoms = judged_texts(randoms)
    fold_of = np.array([is_test_label("fold|" + t) for t in all_texts])
    halves = [
        [t for t, f in zip(all_texts, fold_of.tolist(), strict=True) if f == flag]
        for flag in (False, True)
    ]
    tables = [build_tables(half) for half in halves]
    benign_fold = np.array([is_test_label("fold|" + t) for t in benign])
    x_benign = np.zeros((len(benign), len(FEATURES)))
    for flag, own in ((False, 0), (True, 1)):
        rows = np.flatnonzero(benign_fold == flag)
        # scored with the other half's tables
        x_benign[rows] = label_features([benign[i] for i in rows], tables[1 - own])
    half = len(randoms) // 2
    x_random = np.vstack(
        [label_features(randoms[:half], tables[0]), label_features(randoms[half:], tables[1])]
    )
    x = np.vstack([x_benign, x_random])
    y = np.concatenate([np.zeros(len(x_benign)), np.ones(len(x_random))])
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    coef, intercept = fit_logistic((x - mean) / scale, y)
    benign_logits = ((x_benign - mean) / scale) @ coef + intercept
    # shift so 0.5 means "more random than (1 - CALIBRATION_FPR) of benign training labels"
    intercept -= float(np.quantile(benign_logits, 1 - CALIBRATION_FPR))
    final: NgramTables = build_tables(all_texts)
    info = {
        **(meta or {}),
        "benign_train_labels": len(benign),
        "random_labels": len(randoms),
        "min_length": MIN_LENGTH,
        "calibration_fpr": CALIBRATION_FPR,
        "seed": seed,
    }
    return DgaModel(
        final,
        mean=mean,
        scale=scale,
        coef=coef,
        intercept=intercept,
        medians=np.median(x_benign, axis=0),
        meta=info,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Build the model and write it (default: the package's data folder)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="model file to write")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic randomness")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    split = benign_split()
    meta: dict[str, object] = {
        "benign_source": f"hstspreload {split.version} (Chromium HSTS preload list, BSD-3-Clause)",
        "hosts": split.hosts,
        "labels": split.labels,
        "train_labels": len(split.train),
        "test_labels": len(split.test),
    }
    model = train_model(split.train, seed=args.seed, meta=meta)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    sys.stderr.write(
        f"hstspreload {split.version}: {split.hosts} hosts, {split.labels} registrable labels "
        f"({len(split.train)} train, {len(split.test)} test); "
        f"{model.meta['benign_train_labels']} benign and {model.meta['random_labels']} random "
        f"labels of >= {MIN_LENGTH} characters fitted; wrote {args.out} "
        f"({args.out.stat().st_size} bytes) in {time.perf_counter() - began:.1f} s\n"
    )
    for name, weight in zip(FEATURES, model.coef.tolist(), strict=True):
        sys.stderr.write(f"  {name:14s} {weight:+.3f}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
