"""The DGA model, the family generators and the per-host score."""

from __future__ import annotations

import importlib.util
import re
import sys
from datetime import date
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tocsin.core.errors import InvalidInputError
from tocsin.dns import dgagen
from tocsin.dns.dga import (
    DEFAULT_THRESHOLDS,
    MIN_LENGTH,
    SEVERITY_TABLE,
    DgaModel,
    host_reasons,
    label_features,
    normalise_labels,
    registrable_label,
    score_hosts,
    severity_for,
)
from tocsin.dns.dgagen import FAMILIES, KINDS, generate

ROOT = Path(__file__).resolve().parents[2]
DAY = date(2026, 11, 20)
HOSTNAME = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+$")
BENIGN = ["google", "wikipedia", "bankofamerica", "stackoverflow", "microsoft", "nytimes"]


def random_labels(count: int, seed: int, alphabet: str = "abcdefghijklmnopqrstuvwxyz") -> list[str]:
    rng = np.random.default_rng(seed)
    chars = np.array(list(alphabet))
    return ["".join(rng.choice(chars, int(rng.integers(10, 16)))) for _ in range(count)]


# -- the shipped model ------------------------------------------------------------------------


def test_shipped_model_orders_obvious_cases() -> None:
    model = DgaModel.load()
    assert DgaModel.load() is model  # one shared instance
    benign = model.score_labels(BENIGN)
    odd = model.score_labels(["xjw8k2qzvbn4", "a3edae587b59a5d01b3af46db7afc548", "qzxkvjwpmtrb"])
    assert benign.dtype == np.float64 and benign.shape == (len(BENIGN),)
    assert benign.max() < 0.1 < 0.9 < odd.min()
    assert benign.min() >= 0.0 and odd.max() <= 1.0


def test_shipped_model_is_small_and_says_where_it_comes_from() -> None:
    path = ROOT / "src" / "tocsin" / "dns" / "data" / "dga_model.npz"
    assert path.stat().st_size < 1_000_000
    meta = DgaModel.load().meta
    assert "hstspreload" in str(meta["benign_source"])
    assert int(meta["train_labels"]) > int(meta["test_labels"]) > 10_000  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("abc", 0.0),  # shorter than MIN_LENGTH: not judged
        ("", 0.0),
        ("xn--80ak6aa92e", 0.0),  # Cyrillic: not judged
        ("xn--", 0.0),  # undecodable
    ],
)
def test_unjudged_labels_score_zero(label: str, expected: float) -> None:
    assert DgaModel.load().score_labels([label])[0] == expected


def test_latin_idn_is_scored_on_its_decoded_text() -> None:
    model = DgaModel.load()
    idn, plain, upper, raw = model.score_labels(["xn--mnchen-3ya", "munchen", "MUNCHEN", "München"])
    assert idn == pytest.approx(plain) and upper == pytest.approx(plain) == raw
    assert model.score_labels(["пример-сайта"])[0] == 0.0  # Cyrillic, not punycoded: not judged
    assert normalise_labels(["xn--mnchen-3ya"])[0] == ["munchen"]


def test_batch_scores_equal_single_scores_across_chunks_and_lengths() -> None:
    model = DgaModel.load()
    labels = [*BENIGN, *random_labels(40, 3), "x" * 80, "ab", "0123456789abcdef", "web-3-go"]
    batch = model.score_labels(labels)
    singles = np.array([model.score_labels([label])[0] for label in labels])
    assert np.allclose(batch, singles)
    texts, judged = normalise_labels(labels)
    kept = [t for t, ok in zip(texts, judged.tolist(), strict=True) if ok]
    assert np.allclose(
        label_features(kept, model.tables, chunk=7), label_features(kept, model.tables)
    )
    assert len(texts[labels.index("x" * 80)]) == 63  # cut at DNS's limit, not refused
    long_row, cut_row = label_features(["ab" * 60, "ab" * 60 + "q"], model.tables)
    assert np.array_equal(long_row, cut_row)  # features read the first 63 characters too


def test_explain_names_the_features_that_made_the_score() -> None:
    model = DgaModel.load()
    reasons = model.explain("xjw8k2qzvbn4")
    score = model.score_labels(["xjw8k2qzvbn4"])[0]
    checks = [r.check for r in reasons]
    assert "dga.ngram" in checks
    assert sum(r.weight for r in reasons) == pytest.approx(score, abs=0.01)
    assert all(r.detail for r in reasons)
    short = model.explain("abc")
    assert [r.check for r in short] == ["dga.not_judged"] and "fewer than" in short[0].detail
    benign = model.explain("wikipedia")
    assert sum(r.weight for r in benign) < 0.1
    assert model.explain("xn--80ak6aa92e")[0].detail.endswith("non-Latin script: not judged")


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("www.example.co.uk", "example"),
        ("EXAMPLE.COM.", "example"),
        ("a.b.c.example.org", "example"),
        ("münchen.de", "xn--mnchen-3ya"),
        ("xn--mnchen-3ya.de", "xn--mnchen-3ya"),
        ("localhost", None),
        ("co.uk", None),
        ("", None),
        ("a..example.com", None),
    ],
)
def test_registrable_label(name: str, label: str | None) -> None:
    assert registrable_label(name) == label


def test_generated_dga_names_mostly_score_as_random() -> None:
    model = DgaModel.load()
    for family in ("cryptolocker", "bamital", "gameover"):
        labels = [registrable_label(n) or "" for n in generate(family, DAY, 200)]
        assert np.median(model.score_labels(labels)) > DEFAULT_THRESHOLDS["dga.name"]


# -- generators -------------------------------------------------------------------------------


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_generators_are_deterministic_valid_and_distinct(family: str) -> None:
    names = generate(family, DAY, 300)
    assert names == generate(family, DAY, 300)
    assert names[:50] == generate(family, DAY, 50)
    assert set(names).isdisjoint(generate(family, date(2026, 11, 21), 300))
    assert generate(family, 12345, 20) == generate(family, 12345, 20)
    assert len(names) == len(set(names)) == 300
    bad = [n for n in names if not HOSTNAME.match(n) or len(n) > 253]
    assert not bad
    assert all(registrable_label(n) for n in names)  # every TLD is a real public suffix
    assert KINDS[family] in ("arithmetic", "hash", "letters+digits", "pronounceable", "wordlist")


def _labels(family: str) -> list[str]:
    return [n.split(".", 1)[0] for n in generate(family, DAY, 300)]


def test_generators_have_their_family_shape() -> None:
    crypto = _labels("cryptolocker")
    assert all(12 <= len(x) <= 15 and x.isalpha() for x in crypto)
    assert {n.split(".", 1)[1] for n in generate("cryptolocker", DAY, 300)} == {
        "com", "net", "biz", "ru", "org", "co.uk", "info"
    }  # fmt: skip
    ramnit = _labels("ramnit")
    assert all(8 <= len(x) <= 19 and x.isalpha() for x in ramnit)
    assert "z" not in "".join(ramnit)
    assert all(len(x) == 12 and x.isalpha() for x in _labels("tinba"))
    assert all(re.fullmatch(r"[0-9a-f]{32}", x) for x in _labels("bamital"))
    assert all(re.fullmatch(r"[a-z][0-9a-f]{33}", x) for x in _labels("dyre"))
    gameover = _labels("gameover")
    assert all(20 <= len(x) <= 28 and x.isalnum() for x in gameover)
    assert any(c.isdigit() for c in "".join(gameover))
    vowels = set("aeiouy")
    for label in _labels("simda"):
        assert 7 <= len(label) <= 11
        assert all((a in vowels) != (b in vowels) for a, b in zip(label, label[1:], strict=False))
    words = set(dgagen._WORDS)
    for label in _labels("suppobox"):
        assert any(label[:i] in words and label[i:] in words for i in range(3, len(label) - 2))
    matsnu = _labels("matsnu")
    assert all(len(x) <= 24 for x in matsnu) and any("-" in x for x in matsnu)


def test_generator_errors_are_clear() -> None:
    with pytest.raises(InvalidInputError, match="unknown DGA family 'nope'"):
        generate("nope", DAY, 3)
    with pytest.raises(InvalidInputError, match="int or a date"):
        generate("ramnit", "2026-01-01", 3)  # type: ignore[arg-type]


# -- per host ----------------------------------------------------------------------------------


Rows = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _office(model: DgaModel) -> tuple[Rows, list[str]]:
    """Client 0: 200 benign names, 3 of them NXDOMAIN; client 1: the same and 30 random NX."""
    words = sorted(dgagen._WORDS)
    benign = [a + b for a, b in zip(words[:200], words[200:400], strict=True)]
    walker = random_labels(30, 11)
    labels = benign + benign + walker
    client = np.array([0] * 200 + [1] * 200 + [1] * 30)
    nx = np.zeros(len(labels), dtype=bool)
    nx[[5, 50, 150, 205, 250, 350]] = True
    nx[400:] = True
    rows = (client, model.score_labels(labels), nx, np.full(len(labels), 2))
    return rows, [w + ".com" for w in walker]


def test_score_hosts_flags_the_walker_not_the_office() -> None:
    rows, _ = _office(DgaModel.load())
    host = score_hosts(*rows, n_clients=3)
    assert host.flagged.tolist() == [False, True, False]  # client 2 asked nothing
    assert host.domains.tolist() == [200, 230, 0]
    assert host.nx_domains.tolist() == [3, 33, 0]
    assert host.random_nx[1] >= 25 and host.random_nx[0] == 0
    assert host.lookups.tolist() == [400, 460, 0]
    assert host.score[1] > 0.7 > 0.2 > host.score[0]
    assert severity_for(float(host.score[1])) in ("medium", "high")


def test_host_reasons_give_counts_and_samples() -> None:
    rows, samples = _office(DgaModel.load())
    host = score_hosts(*rows, n_clients=2)
    reasons = host_reasons(host, 1, samples)
    text = " | ".join(r.detail for r in reasons)
    assert f"{host.random_nx[1]} random-looking registered domains answered NXDOMAIN" in text
    assert "33 of 230 registered domains answered NXDOMAIN (14%;" in text
    assert samples[0] in text and "and 20 more" in text
    assert {r.check for r in reasons} >= {"dga.random_nx", "dga.nx_domains", "dga.samples"}
    assert sum(r.weight for r in reasons) == pytest.approx(host.score[1], abs=0.01)


def test_thresholds_override_and_unknown_names_are_refused() -> None:
    rows, _ = _office(DgaModel.load())
    assert not score_hosts(*rows, n_clients=2, thresholds={"dga.min_domains": 100}).flagged[1]
    assert not score_hosts(*rows, n_clients=2, thresholds={"dga.host": 0.99}).flagged[1]
    # every name counts as random and NXDOMAIN weighs fully: now the office is flagged too
    loose = score_hosts(
        *rows,
        n_clients=2,
        thresholds={"dga.name": 0.0, "dga.resolved_baseline": 0.0, "dga.min_domains": 1},
    )
    assert loose.flagged.tolist() == [True, True]
    assert loose.thresholds["dga.name"] == 0.0
    with pytest.raises(InvalidInputError, match="unknown DGA threshold"):
        score_hosts(*rows, n_clients=2, thresholds={"dga.nope": 1.0})


def test_score_hosts_rejects_bad_arrays() -> None:
    with pytest.raises(InvalidInputError, match="differ in length"):
        score_hosts(
            np.array([0]), np.array([0.5, 0.2]), np.array([True]), np.array([1]), n_clients=1
        )
    with pytest.raises(InvalidInputError, match="outside"):
        score_hosts(np.array([3]), np.array([0.5]), np.array([True]), np.array([1]), n_clients=2)
    empty = score_hosts(np.array([]), np.array([]), np.array([]), np.array([]), n_clients=2)
    assert empty.flagged.tolist() == [False, False] and empty.score.tolist() == [0.0, 0.0]


def test_missing_name_scores_do_not_count_as_random() -> None:
    host = score_hosts(
        np.zeros(10, dtype=int), np.full(10, np.nan), np.ones(10, bool), np.ones(10), n_clients=1
    )
    assert host.random_domains[0] == 0 and host.nx_domains[0] == 10


@pytest.mark.parametrize(
    ("score", "level"),
    [(0.95, "high"), (0.8, "high"), (0.6, "medium"), (0.5, "medium"), (0.3, "low"),
     (0.1, "informational"), (0.0, "informational")],
)  # fmt: skip
def test_severity_table(score: float, level: str) -> None:
    assert severity_for(score) == level
    assert [level for _, level in SEVERITY_TABLE][0] == "high"


# -- rebuilding the model -------------------------------------------------------------------


@pytest.fixture(scope="module")
def trainer() -> ModuleType:
    pytest.importorskip(
        "hstspreload", reason="hstspreload (the benign list; pip install 'tocsin[train]') absent"
    )
    spec = importlib.util.spec_from_file_location("train_dga", ROOT / "scripts" / "train_dga.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_dga"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.filterwarnings("ignore:open_binary is deprecated:DeprecationWarning")  # its lookup
def test_hsts_reader_enumerates_the_preload_list(trainer: ModuleType) -> None:
    import hstspreload  # type: ignore[import-untyped]

    hosts, version = trainer.hsts_hosts()
    assert version == hstspreload.__version__
    assert len(hosts) > 100_000 and len(set(hosts)) == len(hosts)
    step = len(hosts) // 500
    assert all(hstspreload.in_hsts_preload(h) for h in hosts[::step])


def test_split_is_stable_and_about_one_in_five(trainer: ModuleType) -> None:
    labels = [f"label{i}" for i in range(5000)]
    train, test = trainer.split_labels(labels)
    assert set(train).isdisjoint(test) and len(train) + len(test) == 5000
    assert 0.17 < len(test) / 5000 < 0.23
    assert trainer.split_labels(list(reversed(labels))) == (train, test)


def test_a_model_rebuilt_from_a_subset_separates_random_strings(
    trainer: ModuleType, tmp_path: Path
) -> None:
    split = trainer.benign_split()
    model = trainer.train_model(split.train[::6], seed=3, meta={"benign_source": "subset"})
    held_out = [t for t in split.test[::5] if len(t) >= MIN_LENGTH]
    benign = model.score_labels(held_out)
    randoms = model.score_labels(
        random_labels(500, 99) + random_labels(500, 98, "0123456789abcdef")
    )
    assert np.median(randoms) > 0.9 > 0.1 > np.median(benign)
    threshold = np.quantile(benign, 0.99)
    assert (randoms > threshold).mean() > 0.8
    path = tmp_path / "model.npz"
    model.save(path)
    again = DgaModel.from_file(path)
    assert np.allclose(again.score_labels(held_out[:200]), benign[:200], atol=1e-3)
    assert again.meta["benign_source"] == "subset"
    (tmp_path / "broken.npz").write_bytes(b"not a model")
    with pytest.raises(InvalidInputError, match="cannot read DGA model"):
        DgaModel.from_file(tmp_path / "broken.npz")
