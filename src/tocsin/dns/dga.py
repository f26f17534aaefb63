"""How random a registered domain's label looks, and which hosts walk a DGA.

Malware that generates its rendezvous domains (a domain generation algorithm, DGA) asks for
many names nobody registered. ``DgaModel`` scores one label (``xjw8k2qzvbn4`` of
``xjw8k2qzvbn4.net``) from 0 to 1 with a logistic regression over lexical features: how
likely its character trigrams and bigrams are under a model of benign names, its length,
digits, vowels, consonant runs, entropy and so on. The model is trained here
(``scripts/train_dga.py``, numpy only) on Chromium's HSTS preload list as the benign class and
on generic synthetic randomness as the other, never on the DGA families it is evaluated
against; docs/dns-dga.md has the data, the features and the figures.

One name is weak evidence: per-name classifiers miss many DGA names at a false-positive rate
an analyst can live with. ``score_hosts`` therefore scores each client over a window from its
distinct registered domains: random-looking ones answered NXDOMAIN count most, other NXDOMAIN
answers and random-looking names that resolved count a little.

Everything is vectorised: labels become one padded ``uint8`` array of symbol codes and the
n-gram tables are indexed with numpy, so a million labels take a few seconds on one core.
"""

from __future__ import annotations

import io
import math
import threading
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import orjson

from tocsin.core.errors import InvalidInputError
from tocsin.core.event import Reason
from tocsin.intel.lookalike import registrable

__all__ = [
    "DEFAULT_THRESHOLDS",
    "FEATURES",
    "MIN_LENGTH",
    "SEVERITY_TABLE",
    "DgaModel",
    "HostScores",
    "NgramTables",
    "build_tables",
    "encode_labels",
    "host_reasons",
    "label_features",
    "normalise_labels",
    "registrable_label",
    "score_hosts",
    "severity_for",
]

MIN_LENGTH = 6
"""Labels shorter than this are not judged (score 0): too few characters for any statistic."""

MAX_LENGTH = 63
"""DNS's limit on a label; longer input is cut here."""

MODEL_FILE = "dga_model.npz"

# Symbol codes: 0 is the boundary (and padding), then a-z, 0-9, "-", and 38 for anything else.
SYMBOLS = 39
_OTHER = 38
_CODE = np.full(256, _OTHER, dtype=np.uint8)
_CODE[0] = 0
for _i, _c in enumerate("abcdefghijklmnopqrstuvwxyz0123456789-", start=1):
    _CODE[ord(_c)] = _i
_IS_LETTER = np.zeros(SYMBOLS, dtype=bool)
_IS_LETTER[1:27] = True
_IS_DIGIT = np.zeros(SYMBOLS, dtype=bool)
_IS_DIGIT[27:37] = True
_IS_VOWEL = np.zeros(SYMBOLS, dtype=bool)
for _c in "aeiou":
    _IS_VOWEL[_CODE[ord(_c)]] = True
# "y" reads as a vowel in names (rhythm, flyby), so it does not extend a consonant run
_IS_CONSONANT = _IS_LETTER & ~_IS_VOWEL
_IS_CONSONANT[_CODE[ord("y")]] = False
_HYPHEN = int(_CODE[ord("-")])
_KIND = (_IS_LETTER * 1 + _IS_DIGIT * 2).astype(np.uint8)
_VOWEL_CODES = np.flatnonzero(_IS_VOWEL)
_SOUND = (_IS_CONSONANT * 1 + (_IS_LETTER & ~_IS_CONSONANT) * 2).astype(np.uint8)
_K_LOG_K = np.array([0.0] + [k * math.log2(k) for k in range(1, MAX_LENGTH + 2)])

FEATURES: tuple[str, ...] = (
    "trigram",
    "bigram",
    "trigram_llr",
    "common",
    "length",
    "short",
    "digits",
    "vowels",
    "consonant_run",
    "entropy",
    "hex",
    "switches",
    "alternation",
    "hyphens",
    "unique",
)
"""The model's features, in the order of its coefficients (docs/dns-dga.md describes each)."""

_UNIFORM_LOGP = -math.log(36.0)  # a uniformly random letter or digit


# -- labels ---------------------------------------------------------------------------------


def registrable_label(name: str) -> str | None:
    """The registered domain's own label: ``example`` for ``www.example.co.uk``; None if none."""
    text = name.strip().rstrip(".").lower()
    if not text:
        return None
    if not text.isascii():
        try:
            text = text.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    domain = registrable(text)
    if domain is None:
        return None
    return domain.split(".", 1)[0]


def _fold_latin(text: str) -> str | None:
    """Latin text without its accents (``münchen`` -> ``munchen``); None for other scripts."""
    folded = "".join(
        c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c)
    ).lower()
    return folded if folded.isascii() else None


def _decode_idn(label: str) -> str | None:
    """A Latin ``xn--`` label as accent-free text; None for other scripts or bad punycode."""
    try:
        text = label[4:].encode("ascii").decode("punycode")
    except (UnicodeError, ValueError):
        return None
    return _fold_latin(text)


def normalise_labels(labels: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Lowercase labels as the model reads them, and which of them can be judged.

    An ``xn--`` label (or a Unicode one) is scored on its text when that is Latin script,
    accents dropped: the punycode form itself looks random to any lexical model. A label in
    another script is not judged, nor is one shorter than ``MIN_LENGTH``.
    """
    texts = [label.lower() for label in labels]
    joined = "\0".join(texts)  # one scan in C instead of a Python test per label
    if "xn--" in joined or not joined.isascii():
        for index, text in enumerate(texts):
            if text.startswith("xn--"):
                texts[index] = _decode_idn(text) or ""
            elif not text.isascii():
                texts[index] = _fold_latin(text) or ""
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    for index in np.flatnonzero(lengths > MAX_LENGTH).tolist():
        texts[index] = texts[index][:MAX_LENGTH]
    judged = lengths >= MIN_LENGTH  # an undecodable or non-Latin IDN is "" here
    return texts, judged


def encode_labels(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Labels as one ``uint8`` array of symbol codes: two boundaries, the label, one boundary.

    Row ``i`` holds ``0 0 c1 .. cL 0`` then padding (also 0); returns it and the lengths.
    """
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    if len(texts) and lengths.max() > MAX_LENGTH:
        texts = [t[:MAX_LENGTH] for t in texts]
        lengths = np.minimum(lengths, MAX_LENGTH)
    width = int(lengths.max(initial=0)) + 3
    joined = "".join([("\0\0" + t).ljust(width, "\0") for t in texts])
    raw = np.frombuffer(joined.encode("ascii", "replace"), dtype=np.uint8)
    return _CODE[raw].reshape(len(texts), width), lengths


# -- n-gram tables --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NgramTables:
    """Log-probabilities of a character given the one or two before it, under benign names."""

    trigram: np.ndarray  # float32, SYMBOLS**3: log P(c | a b), index (a*S + b)*S + c
    bigram: np.ndarray  # float32, SYMBOLS**2: log P(c | b)
    common: np.ndarray  # bool, SYMBOLS**3: three characters seen together often in benign names


def count_ngrams(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Bigram and trigram counts (boundaries included) over the labels."""
    codes, lengths = encode_labels(texts)
    tri_index, bi_index, valid = _indices(codes, lengths)
    tri = np.bincount(tri_index[valid], minlength=SYMBOLS**3).astype(np.float64)
    bi = np.bincount(bi_index[valid], minlength=SYMBOLS**2).astype(np.float64)
    return bi, tri


def build_tables(texts: Sequence[str], *, prior: float = 4.0, common_min: int = 20) -> NgramTables:
    """Smoothed n-gram tables from benign labels.

    Each order backs off to the one below with a Dirichlet prior of weight ``prior`` (a context
    seen a few times leans on its shorter context); unigrams get add-one smoothing.
    """
    bi, tri = count_ngrams(texts)
    uni = bi.reshape(SYMBOLS, SYMBOLS).sum(axis=0) + 1.0
    p1 = uni / uni.sum()
    bi2 = bi.reshape(SYMBOLS, SYMBOLS)
    p2 = (bi2 + prior * p1[None, :]) / (bi2.sum(axis=1, keepdims=True) + prior)
    tri3 = tri.reshape(SYMBOLS * SYMBOLS, SYMBOLS)
    # the context "a b" backs off to "b": row a*S+b uses p2 row b
    backoff = np.tile(p2, (SYMBOLS, 1))
    p3 = (tri3 + prior * backoff) / (tri3.sum(axis=1, keepdims=True) + prior)
    trigram = np.log(p3).astype(np.float32).reshape(SYMBOLS, SYMBOLS, SYMBOLS)
    bigram = np.log(p2).astype(np.float32)
    # "x, end, padding" and "padding, padding" follow every label in the padded array: they
    # weigh nothing, so features need no mask (an empty label, the only real use, is not judged)
    trigram[:, 0, 0] = 0.0
    bigram[0, 0] = 0.0
    common = (tri >= common_min).reshape(SYMBOLS, SYMBOLS, SYMBOLS)
    common[0, :, :] = common[:, 0, :] = common[:, :, 0] = False
    return NgramTables(trigram=trigram.ravel(), bigram=bigram.ravel(), common=common.ravel())


def _indices(codes: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trigram and bigram table indices per position, and which positions are inside a label."""
    c = codes.astype(np.int32)
    # position j predicts symbol j+2: the L characters and the end boundary
    tri = (c[:, :-2] * SYMBOLS + c[:, 1:-1]) * SYMBOLS + c[:, 2:]
    bi = c[:, 1:-1] * SYMBOLS + c[:, 2:]
    valid = np.arange(tri.shape[1])[None, :] <= lengths[:, None]
    return tri, bi, valid


# -- features -------------------------------------------------------------------------------


def label_features(texts: Sequence[str], tables: NgramTables, *, chunk: int = 32768) -> np.ndarray:
    """The feature matrix (one row per normalised label, columns as ``FEATURES``)."""
    out = np.zeros((len(texts), len(FEATURES)), dtype=np.float64)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    # chunks of similar length: padding to the longest label of a chunk then costs little
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(texts), chunk):
        rows = order[start : start + chunk]
        out[rows] = _features([texts[i] for i in rows], tables)
    return out


def _features(texts: Sequence[str], tables: NgramTables) -> np.ndarray:
    codes, lengths = encode_labels(texts)
    n = len(texts)
    length = np.maximum(lengths, 1).astype(np.float64)
    c = codes.astype(np.int32)
    # the tables hold 0 for the padding's n-grams, so no mask is needed (see build_tables)
    tri_index = (c[:, :-2] * SYMBOLS + c[:, 1:-1]) * SYMBOLS + c[:, 2:]
    tri_lp = tables.trigram[tri_index].sum(axis=1, dtype=np.float64)
    bi_lp = tables.bigram[c[:, 1:-1] * SYMBOLS + c[:, 2:]].sum(axis=1, dtype=np.float64)
    steps = (lengths + 1).astype(np.float64)
    # "common" is defined on trigrams of three characters, so boundaries count as uncommon
    common = tables.common[tri_index[:, 2:]].sum(axis=1) / np.maximum(lengths - 2, 1)

    body = codes[:, 2:]  # characters, then boundary and padding (code 0)
    rows = np.repeat(np.arange(n, dtype=np.int64) * SYMBOLS, body.shape[1])
    counts = np.bincount(rows + body.ravel(), minlength=n * SYMBOLS).reshape(n, SYMBOLS)
    counts[:, 0] = 0
    letters = counts[:, 1:27].sum(axis=1)
    digits = counts[:, 27:37].sum(axis=1)
    vowels = counts[:, _VOWEL_CODES].sum(axis=1)
    hexes = digits + counts[:, 1:7].sum(axis=1)
    hyphens = counts[:, _HYPHEN]
    # Shannon entropy = log2 L - sum(k log2 k) / L over the character counts k
    entropy = np.log2(length) - _K_LOG_K[counts].sum(axis=1) / length
    unique = (counts > 0).sum(axis=1)

    consonant = _IS_CONSONANT[body]
    positions = np.arange(body.shape[1], dtype=np.int32)
    last_break = np.maximum.accumulate(np.where(consonant, -1, positions[None, :]), axis=1)
    consonant_run = (positions[None, :] - last_break).max(axis=1, initial=0)
    kind = _KIND[body]  # 1 letter, 2 digit, 0 anything else
    switches = ((kind[:, :-1] | kind[:, 1:]) == 3).sum(axis=1)
    # consonant-vowel-consonant... strict alternation is how "pronounceable" generators write
    sound = _SOUND[body]  # 1 consonant, 2 vowel (y included), 0 anything else
    alternation = ((sound[:, :-1] | sound[:, 1:]) == 3).sum(axis=1) / np.maximum(lengths - 1, 1)

    feats = np.empty((n, len(FEATURES)), dtype=np.float64)
    feats[:, 0] = tri_lp / steps
    feats[:, 1] = bi_lp / steps
    # total evidence against a uniformly random string: grows with length for real words
    feats[:, 2] = (tri_lp - steps * _UNIFORM_LOGP) / np.sqrt(steps)
    feats[:, 3] = common
    feats[:, 4] = np.log(length)
    feats[:, 5] = lengths < 9
    feats[:, 6] = digits / length
    feats[:, 7] = vowels / np.maximum(letters, 1)
    feats[:, 8] = consonant_run
    feats[:, 9] = entropy / np.log2(np.maximum(length, 2.0))
    feats[:, 10] = (hexes == lengths) & (lengths >= 8) & (digits > 0)
    feats[:, 11] = switches / length
    feats[:, 12] = alternation
    feats[:, 13] = hyphens
    feats[:, 14] = unique / length
    return feats


# -- the model ------------------------------------------------------------------------------

_EXPLAIN: dict[str, tuple[str, str]] = {
    # feature: (check, how its value reads); "{v}" is the label's value, "{m}" benign median
    "trigram": ("dga.ngram", "character trigrams rare in benign names (mean log-prob {v:.2f}, "
                "benign median {m:.2f})"),
    "bigram": ("dga.ngram", "character pairs rare in benign names (mean log-prob {v:.2f}, "
               "benign median {m:.2f})"),
    "trigram_llr": ("dga.ngram", "its characters follow each other unlike in benign names "
                    "(log-likelihood ratio to random text {v:.1f}, benign median {m:.1f})"),
    "common": ("dga.common", "{v:.0%} of its trigrams are common in benign names "
               "(benign median {m:.0%})"),
    "length": ("dga.length", "{n} characters long"),
    "short": ("dga.length", "{n} characters long"),
    "digits": ("dga.digits", "{v:.0%} digits (benign median {m:.0%})"),
    "vowels": ("dga.vowels", "{v:.0%} of its letters are vowels (benign median {m:.0%})"),
    "consonant_run": ("dga.consonants", "{v:.0f} consonants in a row (benign median {m:.0f})"),
    "entropy": ("dga.entropy", "character entropy {v:.2f} of the maximum (benign median {m:.2f})"),
    "hex": ("dga.hex", "only hexadecimal characters"),
    "switches": ("dga.switches", "letters and digits alternate often ({v:.0%} of characters)"),
    "alternation": ("dga.alternation", "consonants and vowels alternate like a generated "
                    "pronounceable string ({v:.0%} of neighbours, benign median {m:.0%})"),
    "hyphens": ("dga.hyphens", "{v:.0f} hyphens"),
    "unique": ("dga.unique", "{v:.0%} of its characters are distinct (benign median {m:.0%})"),
}  # fmt: skip

_EXPLAIN_FROM = 0.2
"""Below this score ``explain`` only says the label reads like a name."""

_lock = threading.Lock()
_loaded: DgaModel | None = None


class DgaModel:
    """A trained lexical model: how random a registered label looks, from 0 to 1."""

    __slots__ = ("coef", "intercept", "mean", "medians", "meta", "scale", "tables")

    def __init__(
        self,
        tables: NgramTables,
        *,
        mean: np.ndarray,
        scale: np.ndarray,
        coef: np.ndarray,
        intercept: float,
        medians: np.ndarray,
        meta: Mapping[str, object],
    ) -> None:
        if not (len(mean) == len(scale) == len(coef) == len(medians) == len(FEATURES)):
            raise InvalidInputError(
                f"DGA model has {len(coef)} coefficients for {len(FEATURES)} features; "
                "rebuild it with scripts/train_dga.py"
            )
        self.tables = tables
        self.mean = mean
        self.scale = scale
        self.coef = coef
        self.intercept = float(intercept)
        self.medians = medians
        self.meta = dict(meta)

    @classmethod
    def load(cls) -> DgaModel:
        """The model shipped in the package (loaded once, then shared)."""
        global _loaded
        with _lock:
            if _loaded is None:
                data = resources.files("tocsin.dns").joinpath("data", MODEL_FILE).read_bytes()
                _loaded = cls.from_bytes(data, origin=f"tocsin/dns/data/{MODEL_FILE}")
            return _loaded

    @classmethod
    def from_file(cls, path: Path) -> DgaModel:
        """A model saved by ``save``."""
        return cls.from_bytes(path.read_bytes(), origin=str(path))

    @classmethod
    def from_bytes(cls, data: bytes, *, origin: str = "<bytes>") -> DgaModel:
        """A model from the bytes of its ``.npz`` file."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
            common = np.unpackbits(arrays["common"])[: SYMBOLS**3].astype(bool)
            tables = NgramTables(
                trigram=arrays["trigram"].astype(np.float32),
                bigram=arrays["bigram"].astype(np.float32),
                common=common,
            )
            meta = orjson.loads(arrays["meta"].tobytes())
            if tuple(meta.get("features", ())) != FEATURES:
                raise InvalidInputError(
                    f"DGA model {origin!r} was trained on other features; "
                    "rebuild it with scripts/train_dga.py"
                )
            return cls(
                tables,
                mean=arrays["mean"],
                scale=arrays["scale"],
                coef=arrays["coef"],
                intercept=float(arrays["intercept"][0]),
                medians=arrays["medians"],
                meta=meta,
            )
        except (KeyError, ValueError, OSError, orjson.JSONDecodeError) as exc:
            raise InvalidInputError(f"cannot read DGA model {origin!r}: {exc}") from exc

    def save(self, path: Path) -> None:
        """Write the model as a compressed ``.npz`` (float16 tables keep it small)."""
        meta = {**self.meta, "features": list(FEATURES)}
        with path.open("wb") as handle:
            np.savez_compressed(
                handle,
                trigram=self.tables.trigram.astype(np.float16),
                bigram=self.tables.bigram.astype(np.float16),
                common=np.packbits(self.tables.common),
                mean=self.mean,
                scale=self.scale,
                coef=self.coef,
                intercept=np.array([self.intercept]),
                medians=self.medians,
                meta=np.frombuffer(orjson.dumps(meta), dtype=np.uint8),
            )

    def logits(self, features: np.ndarray) -> np.ndarray:
        """The model's log-odds for rows of features."""
        weights = np.asarray(self.coef / self.scale, dtype=np.float64)
        out: np.ndarray = features @ weights + (self.intercept - float(self.mean @ weights))
        return out

    def score_labels(self, labels: Sequence[str]) -> np.ndarray:
        """Score each registered label from 0 (a name) to 1 (random); unjudged labels get 0."""
        texts, judged = normalise_labels(labels)
        scores = np.zeros(len(texts), dtype=np.float64)
        if not judged.any():
            return scores
        index = np.flatnonzero(judged)
        chosen = [texts[i] for i in index]
        logits = self.logits(label_features(chosen, self.tables))
        scores[index] = 1.0 / (1.0 + np.exp(-np.clip(logits, -50.0, 50.0)))
        return scores

    def explain(self, label: str) -> tuple[Reason, ...]:
        """Why ``label`` scored as it did: the features that pushed it towards random."""
        texts, judged = normalise_labels([label])
        text = texts[0]
        if not judged[0]:
            if not text and (label.lower().startswith("xn--") or not label.isascii()):
                detail = f"{label!r} is an internationalised name in a non-Latin script"
            else:
                detail = f"{label!r} has fewer than {MIN_LENGTH} characters"
            return (Reason("dga.not_judged", f"{detail}: not judged", 0.0),)
        row = label_features([text], self.tables)[0]
        contributions = (row - self.mean) / self.scale * self.coef
        score = float(
            1.0 / (1.0 + math.exp(-float(np.clip(contributions.sum() + self.intercept, -50, 50))))
        )
        # a feature explains only when it pushes towards random *and* its value is on the
        # random side of benign names (no hyphens is not a reason, even if it weighs a little)
        direction = (row - self.medians) * self.coef
        positive = {
            i: float(c) for i, c in enumerate(contributions) if c > 0.05 and direction[i] > 0
        }
        # several n-gram features tell one story: keep the strongest of each check
        best: dict[str, tuple[float, int]] = {}
        for i, value in positive.items():
            check = _EXPLAIN[FEATURES[i]][0]
            if check not in best or value > best[check][0]:
                best[check] = (value, i)
        total = sum(v for v, _ in best.values()) or 1.0
        reasons = []
        for value, i in sorted(best.values(), reverse=True):
            check, template = _EXPLAIN[FEATURES[i]]
            detail = template.format(v=row[i], m=self.medians[i], n=len(text))
            reasons.append(Reason(check, detail, round(score * value / total, 3)))
        if score < _EXPLAIN_FROM:
            # at a low score the features that pushed a little towards random mislead
            reasons = [
                Reason("dga.name_like", f"{text!r} reads like a name (score {score:.2f})", 0.0)
            ]
        if text != label.lower():
            reasons.insert(0, Reason("dga.idn", f"scored as {text!r}", 0.0))
        return tuple(reasons)


# -- per host ---------------------------------------------------------------------------------

DEFAULT_THRESHOLDS: dict[str, float] = {
    "dga.name": 0.5,
    "dga.nx_weight": 0.25,
    "dga.nx_baseline": 0.05,
    "dga.resolved_weight": 0.5,
    "dga.resolved_baseline": 0.02,
    "dga.evidence_half": 6.0,
    "dga.host": 0.5,
    "dga.min_domains": 8.0,
}
"""Thresholds of the per-host DGA score (docs/dns-dga.md explains each)."""

SEVERITY_TABLE: tuple[tuple[float, str], ...] = (
    (0.8, "high"),
    (0.5, "medium"),
    (0.3, "low"),
    (0.0, "informational"),
)
"""Host score -> Sigma level: the first row whose bound the score reaches."""


@dataclass(frozen=True, slots=True)
class HostScores:
    """Per-client DGA evidence over a window; every array is indexed by client index."""

    score: np.ndarray  # float64 0..1
    domains: np.ndarray  # distinct registered domains asked for
    nx_domains: np.ndarray  # of them, answered NXDOMAIN
    random_domains: np.ndarray  # of them, random-looking (name score >= dga.name)
    random_nx: np.ndarray  # random-looking and NXDOMAIN
    flagged: np.ndarray  # bool: score >= dga.host and enough suspicious domains
    lookups: np.ndarray  # lookups of those domains
    evidence: np.ndarray  # the weighted count the score is made from
    thresholds: Mapping[str, float]


def _thresholds(overrides: Mapping[str, float] | None) -> dict[str, float]:
    merged = dict(DEFAULT_THRESHOLDS)
    if overrides:
        unknown = sorted(set(overrides) - set(merged))
        if unknown:
            raise InvalidInputError(
                f"unknown DGA threshold(s) {', '.join(unknown)}; known: {', '.join(merged)}"
            )
        merged.update({k: float(v) for k, v in overrides.items()})
    return merged


def score_hosts(
    client: np.ndarray,
    score: np.ndarray,
    nx: np.ndarray,
    lookups: np.ndarray,
    *,
    n_clients: int,
    thresholds: Mapping[str, float] | None = None,
) -> HostScores:
    """Score each client from its (client, registered domain) rows of one window.

    ``client`` is the client index of each row, ``score`` its label's DGA score, ``nx``
    whether the client got NXDOMAIN for that domain, ``lookups`` how often it asked.
    """
    t = _thresholds(thresholds)
    client = np.asarray(client, dtype=np.int64)
    score = np.asarray(score, dtype=np.float64)
    nx = np.asarray(nx, dtype=bool)
    lookups = np.asarray(lookups, dtype=np.float64)
    if not (len(client) == len(score) == len(nx) == len(lookups)):
        raise InvalidInputError(
            f"score_hosts: arrays differ in length (client {len(client)}, score {len(score)}, "
            f"nx {len(nx)}, lookups {len(lookups)})"
        )
    if len(client) and (client.min() < 0 or client.max() >= n_clients):
        raise InvalidInputError(f"score_hosts: client index outside 0..{n_clients - 1}")
    # a missing score (a name without a label) cannot look random
    random_ = np.nan_to_num(score, nan=0.0) >= t["dga.name"]

    def count(weights: np.ndarray) -> np.ndarray:
        return np.bincount(client, weights=weights, minlength=n_clients)

    domains = np.bincount(client, minlength=n_clients)
    nx_domains = count(nx.astype(np.float64))
    random_domains = count(random_.astype(np.float64))
    random_nx = count((random_ & nx).astype(np.float64))
    suspicious = count((random_ | nx).astype(np.float64))
    # Random-looking NXDOMAIN answers are rare for a benign host whatever its volume; other
    # NXDOMAIN answers (typos, dead links) and random-looking names that resolve (CDNs) grow
    # with its volume, so only their excess over a share of its domains counts.
    nx_excess = np.maximum(nx_domains - random_nx - t["dga.nx_baseline"] * domains, 0.0)
    resolved_excess = np.maximum(
        random_domains - random_nx - t["dga.resolved_baseline"] * domains, 0.0
    )
    evidence = (
        random_nx + t["dga.nx_weight"] * nx_excess + t["dga.resolved_weight"] * resolved_excess
    )
    host = evidence / (evidence + max(t["dga.evidence_half"], 1e-9))
    flagged = (host >= t["dga.host"]) & (suspicious >= t["dga.min_domains"])
    return HostScores(
        score=host,
        domains=domains.astype(np.int64),
        nx_domains=nx_domains.astype(np.int64),
        random_domains=random_domains.astype(np.int64),
        random_nx=random_nx.astype(np.int64),
        flagged=flagged,
        lookups=count(lookups).astype(np.int64),
        evidence=evidence,
        thresholds=t,
    )


def host_reasons(scores: HostScores, index: int, samples: Sequence[str]) -> tuple[Reason, ...]:
    """Why client ``index`` scored as it did: the counts behind its evidence and sample names."""
    t = scores.thresholds
    domains = int(scores.domains[index])
    nx = int(scores.nx_domains[index])
    random_nx = int(scores.random_nx[index])
    random_ok = int(scores.random_domains[index]) - random_nx
    evidence = float(scores.evidence[index]) or 1.0
    host = float(scores.score[index])
    nx_excess = max(nx - random_nx - t["dga.nx_baseline"] * domains, 0.0)
    ok_excess = max(random_ok - t["dga.resolved_baseline"] * domains, 0.0)
    parts = [
        (
            "dga.random_nx",
            f"{random_nx} random-looking registered domains answered NXDOMAIN "
            f"(name score >= {t['dga.name']:.2f})",
            float(random_nx),
        ),
        (
            "dga.nx_domains",
            f"{nx} of {domains} registered domains answered NXDOMAIN ({nx / max(domains, 1):.0%}; "
            f"other than random-looking ones, those beyond {t['dga.nx_baseline']:.0%} count)",
            t["dga.nx_weight"] * nx_excess,
        ),
        (
            "dga.random_resolved",
            f"{random_ok} random-looking registered domains resolved (those beyond "
            f"{t['dga.resolved_baseline']:.0%} of its domains count)",
            t["dga.resolved_weight"] * ok_excess,
        ),
    ]
    reasons = [
        Reason(check, detail, round(host * share / evidence, 3))
        for check, detail, share in parts
        if share > 0 or check == "dga.nx_domains"
    ]
    if samples:
        shown = ", ".join(samples[:10])
        more = f" and {len(samples) - 10} more" if len(samples) > 10 else ""
        reasons.append(Reason("dga.samples", f"names: {shown}{more}", 0.0))
    return tuple(reasons)


def severity_for(score: float) -> str:
    """The Sigma level of a host score, from ``SEVERITY_TABLE``."""
    for bound, level in SEVERITY_TABLE:
        if score >= bound:
            return level
    return "informational"
