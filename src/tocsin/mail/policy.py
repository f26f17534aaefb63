"""The analyzer's policy, built from settings: protected domains, VIPs, brands, indicators.

Settings hold text (``"Jane Doe <jane@corp.example>"``, ``"Acme = acme.com acme.net"``);
this module turns it into the typed policy once, and says clearly what it could not read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from tocsin.core.errors import InvalidInputError, TocsinError
from tocsin.core.settings import Settings
from tocsin.intel.brands import BRANDS, Brand
from tocsin.intel.feeds import load_feeds
from tocsin.intel.names import Impersonated
from tocsin.intel.resolver import resolver_from_setting
from tocsin.mail.analyze import MailPolicy
from tocsin.mail.scoring import Thresholds

if TYPE_CHECKING:
    from tocsin.respond.blocklist import ListSnapshot

_VIP = re.compile(r"^\s*(?P<name>[^<>]+?)\s*<(?P<addresses>[^<>]*)>\s*$")
WORKSPACE_FILE = "workspace.db"  # the SQLite workspace of a home (Settings.workspace_url)


@dataclass(slots=True)
class PolicyLoad:
    """The policy and what could not be read into it (each line says where and why)."""

    policy: MailPolicy
    issues: list[str] = field(default_factory=list)
    feeds: list[tuple[str, int]] = field(default_factory=list)
    """(feed, indicators read) per feed."""


def parse_vip(text: str) -> Impersonated:
    """``'Jane Doe <jane@corp.example, jd@corp.example>'`` as a VIP entry."""
    match = _VIP.match(text)
    if not match:
        raise InvalidInputError(f"VIP {text!r}: write it as 'Name <address>'")
    addresses = tuple(a.strip().lower() for a in match.group("addresses").split(",") if "@" in a)
    if not addresses:
        raise InvalidInputError(f"VIP {text!r}: give at least one real address in <...>")
    return Impersonated(match.group("name").strip(), "vip", addresses, ())


def parse_brand(text: str) -> Brand:
    """``'Acme = acme.com acme.net'`` as a brand entry."""
    name, sep, domains = text.partition("=")
    if not sep or not name.strip() or not domains.split():
        raise InvalidInputError(f"brand {text!r}: write it as 'Name = domain1 domain2'")
    return Brand(name.strip(), tuple(d.strip().lower() for d in domains.split()))


def build_policy(
    settings: Settings,
    *,
    protected_domains: Iterable[str] = (),
    vips: Iterable[str] = (),
    intel: Sequence[Path] = (),
    verify_auth: bool | None = None,
    known_senders: frozenset[str] | None = None,
    lists: bool = True,
) -> PolicyLoad:
    """The policy of the settings plus what a command line adds.

    With ``lists`` the workspace's block and allow lists count too, when the home has a
    workspace already (an offline analysis never creates one).
    """
    issues: list[str] = []
    vip_entries: list[Impersonated] = []
    for text in [*settings.mail_vips, *vips]:
        try:
            vip_entries.append(parse_vip(text))
        except InvalidInputError as exc:
            issues.append(str(exc))
    brands = list(BRANDS)
    for text in settings.mail_brands:
        try:
            brands.append(parse_brand(text))
        except InvalidInputError as exc:
            issues.append(str(exc))
    # the same feeds every sensor reads (intel_feeds, mail_intel_feeds, <home>/intel/)
    loaded = load_feeds(settings, extra=intel)
    indicators = loaded.indicators
    issues.extend(loaded.issues)
    feeds = [(status.source, status.count) for status in loaded.feeds]
    policy = MailPolicy(
        protected_domains=tuple(
            dict.fromkeys(
                d.strip().lower() for d in [*settings.organisation_domains, *protected_domains]
            )
        ),
        vips=tuple(vip_entries),
        brands=tuple(brands),
        indicators=indicators,
        known_senders=known_senders if known_senders is not None else _known(settings, issues),
        weights=dict(settings.mail_weights),
        thresholds=Thresholds(
            suspicious=settings.mail_suspicious_threshold,
            phishing=settings.mail_phishing_threshold,
        ),
        trusted_authserv_ids=tuple(settings.mail_trusted_authserv_ids) or None,
        verify_auth=settings.mail_verify_auth if verify_auth is None else verify_auth,
        resolver=resolver_from_setting(settings.dns_resolver),
        time_budget=settings.mail_time_budget_seconds,
        lists=_lists(settings, issues) if lists else None,
    )
    return PolicyLoad(policy, issues, feeds)


def _known(settings: Settings, issues: list[str]) -> frozenset[str] | None:
    """Every sender the lake has a message from (None, and no first-contact check, when the
    lake has no mail yet: on the first day every sender would be new)."""
    from tocsin.lake.layout import list_files

    if not settings.lake_dir.is_dir():
        return None
    files = list_files(settings.lake_dir, datasets=["mail.message"])
    if not files:
        return None
    import duckdb

    try:
        with duckdb.connect() as con:
            rows = con.execute(
                'SELECT DISTINCT lower(a) FROM (SELECT unnest("email.from.address") AS a '
                "FROM read_parquet(?, union_by_name = true)) WHERE a IS NOT NULL",
                [[str(f.path) for f in files]],
            ).fetchall()
    except duckdb.Error as exc:
        issues.append(f"earlier senders not read from the lake: {exc}")
        return None
    return frozenset(str(row[0]) for row in rows)


def _lists(settings: Settings, issues: list[str]) -> ListSnapshot | None:
    """The block and allow lists of an existing workspace, read once."""
    if settings.database_url is None and not (settings.home / WORKSPACE_FILE).is_file():
        return None
    from tocsin.respond.blocklist import BlockLists
    from tocsin.workspace.db import Database
    from tocsin.workspace.permissions import Principal

    try:
        db = Database(settings.workspace_url)
    except TocsinError as exc:
        issues.append(f"block lists not read: {exc.message}")
        return None
    try:
        return BlockLists(db).snapshot(Principal.system("mail"))
    except (TocsinError, SQLAlchemyError) as exc:
        issues.append(f"block lists not read: {exc}")
        return None
    finally:
        db.close()
