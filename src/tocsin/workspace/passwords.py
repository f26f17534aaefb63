"""Passwords and the failed-login limit: argon2id hashing, the policy, one-time passwords."""

from __future__ import annotations

import functools
import secrets
import threading
import time
from collections import deque

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from tocsin.core.errors import InvalidInputError, RateLimitedError

MIN_PASSWORD_LENGTH = 12
_HASHER = PasswordHasher()


@functools.cache
def dummy_hash() -> str:
    """A hash verified when the user name is unknown, so that a miss costs as long as a hit.

    Made on first use: hashing takes a fifth of a second, too long for every command's start.
    """
    return _HASHER.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    """The argon2id hash of ``password``."""
    return _HASHER.hash(password)


def check_password_policy(password: str) -> None:
    """Refuse a password shorter than MIN_PASSWORD_LENGTH characters."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters "
            f"(got {len(password)}); a passphrase of a few words is easiest"
        )


def generate_password() -> str:
    """A random one-time password (about 120 bits)."""
    return secrets.token_urlsafe(15)


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _HASHER.check_needs_rehash(password_hash)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches the hash (False for a malformed hash too)."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class LoginLimiter:
    """Failed logins per key in a sliding window; thread-safe, in memory."""

    def __init__(self, max_failures: int, window: float) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, *keys: str) -> None:
        """Raise RateLimitedError when any key has too many recent failures."""
        now = time.monotonic()
        with self._lock:
            for key in keys:
                times = self._failures.get(key)
                if not times:
                    continue
                while times and now - times[0] > self.window:
                    times.popleft()
                if len(times) >= self.max_failures:
                    retry = self.window - (now - times[0])
                    raise RateLimitedError(
                        "too many failed logins: wait before trying again", retry_after=retry
                    )

    def fail(self, *keys: str) -> None:
        """Count a failure for each key."""
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)

    def clear(self, key: str) -> None:
        """Forget a key's failures (after a successful login)."""
        with self._lock:
            self._failures.pop(key, None)
