"""The RPZ feed reader: a DNS Response Policy Zone file read as a list of indicators.

Resolvers (BIND, Unbound, PowerDNS, Knot) share block lists as RPZ zones, and many threat
feeds publish one. A policy record's owner name, relative to the zone apex, is the *trigger*
and its data the *action*:

* a QNAME trigger (``evil.example``, or ``*.evil.example`` for its subdomains) with a blocking
  action (``CNAME .`` NXDOMAIN, ``CNAME *.`` NODATA, ``CNAME rpz-drop.``, or local data such
  as ``A 0.0.0.0`` or a CNAME to a walled garden) gives a domain indicator. An indicator covers
  its subdomains (``IndicatorSet.match_domain`` walks parents), so ``name`` and ``*.name``
  give one indicator: the exact-name-only meaning of a lone ``name`` record is not kept;
* ``CNAME rpz-passthru.`` is an allow rule: skipped and counted (``FeedLoad.passthru``);
* an ``rpz-ip`` trigger (``32.1.0.0.10.rpz-ip``: prefix length, then the address's labels
  reversed, IPv6 with ``zz`` for the longest run of zero words) gives an IP or network
  indicator; ``rpz-client-ip``, ``rpz-nsdname`` and ``rpz-nsip`` triggers describe clients and
  name servers, not indicators: each is an issue;
* SOA and NS records at the apex are the zone's own and skipped.

Owner names may be relative (the usual way, so one file serves any zone name), ``@``, or
absolute under the zone's apex (``$ORIGIN`` or the SOA owner), which is stripped.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from tocsin.intel.indicators import _Reader

_CLASSES = frozenset({"in", "ch", "hs", "cs"})
_TTL = re.compile(r"^\d+[smhdw]?(?:\d+[smhdw])*$", re.IGNORECASE)
_TYPE = re.compile(r"^[a-z][a-z0-9-]*$", re.IGNORECASE)
_COMMON_TYPES = frozenset({"CNAME", "A", "AAAA", "TXT", "SOA", "NS"})
_SKIPPED_TRIGGERS = {
    "rpz-client-ip": "an rpz-client-ip trigger names our clients, not an indicator",
    "rpz-nsdname": "an rpz-nsdname trigger (a name server's name) is not read",
    "rpz-nsip": "an rpz-nsip trigger (a name server's address) is not read",
}
_PASSTHRU = "rpz-passthru."
_NOT_BLOCKING = {"rpz-tcp-only.": "an rpz-tcp-only rule only forces TCP: not a block"}


def _records(lines: list[str]) -> Iterator[tuple[int, bool, list[str]]]:
    """(line number, starts with a blank, tokens) per record; parentheses join lines."""
    tokens: list[str] = []
    depth = 0
    first = 0
    indented = False
    for number, line in enumerate(lines, 1):
        if depth == 0:
            first, indented, tokens = number, line[:1] in (" ", "\t"), []
        for word in _tokens(line):
            if word == "(":
                depth += 1
            elif word == ")":
                depth = max(0, depth - 1)
            else:
                tokens.append(word)
        if depth == 0 and tokens:
            yield first, indented, tokens
    if depth and tokens:
        yield first, indented, tokens  # an unclosed parenthesis: read what there is


def _tokens(line: str) -> Iterator[str]:
    """Whitespace-separated tokens without the ``;`` comment; quoted strings stay whole."""
    if '"' not in line:
        # nearly every line: no quoted text, so the comment is all after the first ';'
        text = line.split(";", 1)[0]
        if "(" in text or ")" in text:
            text = text.replace("(", " ( ").replace(")", " ) ")
        yield from text.split()
        return
    token: list[str] = []
    quoted = escaped = False
    for char in line:
        if quoted:
            token.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                quoted = False
            continue
        if char == ";":
            break
        if char in " \t\r":
            if token:
                yield "".join(token)
                token = []
        elif char in "()":
            if token:
                yield "".join(token)
                token = []
            yield char
        else:
            token.append(char)
            quoted = char == '"'
    if token:
        yield "".join(token)


def _split_record(tokens: list[str]) -> tuple[str, list[str]] | None:
    """(type, data) after the optional TTL and class, in either order."""
    index = 0
    while index < len(tokens) and index < 2:
        token = tokens[index]
        if token.lower() in _CLASSES or token[:1].isdigit() and _TTL.match(token):
            index += 1
            continue
        break
    if index >= len(tokens):
        return None
    rtype = tokens[index].upper()
    if rtype not in _COMMON_TYPES and not _TYPE.match(rtype):
        return None
    return rtype, tokens[index + 1 :]


def rpz_ip_network(labels: list[str]) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The network of an ``rpz-ip`` trigger's labels (``['24', '0', '2', '0', '192']``)."""
    if not labels or not labels[0].isdigit():
        raise ValueError("no prefix length first")
    prefix = int(labels[0])
    words = labels[1:][::-1]
    if len(words) == 4 and all(w.isdigit() for w in words):
        address = ".".join(words)
    else:
        if words.count("zz") > 1:
            raise ValueError("more than one 'zz'")
        if "zz" in words:
            at = words.index("zz")
            missing = 8 - (len(words) - 1)
            if missing < 1:
                raise ValueError("'zz' stands for no zero word")
            words = words[:at] + ["0"] * missing + words[at + 1 :]
        if len(words) != 8:
            raise ValueError("neither 4 IPv4 labels nor 8 IPv6 words")
        address = ":".join(words)
    # strict: RPZ names the network's own address, never one with host bits set
    return ipaddress.ip_network(f"{address}/{prefix}", strict=True)


class _Zone:
    """The zone's apex and current ``$ORIGIN``, to turn owner names into triggers."""

    def __init__(self) -> None:
        self.apex: str | None = None  # absolute, lower case, with the final dot
        self.origin: str | None = None

    def absolute(self, owner: str) -> str:
        """The owner as an absolute name when an origin is known, else as written."""
        name = owner.lower()
        base = self.origin or self.apex
        if name == "@":
            return base or ""
        if name.endswith("."):
            return name
        return f"{name}.{base}" if base else name

    def trigger(self, owner: str) -> str | None:
        """The owner relative to the apex ('' for the apex); None when outside the zone."""
        name = self.absolute(owner)
        if self.apex is None:
            return name.rstrip(".")
        if name == self.apex:
            return ""
        if name.endswith("." + self.apex):
            return name[: -len(self.apex) - 1]
        if not name.endswith("."):
            return name  # relative with no origin yet: relative to the apex
        return None


def read_rpz(reader: _Reader, lines: list[str]) -> None:
    """Read an RPZ zone's policy records into ``reader`` (see the module's rules)."""
    zone = _Zone()
    owner: str | None = None
    seen: set[tuple[str, str]] = set()
    passthru: set[str] = set()
    for number, indented, tokens in _records(lines):
        directive = tokens[0].upper()
        if directive.startswith("$"):
            if directive == "$ORIGIN" and len(tokens) > 1:
                origin = zone.absolute(tokens[1]).lower()
                if not origin.endswith("."):
                    reader.issue(number, f"$ORIGIN {tokens[1]!r} is not an absolute name")
                    continue
                zone.origin = origin
                if zone.apex is None:
                    zone.apex = origin
            elif directive not in ("$TTL",):
                reader.issue(number, f"{tokens[0]} is not followed: only $ORIGIN and $TTL are")
            continue
        if not indented:
            owner, tokens = tokens[0], tokens[1:]
        if owner is None:
            reader.issue(number, "a record without an owner name")
            continue
        split = _split_record(tokens)
        if split is None:
            reader.issue(number, f"not a resource record: {' '.join(tokens)[:80]!r}")
            continue
        rtype, data = split
        if rtype == "SOA" and zone.apex is None and owner.endswith("."):
            zone.apex = owner.lower()
        trigger = zone.trigger(owner)
        if trigger is None:
            reader.issue(number, f"{owner!r} is outside the zone {zone.apex!r}")
            continue
        if rtype in ("SOA", "NS") or trigger == "":
            continue  # the zone's own records
        action = data[0].lower() if rtype == "CNAME" and data else ""
        if action in _NOT_BLOCKING:
            reader.issue(number, f"{trigger}: {_NOT_BLOCKING[action]}")
            continue
        _policy(reader, number, trigger, action == _PASSTHRU, seen, passthru)
    reader.passthru += len(passthru)


def _policy(
    reader: _Reader,
    number: int,
    trigger: str,
    is_passthru: bool,
    seen: set[tuple[str, str]],
    passthru: set[str],
) -> None:
    """One policy record: an indicator, a counted allow rule, or an issue."""
    labels = trigger.split(".")
    suffix = labels[-1]
    if suffix in _SKIPPED_TRIGGERS:
        reader.issue(number, f"{trigger}: {_SKIPPED_TRIGGERS[suffix]}")
        return
    if suffix == "rpz-ip":
        try:
            network = rpz_ip_network(labels[:-1])
        except ValueError as exc:
            reader.issue(number, f"{trigger!r} is not an rpz-ip trigger ({exc})")
            return
        kind, value = "ip", str(network)
    else:
        kind, value = "domain", trigger.removeprefix("*.")
    if is_passthru:
        passthru.add(f"{kind}:{value}")
        return
    if (kind, value) in seen:
        return  # name and *.name: one indicator covers both
    if reader.value(value, number, kind=kind) is not None:
        seen.add((kind, value))
