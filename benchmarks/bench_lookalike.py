"""Lookalike matching at DNS speed: 50 protected domains, their tables, names checked per second.

    python benchmarks/bench_lookalike.py [--names 1000000] [--seed 7] [--sample 50000]

Builds a ``LookalikeDetector`` for 50 made-up protected domains (organisations and brands, a
few short ones), generates ``--names`` distinct DNS names the way a window of queries looks
(CDN hosts, random subdomains of popular-looking domains, short names, internal names, IDNs,
garbage, subdomains of the protected domains, and 0.5 % lookalikes from ``permutations()``),
then times ``check()`` one name at a time (on a sample: it is slow) and ``check_many()`` on
the whole list, on one core. Both must give the same
answers; the script stops if they do not. Results go to benchmarks/out/lookalike.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import string
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"

PROTECTED = """
acme-corp.com northwind.co.uk contoso.com fabrikam.net globex-energy.com initech.com
umbrella-health.org wayne-enterprises.com stark-industries.com cyberdyne-systems.com
tyrell-corp.com soylent.com hooli.com piedpiper.net vandelay-industries.com
wonka-chocolate.com blue-sun.com aperture-science.com black-mesa.org oscorp.com
monarch-bank.com northwind-traders.com tailspin-toys.com adventure-works.com
woodgrove-bank.com litware.com proseware.com lucerne-publishing.com margie-travel.com
alpine-ski-house.com coho-winery.com fourth-coffee.com graphic-design-institute.com
humongous-insurance.com wingtip-toys.com datum-corp.com treyresearch.net
kestrel-airlines.com meridian-pharma.de helvetia-versicherung.ch banco-estrella.es
maplebank.ca southern-cross-mining.com.au sakura-denki.co.jp tocsin.io
abc.de hq.io zeta.bank ups-mail.com qbit.ai
""".split()
"""Fifty made-up protected domains, a few of them short (abc.de, hq.io, qbit.ai)."""

_WORDS = """
cloud data net web app mail shop news media photo video music game sport travel food health
bank pay money crypto tech soft code dev api cdn static img assets edge fast link trust secure
home live smart green blue red city world global open star sun moon sky sea river mountain
north south east west alpha beta delta omega prime nova terra luna sol metro urban rural
""".split()
_TLDS = (
    "com com com com com net net org org io co de fr nl it es co.uk co.uk com.au ca jp co.jp "
    "ru br com.br in info biz xyz online site app dev me tv us eu ch se no pl cz"
).split()
_SUBS = "www api cdn mail img static assets m login auth sso app beta dev staging media".split()
_CDN = (
    "{r14}.cloudfront.net",
    "e{n4}.a.akamaiedge.net",
    "e{n4}.dscx.akamaiedge.net",
    "{r8}.{r6}.fastly.net",
    "{r10}-{r6}.azureedge.net",
    "{w}-{r8}.s3.amazonaws.com",
    "{w}{n4}.blob.core.windows.net",
    "r{n1}---sn-{r8}.googlevideo.com",
    "{r12}.execute-api.us-east-1.amazonaws.com",
    "{w}-{r6}.herokuapp.com",
    "{w}{n4}.github.io",
    "{r16}.safeframe.googlesyndication.com",
    "{r20}.trafficmanager.net",
    "ip-{n3}-{n3}-{n3}-{n3}.ec2.internal",
)
_IDN = "münchen bücher café straße ñandú 北京 пример δοκιμή παράδειγμα élève".split()


def _rand(rng: random.Random, size: int, alphabet: str = string.ascii_lowercase + "0123") -> str:
    return "".join(rng.choices(alphabet, k=size))


def _template(rng: random.Random, pattern: str) -> str:
    return pattern.format(
        r6=_rand(rng, 6),
        r8=_rand(rng, 8),
        r10=_rand(rng, 10),
        r12=_rand(rng, 12),
        r14=_rand(rng, 14),
        r16=_rand(rng, 16),
        r20=_rand(rng, 20),
        n1=rng.randint(1, 9),
        n3=rng.randint(1, 254),
        n4=rng.randint(1000, 9999),
        w=rng.choice(_WORDS),
    )


def make_names(count: int, protected: list[str], seed: int = 7) -> tuple[list[str], int]:
    """``count`` distinct DNS names of a realistic mix, and how many are planted lookalikes."""
    from tocsin.intel.lookalike import permutations

    rng = random.Random(seed)  # noqa: S311 - benchmark data, not crypto
    popular = [
        f"{rng.choice(_WORDS)}{rng.choice(['', '-', ''])}{rng.choice(_WORDS)}"
        f"{rng.choice(['', '', str(rng.randint(1, 99))])}.{rng.choice(_TLDS)}"
        for _ in range(20_000)
    ]
    variants = [p.domain for domain in protected for p in permutations(domain)]
    planted = max(1, count // 200)
    names: dict[str, None] = {}
    for name in rng.sample(variants, min(planted, len(variants))):
        names[rng.choice(["", "", "www.", "login.", "mail."]) + name] = None
    planted = len(names)
    while len(names) < count:
        roll = rng.random()
        if roll < 0.30:
            name = _template(rng, rng.choice(_CDN))
        elif roll < 0.82:
            parent = rng.choice(popular)
            kind = rng.random()
            if kind < 0.4:
                name = f"{rng.choice(_SUBS)}.{parent}"
            elif kind < 0.8:
                name = f"{_rand(rng, rng.randint(3, 12))}.{parent}"
            else:
                name = f"{_rand(rng, 6)}.{rng.choice(_SUBS)}.{parent}"
        elif roll < 0.87:
            name = f"{_rand(rng, rng.randint(1, 3))}.{rng.choice(_TLDS)}"
        elif roll < 0.92:
            name = rng.choice(
                [
                    f"host{rng.randint(1, 99999)}.corp.local",
                    f"_ldap._tcp.dc{rng.randint(1, 999)}._msdcs.corp.example",
                    f"{_rand(rng, 8)}.lan",
                    f"wpad{rng.randint(1, 99999)}",
                ]
            )
        elif roll < 0.94:
            name = f"{rng.choice(_SUBS)}.{rng.choice(protected)}"
        elif roll < 0.944:
            # DNS carries IDNs as punycode; some sources log them decoded
            label = f"{rng.choice(_IDN)}{rng.randint(1, 9999)}"
            name = f"{label}.{rng.choice(_TLDS)}"
            if rng.random() < 0.8:
                name = name.encode("idna").decode("ascii")
        elif roll < 0.954:
            name = rng.choice(
                [
                    f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}",
                    f"Upper{rng.randint(1, 99999)}.Example.COM.",
                    f"bad name {rng.randint(1, 99999)}.com",
                    f"{_rand(rng, 70)}.{_rand(rng, 70)}.{_rand(rng, 70)}.{_rand(rng, 70)}.com",
                    f"a..b{rng.randint(1, 99999)}.com",
                ]
            )
        else:
            # long random tunnel-like labels under popular domains
            name = f"{_rand(rng, 30, string.hexdigits.lower())}.{rng.choice(popular)}"
        names[name] = None
    out = list(names)
    rng.shuffle(out)
    return out, planted


def main() -> None:
    """Time the build, check() on a sample and check_many() on every name; save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--sample", type=int, default=50_000, help="names timed with check()")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from tocsin.intel.lookalike import LookalikeDetector

    names, planted = make_names(args.names, PROTECTED, args.seed)
    started = time.perf_counter()
    detector = LookalikeDetector(PROTECTED)
    found = detector.check_many(names[:10])  # the batch tables are made on first use
    build = time.perf_counter() - started
    # a fresh detector for each timing: check() keeps a cache of recent names
    single = LookalikeDetector(PROTECTED)
    sample = names[: args.sample]
    started = time.perf_counter()
    expected = [single.check(name) for name in sample]
    single_rate = len(sample) / (time.perf_counter() - started)
    started = time.perf_counter()
    found = detector.check_many(names)
    batch_seconds = time.perf_counter() - started
    if found[: len(sample)] != expected:
        wrong = [n for n, a, b in zip(sample, found, expected, strict=True) if a != b][:5]
        raise SystemExit(f"check_many and check disagree, e.g. on {wrong}")
    hits = sum(match is not None for match in found)
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "protected_domains": len(PROTECTED),
        "permutations": len(detector),
        "build_seconds": round(build, 2),
        "names": len(names),
        "planted_lookalikes": planted,
        "lookalikes_found": hits,
        "check_names_per_second": round(single_rate),
        "check_many_seconds": round(batch_seconds, 2),
        "check_many_names_per_second": round(len(names) / batch_seconds),
        "parity_sample": len(sample),
    }
    print(json.dumps(result, indent=2))
    OUT.mkdir(exist_ok=True)
    (OUT / "lookalike.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
