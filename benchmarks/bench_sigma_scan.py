"""A whole ``tocsin scan`` of the shared EVTX samples, warm cache (budget: 3 s), beside Zircolite.

    python benchmarks/bench_sigma_scan.py [--runs 3] [--zircolite PATH [--zircolite-python PY]]

Times what a user runs, wall-clock, as a subprocess:

    tocsin scan --rules ../shared/data/sigma/rules/windows ../shared/data/evtx \
        --output ndjson > /dev/null

with a warm compiled-rule cache: a first run fills the cache (in a temporary folder: the
benchmark sets ``XDG_CACHE_HOME`` and a ``TOCSIN_HOME`` that does not exist, so no home and no
user cache is touched) and writes its matches to a file to count them; then ``--runs`` timed
runs write to /dev/null. The figures of the scan's own summary (rule loading, reading and
matching) are shown beside.

``--zircolite PATH`` takes a Zircolite checkout the user already has (it is never installed,
built or copied here) and a Python that has its requirements (``--zircolite-python``; by default
``PATH/.venv/bin/python`` or ``PATH/venv/bin/python`` when present, else ``python3``). Zircolite
converts the same SigmaHQ YAML rules with its own pySigma conversion (``--ruleset DIR
--pipeline sysmon windows-logsources``: its documented Sysmon ruleset, or the pipelines given
with ``--zircolite-pipelines``) in a first, untimed-for-the-comparison run that saves the
converted ruleset, the counterpart of tocsin's warm cache; then it runs ``--runs`` times on the
same folder with that ruleset, timed the same way (output file in a temporary folder, console
to /dev/null). The runs of the two tools alternate, so both see the same machine load. Match
counts are compared rule by rule. Results go to benchmarks/out/bench_sigma_scan.json.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from sigmabench import EVTX, OUT, WINDOWS_RULES, fastest, load_average, require, save  # noqa: E402

BUDGET = 3.0
ZIRCOLITE_REQUIREMENTS = "import evtx, orjson, xxhash, rich, sigma.backends.sqlite"


def tocsin_command() -> list[str]:
    """The ``tocsin`` entry point of this interpreter's environment."""
    script = Path(sys.executable).parent / "tocsin"
    return [str(script)] if script.exists() else [sys.executable, "-m", "tocsin.cli"]


def summary_seconds(stderr: str) -> dict[str, float]:
    """The load and match times of the scan's summary table on stderr."""
    found: dict[str, float] = {}
    for key, label in (("load", "time loading rules"), ("match", "time reading and matching")):
        hit = re.search(rf"{label}\W+([\d.]+) s", stderr)
        if hit:
            found[key] = float(hit.group(1))
    events = re.search(r"events read\W+([\d,]+)", stderr)
    if events:
        found["events"] = float(events.group(1).replace(",", ""))
    return found


class Tocsin:
    """``tocsin scan`` in a subprocess with its own temporary cache."""

    def __init__(self, rules: Path, evtx: Path, work: Path, workers: int | None) -> None:
        self.command = [*tocsin_command(), "scan", "--rules", str(rules), str(evtx)]
        if workers is not None:
            self.command += ["--workers", str(workers)]
        self.command += ["--output", "ndjson"]
        self.env = dict(os.environ)
        self.env["XDG_CACHE_HOME"] = str(work / "xdg-cache")
        self.env["TOCSIN_HOME"] = str(work / "no-home")
        self.work = work

    def run(self, to_file: bool = False) -> tuple[float, str, Path | None]:
        """(wall seconds, stderr, matches file when asked)."""
        target = self.work / "tocsin-matches.ndjson" if to_file else None
        with open(target or os.devnull, "wb") as out:
            started = time.perf_counter()
            done = subprocess.run(
                self.command, stdout=out, stderr=subprocess.PIPE, env=self.env, check=False
            )
            wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"tocsin scan failed ({done.returncode}):\n{done.stderr.decode()}")
        return wall, done.stderr.decode(errors="replace"), target


def tocsin_counts(path: Path) -> tuple[int, collections.Counter[str], dict[str, str]]:
    """Matches in an ndjson output: total, per rule id, titles."""
    counts: collections.Counter[str] = collections.Counter()
    titles: dict[str, str] = {}
    with path.open("rb") as handle:
        for line in handle:
            record = json.loads(line)
            counts[record["rule_id"]] += 1
            titles[record["rule_id"]] = record["rule_title"]
    return sum(counts.values()), counts, titles


class Zircolite:
    """A Zircolite checkout run in a subprocess, in a temporary working folder."""

    def __init__(
        self, checkout: Path, python: str, rules: Path, evtx: Path, work: Path, pipelines: list[str]
    ) -> None:
        self.checkout = checkout.resolve()
        self.python = python
        self.rules = rules
        self.evtx = evtx
        self.work = work / "zircolite"
        self.work.mkdir(parents=True, exist_ok=True)
        self.pipelines = pipelines
        self.ruleset: Path | None = None

    def check(self) -> str | None:
        """Why Zircolite cannot run here, or None when it can."""
        script = self.checkout / "zircolite.py"
        if not script.exists():
            return f"{script} not found: --zircolite takes the folder of a Zircolite checkout"
        try:
            probe = subprocess.run(
                [self.python, "-c", ZIRCOLITE_REQUIREMENTS], capture_output=True, text=True
            )
        except OSError as exc:
            return f"cannot start {self.python}: {exc}"
        if probe.returncode != 0:
            last = (probe.stderr.strip().splitlines() or ["?"])[-1]
            return (
                f"{self.python} lacks Zircolite's requirements ({last}); pass "
                "--zircolite-python with a Python that has them (its requirements.txt)"
            )
        return None

    def version(self) -> str:
        """The version ``zircolite.py --version`` prints (``v3.7.0``)."""
        done = subprocess.run(
            [self.python, str(self.checkout / "zircolite.py"), "--version"],
            capture_output=True,
            text=True,
            cwd=self.work,
        )
        found = re.findall(r"v\d+\.\d+(?:\.\d+)?", done.stdout + done.stderr)
        return found[-1] if found else "?"

    def _command(self, ruleset: list[str], output: Path) -> list[str]:
        return [
            self.python,
            str(self.checkout / "zircolite.py"),
            "--evtx",
            str(self.evtx),
            "--ruleset",
            *ruleset,
            "--config",
            str(self.checkout / "config" / "config.yaml"),
            "--outfile",
            str(output),
            "--logfile",
            str(self.work / "zircolite.log"),
        ]

    def _run(self, command: list[str]) -> float:
        started = time.perf_counter()
        done = subprocess.run(
            command, cwd=self.work, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"Zircolite failed ({done.returncode}):\n{done.stderr.decode()}")
        return wall

    def convert_and_run(self) -> float:
        """The first run: convert the YAML rules with the pipelines, save the ruleset, scan."""
        for old in self.work.glob("ruleset-*.json"):
            old.unlink()
        command = self._command([str(self.rules)], self.work / "detected-first.json")
        command += ["--pipeline", *self.pipelines, "--save-ruleset"]
        wall = self._run(command)
        saved = sorted(self.work.glob("ruleset-*.json"))
        if not saved:
            raise SystemExit("Zircolite did not save its converted ruleset")
        self.ruleset = saved[-1]
        return wall

    def run(self) -> float:
        """A timed run with the converted ruleset."""
        assert self.ruleset is not None
        return self._run(self._command([str(self.ruleset)], self.work / "detected.json"))

    def counts(self) -> tuple[int, int, collections.Counter[str], dict[str, str]]:
        """(rules in the ruleset, matches, matches per rule id, titles) of the last run."""
        assert self.ruleset is not None
        rules = len(json.loads(self.ruleset.read_text(encoding="utf-8")))
        counts: collections.Counter[str] = collections.Counter()
        titles: dict[str, str] = {}
        for entry in json.loads((self.work / "detected.json").read_text(encoding="utf-8")):
            rule_id = str(entry.get("id") or entry.get("title"))
            counts[rule_id] += int(entry.get("count", len(entry.get("matches", []))))
            titles[rule_id] = str(entry.get("title", ""))
        return rules, sum(counts.values()), counts, titles


def default_python(checkout: Path) -> str:
    """A virtual environment inside the checkout, else ``python3``."""
    for candidate in (checkout / ".venv" / "bin" / "python", checkout / "venv" / "bin" / "python"):
        if candidate.exists():
            return str(candidate)
    return "python3"


def main() -> None:
    """Warm, time, compare; print and save the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rules", type=Path, default=WINDOWS_RULES)
    parser.add_argument("--evtx", type=Path, default=EVTX)
    parser.add_argument("--workers", type=int, default=None, help="Default: tocsin's own.")
    parser.add_argument("--zircolite", type=Path, default=None, help="A Zircolite checkout.")
    parser.add_argument("--zircolite-python", default=None)
    parser.add_argument(
        "--zircolite-pipelines",
        default="sysmon windows-logsources",
        help="pySigma pipelines for Zircolite's conversion (space-separated).",
    )
    parser.add_argument("--out", type=Path, default=OUT / "bench_sigma_scan.json")
    args = parser.parse_args()
    require(args.rules, args.evtx)

    work = Path(tempfile.mkdtemp(prefix="tocsin-sigma-scan-"))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    """The benchmark proper, in the temporary folder ``work``."""
    evtx_files = sorted(args.evtx.rglob("*.evtx"))
    size = sum(f.stat().st_size for f in evtx_files)
    print(f"{len(evtx_files)} EVTX files ({size / 1e6:.1f} MB) under {args.evtx}")
    print(f"rules: {args.rules}")
    print(f"load average before: {load_average()}")
    tocsin = Tocsin(args.rules, args.evtx, work, args.workers)
    print("$ " + " ".join(tocsin.command) + " > /dev/null")

    zircolite: Zircolite | None = None
    skipped: str | None = None
    if args.zircolite is not None:
        python = args.zircolite_python or default_python(args.zircolite)
        zircolite = Zircolite(
            args.zircolite, python, args.rules, args.evtx, work, args.zircolite_pipelines.split()
        )
        skipped = zircolite.check()
        if skipped:
            print(f"Zircolite skipped: {skipped}")
            zircolite = None

    cold, cold_err, matches_file = tocsin.run(to_file=True)
    assert matches_file is not None
    t_total, t_counts, t_titles = tocsin_counts(matches_file)
    cold_summary = summary_seconds(cold_err)
    print(
        f"tocsin, first run (fills the rule cache): {cold:.2f} s, {t_total:,} matches, "
        f"{int(cold_summary.get('events', 0)):,} events"
    )
    z_first = 0.0
    version = ""
    if zircolite is not None:
        version = zircolite.version()
        z_first = zircolite.convert_and_run()
        print(
            f"Zircolite {version}, first run (converts the rules and saves them): {z_first:.2f} s"
        )

    t_walls: list[float] = []
    t_summaries: list[dict[str, float]] = []
    z_walls: list[float] = []
    for number in range(1, args.runs + 1):
        wall, err, _ = tocsin.run()
        t_walls.append(wall)
        t_summaries.append(summary_seconds(err))
        line = (
            f"run {number}: tocsin {wall:.2f} s (rules {t_summaries[-1].get('load', 0):.2f} s, "
            f"reading and matching {t_summaries[-1].get('match', 0):.2f} s)"
        )
        if zircolite is not None:
            z_walls.append(zircolite.run())
            line += f"; Zircolite {z_walls[-1]:.2f} s"
        print(line, flush=True)

    events = int(t_summaries[-1].get("events", 0)) if t_summaries else 0
    t_time = fastest(t_walls)
    figures: dict[str, Any] = {
        "benchmark": "sigma_scan",
        "evtx_files": len(evtx_files),
        "evtx_mb": round(size / 1e6, 1),
        "events": events,
        "rules": str(args.rules),
        "command": " ".join(tocsin.command),
        "tocsin": {
            "first_run_seconds": round(cold, 2),
            "seconds": {k: round(v, 2) for k, v in t_time.items()},
            "load_seconds": [s.get("load") for s in t_summaries],
            "match_seconds": [s.get("match") for s in t_summaries],
            "events_per_second_median": round(events / t_time["median"]) if events else None,
            "matches": t_total,
            "rules_matched": len(t_counts),
        },
        "budget_seconds": BUDGET,
        "runs": args.runs,
        "load_average_after": load_average(),
        "at": datetime.now(UTC).isoformat(),
    }
    print()
    verdict = "OK" if t_time["median"] < BUDGET else "OVER BUDGET"
    print(
        f"{'tocsin scan, warm cache':<28} {t_time['best']:>7.2f} s best, {t_time['median']:.2f} s "
        f"median (budget {BUDGET:.0f} s) {verdict}; {t_total:,} matches from "
        f"{len(t_counts)} rules"
    )
    if zircolite is None:
        if skipped:
            figures["zircolite_skipped"] = skipped
        else:
            print("Zircolite: not run (pass --zircolite PATH to a checkout to compare)")
        save(args.out, figures)
        return

    rules, z_total, z_counts, z_titles = zircolite.counts()
    z_time = fastest(z_walls)
    print(
        f"{'Zircolite ' + version:<28} {z_time['best']:>7.2f} s best, {z_time['median']:.2f} s "
        f"median; {z_total:,} matches from {len(z_counts)} rules ({rules:,} rules converted, "
        f"pipelines {' '.join(zircolite.pipelines)})"
    )
    if events:
        print(
            f"{'events/s (median run)':<28} tocsin {events / t_time['median']:,.0f}, "
            f"Zircolite {events / z_time['median']:,.0f}; tocsin is "
            f"{z_time['median'] / t_time['median']:.1f}x faster"
        )
    same = [r for r in set(t_counts) | set(z_counts) if t_counts[r] == z_counts[r]]
    differ = sorted(
        (r for r in set(t_counts) | set(z_counts) if t_counts[r] != z_counts[r]),
        key=lambda r: (-abs(t_counts[r] - z_counts[r]), r),
    )
    print(f"rules with the same match count in both: {len(same)}; different: {len(differ)}")
    for rule_id in differ[:15]:
        title = t_titles.get(rule_id) or z_titles.get(rule_id, "")
        print(f"  {title[:60]:<60} tocsin {t_counts[rule_id]:>5}  Zircolite {z_counts[rule_id]:>5}")
    figures["zircolite"] = {
        "version": version,
        "checkout": str(zircolite.checkout),
        "python": zircolite.python,
        "pipelines": zircolite.pipelines,
        "rules_converted": rules,
        "first_run_seconds": round(z_first, 2),
        "seconds": {k: round(v, 2) for k, v in z_time.items()},
        "events_per_second_median": round(events / z_time["median"]) if events else None,
        "matches": z_total,
        "rules_matched": len(z_counts),
        "differences": [
            {
                "rule_id": r,
                "title": t_titles.get(r) or z_titles.get(r, ""),
                "tocsin": t_counts[r],
                "zircolite": z_counts[r],
            }
            for r in differ
        ],
    }
    save(args.out, figures)


if __name__ == "__main__":
    main()
