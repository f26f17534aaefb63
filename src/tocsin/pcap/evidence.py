"""The packets behind an alert: which stored flows its evidence names.

An alert's evidence may be ``pcap.flow`` events (their ``flow.id``), any network event with a
Community ID (Zeek, Suricata and pcap all write ``network.community_id``), or the flow ids and
Community IDs a detector put in the alert's fields. Community IDs are resolved to stored pcap
flows through the lake.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tocsin.core.settings import Settings
from tocsin.pcap.extract import flows_of_community_ids

MAX_FLOWS = 500


def _values(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value if isinstance(v, str | int)]
    return []


def evidence_keys(
    events: Iterable[Mapping[str, object]], fields: Mapping[str, Any] | None
) -> tuple[list[str], list[str]]:
    """Flow ids and Community IDs named by an alert's events and fields."""
    flows: dict[str, None] = {}
    cids: dict[str, None] = {}
    sources: list[Mapping[str, object]] = [*events, dict(fields or {})]
    for source in sources:
        for value in _values(source.get("flow.id")):
            flows.setdefault(value, None)
        for value in _values(source.get("network.community_id")):
            cids.setdefault(value, None)
    return list(flows), list(cids)


def has_network_evidence(
    events: Iterable[Mapping[str, object]], fields: Mapping[str, Any] | None
) -> bool:
    """True when the alert names flows or Community IDs (its packets may be stored)."""
    flows, cids = evidence_keys(events, fields)
    return bool(flows or cids)


def alert_flow_ids(
    settings: Settings, events: Iterable[Mapping[str, object]], fields: Mapping[str, Any] | None
) -> list[str]:
    """The stored-capture flow ids behind an alert (at most ``MAX_FLOWS``)."""
    flows, cids = evidence_keys(events, fields)
    found = dict.fromkeys(flows)
    if cids and len(found) < MAX_FLOWS:
        for flow_id in flows_of_community_ids(settings, cids[:MAX_FLOWS]):
            found.setdefault(flow_id, None)
    return list(found)[:MAX_FLOWS]
