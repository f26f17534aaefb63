"""What every part of the demo scenario shares: the cast, time formats and the generator's base.

The constants name the hosts, users and addresses of the story. The time helpers format one
instant the way each log source does. :class:`_Base` holds the random source, the 24-hour window
and the text records, with the small helpers that every builder uses.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

DOMAIN = "corp.example"
NETBIOS_DOMAIN = "CORP"
DOMAIN_SID = "S-1-5-21-1004336348-1177238915-682003330"
C2_IP = "198.51.100.23"
ATTACKER_IP = "203.0.113.50"
DGA_IP = "203.0.113.77"
LOOKALIKE_DOMAIN = "corp-examp1e.com"
TUNNEL_DOMAIN = "cloud-sync-status.net"
VICTIM_HOST = "WS-ACCT-07"
VICTIM_IP = "10.10.20.57"
VICTIM_USER = "j.doe"
DC_HOST = "DC01"
DC_IP = "10.10.10.5"
BASTION_IP = "10.10.30.5"
WEB_IP = "10.10.30.10"
MGMT_IP = "10.10.30.20"
BACKDOOR_USER = "sysupdate"
WINDOW = timedelta(hours=24)


# ----------------------------------------------------------------------------- time formats

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(when: datetime) -> int:
    return (when - _EPOCH) // timedelta(microseconds=1)


def _iso_ms(when: datetime) -> str:
    return when.isoformat(timespec="milliseconds")[:23] + "Z"


def _utc_time(when: datetime) -> str:
    return when.isoformat(sep=" ", timespec="milliseconds")[:23]


def _bsd_time(when: datetime) -> str:
    return f"{_MONTHS[when.month - 1]} {when.day:2d} {when.isoformat()[11:19]}"


def _zeek_time(when: datetime) -> str:
    micros = _micros(when)
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def _eve_time(when: datetime) -> str:
    return when.isoformat(timespec="microseconds")[:26] + "+0000"


# (when, sequence, line)
_Line = tuple[datetime, int, str]
_Address = tuple[str, int]
_TEXT_FILES = ("auth", "syslog", "audit", "conn", "dns", "eve")

# ----------------------------------------------------------------------------- helpers


def _domain_ip(name: str) -> str:
    """A stable benign address (192.0.2.0/24) for a well-known name."""
    return f"192.0.2.{10 + int(hashlib.sha256(name.encode()).hexdigest()[:4], 16) % 230}"


def _sort_key(record: tuple[datetime, int, *tuple[object, ...]]) -> tuple[datetime, int]:
    return record[0], record[1]


def _write(path: Path, parts: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes("".join(parts).encode("utf-8"))
    return path


# ----------------------------------------------------------------------------- the generator's base


class _Base:
    """The random source, the window and the text records that every builder shares."""

    rng: random.Random
    start: datetime
    end: datetime
    seq: int
    text: dict[str, list[_Line]]

    def _inside(self, when: datetime) -> bool:
        return self.start <= when < self.end

    def _hex(self, digits: int) -> str:
        return f"{self.rng.getrandbits(digits * 4):0{digits}x}"

    def _guid(self, prefix: str | None = None) -> str:
        head = prefix or self._hex(8)
        return f"{{{head}-{self._hex(4)}-{self._hex(4)}-{self._hex(4)}-{self._hex(12)}}}"

    def _port(self) -> int:
        return self.rng.randint(49152, 65535)

    def _after(self, when: datetime, low: float, high: float) -> datetime:
        return when + timedelta(seconds=self.rng.uniform(low, high))

    def _line(self, key: str, when: datetime, line: str) -> None:
        if self._inside(when):
            self.seq += 1
            self.text[key].append((when, self.seq, line))
