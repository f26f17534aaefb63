"""The normalise stage: complete the envelope and make field names storable.

Parsers fill what they know (``event.id``, ``@timestamp``, ``event.dataset``,
``event.original``, ECS fields of their category); normalise makes sure every event has the
whole envelope and resolves field names that differ only in case
(:func:`tocsin.core.schema.resolve_case_clashes`).
"""

from __future__ import annotations

from tocsin.core import event as ev
from tocsin.core.event import Event, new_event_id
from tocsin.core.schema import resolve_case_clashes
from tocsin.ingest.base import ParseContext


def normalise(events: list[Event], ctx: ParseContext) -> list[Event]:
    """Complete the envelope of every event in place; returns the (possibly new) list."""
    received = ctx.received
    forced = ctx.dataset
    out = events
    for index, event in enumerate(events):
        if ev.ID not in event:
            event[ev.ID] = new_event_id()
        if event.get(ev.TIMESTAMP) is None:
            event[ev.TIMESTAMP] = received
        event[ev.INGESTED] = received
        if forced is not None:
            event[ev.DATASET] = forced
        elif not event.get(ev.DATASET):
            event[ev.DATASET] = "json"
        if ev.KIND not in event:
            event[ev.KIND] = "event"
        fixed = resolve_case_clashes(event)
        if fixed is not event:
            out[index] = fixed
    return out
