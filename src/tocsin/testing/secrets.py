"""Fake but well-formed credentials for tests, benchmarks and the demo: real formats (checksums
included) with random values, never real keys. Written here from the formats' public
descriptions."""

from __future__ import annotations

import base64
import random
import string
import zlib

from tocsin.discovery.validators import _base62

ALNUM = string.ascii_letters + string.digits


def rand(rng: random.Random, n: int, alphabet: str = ALNUM) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def github_pat(rng: random.Random, *, valid: bool = True) -> str:
    body = rand(rng, 30)
    check = _base62(zlib.crc32(body.encode()), 6)
    if not valid:
        check = check[::-1] if check[::-1] != check else "000000"
    return f"ghp_{body}{check}"


def aws_key_id(rng: random.Random) -> str:
    return "AKIA" + rand(rng, 16, string.ascii_uppercase + "234567")


def aws_secret(rng: random.Random) -> str:
    return rand(rng, 40, ALNUM + "+/")


def jwt(rng: random.Random) -> str:
    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    payload = f'{{"sub":"{rand(rng, 8)}","iat":1700000000}}'.encode()
    header = part(b'{"alg":"HS256","typ":"JWT"}')
    return f"{header}.{part(payload)}.{rand(rng, 43, ALNUM + '-_')}"


def private_key(rng: random.Random) -> str:
    body = "\n".join(rand(rng, 64, ALNUM + "+/") for _ in range(6))
    return f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----"


def luhn_complete(prefix: str, length: int, rng: random.Random) -> str:
    """A card number: ``prefix``, random digits, and the Luhn check digit."""
    from tocsin.discovery.validators import luhn

    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    for d in string.digits:
        if luhn(body + d):
            return body + d
    raise AssertionError("unreachable")
