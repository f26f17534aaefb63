"""check_many answers what check answers, name by name; registrable_split what registrable does."""

from __future__ import annotations

import random
import string

from tocsin.intel.lookalike import (
    LookalikeDetector,
    permutations,
    registrable,
    registrable_split,
)

PROTECTED = [
    "acme-corp.com",
    "northwind.co.uk",
    "contoso.com",
    "meridian-pharma.de",
    "sakura-denki.co.jp",
    "hq.io",
    "maplebank.ca",
]


def corpus(seed: int = 5) -> list[str]:
    """Variants of the protected domains among ordinary, odd and hostile names."""
    rng = random.Random(seed)
    names = [p.domain for d in PROTECTED for p in permutations(d)][::7]
    names += [f"{rng.choice(['www', 'login', 'a.b'])}.{n}" for n in names[::5]]
    names += [f"mail.{d}" for d in PROTECTED] + PROTECTED
    words = "cloud data shop bank north wind acme corp maple pharma".split()
    tlds = "com net org co.uk de co.jp io ca xyz cloudfront.net s3.amazonaws.com".split()
    for _ in range(4000):
        label = "".join(rng.choices(string.ascii_lowercase + "0123-", k=rng.randint(1, 16)))
        name = f"{rng.choice(['', 'www.', 'api.'])}{rng.choice(words)}{label}.{rng.choice(tlds)}"
        names.append(name)
    names += [
        "acme-corp.com.evil.xyz",
        "acmecorp-login.com",
        "xn--acme-crp-7za.com",
        "acme-c\u043erp.com",
        "ACME-CORP.COM.",
        "bad name.com",
        "a..b.com",
        "",
        ".",
        "com",
        "corp.local",
        "10.0.0.1",
        "x" * 300 + ".com",
        "northwind.co.uk.attacker.net",
        "n0rthwind.co.uk",
        "meridian-pharma.com",
    ]
    return names


def test_check_many_gives_check_answers():
    names = corpus()
    single = LookalikeDetector(PROTECTED)
    expected = [single.check(n) for n in names]
    found = LookalikeDetector(PROTECTED).check_many(names)
    assert found == expected
    assert sum(m is not None for m in found) > 300  # the variants are there and found


def test_check_many_edge_cases():
    detector = LookalikeDetector(PROTECTED)
    assert detector.check_many([]) == []
    assert LookalikeDetector([]).check_many(["acme-c0rp.com"]) == [None]
    twice = detector.check_many(["acme-c0rp.com", "acme-c0rp.com", "www.acme-corp.com"])
    assert twice[0] is not None and twice[0] == twice[1] and twice[2] is None


def test_registrable_split_matches_the_library():
    names = [n.lower().rstrip(".") for n in corpus(9)]
    names += ["a.b.c.kawasaki.jp", "city.kawasaki.jp", "x.www.ck", "x.y.ck", "github.io",
              "me.github.io", "a.b.compute.amazonaws.com", "xn--p1ai", "shop.xn--p1ai"]  # fmt: skip
    assert [registrable_split(n) for n in names] == [registrable(n) for n in names]
