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


def id_prefix(identity: str) -> str:
    """The 16-hex-digit prefix that the ids of one source share."""
    return hashlib.blake2b(identity.encode(), digest_size=8).hexdigest()


def make_event_id(identity: str, position: int | str, *, prefix: str | None = None) -> str:
    """Return a deterministic event id for a record at ``position`` in a source.

    The id is the source's prefix (:func:`id_prefix`), a dash, and the position: decimal for a
    byte offset or record number, a short hash for a textual position (a journald cursor, a
    CloudTrail event id). The same source and position always give the same id, so replaying
    a spool or re-importing a file writes ids that storage recognises as duplicates; and the
    bulk path can build ids for a whole column at once.
    """
    head = prefix if prefix is not None else id_prefix(identity)
    if isinstance(position, int):
        return f"{head}-{position}"
    return f"{head}-{hashlib.blake2b(position.encode(), digest_size=8).hexdigest()}"


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
