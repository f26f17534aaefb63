"""Zeek logs, in Zeek's own TSV form (``ZeekParser``) and as JSON (``ZeekJsonParser``).

**TSV.** The header lines (``#separator``, ``#set_separator``, ``#empty_field``,
``#unset_field``, ``#path``, ``#fields``, ``#types``, ``#open``, ``#close``) set how the data
lines that follow are read; a new ``#separator`` line starts a new header, so concatenated logs
(``cat conn.*.log``) are read right; other ``#`` lines are comments (Zeek escapes a ``#``
that starts a value). Values are converted by their ``#types``:

==========================================  ================================================
``time``                                    UTC ``datetime`` (every time column: ECS times)
``interval``, ``double``                    ``float`` (seconds for an interval)
``count``, ``int``, ``port``                ``int``
``bool``                                    ``True``/``False`` from ``T``/``F``
``set[..]``, ``vector[..]``, ``table[..]``  list of strings (elements as written)
anything else (string, addr, enum, ...)     ``str``
==========================================  ================================================

The unset value (``-``) leaves the field out; the empty value (``(empty)``) is an empty list
for a container, an empty string for a string, and leaves a number out. Zeek escapes
separators and bytes that are not printable as ``\\xHH`` and a backslash as ``\\\\``: a value is
unescaped when the result is printable UTF-8, else kept as written (binary payloads stay
readable and nothing is lost). A data line whose column count differs from ``#fields``, or
whose value does not read as its type, is a ``ParseIssue`` with its line number.

**JSON.** Zeek's JSON logs (``LogAscii::use_json``, json-streaming-logs) carry the same names;
``ts`` and the other time fields of Zeek's own scripts (:data:`JSON_TIME_FIELDS`) become UTC
``datetime`` so that TSV and JSON agree; other values keep their JSON types.

**Dataset** ``zeek.<path>``: from ``#path`` (TSV) or ``_path`` (JSON), else from the file name
in ``ctx.source`` (``conn.log`` and ``conn.00:00:00-01:00:00.log.gz`` give ``zeek.conn``),
else ``zeek.unknown``; ``ctx.dataset`` overrides (and, when it is ``zeek.<log>``, also picks
the ECS mapping).

**ECS** (:data:`ECS_MAPPINGS`, one :class:`LogMapping` per log): every log with ``id.*`` gets
``source.ip``/``source.port``, ``destination.ip``/``destination.port``,
``network.transport`` (``proto``) and ``related.ip``. ``conn``: ``network.protocol`` (the
first of ``service``), ``source.bytes``/``destination.bytes`` from ``orig_bytes``/
``resp_bytes`` (payload bytes, as Zeek counts them), ``source.packets``/``destination.packets``
from ``orig_pkts``/``resp_pkts``, their sums as ``network.bytes``/``network.packets``,
``event.duration`` in ns, ``network.community_id``. ``dns``: ``dns.question.*``,
``dns.response_code``, ``dns.id``, ``dns.answers.data``. ``http``: ``url.*`` (``url.full`` is
``http://`` + ``host`` (else the server address, and its port when not 80) + ``uri``; an
absolute ``uri`` is taken as is; a ``CONNECT`` has none), ``http.*``, ``user_agent.original``.
``ssl``: ``tls.*`` (``tls.client.ja3``/``ja4`` and ``tls.server.ja3s`` when the log has those
fields). ``files``: ``file.*``. ``notice`` (``event.kind`` ``alert``), ``x509``, ``weird``.
``capture_loss`` and the other logs get no category.

``event.id`` comes from the line's byte offset (TSV) or the record's offset (JSON);
``event.original`` is the raw line.

The parser remembers the last header it saw for each input identity, so a tail resuming a
file mid-way (``ctx.base_offset > 0``) still knows its columns; after a restart, a resumed
file without its header gives one issue per line until the next header.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import PurePath
from types import CodeType
from typing import BinaryIO, ClassVar

from tocsin.core import event as ev
from tocsin.core.event import Event
from tocsin.core.flatten import flatten
from tocsin.core.schema import FieldType, field_type
from tocsin.core.timeutil import parse_timestamp
from tocsin.ingest.base import BATCH_SIZE, ParseBatch, ParseContext, ParseIssue
from tocsin.ingest.parsers.jsonfmt import JsonRecord, JsonRecordParser

UNKNOWN_PATH = "unknown"

_LOG_NAME = re.compile(r"^([A-Za-z0-9_-]+)(?:\.[^/\\]*)?\.(?:log|json|ndjson)(?:\.gz)?$")
_ESCAPE = re.compile(r"\\(\\|x[0-9A-Fa-f]{2})")
_TLS_VERSION = re.compile(r"^(TLS|SSL|DTLS)\s*v?\s*(\d)(?:\.?(\d))?$", re.IGNORECASE)
_MAX_REMEMBERED = 256

JSON_TIME_FIELDS = frozenset(
    {
        "ts",
        "certificate.not_valid_before",
        "certificate.not_valid_after",
        "thisUpdate",
        "nextUpdate",
        "revoketime",
        "ref_time",
        "org_time",
        "rec_time",
        "xmt_time",
        "from",
        "till",
        "times.modified",
        "times.accessed",
        "times.created",
        "times.changed",
    }
)
"""Fields of Zeek's own logs whose type is ``time``: JSON writes them as numbers or strings."""


def log_path_from_source(source: str) -> str | None:
    """Return the Zeek log name a file name implies (``conn.log.gz`` gives ``conn``), or None."""
    match = _LOG_NAME.match(PurePath(source).name)
    return match.group(1).lower() if match else None


def tls_version(text: object) -> tuple[str, str] | None:
    """Split a TLS version as Zeek or Suricata write it (``TLSv12``, ``TLS 1.2``) for ECS.

    Returns ``(protocol, version)`` such as ``("tls", "1.2")``, or None when unknown.
    """
    if not isinstance(text, str):
        return None
    match = _TLS_VERSION.match(text.strip())
    if match is None:
        return None
    protocol, major, minor = match.groups()
    return protocol.lower(), f"{major}.{minor or '0'}"


def unescape(value: str) -> str:
    """Undo Zeek's ``\\xHH`` and ``\\\\`` escapes when the result is printable UTF-8."""
    if "\\" not in value:
        return value
    out = bytearray()
    last = 0
    for match in _ESCAPE.finditer(value):
        out += value[last : match.start()].encode()
        escaped = match.group(1)
        out += b"\\" if escaped == "\\" else bytes((int(escaped[1:], 16),))
        last = match.end()
    out += value[last:].encode()
    try:
        text = out.decode()
    except UnicodeDecodeError:
        return value
    if not text.replace("\t", "").replace("\n", "").replace("\r", "").isprintable():
        return value
    return text


def _unescape_meta(value: str) -> str:
    return _ESCAPE.sub(
        lambda match: "\\" if match.group(1) == "\\" else chr(int(match.group(1)[1:], 16)), value
    )


# ----------------------------------------------------------------------------- ECS mapping


@dataclass(frozen=True, slots=True)
class LogMapping:
    """The ECS mapping of one Zeek log.

    ``copies`` name native fields whose value an ECS field takes as is (when its type fits
    the ECS type); ``derive`` computes the rest from the event's native fields.
    """

    category: tuple[str, ...] = ()
    type: tuple[str, ...] = ()
    copies: tuple[tuple[str, str], ...] = ()
    derive: Callable[[Event], None] | None = None
    kind: str = "event"


ENDPOINT_COPIES = (
    ("id.orig_h", "source.ip"),
    ("id.orig_p", "source.port"),
    ("id.resp_h", "destination.ip"),
    ("id.resp_p", "destination.port"),
    ("proto", "network.transport"),
    ("community_id", "network.community_id"),
)
"""Copies every log gets: the connection endpoints of ``id.*``."""


def _derive_related(event: Event) -> None:
    orig = event.get("id.orig_h")
    resp = event.get("id.resp_h")
    if isinstance(orig, str):
        event["related.ip"] = [orig, resp] if isinstance(resp, str) and resp != orig else [orig]
    elif isinstance(resp, str):
        event["related.ip"] = [resp]


def _derive_conn(event: Event) -> None:
    service = event.get("service")
    if type(service) is list:
        service = service[0] if service else None
    if type(service) is str and service:
        event["network.protocol"] = service.split(",", 1)[0].lower()
    sent = event.get("orig_bytes")
    received = event.get("resp_bytes")
    if type(sent) is int and type(received) is int:
        event["network.bytes"] = sent + received
    sent = event.get("orig_pkts")
    received = event.get("resp_pkts")
    if type(sent) is int and type(received) is int:
        event["network.packets"] = sent + received
    duration = event.get("duration")
    if type(duration) is float or type(duration) is int:
        event["event.duration"] = round(duration * 1_000_000_000)


def _derive_dns(event: Event) -> None:
    event["network.protocol"] = "dns"
    answers = event.get("answers")
    if isinstance(answers, list):
        event["dns.answers.data"] = [str(answer) for answer in answers]
    trans_id = event.get("trans_id")
    if type(trans_id) is int:
        event["dns.id"] = str(trans_id)


def _bracket(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def _strip_port(host: str) -> str:
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    name, colon, port = host.rpartition(":")
    return name if colon and port.isdigit() and ":" not in name else host


def _derive_http(event: Event) -> None:
    event["network.protocol"] = "http"
    host = event.get("host")
    host = host if isinstance(host, str) and host else None
    if host is not None:
        event["url.domain"] = _strip_port(host)
    uri = event.get("uri")
    if not isinstance(uri, str) or not uri:
        return
    event["url.original"] = uri
    if uri.startswith(("http://", "https://")):
        event["url.full"] = uri
        return
    if not uri.startswith("/"):
        return  # CONNECT's authority form (host:port) is not a URL
    authority = host
    if authority is None:
        server = event.get("id.resp_h")
        if isinstance(server, str) and server:
            port = event.get("id.resp_p")
            authority = _bracket(server) + (f":{port}" if type(port) is int and port != 80 else "")
    if authority is not None:
        event["url.full"] = f"http://{authority}{uri}"
    path, _, query = uri.partition("?")
    event["url.path"] = path
    if query:
        event["url.query"] = query


def _derive_ssl(event: Event) -> None:
    event["network.protocol"] = "tls"
    version = tls_version(event.get("version"))
    if version is not None:
        event["tls.version_protocol"], event["tls.version"] = version


def _derive_files(event: Event) -> None:
    if "file.size" not in event:
        seen = event.get("seen_bytes")
        if type(seen) is int:
            event["file.size"] = seen
    hashes = [
        value
        for value in (event.get("md5"), event.get("sha1"), event.get("sha256"))
        if isinstance(value, str) and value
    ]
    if hashes:
        event["related.hash"] = hashes


def _derive_notice(event: Event) -> None:
    # a notice about a host rather than a connection names it in src/dst/p
    if "source.ip" not in event:
        source = event.get("src")
        if isinstance(source, str) and source:
            event["source.ip"] = source
    if "destination.ip" not in event:
        target = event.get("dst")
        if isinstance(target, str) and target:
            event["destination.ip"] = target
    if "destination.port" not in event:
        port = event.get("p")
        if type(port) is int:
            event["destination.port"] = port
    if "related.ip" not in event:
        related = [event[key] for key in ("source.ip", "destination.ip") if key in event]
        if related:
            event["related.ip"] = list(dict.fromkeys(related))


ECS_MAPPINGS: dict[str, LogMapping] = {
    "conn": LogMapping(
        ("network",),
        ("connection",),
        (
            ("orig_bytes", "source.bytes"),
            ("resp_bytes", "destination.bytes"),
            ("orig_pkts", "source.packets"),
            ("resp_pkts", "destination.packets"),
        ),
        _derive_conn,
    ),
    "dns": LogMapping(
        ("network",),
        ("protocol",),
        (
            ("query", "dns.question.name"),
            ("qtype_name", "dns.question.type"),
            ("qclass_name", "dns.question.class"),
            ("rcode_name", "dns.response_code"),
        ),
        _derive_dns,
    ),
    "http": LogMapping(
        ("network", "web"),
        ("access",),
        (
            ("method", "http.request.method"),
            ("status_code", "http.response.status_code"),
            ("request_body_len", "http.request.body.bytes"),
            ("response_body_len", "http.response.body.bytes"),
            ("user_agent", "user_agent.original"),
            ("referrer", "http.request.referrer"),
            ("version", "http.version"),
        ),
        _derive_http,
    ),
    "ssl": LogMapping(
        ("network",),
        ("protocol",),
        (
            ("server_name", "tls.client.server_name"),
            ("cipher", "tls.cipher"),
            ("curve", "tls.curve"),
            ("next_protocol", "tls.next_protocol"),
            ("established", "tls.established"),
            ("resumed", "tls.resumed"),
            ("subject", "tls.server.subject"),
            ("issuer", "tls.server.issuer"),
            ("client_subject", "tls.client.subject"),
            ("client_issuer", "tls.client.issuer"),
            ("ja3", "tls.client.ja3"),
            ("ja4", "tls.client.ja4"),
            ("ja3s", "tls.server.ja3s"),
            ("ja4s", "tls.server.ja4s"),
        ),
        _derive_ssl,
    ),
    "files": LogMapping(
        ("file",),
        ("info",),
        (
            ("filename", "file.name"),
            ("mime_type", "file.mime_type"),
            ("total_bytes", "file.size"),
            ("md5", "file.hash.md5"),
            ("sha1", "file.hash.sha1"),
            ("sha256", "file.hash.sha256"),
        ),
        _derive_files,
    ),
    "notice": LogMapping(
        ("intrusion_detection",),
        ("info",),
        (("note", "rule.name"), ("msg", "message")),
        _derive_notice,
        kind="alert",
    ),
    "x509": LogMapping(
        ("network",),
        ("info",),
        (
            ("certificate.subject", "tls.server.subject"),
            ("certificate.issuer", "tls.server.issuer"),
            ("certificate.serial", "tls.server.x509.serial_number"),
        ),
    ),
    "weird": LogMapping(("network",), ("info",), (("name", "rule.name"),)),
    "capture_loss": LogMapping(),
}
"""The ECS mapping of each Zeek log; a log not listed gets only the endpoint fields."""

_DEFAULT_MAPPING = LogMapping()


# Zeek's long-connections package logs connections still open, with the same fields as conn
ECS_MAPPINGS["open_conn"] = ECS_MAPPINGS["conn"]


def mapping_for(log: str) -> LogMapping:
    """Return the ECS mapping of a Zeek log name (``conn``, ``dns``...)."""
    return ECS_MAPPINGS.get(log, _DEFAULT_MAPPING)


def _fits(ecs: str, value: object) -> bool:
    kind = field_type(ecs)
    if kind is FieldType.LONG:
        return type(value) is int
    if kind is FieldType.KEYWORD:
        return type(value) is str and value != ""
    return value is not None and not isinstance(value, list | dict)


def map_ecs(event: Event, mapping: LogMapping) -> None:
    """Add the ECS fields of ``mapping`` to an event holding a Zeek log's native fields."""
    for native, ecs in ENDPOINT_COPIES + mapping.copies:
        value = event.get(native)
        if value is not None and _fits(ecs, value):
            event[ecs] = value
    _finish(event, mapping, "id.orig_h" in event or "id.resp_h" in event)


def _finish(event: Event, mapping: LogMapping, has_endpoints: bool) -> None:
    if has_endpoints:
        _derive_related(event)
    if mapping.derive is not None:
        mapping.derive(event)
    if mapping.category:
        event[ev.CATEGORY] = list(mapping.category)
        event[ev.TYPE] = list(mapping.type)
    event[ev.KIND] = mapping.kind


def _log_for(ctx: ParseContext, path: str) -> str:
    forced = ctx.dataset
    if forced is not None and forced.startswith("zeek."):
        return forced[5:]
    return path


# ----------------------------------------------------------------------------- TSV columns


def _to_time(value: str) -> datetime:
    # the float of a 6-decimal epoch rounds back to the same microsecond: exact, and fast
    return datetime.fromtimestamp(float(value), UTC)


_BOOLS = {"T": True, "F": False}


def _to_bool(value: str) -> bool:
    if value == "T":
        return True
    if value == "F":
        return False
    raise ValueError(f"not a bool: {value!r}")


_CONVERTERS: dict[str, tuple[str, Callable[[str], object]]] = {
    "time": ("FROM_EPOCH(float({}), UTC)", _to_time),
    "interval": ("float({})", float),
    "double": ("float({})", float),
    "count": ("int({})", int),
    "int": ("int({})", int),
    "port": ("int({})", int),
    "bool": ("BOOL[{}]", _to_bool),
}
"""Zeek type -> (expression in compiled readers, converter); other scalar types stay strings."""


def _is_container(kind: str) -> bool:
    return kind.startswith(("set[", "vector[", "table["))


@dataclass(slots=True)
class _Header:
    """The meta lines of one log: separators, path, fields and types."""

    separator: str = "\t"
    set_separator: str = ","
    empty: str = "(empty)"
    unset: str = "-"
    path: str | None = None
    fields: list[str] | None = None
    types: list[str] | None = None

    def kinds(self) -> list[str]:
        """The type of each field (``string`` for all when ``#types`` is missing or short)."""
        fields = self.fields or []
        if self.types is not None and len(self.types) == len(fields):
            return self.types
        return ["string"] * len(fields)


RowReader = Callable[[list[str]], Event]


@lru_cache(maxsize=512)
def _compiled(source: str) -> CodeType:
    """Compile a row reader's source once: hourly logs repeat the same few headers."""
    return compile(source, "<zeek row reader>", "exec")


class _Layout:
    """How to read the data lines under one header: a compiled reader and a generic one."""

    def __init__(self, header: _Header, mapping: LogMapping) -> None:
        self.names = list(header.fields or [])
        self.kinds = header.kinds()
        self.width = len(self.names)
        self.unset = header.unset
        self.empty = header.empty
        self.separator = header.separator
        self.set_separator = header.set_separator
        self.mapping = mapping
        self.has_endpoints = "id.orig_h" in self.names or "id.resp_h" in self.names
        present = set(self.names)
        self.copies = [
            (native, ecs) for native, ecs in ENDPOINT_COPIES + mapping.copies if native in present
        ]
        self.read = self._compile()

    def _copy_targets(self, index: int) -> list[str]:
        """ECS fields that take column ``index``'s value as is, given its Zeek type."""
        name, kind = self.names[index], self.kinds[index]
        converter = _CONVERTERS.get(kind, ("str", str))[1]
        targets = []
        for native, ecs in self.copies:
            if native != name or _is_container(kind):
                continue
            wanted = field_type(ecs)
            if wanted is FieldType.LONG and converter is not int:
                continue
            if wanted is FieldType.KEYWORD and converter is not str:
                continue
            if wanted is not None and wanted not in (FieldType.LONG, FieldType.KEYWORD):
                continue
            targets.append(ecs)
        return targets

    def _compile(self) -> RowReader:
        """Build a reader for this header's columns.

        Reading a line is the hot path of Zeek ingest: a function written for the header's
        columns runs about twice as fast as a generic loop. Its source holds only column
        indices and fixed converter names; field names travel in the tuples ``N`` and ``C``,
        so no text from the log ever becomes code.
        """
        ecs_names: list[str] = []
        width = len(self.kinds)
        lines = [
            "def read(v, N=N, C=C, U=U, E=E, S=S, FROM_EPOCH=FROM_EPOCH, UTC=UTC, BOOL=BOOL):",
            " e = {}",
            " " + "".join(f"x{index}, " for index in range(width)) + "= v",
        ]
        for index, kind in enumerate(self.kinds):
            x = f"x{index}"
            if _is_container(kind):
                lines.append(f" if {x} != U: e[N[{index}]] = [] if {x} == E else {x}.split(S)")
                continue
            copies = self._copy_targets(index)
            targets = "".join(f" = e[C[{len(ecs_names) + i}]]" for i in range(len(copies)))
            ecs_names.extend(copies)
            converter = _CONVERTERS.get(kind)
            if converter is None:
                lines.append(f" if {x} != U:")
                lines.append(f"  if {x} != E: e[N[{index}]]{targets} = {x}")
                lines.append(f"  else: e[N[{index}]] = ''")
            else:
                value = converter[0].format(x)
                lines.append(f" if {x} != U and {x} != E: e[N[{index}]]{targets} = {value}")
        lines.append(" return e")
        namespace: dict[str, object] = {
            "N": tuple(self.names),
            "C": tuple(ecs_names),
            "U": self.unset,
            "E": self.empty,
            "S": self.set_separator,
            "FROM_EPOCH": datetime.fromtimestamp,
            "UTC": UTC,
            "BOOL": _BOOLS,
        }
        exec(_compiled("\n".join(lines)), namespace)  # noqa: S102 - indices only (see above)
        reader = namespace["read"]
        assert callable(reader)  # noqa: S101 - defined by the exec just above
        return reader

    def read_escaped(self, values: list[str]) -> Event:
        """Read a line holding escapes (or re-read a bad one to name its bad field)."""
        event: Event = {}
        unset, empty, set_separator = self.unset, self.empty, self.set_separator
        for name, kind, value in zip(self.names, self.kinds, values, strict=True):
            if value == unset:
                continue
            if _is_container(kind):
                event[name] = (
                    [] if value == empty else [unescape(v) for v in value.split(set_separator)]
                )
                continue
            converter = _CONVERTERS.get(kind)
            if value == empty:
                if converter is None:
                    event[name] = ""
                continue
            if converter is None:
                event[name] = unescape(value)
                continue
            try:
                event[name] = converter[1](value)
            except (ValueError, OverflowError) as exc:
                raise ValueError(f"field {name!r} ({kind}): cannot read {value!r}") from exc
        for native, ecs in self.copies:
            copied = event.get(native)
            if copied is not None and _fits(ecs, copied):
                event[ecs] = copied
        return event


@lru_cache(maxsize=256)
def _cached_layout(
    fields: tuple[str, ...],
    types: tuple[str, ...] | None,
    separators: tuple[str, str, str, str],
    mapping: LogMapping,
) -> _Layout:
    header = _Header(*separators, fields=list(fields), types=list(types) if types else None)
    return _Layout(header, mapping)


def _layout_for(header: _Header, mapping: LogMapping) -> _Layout:
    """The layout of ``header``'s data lines: concatenated and hourly logs repeat headers."""
    separators = (header.separator, header.set_separator, header.empty, header.unset)
    types = tuple(header.types) if header.types is not None else None
    return _cached_layout(tuple(header.fields or ()), types, separators, mapping)


# ----------------------------------------------------------------------------- TSV parser


class ZeekParser:
    """Zeek logs in Zeek's TSV form, with their ``#`` header lines (see the module docstring)."""

    id: ClassVar[str] = "zeek"
    batch_size: ClassVar[int] = BATCH_SIZE
    resume_header: ClassVar[bytes] = b"#"
    """A tail resuming mid-file first feeds the file's leading lines that start with this."""

    def __init__(self) -> None:
        self._headers: dict[str, _Header] = {}

    def sniff(self, head: bytes) -> int:
        """Return 90 for a Zeek TSV head (``#separator`` or ``#fields`` lines), else 0."""
        text = head.lstrip(b"\xef\xbb\xbf")
        if text.startswith((b"#separator ", b"#fields")):
            return 90
        if text.startswith(b"#") and b"\n#fields" in text[:16384] and b"\n#types" in text:
            return 90
        return 0

    def _remember(self, identity: str, header: _Header) -> None:
        headers = self._headers
        headers.pop(identity, None)
        if len(headers) >= _MAX_REMEMBERED:
            headers.pop(next(iter(headers)))
        headers[identity] = header

    def parse_stream(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[ParseBatch]:
        """Read header and data lines; yield batches of at most ``batch_size`` events."""
        header = self._headers.get(ctx.identity) if ctx.base_offset > 0 else None
        if header is None:
            header = _Header()
            self._remember(ctx.identity, header)
        default_path = log_path_from_source(ctx.source) or UNKNOWN_PATH
        source, parser_id = ctx.source, self.id
        events: list[Event] = []
        issues: list[ParseIssue] = []
        append = events.append
        batch_size = self.batch_size
        received = ctx.received
        event_id = ctx.event_id
        offset = 0
        lineno = 0
        layout: _Layout | None = None
        dataset = kind = ""
        derive: Callable[[Event], None] | None = None
        category: tuple[str, ...] = ()
        types: tuple[str, ...] = ()
        has_endpoints = False
        for raw in stream:
            lineno += 1
            start = offset
            offset += len(raw)
            line = raw.rstrip(b"\r\n")
            if not line:
                continue
            text = line.decode("utf-8", errors="replace")
            if text[0] == "#":
                reason, fresh = _read_meta(text, header)
                if fresh is not None:
                    header = fresh
                    self._remember(ctx.identity, header)
                if reason is not None:
                    issues.append(ParseIssue(source, start, lineno, reason, bytes(line), parser_id))
                layout = None
                continue
            if layout is None:
                if header.fields is None:
                    reason = "no #fields header before this line: cannot tell its columns"
                    issues.append(ParseIssue(source, start, lineno, reason, bytes(line), parser_id))
                    continue
                path = header.path or default_path
                dataset = ctx.dataset or f"zeek.{path}"
                mapping = mapping_for(_log_for(ctx, path))
                layout = _layout_for(header, mapping)
                derive, category, types = mapping.derive, mapping.category, mapping.type
                kind, has_endpoints = mapping.kind, layout.has_endpoints
            values = text.split(layout.separator)
            if len(values) != layout.width:
                reason = f"expected {layout.width} columns (#fields), found {len(values)}"
                issues.append(ParseIssue(source, start, lineno, reason, bytes(line), parser_id))
                continue
            try:
                if "\\" in text:
                    event = layout.read_escaped(values)
                else:
                    try:
                        event = layout.read(values)
                    except (ValueError, OverflowError, KeyError):
                        event = layout.read_escaped(values)  # raises naming the bad field
            except (ValueError, OverflowError) as exc:
                issues.append(ParseIssue(source, start, lineno, str(exc), bytes(line), parser_id))
                continue
            # _finish, inlined: this loop is the hot path of Zeek ingest
            if has_endpoints:
                _derive_related(event)
            if derive is not None:
                derive(event)
            if category:
                event[ev.CATEGORY] = list(category)
                event[ev.TYPE] = list(types)
            event[ev.KIND] = kind
            stamp = event.get("ts")
            event[ev.ID] = event_id(start)
            event[ev.TIMESTAMP] = stamp if type(stamp) is datetime else received
            event[ev.DATASET] = dataset
            event[ev.ORIGINAL] = text
            append(event)
            if len(events) >= batch_size:
                yield ParseBatch(events, issues, offset)
                events, issues = [], []
                append = events.append
        if events or issues or offset:
            yield ParseBatch(events, issues, offset)


def _read_meta(text: str, header: _Header) -> tuple[str | None, _Header | None]:
    """Apply one ``#`` line to ``header``: return (an issue's reason, a new header) or Nones."""
    if text.startswith("#separator"):
        fresh = _Header()
        fresh.separator = _unescape_meta(text[len("#separator") :].strip(" ")) or "\t"
        return None, fresh
    key, _, value = text[1:].partition(header.separator)
    if key == "fields":
        header.fields = value.split(header.separator)
        header.types = None
    elif key == "types":
        header.types = value.split(header.separator)
        if header.fields is not None and len(header.types) != len(header.fields):
            return (
                f"#types has {len(header.types)} columns but #fields has "
                f"{len(header.fields)}: values are read as strings",
                None,
            )
    elif key == "path":
        header.path = value or None
    elif key == "set_separator":
        header.set_separator = _unescape_meta(value)
    elif key == "empty_field":
        header.empty = _unescape_meta(value)
    elif key == "unset_field":
        header.unset = _unescape_meta(value)
    return None, None


# ----------------------------------------------------------------------------- JSON


class ZeekJsonParser(JsonRecordParser):
    """Zeek logs written as JSON, one object a line (see the module docstring)."""

    id: ClassVar[str] = "zeek_json"
    confidence: ClassVar[int] = 65

    def accepts(self, obj: dict[str, object]) -> bool:
        """A Zeek record: ``ts`` and ``uid``, ``id.orig_h`` or ``_path``, no ``event_type``."""
        if "ts" not in obj or "event_type" in obj:
            return False
        if "uid" in obj or "id.orig_h" in obj or "_path" in obj:
            return True
        nested = obj.get("id")
        return isinstance(nested, dict) and "orig_h" in nested

    def convert(self, obj: dict[str, object], record: JsonRecord, ctx: ParseContext) -> Event:
        """Turn one Zeek JSON record into an event."""
        if any(type(value) is dict for value in obj.values()):
            event = flatten(obj)
        else:
            event = dict(obj)
        for key in JSON_TIME_FIELDS.intersection(event):
            when = parse_timestamp(event[key])
            if when is not None:
                event[key] = when
        declared = event.get("_path")
        if isinstance(declared, str) and declared:
            path = declared
        else:
            path = log_path_from_source(ctx.source) or UNKNOWN_PATH
        map_ecs(event, mapping_for(_log_for(ctx, path)))
        stamp = event.get("ts")
        event[ev.ID] = ctx.event_id(record.offset)
        event[ev.TIMESTAMP] = stamp if isinstance(stamp, datetime) else ctx.received
        event[ev.DATASET] = ctx.dataset or f"zeek.{path}"
        event[ev.ORIGINAL] = record.raw.decode("utf-8", errors="replace")
        return event
