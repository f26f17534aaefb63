"""One message in, one explained verdict out.

``MailAnalyzer`` is built once with the organisation's policy (protected domains, VIPs,
brands, indicators, thresholds) and then analyses messages one by one: parse, read the
bodies' links, run the authentication, sender, link, attachment and content checks, and
weigh what they found. Each message gets a time budget: a check that runs past it stops, the
verdict is given on what was found, and the overrun is itself a reason.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tocsin.core.event import Reason
from tocsin.intel.brands import BRANDS, Brand
from tocsin.intel.indicators import IndicatorSet
from tocsin.intel.lists import is_freemail
from tocsin.intel.names import Impersonated
from tocsin.intel.resolver import OfflineResolver, Resolver
from tocsin.mail.attachments import inspect_attachments
from tocsin.mail.authresults import AuthResult
from tocsin.mail.authverify import check_authentication
from tocsin.mail.blocking import list_reasons
from tocsin.mail.checks import Context, link_reasons, sender_reasons, shares_files
from tocsin.mail.content import content_reasons
from tocsin.mail.links import Link, extract_links, read_html
from tocsin.mail.message import MailMessage, parse_message
from tocsin.mail.qrcodes import decode_qr
from tocsin.mail.scoring import Scored, Thresholds, Verdict, score
from tocsin.workspace.models import Observable

if TYPE_CHECKING:  # the workspace's block lists load only where a workspace exists
    from tocsin.respond.blocklist import ListSnapshot

MAX_OBSERVABLES = 60
_REQUESTS = frozenset({"content.payment_request", "content.credential_request"})
SCL_SPAM = 5  # Microsoft 365: 5 and 6 are spam, 9 high-confidence spam
SCL_HIGH = 9
MAX_INLINE_IMAGE = 8 * 1024 * 1024  # base64 characters of one inline image read for QR codes
DEFAULT_TIME_BUDGET = 5.0  # seconds per message


@dataclass(frozen=True, slots=True)
class MailPolicy:
    """What the analyzer knows about the organisation and how strict it is."""

    protected_domains: tuple[str, ...] = ()
    vips: tuple[Impersonated, ...] = ()
    brands: tuple[Brand, ...] = BRANDS
    indicators: IndicatorSet | None = None
    known_senders: frozenset[str] | None = None
    weights: Mapping[str, float] = field(default_factory=dict)
    thresholds: Thresholds = Thresholds()
    trusted_authserv_ids: tuple[str, ...] | None = None
    verify_auth: bool = False
    resolver: Resolver | None = None
    time_budget: float = DEFAULT_TIME_BUDGET
    lists: ListSnapshot | None = None
    """The block and allow lists of the workspace, when there is one."""


@dataclass(slots=True)
class Analysis:
    """The verdict on one message, with everything that explains it."""

    source: str
    message: MailMessage
    scored: Scored
    observables: list[Observable]
    urls: list[str]
    issues: list[str]
    elapsed: float

    @property
    def verdict(self) -> Verdict:
        """phishing, suspicious or clean."""
        return self.scored.verdict

    def to_dict(self) -> dict[str, Any]:
        """The output row of ``tocsin mail analyze`` (and of the API)."""
        msg = self.message
        return {
            "file": self.source,
            "message_id": msg.message_id,
            "verdict": self.scored.verdict.value,
            "score": self.scored.score,
            "severity": self.scored.severity,
            "subject": msg.subject,
            "from": msg.from_address,
            "reasons": [
                {"check": r.check, "detail": r.detail, "weight": r.weight}
                for r in self.scored.reasons
            ],
            "observables": [o.to_dict() for o in self.observables],
            "issues": self.issues,
        }

    def to_event(self) -> dict[str, object]:
        """The ``mail.message`` event: the ECS ``email.*`` fields plus the verdict."""
        event = self.message.to_event()
        event["tocsin.mail.source"] = self.source
        event["tocsin.mail.verdict"] = self.scored.verdict.value
        event["tocsin.mail.score"] = self.scored.score
        event["tocsin.mail.checks"] = [r.check for r in self.scored.reasons]
        event["tocsin.mail.urls"] = self.urls[:MAX_OBSERVABLES]
        event["tocsin.mail.domains"] = sorted(
            {o.value for o in self.observables if o.type == "domain"}
        )
        event["tocsin.mail.hashes"] = [a.sha256 for a in self.message.attachments]
        return event


class MailAnalyzer:
    """Analyse messages against one policy; build once, call ``analyze`` many times."""

    def __init__(self, policy: MailPolicy | None = None) -> None:
        """Prepare every table the checks read (lookalikes, names, indicators)."""
        self.policy = policy or MailPolicy()
        self.context = Context(
            protected_domains=self.policy.protected_domains,
            vips=self.policy.vips,
            brands=self.policy.brands,
            indicators=self.policy.indicators or IndicatorSet(),
            known_senders=self.policy.known_senders,
        )
        self.resolver: Resolver = self.policy.resolver or OfflineResolver()

    def analyze_bytes(self, raw: bytes, *, source: str = "-") -> Analysis:
        """Parse and analyse one message."""
        return self.analyze(parse_message(raw), raw, source=source)

    def analyze(self, msg: MailMessage, raw: bytes, *, source: str = "-") -> Analysis:
        """Analyse a parsed message (``raw`` is needed for signature verification)."""
        started = time.monotonic()
        deadline = started + self.policy.time_budget
        reasons: list[Reason] = []
        issues: list[str] = list(msg.defects[:20])

        facts = read_html(msg.html) if msg.html else None
        links: list[Link] = extract_links(msg.text, msg.html, facts)

        auth = check_authentication(
            raw,
            msg,
            resolver=self.resolver,
            trusted_authserv_ids=self.policy.trusted_authserv_ids,
            # a message rebuilt from Outlook's .msg has lost its original body bytes, so a
            # signature could only fail; its recorded Authentication-Results are still read
            verify=self.policy.verify_auth and not source.lower().endswith(".msg"),
        )
        reasons.extend(auth.reasons)
        reasons.extend(
            self._auth_extras(msg, auth.header_verdicts, auth.dmarc.result, auth.spf.result)
        )
        if auth.spf.result == "none" and auth.spf.source != "none":
            reasons.append(
                Reason(
                    "auth.spf_none",
                    f"the sending domain publishes no SPF record ({auth.spf.detail})"[:300],
                    0.0,
                )
            )
        reasons.extend(upstream_reasons(msg))
        reasons.extend(sender_reasons(msg, self.context))

        # an attached message's files and links count for the message that carries it
        files = [
            *msg.attachments,
            *(a for inner in msg.attached_messages for a in inner.attachments),
        ]
        report = inspect_attachments(files, deadline=deadline)
        reasons.extend(report.reasons)
        issues.extend(report.issues)
        links.extend(Link(found.url, found.where) for found in report.urls)
        for inner in msg.attached_messages:
            links.extend(extract_links(inner.text, inner.html))
        if facts is not None:
            if facts.password_form:
                reasons.append(
                    Reason(
                        "content.password_form",
                        "the HTML body itself asks for a password in a form",
                        0.0,
                    )
                )
            codes: list[str] = []
            for data_uri in facts.data_images[:5]:
                if time.monotonic() > deadline:
                    break
                codes.extend(_qr_in_data_uri(data_uri))
            if codes:
                links.extend(Link(url, "qr:inline image") for url in codes)
                reasons.append(
                    Reason(
                        "attachment.qr_code",
                        f"an inline image holds a QR code to {codes[0]}"
                        + (f" (+{len(codes) - 1} more)" if len(codes) > 1 else ""),
                        0.0,
                    )
                )
        reasons.extend(link_reasons(links, self.context))
        text = msg.text or (facts.text if facts else "")
        content = content_reasons(msg.subject, msg.from_name, text)
        reasons.extend(content.reasons)
        asks = content.groups & _REQUESTS
        freemail = bool(msg.from_domain and is_freemail(msg.from_domain))
        shared = shares_files(links) if freemail else None
        if shared:
            reasons.append(
                Reason(
                    "sender.freemail_share",
                    f"a free-mail sender ({msg.from_address}) sends a link to a shared "
                    f"document on {shared}",
                    0.0,
                )
            )
        if asks and freemail:
            reasons.append(
                Reason(
                    "sender.freemail_request",
                    f"a free-mail sender ({msg.from_address}) asks for "
                    + " and ".join(sorted(g.split(".", 1)[1].replace("_", " ") for g in asks)),
                    0.0,
                )
            )
        if len(msg.defects) >= 3:
            reasons.append(
                Reason(
                    "message.malformed",
                    f"{len(msg.defects)} MIME defects, e.g. {msg.defects[0]}",
                    0.0,
                )
            )
        urls = _unique(link.url for link in links)
        if self.policy.lists is not None:
            reasons.extend(list_reasons(msg, urls, self.policy.lists))
        elapsed = time.monotonic() - started
        if elapsed > self.policy.time_budget:
            reasons.append(
                Reason(
                    "message.budget_exceeded",
                    f"analysis stopped early after {elapsed:.1f} s (budget "
                    f"{self.policy.time_budget:.0f} s)",
                    0.0,
                )
            )
            issues.append("time budget exceeded: some checks did not finish")
        scored = score(reasons, weights=self.policy.weights, thresholds=self.policy.thresholds)
        return Analysis(
            source=source,
            message=msg,
            scored=scored,
            observables=_observables(msg, urls),
            urls=urls,
            issues=issues,
            elapsed=elapsed,
        )

    def _auth_extras(
        self, msg: MailMessage, found: Mapping[str, AuthResult], dmarc: str, spf: str
    ) -> list[Reason]:
        """Microsoft's composite verdict, and our own domains failing authentication."""
        reasons: list[Reason] = []
        comp = found.get("compauth")
        if comp is not None and comp.result in ("fail", "softfail"):
            why = f" (reason {comp.reason})" if comp.reason else ""
            reasons.append(Reason("auth.compauth_fail", f"compauth={comp.result}{why}", 0.0))
        domain = msg.from_domain
        protected = self.context.protected_domains
        if domain and any(domain == p or domain.endswith("." + p) for p in protected):
            if dmarc == "fail" or spf in ("fail", "softfail"):
                reasons.append(
                    Reason(
                        "auth.protected_spoof",
                        f"From uses our domain {domain} but dmarc={dmarc}, spf={spf}",
                        0.0,
                    )
                )
        return reasons


def upstream_reasons(msg: MailMessage) -> list[Reason]:
    """The receiving mail filter's own spam verdict, when it wrote one in the headers.

    Microsoft 365 rewrites ``X-MS-Exchange-Organization-SCL`` on every message it receives (a
    sender cannot set it), and SpamAssassin-based gateways add ``X-Spam-Flag``/``-Status``.
    Like ``Authentication-Results``, it is one more witness, weighed with the rest; set the
    ``upstream.*`` weights to 0 to ignore it.
    """
    reasons: list[Reason] = []
    scl = msg.header_values("X-MS-Exchange-Organization-SCL")
    if scl:
        try:
            level = int(scl[0].strip())
        except ValueError:
            level = -1
        if level >= SCL_HIGH:
            reasons.append(
                Reason("upstream.spam_high", f"Microsoft 365 spam confidence level {level}", 0.0)
            )
        elif level >= SCL_SPAM:
            reasons.append(
                Reason("upstream.spam", f"Microsoft 365 spam confidence level {level}", 0.0)
            )
    flag = msg.header_values("X-Spam-Flag")
    status = msg.header_values("X-Spam-Status")
    if (flag and flag[0].strip().upper() == "YES") or (
        status and status[0].strip().lower().startswith("yes")
    ):
        detail = (status[0] if status else "X-Spam-Flag: YES")[:120]
        reasons.append(Reason("upstream.spam", f"the receiving spam filter says {detail}", 0.0))
    return reasons


def _qr_in_data_uri(uri: str) -> list[str]:
    """The QR code texts in a ``data:image/...;base64,`` image that looks like a link."""
    head, _, data = uri.partition(",")
    if ";base64" not in head.lower() or len(data) > MAX_INLINE_IMAGE:
        return []
    try:
        image = base64.b64decode(data, validate=False)
    except ValueError:
        return []
    return [text for text in decode_qr(image) if "://" in text or text.startswith("www.")]


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


def _observables(msg: MailMessage, urls: list[str]) -> list[Observable]:
    found: dict[tuple[str, str], None] = {}

    def add(kind: str, value: str | None) -> None:
        if value and len(found) < MAX_OBSERVABLES:
            found[(kind, value)] = None

    add("email", msg.from_address.lower() if msg.from_address else None)
    add("domain", msg.from_domain)
    for reply in msg.reply_to:
        add("email", reply)
    for attachment in msg.attachments:
        add("hash", attachment.sha256)
        add("file", attachment.filename)
    for url in urls[:20]:
        add("url", url)
        link = Link(url, "text")
        if link.is_ip_literal:
            add("ip", link.host)
        else:
            add("domain", link.host)
    return [Observable(kind, value) for kind, value in found]
