"""Anti-phishing quality on a labelled corpus: how much phishing is flagged, how much ham is not.

    python benchmarks/mail_corpus.py [--corpus ../shared/data/mail] [--misses]

The corpus folder holds one sub-folder per kind: ``phish/`` and ``curated/`` (phishing: the
target is at least 95% judged phishing or suspicious), ``ham/`` (at most 2% flagged), and
``spam/`` (suspicious is the right verdict for spam; its verdicts are reported, not scored).
Each message is analysed offline with the default policy, exactly as ``tocsin mail analyze``
does. ``--misses`` prints every phishing message judged clean and every ham message flagged,
with its reasons, for tuning and for the notes. Results go to benchmarks/out/mail_corpus.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

OUT = Path(__file__).parent / "out"
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "data" / "mail"
PHISH_KINDS = ("phish", "curated")


def main() -> None:
    """Analyse every kind and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--misses", action="store_true", help="Print the misses with reasons.")
    parser.add_argument("--all", action="store_true", help="Print every message's verdict.")
    parser.add_argument(
        "--no-upstream",
        action="store_true",
        help="Ignore the receiving filter's verdict (Microsoft 365 SCL, X-Spam-Flag).",
    )
    args = parser.parse_args()

    from tocsin.core.settings import load_settings
    from tocsin.mail.service import Options, make_analyzer

    kinds = sorted(p.name for p in args.corpus.iterdir() if p.is_dir())
    if not kinds:
        raise SystemExit(f"no kind folders under {args.corpus}")
    rows = []
    checks: dict[str, Counter[str]] = {}
    with tempfile.TemporaryDirectory() as home:
        weights = {"upstream.spam": 0.0, "upstream.spam_high": 0.0} if args.no_upstream else {}
        settings = load_settings(home=Path(home), mail_weights=weights)
        analyzer, _issues = make_analyzer(settings, Options())
        for kind in kinds:
            tally: Counter[str] = Counter()
            fired: Counter[str] = checks.setdefault(kind, Counter())
            files = [
                p
                for p in sorted((args.corpus / kind).rglob("*"))
                if p.is_file() and p.suffix.lower() not in (".md", ".json")
            ]
            for path in files:
                analysis = analyzer.analyze_bytes(path.read_bytes(), source=str(path))
                verdict = analysis.verdict.value
                tally[verdict] += 1
                fired.update({r.check for r in analysis.scored.reasons if r.weight > 0})
                flagged = verdict != "clean"
                miss = (kind in PHISH_KINDS and not flagged) or (kind == "ham" and flagged)
                if args.all or (args.misses and miss):
                    print(
                        f"\n[{kind}] {verdict} {analysis.scored.score:g} {path.name}: "
                        f"{analysis.message.from_name!r} <{analysis.message.from_address}> "
                        f"{analysis.message.subject[:70]!r}"
                    )
                    for reason in analysis.scored.reasons:
                        print(f"    {reason.weight:+5.1f} {reason.check}: {reason.detail[:110]}")
            total = sum(tally.values())
            rows.append(
                {
                    "kind": kind,
                    "messages": total,
                    "phishing": tally["phishing"],
                    "suspicious": tally["suspicious"],
                    "clean": tally["clean"],
                    "flagged_pct": round(100 * (total - tally["clean"]) / total, 1) if total else 0,
                }
            )
    phish = [r for r in rows if r["kind"] in PHISH_KINDS]
    phish_total = sum(int(r["messages"]) for r in phish)
    phish_flagged = sum(int(r["messages"]) - int(r["clean"]) for r in phish)
    summary = {
        "phishing_flagged_pct": round(100 * phish_flagged / phish_total, 1)
        if phish_total
        else None,
        "ham_flagged_pct": next((r["flagged_pct"] for r in rows if r["kind"] == "ham"), None),
        "kinds": rows,
        "checks_fired": {k: dict(v.most_common()) for k, v in checks.items()},
    }
    OUT.mkdir(exist_ok=True)
    name = "mail_corpus_no_upstream.json" if args.no_upstream else "mail_corpus.json"
    (OUT / name).write_text(json.dumps(summary, indent=2))
    print(
        f"\n{'kind':<10} {'msgs':>5} {'phishing':>9} {'suspicious':>11} {'clean':>6} {'flagged':>8}"
    )
    for r in rows:
        print(
            f"{r['kind']:<10} {r['messages']:>5} {r['phishing']:>9} {r['suspicious']:>11} "
            f"{r['clean']:>6} {r['flagged_pct']:>7}%"
        )
    print(
        f"phishing flagged: {summary['phishing_flagged_pct']}% (target >= 95%); "
        f"ham flagged: {summary['ham_flagged_pct']}% (target <= 2%)",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
