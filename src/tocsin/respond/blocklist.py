"""Block and allow lists: values with provenance and expiry, lookups, and their exporters.

An entry puts one normalised value of one kind (domain, url, email, ip, hash) on the ``block``
or the ``allow`` list, with a reason, a source (its provenance: ``alert:12``, ``case:7``,
``mail.phishing``, ``manual``), who added it and an optional expiry. Sensors ask
``is_blocked``/``snapshot`` instead of keeping lists of their own; firewalls, resolvers and
proxies read the exports (``EXPORTERS``, keyed by format name; later issues add RPZ, nftables,
ipset and EDL there).

This module is the service (``BlockLists``), its records and in-memory lookups. How values are
recognised and normalised lives in ``tocsin.respond.values`` and how lists are rendered in
``tocsin.respond.exporters``; both need no database. Their public names are re-exported here
(``__all__``), so callers keep importing everything from this module.

Rules, the same for lookups and exports:

* An entry counts while it is *live*: not removed and not expired. Removing only marks the row
  (``removed_at``/``removed_by``), so the audit keeps what was listed and when.
* One live row per (list, kind, value): adding it again extends its expiry or replaces its reason
  and says so; it never shortens an expiry silently (remove and add again to shorten).
* **The most specific entry decides, and allow wins a tie.** A domain entry covers its
  subdomains and a network covers its addresses; the longest listed name (or prefix) that covers
  a value decides. So ``allow good.evil.com`` beats ``block evil.com`` for that name, while
  ``block evil.blogspot.com`` still applies under ``allow blogspot.com``; the same value on both
  lists is allowed. Exports follow this: a blocked value that is also allowed is left out, a
  blocked network loses the allowed networks inside it (it is split around them), and an
  allowed *parent* domain does not remove its blocked subdomains.

Every call checks the principal: ``blocklist.read`` to read and export, ``blocklist.manage`` to
add and remove. Adds, updates and removals write the audit log in the same transaction.
"""

from __future__ import annotations

import builtins
import ipaddress
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tocsin.core.errors import ConflictError, InvalidInputError, NotFoundError
from tocsin.respond.exporters import (
    EXPORTER_MODULES,
    EXPORTERS,
    ExportData,
    Exporter,
    LineExporter,
    effective_ips,
    export_formats,
    get_exporter,
    register_exporter,
    sorted_values,
)
from tocsin.respond.values import (
    MAX_VALUE,
    EntryKind,
    ListName,
    detect_kind,
    format_time,
    normalize_domain,
    normalize_email,
    normalize_hash,
    normalize_ip,
    normalize_url,
    normalize_value,
    parse_expiry,
    parse_kind,
    parse_list,
    refang,
)
from tocsin.workspace.db import Database
from tocsin.workspace.history import record_audit
from tocsin.workspace.paging import Page, paginate
from tocsin.workspace.permissions import Permission, Principal
from tocsin.workspace.tables import BlocklistEntry

__all__ = [
    "EXPORTER_MODULES",
    "EXPORTERS",
    "MAX_ERRORS_SHOWN",
    "MAX_REASON",
    "MAX_SOURCE",
    "MAX_VALUE",
    "AddResult",
    "BlockLists",
    "Entry",
    "EntryDraft",
    "EntryKind",
    "ExportData",
    "Exporter",
    "LineExporter",
    "ListName",
    "ListSnapshot",
    "Outcome",
    "State",
    "detect_kind",
    "export_formats",
    "get_exporter",
    "normalize_domain",
    "normalize_email",
    "normalize_hash",
    "normalize_ip",
    "normalize_url",
    "normalize_value",
    "parse_expiry",
    "parse_kind",
    "parse_list",
    "refang",
    "register_exporter",
]

MAX_REASON = 2000
MAX_SOURCE = 200
MAX_ERRORS_SHOWN = 10
_CHUNK = 500  # values per IN (...) query: well under every engine's parameter limit

Outcome = Literal["added", "updated", "unchanged"]
State = Literal["active", "expired", "removed"]


def _until(moment: datetime | None) -> str:
    return "without expiry" if moment is None else f"until {format_time(moment)}"


# Records ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryDraft:
    """A value for a list; ``kind`` None is detected; ``expires_at`` or ``ttl`` (neither: never)."""

    value: str
    kind: EntryKind | str | None = None
    list: ListName | str = ListName.BLOCK
    reason: str = ""
    source: str = "manual"
    expires_at: datetime | None = None
    ttl: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry as lists show it."""

    id: int
    list: ListName
    kind: EntryKind
    value: str
    reason: str
    source: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    removed_at: datetime | None
    removed_by: str | None

    def state(self, now: datetime | None = None) -> State:
        """``removed``, ``expired`` or ``active`` at ``now``."""
        if self.removed_at is not None:
            return "removed"
        if self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC)):
            return "expired"
        return "active"

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        """JSON form, with the state at ``now``."""
        return {
            "id": self.id,
            "list": self.list.value,
            "kind": self.kind.value,
            "value": self.value,
            "state": self.state(now),
            "reason": self.reason,
            "source": self.source,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "removed_at": self.removed_at.isoformat() if self.removed_at else None,
            "removed_by": self.removed_by,
        }


@dataclass(frozen=True, slots=True)
class AddResult:
    """What adding one draft did: ``added``, ``updated`` or ``unchanged``, and why in words."""

    entry: Entry
    outcome: Outcome
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"outcome": self.outcome, "detail": self.detail, "entry": self.entry.to_dict()}


def _entry(row: BlocklistEntry) -> Entry:
    return Entry(
        id=row.id,
        list=ListName(row.list),
        kind=EntryKind(row.kind),
        value=row.value,
        reason=row.reason or "",
        source=row.source,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        expires_at=row.expires_at,
        removed_at=row.removed_at,
        removed_by=row.removed_by,
    )


@dataclass(frozen=True, slots=True)
class _Prepared:
    list: ListName
    kind: EntryKind
    value: str
    reason: str
    source: str
    expires_at: datetime | None


def _clean_text(text: str, limit: int, what: str) -> str:
    # one line of printable text: PostgreSQL refuses NUL, and exports and tables show it
    cleaned = "".join(c for c in " ".join(str(text).split()) if c.isprintable())
    if len(cleaned) > limit:
        raise InvalidInputError(f"the {what} has {len(cleaned)} characters: at most {limit}")
    return cleaned


def _prepare(draft: EntryDraft, moment: datetime) -> _Prepared:
    kind, value = normalize_value(draft.value, draft.kind)
    source = _clean_text(draft.source, MAX_SOURCE, "source") or "manual"
    if draft.expires_at is not None and draft.ttl is not None:
        raise InvalidInputError(f"{draft.value!r}: give expires_at or ttl, not both")
    expires_at = draft.expires_at
    if draft.ttl is not None:
        if draft.ttl <= timedelta(0):
            raise InvalidInputError(f"{draft.value!r}: the ttl must be positive")
        expires_at = moment + draft.ttl
    elif expires_at is not None:
        expires_at = (
            expires_at.astimezone(UTC) if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)
        )
    if expires_at is not None and expires_at <= moment:
        raise InvalidInputError(
            f"{draft.value!r}: the expiry {format_time(expires_at)} is in the past"
        )
    return _Prepared(
        list=parse_list(draft.list),
        kind=kind,
        value=value,
        reason=_clean_text(draft.reason, MAX_REASON, "reason"),
        source=source,
        expires_at=expires_at,
    )


def _merge(row: BlocklistEntry, item: _Prepared, moment: datetime) -> tuple[Outcome, str]:
    """Apply a repeated add to a live row: extend, renew or keep; say which."""
    changes: builtins.list[str] = []
    notes: builtins.list[str] = []
    current = row.expires_at
    if current is not None and current <= moment:
        row.expires_at = item.expires_at
        changes.append(
            f"renewed: it had expired at {format_time(current)}; now {_until(item.expires_at)}"
        )
    elif current is None:
        if item.expires_at is not None:
            notes.append(
                f"kept without expiry (asked for {format_time(item.expires_at)}; remove and add it "
                "again to shorten)"
            )
    elif item.expires_at is None or item.expires_at > current:
        row.expires_at = item.expires_at
        changes.append(
            f"expiry extended from {format_time(current)} to {format_time(item.expires_at)}"
        )
    elif item.expires_at < current:
        asked = format_time(item.expires_at)
        notes.append(f"kept the later expiry {format_time(current)} (asked for {asked})")
    if item.reason and item.reason != row.reason:
        old = row.reason if len(row.reason or "") <= 80 else row.reason[:77] + "..."
        changes.append(f"reason replaced (was {old!r})" if row.reason else "reason set")
        row.reason = item.reason
    if changes:
        row.updated_at = moment
        return "updated", "; ".join(changes + notes)
    return "unchanged", "; ".join(notes) or f"already listed {_until(current)}"


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


def _live(moment: datetime) -> builtins.list[ColumnElement[bool]]:
    return [
        BlocklistEntry.removed_at.is_(None),
        or_(BlocklistEntry.expires_at.is_(None), BlocklistEntry.expires_at > moment),
    ]


def _audit_detail(entry: Entry, **extra: Any) -> dict[str, Any]:
    return {
        "list": entry.list.value,
        "kind": entry.kind.value,
        "value": entry.value,
        "source": entry.source,
        "expires_at": format_time(entry.expires_at) if entry.expires_at else None,
        **extra,
    }


# Lookups ----------------------------------------------------------------------------------

_BLOCK, _ALLOW = 1, 2


def _parents(domain: str) -> Iterator[str]:
    """The name, then each parent with at least two labels (the shortest that can be listed)."""
    yield domain
    rest = domain
    while rest.count(".") > 1:
        rest = rest.partition(".")[2]
        yield rest


class ListSnapshot:
    """The live entries of both lists at one moment, for many lookups without the database.

    Built once (``BlockLists.snapshot``) and then read-only: a sensor keeps one for a batch or
    a few seconds. Each lookup walks at most the labels of a name or the prefix lengths listed.
    """

    def __init__(self, rows: Iterable[tuple[str, str, str]]) -> None:
        self._exact: dict[tuple[str, str], int] = {}
        # version -> prefix length -> network as an integer -> which lists
        self._networks: dict[int, dict[int, dict[int, int]]] = {4: {}, 6: {}}
        for list_name, kind, value in rows:
            bit = _ALLOW if list_name == ListName.ALLOW else _BLOCK
            if kind == EntryKind.IP:
                network = ipaddress.ip_network(value)
                by_length = self._networks[network.version].setdefault(network.prefixlen, {})
                key = int(network.network_address) >> (network.max_prefixlen - network.prefixlen)
                by_length[key] = by_length.get(key, 0) | bit
            else:
                self._exact[(kind, value)] = self._exact.get((kind, value), 0) | bit
        self._lengths = {v: sorted(d, reverse=True) for v, d in self._networks.items()}

    def verdict(self, kind: EntryKind | str, value: str) -> ListName | None:
        """The list that decides for ``value`` (most specific entry; allow wins a tie), or None.

        A value that is not valid for its kind is on no list.
        """
        chosen = parse_kind(kind)
        try:
            normalized = normalize_value(value, chosen)[1]
        except InvalidInputError:
            return None
        if chosen is EntryKind.IP:
            return self._ip_verdict(normalized)
        names = _parents(normalized) if chosen is EntryKind.DOMAIN else (normalized,)
        for name in names:
            found = self._exact.get((chosen.value, name), 0)
            if found:
                return ListName.ALLOW if found & _ALLOW else ListName.BLOCK
        return None

    def is_blocked(self, kind: EntryKind | str, value: str) -> bool:
        """True when the block list decides for ``value``."""
        return self.verdict(kind, value) is ListName.BLOCK

    def is_allowed(self, kind: EntryKind | str, value: str) -> bool:
        """True when the allow list decides for ``value``."""
        return self.verdict(kind, value) is ListName.ALLOW

    def _ip_verdict(self, normalized: str) -> ListName | None:
        network = ipaddress.ip_network(normalized)
        address = int(network.network_address)
        by_length = self._networks[network.version]
        for length in self._lengths[network.version]:
            if length > network.prefixlen:
                continue  # a narrower entry does not cover the whole of a wider query
            found = by_length[length].get(address >> (network.max_prefixlen - length), 0)
            if found:
                return ListName.ALLOW if found & _ALLOW else ListName.BLOCK
        return None


# The service ------------------------------------------------------------------------------


class BlockLists:
    """Add, remove, list, look up and export block and allow list entries."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def add(
        self, actor: Principal, drafts: Sequence[EntryDraft], *, now: datetime | None = None
    ) -> builtins.list[AddResult]:
        """Put values on lists, in order; one result per draft.

        A value already live on that list is not duplicated: its expiry is extended (never
        shortened), an expired one is renewed, a new reason replaces the old, and the result
        says which. Every draft is checked before anything is written: one invalid draft
        fails the whole call with an error naming each bad value.

        Raises:
            InvalidInputError: a value, kind, list, reason, source or expiry is invalid.
            ConflictError: another writer added the same value at the same moment twice.
        """
        actor.require(Permission.BLOCKLIST_MANAGE)
        moment = now or datetime.now(UTC)
        prepared: builtins.list[_Prepared] = []
        errors: builtins.list[str] = []
        for draft in drafts:
            try:
                prepared.append(_prepare(draft, moment))
            except InvalidInputError as exc:
                errors.append(exc.message)
        if errors:
            shown = "; ".join(errors[:MAX_ERRORS_SHOWN])
            more = len(errors) - MAX_ERRORS_SHOWN
            prefix = (
                "" if len(drafts) == 1 else f"{len(errors)} of {len(drafts)} entries are invalid: "
            )
            suffix = f"; and {more} more" if more > 0 else ""
            raise InvalidInputError(prefix + shown + suffix)
        for attempt in range(2):
            try:
                with self.db.session() as session:
                    return self._add(session, actor, prepared, moment)
            except IntegrityError as exc:
                # the same value added by another writer between our read and our insert:
                # read again, and the second pass updates the row it wrote
                if attempt:
                    raise ConflictError(
                        "the list changed while these entries were added: try again"
                    ) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _add(
        self,
        session: Session,
        actor: Principal,
        prepared: Sequence[_Prepared],
        moment: datetime,
    ) -> builtins.list[AddResult]:
        live: dict[tuple[str, str, str], BlocklistEntry] = {}
        for chunk in _chunks(sorted({p.value for p in prepared})):
            rows = session.scalars(
                select(BlocklistEntry).where(
                    BlocklistEntry.value.in_(chunk), BlocklistEntry.removed_at.is_(None)
                )
            ).all()
            live.update({(r.list, r.kind, r.value): r for r in rows})
        done: builtins.list[tuple[BlocklistEntry, Outcome, str, _Prepared, datetime | None]] = []
        for item in prepared:
            key = (item.list.value, item.kind.value, item.value)
            row = live.get(key)
            if row is None:
                row = BlocklistEntry(
                    list=item.list.value,
                    kind=item.kind.value,
                    value=item.value,
                    reason=item.reason,
                    source=item.source,
                    created_by=actor.name,
                    created_at=moment,
                    updated_at=moment,
                    expires_at=item.expires_at,
                )
                session.add(row)
                live[key] = row
                detail = _until(item.expires_at)
                done.append((row, "added", detail, item, None))
                continue
            before = row.expires_at
            outcome, detail = _merge(row, item, moment)
            done.append((row, outcome, detail, item, before))
        session.flush()
        results: builtins.list[AddResult] = []
        for row, outcome, detail, item, before in done:
            entry = _entry(row)
            if outcome != "unchanged":
                extra: dict[str, Any] = {"reason": entry.reason, "detail": detail}
                if outcome == "updated":
                    extra.update(source=item.source, expires_before=before and format_time(before))
                record_audit(
                    session,
                    actor,
                    "blocklist.add" if outcome == "added" else "blocklist.update",
                    target=f"blocklist:{entry.id}",
                    detail=_audit_detail(entry, **extra),
                )
            results.append(AddResult(entry, outcome, detail))
        return results

    def remove(
        self,
        actor: Principal,
        *,
        ids: Sequence[int] = (),
        values: Sequence[tuple[EntryKind | str | None, str]] = (),
        list_name: ListName | str | None = None,
        reason: str = "",
        now: datetime | None = None,
    ) -> builtins.list[Entry]:
        """Remove entries by id or by (kind or None to detect, value); all or none.

        Removal is soft: the row keeps its value with ``removed_at`` and ``removed_by``, and the
        audit log records it with ``reason``. A value on both lists needs ``list_name``.

        Raises:
            NotFoundError: no such id, or the value is on no list (of ``list_name``).
            ConflictError: the id was already removed.
            InvalidInputError: a value is invalid, or on both lists and no list was named.
        """
        actor.require(Permission.BLOCKLIST_MANAGE)
        if not ids and not values:
            raise InvalidInputError("name the entries to remove, by id or by value")
        moment = now or datetime.now(UTC)
        chosen_list = parse_list(list_name) if list_name is not None else None
        why = _clean_text(reason, MAX_REASON, "reason")
        targets = [(text, *normalize_value(text, kind)) for kind, text in values]
        with self.db.session() as session:
            rows: dict[int, BlocklistEntry] = {}
            for entry_id in ids:
                row = session.get(BlocklistEntry, entry_id)
                if row is None:
                    raise NotFoundError(f"no block or allow list entry #{entry_id}")
                if row.removed_at is not None:
                    raise ConflictError(
                        f"entry #{entry_id} ({row.value}) was already removed at "
                        f"{format_time(row.removed_at)} by {row.removed_by}"
                    )
                rows[row.id] = row
            for text, kind, value in targets:
                query = select(BlocklistEntry).where(
                    BlocklistEntry.value == value,
                    BlocklistEntry.kind == kind.value,
                    BlocklistEntry.removed_at.is_(None),
                )
                if chosen_list is not None:
                    query = query.where(BlocklistEntry.list == chosen_list.value)
                found = session.scalars(query).all()
                where = (
                    f"the {chosen_list.value} list" if chosen_list else "the block or allow list"
                )
                if not found:
                    raise NotFoundError(f"{text!r} ({kind.value} {value}) is not on {where}")
                if len(found) > 1:
                    raise InvalidInputError(
                        f"{text!r} is on both the block and the allow list: say which to remove"
                    )
                rows[found[0].id] = found[0]
            removed: builtins.list[Entry] = []
            for row in rows.values():
                row.removed_at = moment
                row.removed_by = actor.name
                entry = _entry(row)
                record_audit(
                    session,
                    actor,
                    "blocklist.remove",
                    target=f"blocklist:{row.id}",
                    detail=_audit_detail(entry, reason=why),
                )
                removed.append(entry)
            return removed

    def get(self, actor: Principal, entry_id: int) -> Entry:
        """One entry, live or not."""
        actor.require(Permission.BLOCKLIST_READ)
        with self.db.session() as session:
            row = session.get(BlocklistEntry, entry_id)
            if row is None:
                raise NotFoundError(f"no block or allow list entry #{entry_id}")
            return _entry(row)

    def list(
        self,
        actor: Principal,
        *,
        list_name: ListName | str | None = None,
        kind: EntryKind | str | None = None,
        source: str | None = None,
        text: str | None = None,
        include_expired: bool = False,
        include_removed: bool = False,
        limit: int = 100,
        offset: int = 0,
        now: datetime | None = None,
    ) -> Page[Entry]:
        """Entries, newest first: live ones unless told to include expired or removed ones.

        ``source`` is exact, or a prefix when it ends in ``*`` (``alert:*``); ``text`` is a
        case-insensitive substring of the value or the reason.
        """
        actor.require(Permission.BLOCKLIST_READ)
        moment = now or datetime.now(UTC)
        conditions: builtins.list[ColumnElement[bool]] = []
        if list_name is not None:
            conditions.append(BlocklistEntry.list == parse_list(list_name).value)
        if kind is not None:
            conditions.append(BlocklistEntry.kind == parse_kind(kind).value)
        if source and source.strip():
            wanted = source.strip()
            if wanted.endswith("*"):
                conditions.append(BlocklistEntry.source.startswith(wanted[:-1], autoescape=True))
            else:
                conditions.append(BlocklistEntry.source == wanted)
        if text and text.strip():
            needle = text.strip()
            columns = (BlocklistEntry.value, BlocklistEntry.reason)
            if self.db.engine.dialect.name == "sqlite":  # LIKE already ignores ASCII case
                conditions.append(or_(*(c.contains(needle, autoescape=True) for c in columns)))
            else:
                conditions.append(or_(*(c.icontains(needle, autoescape=True) for c in columns)))
        if not include_removed:
            conditions.append(BlocklistEntry.removed_at.is_(None))
        if not include_expired:
            conditions.append(
                or_(BlocklistEntry.expires_at.is_(None), BlocklistEntry.expires_at > moment)
            )
        query = select(BlocklistEntry).where(*conditions).order_by(BlocklistEntry.id.desc())
        with self.db.session() as session:
            rows, total = paginate(session, query, limit=limit, offset=offset)
            return Page([_entry(r) for r in rows], total, limit, offset)

    def is_blocked(
        self,
        actor: Principal,
        kind: EntryKind | str,
        value: str,
        *,
        now: datetime | None = None,
    ) -> bool:
        """True when the block list decides for ``value`` (see the module's rules).

        One query; a value invalid for its kind is on no list. For many lookups take a
        ``snapshot`` instead.
        """
        actor.require(Permission.BLOCKLIST_READ)
        chosen = parse_kind(kind)
        try:
            normalized = normalize_value(value, chosen)[1]
        except InvalidInputError:
            return False
        query = select(BlocklistEntry.list, BlocklistEntry.kind, BlocklistEntry.value).where(
            BlocklistEntry.kind == chosen.value, *_live(now or datetime.now(UTC))
        )
        if chosen is EntryKind.DOMAIN:
            query = query.where(BlocklistEntry.value.in_(builtins.list(_parents(normalized))))
        elif chosen is not EntryKind.IP:  # networks cover addresses: IP entries are all read
            query = query.where(BlocklistEntry.value == normalized)
        with self.db.session() as session:
            rows = [(r[0], r[1], r[2]) for r in session.execute(query)]
        return ListSnapshot(rows).is_blocked(chosen, normalized)

    def snapshot(self, actor: Principal, *, now: datetime | None = None) -> ListSnapshot:
        """Every live entry of both lists, for lookups in memory (one query)."""
        actor.require(Permission.BLOCKLIST_READ)
        query = select(BlocklistEntry.list, BlocklistEntry.kind, BlocklistEntry.value).where(
            *_live(now or datetime.now(UTC))
        )
        with self.db.session() as session:
            return ListSnapshot((r[0], r[1], r[2]) for r in session.execute(query))

    def active_values(
        self,
        actor: Principal,
        kind: EntryKind | str,
        list_name: ListName | str = ListName.BLOCK,
        *,
        now: datetime | None = None,
    ) -> frozenset[str]:
        """The live values of one kind on one list; for the block list, less those allowed.

        Exact values only: domains still cover their subdomains and networks their addresses,
        which ``snapshot().is_blocked`` applies.
        """
        actor.require(Permission.BLOCKLIST_READ)
        chosen = parse_kind(kind)
        wanted = parse_list(list_name)
        values = self._live_values(chosen, now or datetime.now(UTC))
        if wanted is ListName.ALLOW:
            return frozenset(values[ListName.ALLOW])
        return frozenset(values[ListName.BLOCK] - values[ListName.ALLOW])

    def export_data(
        self,
        actor: Principal,
        *,
        list_name: ListName | str = ListName.BLOCK,
        now: datetime | None = None,
    ) -> ExportData:
        """The effective values of one list at ``now`` (see ``ExportData``)."""
        actor.require(Permission.BLOCKLIST_READ)
        moment = now or datetime.now(UTC)
        wanted = parse_list(list_name)
        values: dict[EntryKind, tuple[str, ...]] = {}
        allowed: dict[EntryKind, tuple[str, ...]] = {}
        by_kind = self._all_live_values(moment)
        for kind in EntryKind:
            block, allow = by_kind[kind][ListName.BLOCK], by_kind[kind][ListName.ALLOW]
            allowed[kind] = sorted_values(kind, allow)
            if wanted is ListName.ALLOW:
                values[kind] = allowed[kind]
            elif kind is EntryKind.IP:
                values[kind] = effective_ips(block, allow)
            else:
                values[kind] = tuple(sorted(block - allow))
        return ExportData(wanted, moment, values, allowed)

    def export(
        self,
        actor: Principal,
        fmt: str,
        *,
        list_name: ListName | str = ListName.BLOCK,
        now: datetime | None = None,
    ) -> str:
        """One list rendered in an export format (``EXPORTERS``)."""
        actor.require(Permission.BLOCKLIST_READ)
        exporter = get_exporter(fmt)
        return exporter.render(self.export_data(actor, list_name=list_name, now=now))

    def _live_values(self, kind: EntryKind, moment: datetime) -> dict[ListName, set[str]]:
        query = select(BlocklistEntry.list, BlocklistEntry.value).where(
            BlocklistEntry.kind == kind.value, *_live(moment)
        )
        found: dict[ListName, set[str]] = {ListName.BLOCK: set(), ListName.ALLOW: set()}
        with self.db.session() as session:
            for list_value, value in session.execute(query):
                found[ListName(list_value)].add(value)
        return found

    def _all_live_values(self, moment: datetime) -> dict[EntryKind, dict[ListName, set[str]]]:
        query = select(BlocklistEntry.list, BlocklistEntry.kind, BlocklistEntry.value).where(
            *_live(moment)
        )
        found = {k: {ListName.BLOCK: set[str](), ListName.ALLOW: set[str]()} for k in EntryKind}
        with self.db.session() as session:
            for list_value, kind_value, value in session.execute(query):
                found[EntryKind(kind_value)][ListName(list_value)].add(value)
        return found
