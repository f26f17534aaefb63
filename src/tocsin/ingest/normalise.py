"""The normalise stage: complete the envelope and make field names storable.

Parsers fill what they know (``event.id``, ``@timestamp``, ``event.dataset``,
``event.original``, ECS fields of their category); normalise makes sure every event has the
whole envelope. Field names that differ only in case are resolved when a batch becomes a table
(:func:`tocsin.core.schema.resolve_name_clashes`), where all of a batch's names meet.
"""

from __future__ import annotations

from tocsin.core import event as ev
from tocsin.core.event import Event, new_event_id
from tocsin.ingest.base import ParseContext


def normalise(events: list[Event], ctx: ParseContext) -> list[Event]:
    """Complete the envelope of every event in place; returns the (possibly new) list."""
    received = ctx.received
    forced = ctx.dataset
    for event in events:
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
    return events
