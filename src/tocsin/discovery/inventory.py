"""The inventory: where each type of sensitive data lives, by owner, folder or source.

Counted from the stored findings that are still open or confirmed (false positives and fixed
ones are gone from the inventory). Folders are cut to ``depth`` levels, so a large tree reads
as a handful of places; a database counts by table, the lake by dataset.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa

from tocsin.workspace.permissions import Permission, Principal
from tocsin.workspace.service import Workspace
from tocsin.workspace.tables import DiscoveryFinding

LIVE_STATES = ("open", "confirmed")


@dataclass(slots=True)
class Inventory:
    """Counts per place and kind."""

    by: str
    kinds: list[str] = field(default_factory=list)
    rows: dict[str, dict[str, int]] = field(default_factory=dict)

    def flat(self) -> list[dict[str, object]]:
        """One row per (place, kind), for machine output."""
        return [
            {self.by: place, "kind": kind, "findings": count}
            for place, counts in self.rows.items()
            for kind, count in sorted(counts.items())
        ]


def folder_of(place: str, source: str, depth: int) -> str:
    """The folder of a path cut to ``depth`` levels (a table or dataset stays whole)."""
    if source in ("database", "lake"):
        return place
    parts = place.split("!", 1)[0].split("/")[:-1][:depth]
    return "/".join(parts) + "/" if parts else "./"


def inventory(ws: Workspace, actor: Principal, *, by: str = "folder", depth: int = 2) -> Inventory:
    """Counts of live findings per place (``by`` folder, owner or source) and kind."""
    actor.require(Permission.SEARCH_READ)
    out = Inventory(by)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    kinds: dict[str, int] = defaultdict(int)
    query = sa.select(
        DiscoveryFinding.place,
        DiscoveryFinding.source,
        DiscoveryFinding.owner,
        DiscoveryFinding.kind,
    ).where(DiscoveryFinding.state.in_(LIVE_STATES))
    with ws.db.session() as session:
        for where, source, owner, kind in session.execute(query):
            if by == "owner":
                place = owner or "(unknown)"
            elif by == "source":
                place = source
            else:
                place = folder_of(where, source, depth)
            counts[place][kind] += 1
            kinds[kind] += 1
    out.kinds = sorted(kinds, key=lambda k: -kinds[k])
    out.rows = {
        place: dict(c) for place, c in sorted(counts.items(), key=lambda kv: -sum(kv[1].values()))
    }
    return out
