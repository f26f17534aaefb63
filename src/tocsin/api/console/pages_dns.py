"""The console's DNS page: what the network looked up over the last hour, day or week.

The figures are ``tocsin.dns.views.dns_top``'s, as ``tocsin dns top`` and the API give them:
totals, the lookups and NXDOMAIN answers over time, the top domains and clients (each bar a link
to its lookups on the search page), the NXDOMAIN domains, query types and response codes, and
the DNS detectors' alerts of the window. Every name and client comes from the lake and may be
an attacker's text: the charts escape their labels and the template autoescapes the rest.

The window ends on the bucket grid (a bucket is a minute for the hour view, half an hour for
the day, three hours for the week), so the bars line up with round times and the figures can be
kept for a few seconds per window: a page refresh does not read the lake again.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from tocsin.api.console.common import Viewer, page, render_page
from tocsin.api.console.pages_overview import Memo
from tocsin.api.deps import Services, services
from tocsin.dns.views import DnsTop, bucket_seconds, dns_top
from tocsin.web.charts import Series, bar_chart, time_chart
from tocsin.web.render import iso
from tocsin.workspace.alert_models import AlertRead
from tocsin.workspace.permissions import Permission

router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]

TOP_SHOWN = 15
ALERTS_SHOWN = 50
ALERTS_READ = 200  # newest DNS alerts looked at to find those active in the window
MEMO_SECONDS = 20.0
DNS_RULES = "dns.*"
NAME_FIELD = "dns.question.name"


@dataclass(frozen=True, slots=True)
class Window:
    """One position of the window picker."""

    key: str
    label: str
    span: timedelta
    time_format: str

    @property
    def step(self) -> int:
        """The width of one bar in seconds (as ``dns_top`` cuts the window)."""
        base = datetime(2000, 1, 1, tzinfo=UTC)
        return bucket_seconds(base, base + self.span)

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        """The window, ending with the bucket that holds ``now`` (buckets on the UTC grid)."""
        step = self.step
        stamp = int(now.timestamp())
        end = datetime.fromtimestamp(stamp - stamp % step + step, UTC)
        return end - self.span, end


WINDOWS = (
    Window("1h", "1 hour", timedelta(hours=1), "%H:%M"),
    Window("24h", "24 hours", timedelta(hours=24), "%H:%M"),
    Window("7d", "7 days", timedelta(days=7), "%a %Hh"),
)
DEFAULT_WINDOW = "24h"


def pick_window(key: str | None) -> Window:
    """The window the query string names (the default one when unknown)."""
    chosen = key or DEFAULT_WINDOW
    return next((w for w in WINDOWS if w.key == chosen), WINDOWS[1])


# -- links to the search page --------------------------------------------------------------

_BARE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")
_WORDS = frozenset({"AND", "OR", "NOT", "TO"})


def query_value(text: str, *, prefix: str = "") -> str:
    """``text`` as a value of the search language: bare when it can be, else quoted."""
    if not prefix and _BARE.fullmatch(text) and text.upper() not in _WORDS:
        return text
    if prefix and _BARE.fullmatch(text):
        return prefix + text
    quoted = (prefix + text).replace('"', '\\"')
    if quoted.endswith("\\"):
        quoted += "\\"  # a value ending in a backslash doubles it, or it would escape the quote
    return f'"{quoted}"'


def domain_query(domain: str) -> str:
    """The search for a registered domain's lookups: the domain and every name under it."""
    return f"{NAME_FIELD}:{query_value(domain, prefix='*.')} OR {NAME_FIELD}:{query_value(domain)}"


def client_query(client: str) -> str:
    """The search for one client's events: its address, or its host name (Sysmon)."""
    value = query_value(client)
    try:
        ipaddress.ip_address(client)
    except ValueError:
        return f"host.name:{value}"
    return f"source.ip:{value} OR client.ip:{value}"


def search_link(query: str, since: datetime, until: datetime) -> str:
    """A link to the console's search page for ``query`` over the window."""
    return "/search?" + urlencode({"q": query, "since": iso(since), "until": iso(until)})


# -- the page ------------------------------------------------------------------------------


def _filled_timeline(top: DnsTop, step: int) -> tuple[list[datetime], list[int], list[int]]:
    """Bucket starts over the whole window with lookups and NXDOMAIN per bucket (zeros kept)."""
    count = max(1, int((top.until - top.since).total_seconds()) // step)
    starts = [top.since + timedelta(seconds=step * i) for i in range(count)]
    by_start = {int(row["start"].timestamp()): row for row in top.timeline}
    lookups = [int(by_start.get(int(s.timestamp()), {}).get("lookups", 0)) for s in starts]
    nx = [int(by_start.get(int(s.timestamp()), {}).get("nx", 0)) for s in starts]
    return starts, lookups, nx


def _step_words(step: int) -> str:
    if step < 3600:
        return f"{step // 60} minute" if step == 60 else f"{step // 60} minutes"
    return "hour" if step == 3600 else f"{step // 3600} hours"


def _charts(top: DnsTop, window: Window) -> dict[str, Any]:
    """The timeline, the bar charts and every link of the page."""
    step = top.bucket_seconds
    starts, lookups, nx = _filled_timeline(top, step)
    # the two series stack, so the bar's height is the lookups and its top part the NXDOMAIN
    answered = [max(total - failed, 0) for total, failed in zip(lookups, nx, strict=True)]
    domain_links = [
        search_link(domain_query(str(d["domain"])), top.since, top.until) for d in top.top_domains
    ]
    client_links = [
        search_link(client_query(str(c["client"])), top.since, top.until) for c in top.top_clients
    ]
    nx_links = [
        search_link(domain_query(str(d["domain"])), top.since, top.until)
        for d in top.top_nx_domains
    ]
    rare_links = [
        search_link(domain_query(str(d["domain"])), top.since, top.until) for d in top.rare_domains
    ]
    timeline: Markup = time_chart(
        starts,
        [Series("other lookups", answered, "series-0"), Series("NXDOMAIN", nx, "series-1")],
        label=f"DNS lookups and NXDOMAIN answers per {_step_words(step)}",
        time_format=window.time_format,
    )
    return {
        "rare_links": rare_links,
        "timeline_chart": timeline,
        "timeline_rows": list(zip(starts, lookups, nx, strict=True)),
        "step_words": _step_words(step),
        "domains_chart": bar_chart(
            [(str(d["domain"]), float(d["lookups"])) for d in top.top_domains],
            label="Domains with the most lookups",
            links=domain_links,
        ),
        "clients_chart": bar_chart(
            [(str(c["client"]), float(c["lookups"])) for c in top.top_clients],
            label="Clients with the most lookups",
            links=client_links,
            css=["series-4"] * len(top.top_clients),
        ),
        "domain_links": domain_links,
        "client_links": client_links,
        "nx_links": nx_links,
    }


def dns_alerts(svc: Services, viewer: Viewer, since: datetime, until: datetime) -> list[AlertRead]:
    """The DNS detectors' alerts active in the window (first seen before its end, seen after
    its start), the most recent first."""
    found = svc.workspace.alerts.list(
        viewer.principal, rule_id=DNS_RULES, sort="-last_seen", limit=ALERTS_READ
    ).items
    active = [a for a in found if a.first_seen < until and a.last_seen >= since]
    return active[:ALERTS_SHOWN]


def _summary(svc: Services, window: Window, since: datetime, until: datetime) -> DnsTop:
    state = svc.__dict__
    memo: Memo | None = state.get("_dns_memo")
    if memo is None:
        memo = state["_dns_memo"] = Memo(MEMO_SECONDS, size=8)
    return memo.get(
        (window.key, since, until),
        lambda: dns_top(svc.settings, since=since, until=until, limit=TOP_SHOWN, reader=svc.reader),
    )


@router.get("/dns")
def dns_page(
    request: Request,
    viewer: Annotated[Viewer, Depends(page(Permission.SEARCH_READ))],
    svc: Svc,
) -> HTMLResponse:
    """DNS traffic of the window: totals, timeline, top domains and clients, DNS alerts."""
    window = pick_window(request.query_params.get("range"))
    since, until = window.bounds(datetime.now(UTC))
    top = _summary(svc, window, since, until)
    alerts = dns_alerts(svc, viewer, since, until) if viewer.can("alert.read") else None
    return render_page(
        request,
        viewer,
        "dns.html",
        title="DNS",
        nav="dns",
        window=window,
        windows=WINDOWS,
        top=top,
        since=since,
        until=until,
        alerts=alerts,
        alerts_link="/alerts?" + urlencode({"rule": DNS_RULES, "status": "all"}),
        **_charts(top, window),
    )
