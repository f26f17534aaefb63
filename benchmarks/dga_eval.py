"""How well the DGA model finds each family, per name and per host, against held-out benign names.

    python benchmarks/dga_eval.py [--benign-hosts 10000] [--infected-hosts 400] [--seed 1]

Needs ``hstspreload`` (``pip install 'tocsin[train]'``) for the held-out benign labels: the 20%
of the HSTS preload list's registrable labels that scripts/train_dga.py never trains on.

Per name: thresholds at 1% and 0.1% false positives are the 99th and 99.9th percentiles of the
held-out benign labels' scores (labels of at least ``MIN_LENGTH`` characters: shorter ones score
0 and would flatter the figure); TPR is the share of a family's names scoring above them; AUC
is the probability that a family's name outscores a benign one.

Per host: benign hosts look up a lognormal number of names (median 400 per window) drawn with
Zipf popularity from the held-out labels; 1% of lookups are typos (a character dropped, doubled,
swapped or replaced) answered NXDOMAIN, and 0.5% of the domains are dead (NXDOMAIN). Infected
hosts are benign hosts plus k names of one family, 95% of them NXDOMAIN. Each host is scored with
``score_hosts``; thresholds at 1% and 0.1% false positives come from the benign hosts' scores,
and the default thresholds' own rates are reported too. Results: a table, and
benchmarks/out/dga_eval.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType

import numpy as np
from rich.console import Console
from rich.table import Table

from tocsin.dns.dga import (
    DEFAULT_THRESHOLDS,
    DgaModel,
    normalise_labels,
    registrable_label,
    score_hosts,
)
from tocsin.dns.dgagen import FAMILIES, KINDS, generate

OUT = Path(__file__).parent / "out"
ROOT = Path(__file__).resolve().parents[1]
FPRS = (0.01, 0.001)
KS = (5, 20, 50)
FIRST_DAY = date(2026, 1, 1)


def load_trainer() -> ModuleType:
    """scripts/train_dga.py as a module (it reads the benign list and knows the split)."""
    spec = importlib.util.spec_from_file_location("train_dga", ROOT / "scripts" / "train_dga.py")
    if spec is None or spec.loader is None:
        raise SystemExit("scripts/train_dga.py is missing")
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_dga"] = module
    spec.loader.exec_module(module)
    return module


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties count half)."""
    both = np.concatenate([positive, negative])
    order = both.argsort(kind="stable")
    ranks = np.empty(len(both))
    ranks[order] = np.arange(1, len(both) + 1)
    # average ranks of ties
    _, inverse, counts = np.unique(both, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]
    u = ranks[: len(positive)].sum() - len(positive) * (len(positive) + 1) / 2
    return float(u / (len(positive) * len(negative)))


def threshold_at(benign: np.ndarray, fpr: float) -> float:
    """The lowest score that at most ``fpr`` of the benign scores exceed (ties stay below it)."""
    return float(np.quantile(benign, 1 - fpr, method="higher"))


def family_names(family: str, days: int, per_day: int) -> list[str]:
    """A family's names over ``days`` consecutive days."""
    return [
        name
        for day in range(days)
        for name in generate(family, FIRST_DAY + timedelta(days=day), per_day)
    ]


def typo(label: str, rng: np.random.Generator) -> str:
    """One slip of the keyboard: a character dropped, doubled, swapped or replaced."""
    if len(label) < 2:
        return label + "x"
    at = int(rng.integers(0, len(label) - 1))
    kind = int(rng.integers(0, 4))
    if kind == 0:
        return label[:at] + label[at + 1 :]
    if kind == 1:
        return label[: at + 1] + label[at:]
    if kind == 2:
        return label[:at] + label[at + 1] + label[at] + label[at + 2 :]
    return label[:at] + chr(ord("a") + int(rng.integers(0, 26))) + label[at + 1 :]


class HostSimulator:
    """Benign background traffic of many hosts over one window, as (client, domain) rows."""

    def __init__(
        self,
        model: DgaModel,
        labels: list[str],
        rng: np.random.Generator,
        *,
        typo_rate: float = 0.01,
        dead_rate: float = 0.005,
        median_lookups: float = 400,
    ) -> None:
        self.model = model
        self.labels = labels
        self.scores = model.score_labels(labels)
        self.rng = rng
        self.typo_rate = typo_rate
        self.median_lookups = median_lookups
        popularity = 1.0 / np.arange(1, len(labels) + 1)
        self.weights = popularity[rng.permutation(len(labels))]
        self.weights /= self.weights.sum()
        self.dead = rng.random(len(labels)) < dead_rate

    def background(self, n_hosts: int) -> dict[str, np.ndarray]:
        """Rows (client, score, nx, lookups) of ``n_hosts`` benign hosts."""
        rng = self.rng
        per_host = np.clip(
            rng.lognormal(np.log(self.median_lookups), 0.6, n_hosts), 50, 5000
        ).astype(np.int64)
        host = np.repeat(np.arange(n_hosts), per_host)
        domain = rng.choice(len(self.labels), size=len(host), p=self.weights)
        typos = rng.random(len(host)) < self.typo_rate
        pairs, lookups = np.unique(
            host[~typos] * len(self.labels) + domain[~typos], return_counts=True
        )
        clients = pairs // len(self.labels)
        domains = pairs % len(self.labels)
        typo_labels = [typo(self.labels[i], rng) for i in domain[typos].tolist()]
        typo_scores = self.model.score_labels(typo_labels) if typo_labels else np.zeros(0)
        return {
            "client": np.concatenate([clients, host[typos]]),
            "score": np.concatenate([self.scores[domains], typo_scores]),
            "nx": np.concatenate([self.dead[domains], np.ones(len(typo_labels), dtype=bool)]),
            "lookups": np.concatenate([lookups, np.ones(len(typo_labels), dtype=np.int64)]),
        }


def with_dga(
    rows: dict[str, np.ndarray],
    n_hosts: int,
    k: int,
    pool: np.ndarray,
    rng: np.random.Generator,
    nx_share: float = 0.95,
) -> dict[str, np.ndarray]:
    """Add ``k`` names of one family (scores drawn from ``pool``) to each host."""
    picks = np.stack([rng.choice(len(pool), size=k, replace=False) for _ in range(n_hosts)])
    return {
        "client": np.concatenate([rows["client"], np.repeat(np.arange(n_hosts), k)]),
        "score": np.concatenate([rows["score"], pool[picks.ravel()]]),
        "nx": np.concatenate([rows["nx"], rng.random(n_hosts * k) < nx_share]),
        "lookups": np.concatenate([rows["lookups"], rng.integers(1, 3, n_hosts * k)]),
    }


def host_scores(rows: dict[str, np.ndarray], n_hosts: int) -> tuple[np.ndarray, np.ndarray]:
    """(score, flagged at the default thresholds) of each host."""
    scores = score_hosts(
        rows["client"], rows["score"], rows["nx"], rows["lookups"], n_clients=n_hosts
    )
    return scores.score, scores.flagged


def main() -> None:
    """Run the evaluation, print the tables and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benign-hosts", type=int, default=10000)
    parser.add_argument("--infected-hosts", type=int, default=400)
    parser.add_argument("--days", type=int, default=10, help="days of names per family")
    parser.add_argument("--per-day", type=int, default=500, help="names per family and day")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    began = time.perf_counter()
    console = Console(stderr=True)
    trainer = load_trainer()
    split = trainer.benign_split()
    model = DgaModel.load()
    test = list(split.test)
    benign = model.score_labels(test)
    judged = normalise_labels(test)[1]
    benign_judged = benign[judged]
    thresholds = {fpr: threshold_at(benign_judged, fpr) for fpr in FPRS}
    rng = np.random.default_rng(args.seed)

    pools: dict[str, np.ndarray] = {}
    per_name: dict[str, dict[str, float]] = {}
    for family in FAMILIES:
        names = family_names(family, args.days, args.per_day)
        scores = model.score_labels([registrable_label(n) or "" for n in names])
        pools[family] = scores
        per_name[family] = {
            "names": len(names),
            "auc": round(auc(scores, benign_judged), 4),
            **{f"tpr@{fpr:g}": round(float((scores > thresholds[fpr]).mean()), 4) for fpr in FPRS},
            f"tpr@name>={DEFAULT_THRESHOLDS['dga.name']:g}": round(
                float((scores >= DEFAULT_THRESHOLDS["dga.name"]).mean()), 4
            ),
        }

    simulator = HostSimulator(model, test, rng)
    benign_rows = simulator.background(args.benign_hosts)
    benign_host, benign_flagged = host_scores(benign_rows, args.benign_hosts)
    host_thresholds = {fpr: threshold_at(benign_host, fpr) for fpr in FPRS}
    per_host: dict[str, dict[str, dict[str, float]]] = {}
    for family in FAMILIES:
        per_host[family] = {}
        for k in KS:
            rows = with_dga(
                simulator.background(args.infected_hosts),
                args.infected_hosts,
                k,
                pools[family],
                rng,
            )
            infected, flagged = host_scores(rows, args.infected_hosts)
            per_host[family][str(k)] = {
                **{
                    f"tpr@{fpr:g}": round(float((infected > host_thresholds[fpr]).mean()), 4)
                    for fpr in FPRS
                },
                "flagged_default": round(float(flagged.mean()), 4),
                "auc": round(auc(infected, benign_host), 4),
            }

    result = {
        "model": {k: v for k, v in model.meta.items() if k != "features"},
        "benign_test_labels": len(test),
        "benign_test_judged": int(judged.sum()),
        "benign_fpr_at_default_name_threshold": round(
            float((benign_judged >= DEFAULT_THRESHOLDS["dga.name"]).mean()), 5
        ),
        "name_thresholds": {f"{fpr:g}": round(t, 4) for fpr, t in thresholds.items()},
        "per_name": per_name,
        "hosts": {
            "benign_hosts": args.benign_hosts,
            "infected_hosts_per_cell": args.infected_hosts,
            "median_lookups": simulator.median_lookups,
            "typo_rate": simulator.typo_rate,
            "host_thresholds": {f"{fpr:g}": round(t, 4) for fpr, t in host_thresholds.items()},
            "benign_flagged_default": round(float(benign_flagged.mean()), 5),
            "default_thresholds": DEFAULT_THRESHOLDS,
        },
        "per_host": per_host,
        "seconds": round(time.perf_counter() - began, 1),
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "dga_eval.json").write_text(json.dumps(result, indent=2) + "\n")

    table = Table(title=f"DGA per name (held-out benign: {int(judged.sum())} labels)")
    for column in ("family", "kind", "AUC", "TPR@1%", "TPR@0.1%"):
        table.add_column(column, justify="left" if column in ("family", "kind") else "right")
    for family, row in per_name.items():
        table.add_row(
            f"{family}-like",
            KINDS[family],
            f"{row['auc']:.3f}",
            f"{row['tpr@0.01']:.1%}",
            f"{row['tpr@0.001']:.1%}",
        )
    console.print(table)
    table = Table(
        title=f"DGA per host: TPR at 1% and 0.1% FPR of {args.benign_hosts} benign hosts, and "
        f"share flagged at the default thresholds (benign: {benign_flagged.mean():.2%})"
    )
    table.add_column("family")
    for k in KS:
        for head in ("1%", "0.1%", "dflt"):
            table.add_column(f"k={k} {head}" if head == "1%" else head, justify="right")
    for family, cells in per_host.items():
        table.add_row(
            f"{family}-like",
            *(
                f"{c[key]:.0%}"
                for c in cells.values()
                for key in ("tpr@0.01", "tpr@0.001", "flagged_default")
            ),
        )
    console.print(table)
    console.print(f"wrote {OUT / 'dga_eval.json'} in {result['seconds']} s")


if __name__ == "__main__":
    main()
