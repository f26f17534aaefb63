"""Suricata EVE JSON: alerts, flows, DNS, HTTP, TLS, files, anomalies and the rest.

Each EVE record is flattened to dotted names (``alert.signature``, ``flow.bytes_toserver``,
``tls.ja3.hash``); a list holding objects (EVE DNS v3 ``dns.queries``/``dns.answers``) is kept
as its JSON text, as :func:`~tocsin.core.flatten.flatten` does. Where an EVE name is also an
ECS name (``dns.id``, ``dns.type``, ``tls.version``) the field holds the ECS value: ``dns.id``
as a string, ``dns.type`` ``query``/``answer`` (v3's ``request``/``response``), ``tls.version``
``1.2`` (the original stays in ``event.original``). The dataset is ``suricata.<event_type>``
(``ctx.dataset`` overrides).

ECS, filled from the record (not the flattened text), whatever the ``event_type`` when the
record carries the object (an alert on HTTP traffic carries ``http``, so it gets ``url.*``):

* every record: ``@timestamp`` (``timestamp``, such as ``2024-01-01T12:00:00.123456+0000``),
  ``source.ip``/``source.port`` (``src_ip``/``src_port``), ``destination.*`` (``dest_*``),
  ``network.transport`` (``proto`` lowercased), ``network.protocol`` (``app_proto``),
  ``network.community_id`` (``community_id``), ``related.ip``, ``observer.hostname`` (``host``);
* ``alert``: ``event.kind`` ``alert``, ``rule.name`` (signature), ``rule.id`` (signature_id),
  ``rule.version`` (rev), ``rule.category``, ``event.severity``, ``event.action`` and
  ``event.type`` ``allowed``/``denied`` from ``alert.action``;
* ``flow`` (also the ``flow`` object of alerts) and ``netflow``: ``source.bytes``/
  ``destination.bytes``/``*.packets`` (to server/to client), their sums as ``network.*``, and
  ``event.duration`` in ns from ``flow.start``/``flow.end``;
* ``dns``, v2 (``dns.rrname``, ``dns.rrtype``, ``dns.rcode``, ``dns.answers[].rdata``, or
  ``dns.grouped``; v1's one answer a record: ``dns.rdata``), v3 (``dns.queries[]``,
  ``dns.answers[]``) and the ``dns.query[]`` of alerts: ``dns.question.name``,
  ``dns.question.type``, ``dns.response_code``, ``dns.answers.data`` (the ``rdata`` values),
  ``dns.id``, ``dns.type`` (``query``/``answer``);
* ``http``: ``url.full`` (``http://`` + ``hostname`` (else ``dest_ip``) + port when not 80
  + ``url``; an absolute ``url`` as is), ``url.domain``, ``url.original``, ``url.path``,
  ``http.request.method``, ``http.response.status_code``, ``user_agent.original``,
  ``http.request.referrer``, ``http.response.body.bytes``;
* ``tls``: ``tls.client.server_name`` (``sni``), ``tls.version``/``tls.version_protocol``,
  ``tls.client.ja3`` (``tls.ja3.hash``), ``tls.client.ja4`` (``tls.ja4``),
  ``tls.server.ja3s`` (``tls.ja3s.hash``), ``tls.server.subject``/``issuer``;
* ``fileinfo``: ``file.path``/``file.name`` (``filename``), ``file.size``, ``file.hash.*``.

Categories by ``event_type``: alert network/intrusion_detection, flow and netflow
network/connection, dns and tls network/protocol, http network+web/access, fileinfo file/info,
anomaly network/info; others have none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import ClassVar

from tocsin.core import event as ev
from tocsin.core.event import Event
from tocsin.core.flatten import flatten
from tocsin.core.timeutil import parse_timestamp
from tocsin.ingest.base import ParseContext
from tocsin.ingest.parsers.jsonfmt import JsonRecord, JsonRecordParser
from tocsin.ingest.parsers.zeek import tls_version

_CATEGORIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "alert": (("network", "intrusion_detection"), ("info",)),
    "flow": (("network",), ("connection",)),
    "netflow": (("network",), ("connection",)),
    "dns": (("network",), ("protocol",)),
    "tls": (("network",), ("protocol",)),
    "http": (("network", "web"), ("access",)),
    "fileinfo": (("file",), ("info",)),
    "anomaly": (("network",), ("info",)),
}
"""ECS ``event.category`` and ``event.type`` of each ``event_type``."""

_MICROSECOND = timedelta(microseconds=1)
_DNS_TYPES = {"query": "query", "request": "query", "answer": "answer", "response": "answer"}


def _obj(value: object) -> Mapping[str, object] | None:
    return value if isinstance(value, dict) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _map_alert(alert: Mapping[str, object], event: Event) -> None:
    event[ev.KIND] = "alert"
    signature = _text(alert.get("signature"))
    if signature:
        event["rule.name"] = signature
    for key, ecs in (("signature_id", "rule.id"), ("rev", "rule.version")):
        value = _count(alert.get(key))
        if value is not None:
            event[ecs] = str(value)
    category = _text(alert.get("category"))
    if category:
        event["rule.category"] = category
    severity = _count(alert.get("severity"))
    if severity is not None:
        event["event.severity"] = severity
    action = _text(alert.get("action"))
    if action:
        event["event.action"] = action
        if action == "allowed":
            event[ev.TYPE] = ["allowed"]
        elif action in ("blocked", "drop", "rejected"):
            event[ev.TYPE] = ["denied"]


def _map_counters(
    counters: Mapping[str, object], event: Event, names: tuple[str | None, ...]
) -> None:
    to_server_bytes, to_client_bytes, to_server_pkts, to_client_pkts = (
        _count(counters.get(name)) if name else None for name in names
    )
    for value, ecs in (
        (to_server_bytes, "source.bytes"),
        (to_client_bytes, "destination.bytes"),
        (to_server_pkts, "source.packets"),
        (to_client_pkts, "destination.packets"),
    ):
        if value is not None:
            event[ecs] = value
    if to_server_bytes is not None and to_client_bytes is not None:
        event["network.bytes"] = to_server_bytes + to_client_bytes
    if to_server_pkts is not None and to_client_pkts is not None:
        event["network.packets"] = to_server_pkts + to_client_pkts
    start = parse_timestamp(counters.get("start"))
    end = parse_timestamp(counters.get("end"))
    if start is not None and end is not None and end >= start:
        event["event.duration"] = (end - start) // _MICROSECOND * 1_000


def _map_flow(flow: Mapping[str, object], event: Event) -> None:
    _map_counters(
        flow, event, ("bytes_toserver", "bytes_toclient", "pkts_toserver", "pkts_toclient")
    )


def _map_netflow(netflow: Mapping[str, object], event: Event) -> None:
    # one direction a record: its counters are the sender's
    _map_counters(netflow, event, ("bytes", None, "pkts", None))


def _first(value: object) -> Mapping[str, object] | None:
    if isinstance(value, list) and value:
        return _obj(value[0])
    return None


def _map_dns(dns: Mapping[str, object], event: Event) -> None:
    question = _first(dns.get("queries")) or _first(dns.get("query")) or dns
    name = question.get("rrname")
    if isinstance(name, str):
        event["dns.question.name"] = name
    rrtype = _text(question.get("rrtype"))
    if rrtype:
        event["dns.question.type"] = rrtype
    rcode = _text(dns.get("rcode"))
    if rcode:
        event["dns.response_code"] = rcode
    dns_id = _count(dns.get("id"))
    if dns_id is None:
        dns_id = _count(question.get("id"))
    if dns_id is not None:
        event["dns.id"] = str(dns_id)
    kind = _DNS_TYPES.get(str(dns.get("type") or question.get("type")))
    if kind:
        event["dns.type"] = kind
    data: list[str] = []
    answers = dns.get("answers")
    if isinstance(answers, list):
        for answer in answers:
            rdata = answer.get("rdata") if isinstance(answer, dict) else None
            if isinstance(rdata, str | int):
                data.append(str(rdata))
    elif isinstance(dns.get("rdata"), str | int):
        data.append(str(dns["rdata"]))
    else:
        grouped = _obj(dns.get("grouped"))
        for values in (grouped or {}).values():
            if isinstance(values, list):
                data.extend(str(value) for value in values if isinstance(value, str | int))
    if data or isinstance(answers, list):
        event["dns.answers.data"] = data


def _map_http(http: Mapping[str, object], event: Event) -> None:
    hostname = _text(http.get("hostname"))
    if hostname:
        event["url.domain"] = hostname
    url = _text(http.get("url"))
    if url:
        event["url.original"] = url
        if url.startswith(("http://", "https://")):
            event["url.full"] = url
        elif url.startswith("/"):
            host = hostname or _text(event.get("dest_ip"))
            if host is not None:
                if ":" in host:
                    host = f"[{host}]"
                port = _count(http.get("http_port"))
                suffix = f":{port}" if port not in (None, 80) else ""
                event["url.full"] = f"http://{host}{suffix}{url}"
            path, _, query = url.partition("?")
            event["url.path"] = path
            if query:
                event["url.query"] = query
    for key, ecs in (
        ("http_method", "http.request.method"),
        ("http_user_agent", "user_agent.original"),
        ("http_refer", "http.request.referrer"),
        ("protocol", "http.version"),
    ):
        value = _text(http.get(key))
        if value:
            event[ecs] = value.removeprefix("HTTP/") if key == "protocol" else value
    status = http.get("status")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if _count(status) is not None:
        event["http.response.status_code"] = status
    length = _count(http.get("length"))
    if length is not None:
        event["http.response.body.bytes"] = length


def _hash(value: object) -> str | None:
    if isinstance(value, dict):
        return _text(value.get("hash"))
    return _text(value)


def _map_tls(tls: Mapping[str, object], event: Event) -> None:
    sni = _text(tls.get("sni"))
    if sni:
        event["tls.client.server_name"] = sni
    version = tls_version(tls.get("version"))
    if version is not None:
        event["tls.version_protocol"], event["tls.version"] = version
    for key, ecs in (
        ("ja3", "tls.client.ja3"),
        ("ja4", "tls.client.ja4"),
        ("ja3s", "tls.server.ja3s"),
    ):
        value = _hash(tls.get(key))
        if value:
            event[ecs] = value
    for key, ecs in (("subject", "tls.server.subject"), ("issuerdn", "tls.server.issuer")):
        value = _text(tls.get(key))
        if value:
            event[ecs] = value


def _map_fileinfo(fileinfo: Mapping[str, object], event: Event) -> None:
    filename = _text(fileinfo.get("filename"))
    if filename:
        event["file.path"] = filename
        name = filename.rstrip("/").rsplit("/", 1)[-1]
        if name:
            event["file.name"] = name
    size = _count(fileinfo.get("size"))
    if size is not None:
        event["file.size"] = size
    hashes: list[str] = []
    for algorithm in ("md5", "sha1", "sha256"):
        value = _text(fileinfo.get(algorithm))
        if value:
            event[f"file.hash.{algorithm}"] = value
            hashes.append(value)
    if hashes:
        event["related.hash"] = hashes


OBJECT_MAPPERS: dict[str, Callable[[Mapping[str, object], Event], None]] = {
    "alert": _map_alert,
    "flow": _map_flow,
    "netflow": _map_netflow,
    "dns": _map_dns,
    "http": _map_http,
    "tls": _map_tls,
    "fileinfo": _map_fileinfo,
}
"""The ECS mapping of each EVE object, applied when a record carries that object."""


def _map_endpoints(obj: Mapping[str, object], event: Event) -> None:
    related: list[str] = []
    for ip_key, port_key, side in (
        ("src_ip", "src_port", "source"),
        ("dest_ip", "dest_port", "destination"),
    ):
        ip = _text(obj.get(ip_key))
        if ip:
            event[f"{side}.ip"] = ip
            if ip not in related:
                related.append(ip)
        port = _count(obj.get(port_key))
        if port is not None:
            event[f"{side}.port"] = port
    if related:
        event["related.ip"] = related
    proto = obj.get("proto")
    if isinstance(proto, str) and proto:
        event["network.transport"] = proto.lower()
    elif _count(proto) is not None:
        event["network.transport"] = str(proto)
    app = _text(obj.get("app_proto"))
    if app and app != "failed":
        event["network.protocol"] = app.lower()
    community = _text(obj.get("community_id"))
    if community:
        event["network.community_id"] = community
    host = _text(obj.get("host"))
    if host:
        event["observer.hostname"] = host


class SuricataParser(JsonRecordParser):
    """Suricata EVE JSON records (see the module docstring)."""

    id: ClassVar[str] = "suricata"
    confidence: ClassVar[int] = 70

    def accepts(self, obj: dict[str, object]) -> bool:
        """An EVE record has a string ``event_type`` and a ``timestamp``."""
        return isinstance(obj.get("event_type"), str) and "timestamp" in obj

    def convert(self, obj: dict[str, object], record: JsonRecord, ctx: ParseContext) -> Event:
        """Flatten one EVE record and add its ECS fields."""
        event_type = obj.get("event_type")
        if not isinstance(event_type, str) or not event_type:
            raise ValueError("no event_type: not a Suricata EVE record")
        event_type = event_type.lower()
        event = flatten(obj)
        _map_endpoints(obj, event)
        categories = _CATEGORIES.get(event_type)
        if categories is not None:
            event[ev.CATEGORY] = list(categories[0])
            event[ev.TYPE] = list(categories[1])
        for key, mapper in OBJECT_MAPPERS.items():
            value = obj.get(key)
            if isinstance(value, dict):
                mapper(value, event)
        stamp = parse_timestamp(obj.get("timestamp"))
        event[ev.ID] = ctx.event_id(record.offset)
        event[ev.TIMESTAMP] = stamp if isinstance(stamp, datetime) else ctx.received
        event[ev.DATASET] = ctx.dataset or f"suricata.{event_type}"
        if ev.KIND not in event:
            event[ev.KIND] = "event"
        event[ev.ORIGINAL] = record.raw.decode("utf-8", errors="replace")
        return event
