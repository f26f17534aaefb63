"""``tocsin intel``: the indicator feeds: their status, refreshing URL feeds, looking values up.

``feeds`` and ``lookup`` write their rows to stdout; ``refresh`` reports each feed on stderr
(with a progress bar on a terminal) and exits 1 when any feed could not be fetched.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

import typer
from rich.markup import escape
from rich.progress import DownloadColumn, TaskID

from tocsin.cli.common import ensure_home, handle_errors, settings
from tocsin.cli.output import (
    OutputFormat,
    OutputOpt,
    print_rows,
    progress_bar,
    resolve_format,
    stderr,
)
from tocsin.core.errors import InvalidInputError
from tocsin.intel.feeds import FeedStatus, feed_statuses, load_feeds, refresh_feeds
from tocsin.intel.indicators import Indicator, IndicatorSet, detect_kind
from tocsin.respond.blocklist import (
    BlockLists,
    Entry,
    EntryKind,
    ListName,
    ListSnapshot,
    normalize_value,
)
from tocsin.workspace.db import Database
from tocsin.workspace.permissions import Principal

app = typer.Typer(
    help="Indicator feeds (files and URLs in hosts, plain, CSV, JSON, RPZ, STIX): status, "
    "refresh, lookup.",
    no_args_is_help=True,
)

_FEED_COLUMNS = ["name", "origin", "format", "count", "issues", "age", "due", "error", "source"]
_LOOKUP_COLUMNS = ["value", "kind", "feeds", "list", "entries"]
_LIST_KINDS = {
    "domain": EntryKind.DOMAIN,
    "url": EntryKind.URL,
    "email": EntryKind.EMAIL,
    "ip": EntryKind.IP,
    "md5": EntryKind.HASH,
    "sha1": EntryKind.HASH,
    "sha256": EntryKind.HASH,
}
MAX_IP_ENTRIES = 10_000  # IP entries read to find the networks holding an address
_PAGE = 1000  # the most one list call returns


def _age(age: timedelta | None) -> str:
    if age is None:
        return ""
    seconds = max(0, int(age.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


@app.command("feeds")
@handle_errors
def feeds(output: OutputOpt = None) -> None:
    """List every feed: configured files and URLs, mail's lists, <home>/intel files."""
    statuses = feed_statuses(settings())
    table = resolve_format(output) is OutputFormat.TABLE
    rows: list[dict[str, object]] = []
    for status in statuses:
        row = status.to_dict()
        if table:
            row["age"] = _age(status.age)
            row["due"] = "yes" if status.due else ""
        rows.append(row)
    print_rows(rows, output, _FEED_COLUMNS)
    if not statuses:
        stderr.print(
            "no feeds: add [[intel_feeds]] to tocsin.toml or files to <home>/intel/",
            highlight=False,
        )


def _report(status: FeedStatus) -> str:
    name = escape(status.name)
    counts = f"{status.count} indicators"
    if status.issues:
        counts += f" ({status.issues} lines not read)"
    if status.result == "fetched":
        return f"{name}: fetched, {counts}"
    if status.result == "unchanged":
        return f"{name}: unchanged, {counts}"
    if status.result == "local":
        return f"{name}: a local file, read in place: {counts}"
    kept = f"; kept the copy with {counts}" if status.count else ""
    return f"[red]{name}: failed:[/red] {escape(status.error or 'unknown error')}{escape(kept)}"


@app.command("refresh")
@handle_errors
def refresh(
    names: Annotated[
        list[str] | None, typer.Argument(help="Feeds to fetch (default: every URL feed).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Download again even when the server says unchanged.")
    ] = False,
) -> None:
    """Fetch the URL feeds now (conditional GET); exit 1 when any could not be fetched."""
    current = ensure_home()
    tasks: dict[str, TaskID] = {}
    with progress_bar("{task.description}", DownloadColumn()) as bar:

        def advance(name: str, received: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=received, total=total)

        statuses = refresh_feeds(current, names=names or None, force=force, progress=advance)
    if not statuses:
        stderr.print(
            "no URL feeds configured: add [[intel_feeds]] with an http(s) source to tocsin.toml",
            highlight=False,
        )
        return
    for status in statuses:
        stderr.print(_report(status), highlight=False)
    if any(status.result == "failed" for status in statuses):
        raise typer.Exit(1)


@contextmanager
def _snapshot() -> Iterator[tuple[BlockLists, ListSnapshot]]:
    db = Database(ensure_home().workspace_url)
    try:
        lists = BlockLists(db)
        yield lists, lists.snapshot(Principal.local())
    finally:
        db.close()


def _matches(indicators: IndicatorSet, kind: str, value: str) -> list[Indicator]:
    if kind == "domain":
        return indicators.match_domain(value)
    if kind == "ip":
        return indicators.match_ip(value)
    if kind == "url":
        return indicators.match_url(value)
    if kind == "email":
        return indicators.match_email(value)
    if kind in ("ja3", "ja4"):
        return indicators.match_fingerprint(value)
    return indicators.match_hash(value)


def _entries(lists: BlockLists, kind: EntryKind, value: str) -> list[Entry]:
    """The live entries that cover ``value``: itself, a parent domain, a network holding it."""
    actor = Principal.local()
    try:
        normal = normalize_value(value, kind)[1]
    except InvalidInputError:
        return []
    if kind is EntryKind.IP:
        wanted = ipaddress.ip_network(normal)
        holding: list[Entry] = []
        for offset in range(0, MAX_IP_ENTRIES, _PAGE):
            page = lists.list(actor, kind=kind, limit=_PAGE, offset=offset)
            for entry in page.items:
                network = ipaddress.ip_network(entry.value)
                # mypy cannot see that equal versions make subnet_of well typed
                if network.version == wanted.version and wanted.subnet_of(network):  # type: ignore[arg-type]
                    holding.append(entry)
            if offset + _PAGE >= page.total:
                break
        return holding
    candidates = [normal]
    if kind is EntryKind.DOMAIN:
        labels = normal.split(".")
        candidates = [".".join(labels[i:]) for i in range(len(labels) - 1)]
    found: list[Entry] = []
    for candidate in candidates:
        page = lists.list(actor, kind=kind, text=candidate, limit=100)
        found.extend(e for e in page.items if e.value == candidate)
    return found


def _list_values(kind: str | None, value: str) -> list[tuple[EntryKind, str]]:
    """What the lists are asked about a value, most specific first: a URL's or an address's
    host follows it, since blocking a host blocks its URLs and its mail."""
    list_kind = _LIST_KINDS.get(kind or "")
    if list_kind is None:
        return []
    asked = [(list_kind, value)]
    host = ""
    if list_kind is EntryKind.URL:
        try:
            host = urlsplit(value if "://" in value else f"http://{value}").hostname or ""
        except ValueError:
            host = ""
    elif list_kind is EntryKind.EMAIL:
        host = value.rpartition("@")[2]
    if host:
        asked.append((EntryKind.IP if detect_kind(host) == "ip" else EntryKind.DOMAIN, host))
    return asked


def _match_dict(indicator: Indicator) -> dict[str, object]:
    return {
        "feed": indicator.source,
        "kind": indicator.kind,
        "value": indicator.value,
        "tags": list(indicator.tags),
        "expires": indicator.expires.isoformat() if indicator.expires else None,
        "description": indicator.description,
        "reference": indicator.reference,
    }


def _entry_dict(entry: Entry) -> dict[str, object]:
    return {
        "id": entry.id,
        "list": entry.list.value,
        "value": entry.value,
        "source": entry.source,
        "reason": entry.reason,
        "expires_at": entry.expires_at.isoformat() if entry.expires_at else None,
    }


@app.command("lookup")
@handle_errors
def lookup(
    values: Annotated[
        list[str], typer.Argument(help="Domains, URLs, IPs, emails, hashes or JA3/JA4.")
    ],
    output: OutputOpt = None,
) -> None:
    """Which feeds list each value, and which block or allow list entries decide for it."""
    current = ensure_home()
    loaded = load_feeds(current)
    table = resolve_format(output) in (OutputFormat.TABLE, OutputFormat.CSV)
    rows: list[dict[str, object]] = []
    with _snapshot() as (lists, snapshot):
        for raw in values:
            value = raw.strip()
            kind = detect_kind(value)
            hits = _matches(loaded.indicators, kind, value) if kind else []
            verdict: ListName | None = None
            entries: list[Entry] = []
            for list_kind, candidate in _list_values(kind, value):
                verdict = verdict or snapshot.verdict(list_kind, candidate)
                entries += _entries(lists, list_kind, candidate)
            feeds = list(dict.fromkeys(h.source for h in hits))
            if table:
                rows.append(
                    {
                        "value": value,
                        "kind": kind or "unknown",
                        "feeds": ", ".join(feeds),
                        "list": verdict.value if verdict else "",
                        "entries": "; ".join(
                            f"#{e.id} {e.list.value} {e.value} ({e.source})" for e in entries
                        ),
                    }
                )
                continue
            rows.append(
                {
                    "value": value,
                    "kind": kind,
                    "feeds": feeds,
                    "list": verdict.value if verdict else None,
                    "matches": [_match_dict(h) for h in hits],
                    "entries": [_entry_dict(e) for e in entries],
                }
            )
    print_rows(rows, output, _LOOKUP_COLUMNS)
    for issue in loaded.issues[:5]:
        stderr.print(f"feed issue: {escape(issue)}", highlight=False)
