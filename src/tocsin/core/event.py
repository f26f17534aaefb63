"""The event envelope: field names every event has, ids, and reasons.

An event is a flat ``dict`` from field name to value. Source fields keep their native names;
the envelope and the ECS fields sit beside them (ARCHITECTURE.md section 3).
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime

Event = dict[str, object]
"""One event: a flat mapping of field name to value."""

ID = "event.id"
TIMESTAMP = "@timestamp"
INGESTED = "event.ingested"
DATASET = "event.dataset"
CATEGORY = "event.category"
TYPE = "event.type"
KIND = "event.kind"
ORIGINAL = "event.original"

ENVELOPE_FIELDS = (ID, TIMESTAMP, INGESTED, DATASET, CATEGORY, TYPE, ORIGINAL)


def make_event_id(identity: str, position: int | str) -> str:
    """Return a deterministic event id for a record at ``position`` in a source.

    The same source identity and position always give the same id, so replaying a spool or
    re-importing a file writes ids that storage recognises as duplicates.
    """
    digest = hashlib.blake2b(f"{identity}\x00{position}".encode(), digest_size=16)
    return digest.hexdigest()


def new_event_id() -> str:
    """Return a random, time-ordered event id for records without a position."""
    return f"{time.time_ns():016x}{os.urandom(8).hex()}"


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a verdict, score or alert was given: the check, its evidence, its share of the score."""

    check: str
    detail: str
    weight: float = 0.0
