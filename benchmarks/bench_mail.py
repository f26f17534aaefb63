"""Anti-phishing throughput: messages analysed per second, offline (target: 300/s on 2 cores).

    python benchmarks/bench_mail.py [--corpus ../shared/data/mail] [--rounds 40] [--workers 2]

Loads every message of the corpus once, then analyses the list ``--rounds`` times over: first
in this process (one core), then through ``tocsin.mail.service.analyze_raw`` with ``--workers``
processes, the path ``tocsin mail analyze`` takes for many files. The parser alone (stdlib,
bodies decoded) is timed too, as the floor the issue quotes. Nothing is written; results go to
benchmarks/out/bench_mail.json.
Point ``--corpus`` at any folder of .eml files (a user's own sample set works too).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from email import message_from_bytes, policy
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

OUT = Path(__file__).parent / "out"
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "mail"


def load_corpus(folder: Path) -> list[bytes]:
    """Every message file under the folder (PROVENANCE and README files left out)."""
    return [
        p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix.lower() not in (".md", ".txt", ".json")
    ]


def stdlib_rate(raws: list[bytes], rounds: int) -> float:
    """The stdlib parser with the default policy and every text body decoded."""
    started = time.perf_counter()
    count = 0
    for _ in range(rounds):
        for raw in raws:
            msg = message_from_bytes(raw, policy=policy.default)
            for part in msg.walk():
                if part.get_content_maintype() == "text":
                    try:
                        part.get_content()
                    except (LookupError, ValueError, AssertionError):
                        pass
            count += 1
    return count / (time.perf_counter() - started)


def main() -> None:
    """Run the benchmark and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()

    from tocsin.core.settings import load_settings
    from tocsin.mail.analyze import MailAnalyzer
    from tocsin.mail.intake import RawMessage
    from tocsin.mail.service import Options, analyze_raw, make_analyzer

    raws = load_corpus(args.corpus)
    if not raws:
        raise SystemExit(f"no messages under {args.corpus}")
    size = sum(len(r) for r in raws)
    print(f"{len(raws)} messages, {size / len(raws) / 1024:.1f} KiB on average", file=sys.stderr)

    with tempfile.TemporaryDirectory() as home:
        settings = load_settings(home=Path(home))
        analyzer: MailAnalyzer
        started = time.perf_counter()
        analyzer, _issues = make_analyzer(settings, Options())
        build_s = time.perf_counter() - started

        for raw in raws:  # warm-up
            analyzer.analyze_bytes(raw)
        started = time.perf_counter()
        count = 0
        verdicts: dict[str, int] = {}
        for _ in range(args.rounds):
            for raw in raws:
                analysis = analyzer.analyze_bytes(raw)
                verdicts[analysis.verdict.value] = verdicts.get(analysis.verdict.value, 0) + 1
                count += 1
        one_core = count / (time.perf_counter() - started)

        messages = [
            RawMessage(Path(f"bench-{i}.eml"), 0, raw) for i, raw in enumerate(raws * args.rounds)
        ]
        started = time.perf_counter()
        batch = analyze_raw(settings, messages, Options(), workers=args.workers)
        parallel_s = time.perf_counter() - started
        parallel = len(batch.results) / parallel_s

    floor = stdlib_rate(raws, max(1, args.rounds // 4))
    result = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "messages": len(raws),
        "rounds": args.rounds,
        "analyzer_build_s": round(build_s, 3),
        "one_core_msg_per_s": round(one_core, 1),
        "parallel_workers": args.workers,
        "parallel_msg_per_s": round(parallel, 1),
        "parallel_wall_s": round(parallel_s, 2),
        "stdlib_parse_msg_per_s": round(floor, 1),
        "verdicts_per_round": {k: v // args.rounds for k, v in verdicts.items()},
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "bench_mail.json").write_text(json.dumps(result, indent=2))
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
