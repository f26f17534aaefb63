"""Data discovery: throughput per core, a large tree with archives, and quality.

    python benchmarks/bench_discovery.py                 # throughput, quality, 256 MB tree
    python benchmarks/bench_discovery.py --tree-mb 1024  # the 1 GB tree of the issue
    python benchmarks/bench_discovery.py --only speed    # speed | tree | quality

**Throughput** is CPU time (one core) of ``Scanner.scan_text`` over real source code (this
Python's standard library, which every machine running tocsin has), with fake secrets and
personal data planted in generated configuration files and notes, best of three runs, for the
full rule set and for secrets and personal data alone. detect-secrets (when installed: ``pip
install detect-secrets``) scans the same files as a peer.

**Tree**: a folder of the given size, half plain files and half inside ZIP and tar.gz archives
(some nested), with planted secrets, scanned with ``scan_files`` and a progress bar. Reports wall
time, MB/s, peak memory (RSS) and how many planted secrets were found.

**Quality**: precision and recall per type on presidio-research's labelled sentences (when
``../shared/data/pii/synth_dataset_v2.json`` or ``--presidio FILE`` exists), on generated PII
with valid and invalid checksums, and on a generated secrets corpus with look-alikes (when
``tocsin.testing.discovery_corpus`` is available).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import resource
import shutil
import sys
import sysconfig
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from tocsin.discovery.engine import Scanner
from tocsin.discovery.rules import load_rules
from tocsin.discovery.scan import ScanOptions, build_scanner, scan_files
from tocsin.testing import secrets

console = Console(stderr=True)
HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data" / "pii" / "synth_dataset_v2.json"


def stdlib_texts(limit_mb: float) -> list[tuple[str, str]]:
    """Source files of this Python's standard library (real code), up to ``limit_mb``."""
    root = Path(sysconfig.get_paths()["stdlib"])
    out: list[tuple[str, str]] = []
    total = 0
    for path in sorted(root.rglob("*.py")):
        if "site-packages" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        out.append((str(path.relative_to(root)), text))
        total += len(text)
        if total >= limit_mb * 1e6:
            break
    return out


def planted_files(rng: random.Random, count: int) -> tuple[list[tuple[str, str]], int]:
    """Configuration files and notes with one planted secret or PII value each."""
    makers = [
        lambda: f"aws_access_key_id = {secrets.aws_key_id(rng)}\n",
        lambda: f"GITHUB_TOKEN={secrets.github_pat(rng)}\n",
        lambda: f'jwt = "{secrets.jwt(rng)}"\n',
        lambda: f"{secrets.private_key(rng)}\n",
        lambda: f"password: {secrets.rand(rng, 20)}\n",
        lambda: f"Refund card {secrets.luhn_complete('4', 16, rng)} for the customer.\n",
        lambda: "Customer ssn 123-45-6780, call +44 20 7946 0958.\n",
    ]
    filler = [
        "server:\n  port: 8080\n  workers: 4\n",
        "# retry with backoff\nretries = 3\ntimeout_seconds = 30\n",
        "The nightly job compacts the tables and rotates the logs at 02:00.\n",
    ]
    files = []
    for i in range(count):
        body = "".join(rng.choice(filler) for _ in range(20))
        files.append((f"conf/app{i}.env", body + makers[i % len(makers)]() + body))
    return files, count


def bench_speed(mb: float) -> dict[str, float]:
    """MB/s per core of the scanner, best of three, for each rule subset."""
    rng = random.Random(1)
    texts = stdlib_texts(mb)
    planted, _ = planted_files(rng, 500)
    texts += planted
    size = sum(len(t) for _, t in texts) / 1e6
    rules = load_rules()
    figures: dict[str, float] = {"corpus_mb": round(size, 1)}
    for label, cats in (
        ("full", ("secret", "pii")),
        ("secrets", ("secret",)),
        ("pii", ("pii",)),
    ):
        scanner = Scanner(rules, categories=cats)
        best = 0.0
        for _ in range(3):
            started = time.process_time()
            for name, text in texts:
                scanner.scan_text(text, name)
            best = max(best, size / (time.process_time() - started))
        figures[f"{label}_mb_s"] = round(best, 1)
    try:
        figures["detect_secrets_mb_s"] = round(_detect_secrets(texts, size), 1)
    except ImportError:
        console.print("no detect-secrets, so no peer figure (pip install detect-secrets)")
    return figures


def _detect_secrets(texts: list[tuple[str, str]], size: float) -> float:
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    folder = Path(tempfile.mkdtemp(prefix="bench-ds-"))
    try:
        paths = []
        for i, (_name, text) in enumerate(texts):
            path = folder / f"f{i}.txt"
            path.write_text(text)
            paths.append(str(path))
        with default_settings():
            collection = SecretsCollection()
            started = time.process_time()
            for path in paths:
                collection.scan_file(path)
            return size / (time.process_time() - started)
    finally:
        shutil.rmtree(folder)


def build_tree(root: Path, target_mb: int, rng: random.Random) -> int:
    """A tree of about ``target_mb`` MB: plain files and archives; how many secrets planted."""
    texts = stdlib_texts(40)
    planted = 0
    written = 0
    part = 0
    while written < target_mb * 1e6:
        part += 1
        picked = rng.sample(range(len(texts)), 200)
        chosen = [texts[i] for i in picked]
        token = secrets.github_pat(rng)
        planted += 1
        chosen[0] = ("deploy.env", f"GITHUB_TOKEN={token}\n")
        kind = part % 4
        folder = root / f"dept{part % 7}" / f"batch{part}"
        folder.mkdir(parents=True, exist_ok=True)
        if kind in (0, 1):
            for name, text in chosen:
                path = folder / name.replace("/", "_")
                path.write_text(text)
                written += len(text)
        elif kind == 2:
            with zipfile.ZipFile(folder / "backup.zip", "w", zipfile.ZIP_DEFLATED) as archive:
                for name, text in chosen:
                    archive.writestr(name, text)
                    written += len(text)
        else:
            inner = io.BytesIO()
            with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, text in chosen[:100]:
                    archive.writestr(name, text)
                    written += len(text)
            with tarfile.open(folder / "site.tar.gz", "w:gz") as tar:
                data = inner.getvalue()
                info = tarfile.TarInfo("nested/old-site.zip")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                for name, text in chosen[100:]:
                    raw = text.encode()
                    info = tarfile.TarInfo(name)
                    info.size = len(raw)
                    tar.addfile(info, io.BytesIO(raw))
                    written += len(raw)
    return planted


def bench_tree(target_mb: int, workers: int) -> dict[str, float]:
    """Scan a generated tree with archives; wall time, MB/s, peak RSS and planted recall."""
    rng = random.Random(2)
    root = Path(tempfile.mkdtemp(prefix="bench-tree-"))
    try:
        console.print(f"building a {target_mb} MB tree in {root} ...")
        planted = build_tree(root, target_mb, rng)
        options = ScanOptions()
        scanner = build_scanner(options)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        total = int(target_mb * 1e6)
        with Progress(
            TextColumn("scanning"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console,
        ) as bar:
            task = bar.add_task("tree", total=total)
            report = scan_files(
                [root],
                options,
                scanner=scanner,
                progress=lambda n: bar.advance(task, n),
                workers=workers,
            )
        wall = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        found = sum(f.rule_id == "github-pat" for f in report.findings)
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        return {
            "workers": workers,
            "worker_peak_rss_mb": round(children / 1024, 0),
            "tree_mb": round(report.bytes / 1e6, 1),
            "parts": report.parts,
            "wall_s": round(wall, 1),
            "mb_s": round(report.bytes / 1e6 / wall, 1),
            "peak_rss_mb": round(peak / 1024, 0),
            "rss_before_mb": round(rss_before / 1024, 0),
            "planted": planted,
            "found": found,
            "skipped": len(report.problems),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def bench_quality(presidio: Path | None) -> dict[str, object]:
    """Precision and recall per type on the labelled sets that are available."""
    from tocsin.discovery.evaluate import PRESIDIO_TYPES, evaluate, presidio_samples

    out: dict[str, object] = {}
    scanner = Scanner(load_rules(), categories=("pii",))
    path = presidio or (SHARED if SHARED.exists() else None)
    if path is not None:
        records = json.loads(path.read_text())
        scores = evaluate(scanner, presidio_samples(records), PRESIDIO_TYPES.values())
        out["presidio_synth_v2"] = {
            t: {"precision": round(s.precision, 2), "recall": round(s.recall, 2), "n": s.tp + s.fn}
            for t, s in scores.items()
        }
    else:
        console.print("no presidio-research dataset: skipped (give --presidio FILE)")
    try:
        from tocsin.testing import discovery_corpus  # noqa: F401
    except ImportError:
        console.print("tocsin.testing.discovery_corpus is missing: generated sets skipped")
        return out
    out.update(_generated_quality())
    return out


def _generated_quality() -> dict[str, object]:
    from tocsin.discovery.quality import pii_quality, secrets_quality

    return {"generated_pii": pii_quality(), "generated_secrets": secrets_quality()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--only", choices=("speed", "tree", "quality"))
    parser.add_argument("--speed-mb", type=float, default=20.0)
    parser.add_argument("--tree-mb", type=int, default=256)
    parser.add_argument("--workers", type=int, default=1, help="Processes for the tree scan.")
    parser.add_argument("--presidio", type=Path)
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    results: dict[str, object] = {}
    if args.only in (None, "speed"):
        results["speed"] = bench_speed(args.speed_mb)
    if args.only in (None, "quality"):
        results["quality"] = bench_quality(args.presidio)
    if args.only in (None, "tree"):
        results["tree"] = bench_tree(args.tree_mb, args.workers)
    table = Table(title="Data discovery")
    table.add_column("measure")
    table.add_column("value")
    for section, values in results.items():
        if isinstance(values, dict):
            for key, value in values.items():
                table.add_row(f"{section}.{key}", json.dumps(value))
    Console().print(table)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
