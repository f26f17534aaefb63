"""HTTP/1.x conversations into transactions with ECS ``http.*``/``url.*`` fields and files.

The importer hands over both reassembled directions of one TCP connection (each capped).
Requests and responses are paired in order, which is what pipelining promises; bodies are
de-chunked and decoded (gzip, deflate) up to ``max_body`` bytes, so a decompression bomb costs
at most that much. A stream that starts mid-conversation or stops at the cap yields what can be
read and sets ``truncated``; no input makes this module raise anything.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from tocsin.pcap.proto.files import FileDirection, FileInfo, file_info, media_type

MAX_HEADER_BLOCK = 64 * 1024
MAX_HEADERS = 200
MAX_TRANSACTIONS = 10_000
# a body decoded past this many times its encoded size before hitting max_body is a bomb
BOMB_RATIO = 100

_METHODS = (
    "GET|POST|HEAD|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE|PROPFIND|PROPPATCH|MKCOL|COPY|MOVE"
    "|LOCK|UNLOCK|SEARCH|REPORT|MKCALENDAR|SUBSCRIBE|NOTIFY|M-SEARCH|BPROP|RPC_IN_DATA"
    "|RPC_OUT_DATA"
)
# a request or status line, matched where a message should start, or searched for after bytes
# that cannot be framed (a capture that began mid-body, whose last bytes may run straight into
# the next request line)
_REQUEST = rb"(?:" + _METHODS.encode() + rb") [^\r\n ]+ HTTP/\d\.\d\r?$"
_STATUS = rb"HTTP/\d\.\d \d{3}(?: [^\r\n]*)?\r?$"
_REQUEST_LINE = re.compile(_REQUEST, re.M)
_STATUS_LINE = re.compile(_STATUS, re.M)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_NO_BODY_STATUS = frozenset({204, 304})


@dataclass(frozen=True, slots=True)
class HttpTransaction:
    """One request and the response paired with it (either may be missing)."""

    method: str | None = None
    uri: str | None = None
    version: str | None = None
    host: str | None = None
    user_agent: str | None = None
    referrer: str | None = None
    request_content_type: str | None = None
    request_body_bytes: int = 0
    status_code: int | None = None
    reason: str | None = None
    response_version: str | None = None
    response_content_type: str | None = None
    response_body_bytes: int = 0
    server: str | None = None
    files: tuple[FileInfo, ...] = ()
    flags: tuple[str, ...] = ()  # what was odd: "body_capped", "decompression_bomb", ...
    truncated: bool = False  # the request or the response is incomplete

    def fields(self, *, default_host: str | None = None) -> dict[str, object]:
        """ECS fields; ``default_host`` (the server address) stands in for a missing Host."""
        out: dict[str, object] = {}
        if self.method is not None:
            out["http.request.method"] = self.method
        if self.version is not None or self.response_version is not None:
            out["http.version"] = self.version or self.response_version
        if self.uri is not None:
            out["url.original"] = self.uri
            out.update(url_fields(self.uri, self.host or default_host, self.method))
        if self.referrer is not None:
            out["http.request.referrer"] = self.referrer
        if self.user_agent is not None:
            out["user_agent.original"] = self.user_agent
        if self.method is not None:
            out["http.request.body.bytes"] = self.request_body_bytes
        request_type = media_type(self.request_content_type)
        if request_type:
            out["http.request.mime_type"] = request_type
        if self.status_code is not None:
            out["http.response.status_code"] = self.status_code
            out["http.response.body.bytes"] = self.response_body_bytes
        response_type = media_type(self.response_content_type)
        if response_type:
            out["http.response.mime_type"] = response_type
        if self.server is not None:
            out["http.server"] = self.server
        if self.flags:
            out["http.anomalies"] = list(self.flags)
        if self.truncated:
            out["http.truncated"] = True
        return out


@dataclass(frozen=True, slots=True)
class HttpParse:
    """Every transaction of one connection, in order."""

    transactions: tuple[HttpTransaction, ...]
    truncated: bool  # a direction started mid-message or stopped inside one
    anomalies: tuple[str, ...] = ()  # connection-level oddities ("unframed client bytes", ...)


def url_fields(uri: str, host: str | None, method: str | None = None) -> dict[str, object]:
    """``url.full``, ``url.domain``, ``url.path`` and ``url.query`` of a request target."""
    out: dict[str, object] = {}
    if method == "CONNECT":
        authority = uri
    elif "://" in uri[:16]:
        scheme, _, rest = uri.partition("://")
        authority, slash, path = rest.partition("/")
        out["url.full"] = uri
        out["url.scheme"] = scheme.lower()
        uri = slash + path
    else:
        authority = host or ""
        if authority and uri.startswith("/"):
            out["url.full"] = f"http://{authority}{uri}"
            out["url.scheme"] = "http"
    domain = _domain(authority)
    if domain:
        out["url.domain"] = domain
    if method != "CONNECT" and uri.startswith("/"):
        path, _, query = uri.partition("#")[0].partition("?")
        out["url.path"] = path
        if query:
            out["url.query"] = query
    return out


def _domain(authority: str) -> str | None:
    authority = authority.rpartition("@")[2].strip().lower()
    if authority.startswith("["):
        end = authority.find("]")
        return authority[: end + 1] if end > 0 else None
    return authority.partition(":")[0] or None


class _Message:
    """One framed request or response: start line, the headers we need, the body."""

    __slots__ = ("start", "headers", "body", "body_bytes", "flags", "complete")

    def __init__(self, start: list[str], headers: dict[str, str]) -> None:
        self.start = start
        self.headers = headers
        self.body = b""
        self.body_bytes = 0
        self.flags: list[str] = []
        self.complete = True


def _latin(value: bytes) -> str:
    # header bytes are ISO-8859-1 by the RFCs; this never fails and keeps every byte
    return value.decode("latin-1")


def _read_head(data: bytes, pos: int) -> tuple[list[str], dict[str, str], int] | None:
    """The start line and headers at ``pos`` and where the body begins; None if incomplete."""
    match = _HEADER_END.search(data, pos, pos + MAX_HEADER_BLOCK)
    if match is None:
        return None
    lines = data[pos : match.start()].split(b"\n")
    start = _latin(lines[0]).rstrip("\r").split(" ", 2)
    headers: dict[str, str] = {}
    for raw in lines[1 : MAX_HEADERS + 1]:
        name, colon, value = raw.partition(b":")
        if not colon:
            continue
        key = _latin(name).strip().lower()
        # the first of a repeated header wins, except for fields that are lists anyway
        if key not in headers:
            headers[key] = _latin(value).strip()
        elif key in ("transfer-encoding", "content-encoding"):
            headers[key] += ", " + _latin(value).strip()
    return start, headers, match.end()


def _dechunk(data: bytes, pos: int, keep: int) -> tuple[bytes, int, int, bool, str | None]:
    """De-chunk from ``pos``: (kept bytes, total body bytes, end, complete, problem)."""
    parts: list[bytes] = []
    kept = 0
    total = 0
    n = len(data)
    while True:
        eol = data.find(b"\n", pos, pos + 1024)
        if eol < 0:
            return b"".join(parts), total, n, False, None if n - pos < 1024 else "bad_chunk"
        size_text = data[pos:eol].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return b"".join(parts), total, n, False, "bad_chunk"
        if size < 0 or len(size_text) > 16:
            return b"".join(parts), total, n, False, "bad_chunk"
        pos = eol + 1
        if size == 0:
            # trailers end at an empty line; a stream cut inside them still ends the body
            end = _HEADER_END.search(data, pos - 2, pos + MAX_HEADER_BLOCK)
            return b"".join(parts), total, (end.end() if end else n), True, None
        chunk = data[pos : pos + size]
        total += len(chunk)
        if kept < keep:
            piece = chunk[: keep - kept]
            parts.append(piece)
            kept += len(piece)
        if pos + size > n:
            return b"".join(parts), total, n, False, None
        pos += size
        # the CRLF after the chunk data
        if data.startswith(b"\r\n", pos):
            pos += 2
        elif data.startswith(b"\n", pos):
            pos += 1


def _decode(body: bytes, encodings: str, limit: int, flags: list[str]) -> bytes:
    """Undo Content-Encoding (gzip, deflate) within ``limit`` output bytes."""
    for coding in reversed([c.strip().lower() for c in encodings.split(",") if c.strip()]):
        if coding in ("identity", "none"):
            continue
        if coding not in ("gzip", "x-gzip", "deflate"):
            flags.append(f"unsupported_encoding:{coding[:20]}")
            return body
        # wbits 47 reads a gzip or zlib header; deflate without its zlib header is common
        # enough (old IIS) to try raw deflate next
        for wbits in (47, -15):
            decoder = zlib.decompressobj(wbits)
            try:
                out = decoder.decompress(body, limit)
            except zlib.error:
                continue
            if decoder.unconsumed_tail:
                consumed = len(body) - len(decoder.unconsumed_tail)
                bomb = len(out) > BOMB_RATIO * max(consumed, 1)
                flags.append("decompression_bomb" if bomb else "body_capped")
            elif not decoder.eof:
                flags.append("body_cut")
            body = out
            break
        else:
            flags.append("bad_encoding")
            return body
    return body


def _body_length(value: str | None, flags: list[str]) -> int | None:
    if value is None:
        return None
    first = value.split(",")[0].strip()
    if not first.isdigit() or len(first) > 18:
        flags.append("bad_content_length")
        return None
    if any(part.strip() != first for part in value.split(",")):
        flags.append("conflicting_content_length")
    return int(first)


def _read_body(
    message: _Message, data: bytes, pos: int, *, until_close: bool, max_body: int
) -> int:
    """Frame and decode the body at ``pos``; the offset after it."""
    headers = message.headers
    flags = message.flags
    n = len(data)
    if "chunked" in headers.get("transfer-encoding", "").lower():
        if "content-length" in headers:
            flags.append("chunked_with_content_length")
        body, total, end, complete, problem = _dechunk(data, pos, max_body)
        if problem:
            flags.append(problem)
    else:
        length = _body_length(headers.get("content-length"), flags)
        if length is None:
            length = n - pos if until_close else 0
        end = min(pos + length, n)
        complete = pos + length <= n
        total = end - pos
        body = data[pos : min(end, pos + max_body)]
    if total > len(body):
        flags.append("body_capped")
    message.complete = complete
    message.body_bytes = total
    if "content-encoding" in headers and body:
        body = _decode(body, headers["content-encoding"], max_body, flags)
    message.body = body
    return end


def _split(
    data: bytes, *, requests: bool, head_requests: list[bool], max_body: int
) -> tuple[list[_Message], bool, list[str]]:
    """Frame one direction into messages; (messages, truncated, anomalies)."""
    out: list[_Message] = []
    anomalies: list[str] = []
    truncated = False
    line = _REQUEST_LINE if requests else _STATUS_LINE
    pos = 0
    n = len(data)
    answered = 0  # responses matched to requests so far, to know which answer a HEAD
    while len(out) < MAX_TRANSACTIONS:
        # clients may send a stray CRLF after a body; it belongs to no message
        while pos < n and data[pos] in b"\r\n":
            pos += 1
        if pos >= n:
            break
        if line.match(data, pos) is None:
            # not at a message start: capture began mid-message, or bytes we could not frame
            found = line.search(data, pos)
            skipped = (found.start() if found else n) - pos
            truncated = True
            anomalies.append(f"unframed {'client' if requests else 'server'} bytes: {skipped}")
            if found is None:
                break
            pos = found.start()
        head = _read_head(data, pos)
        if head is None:
            truncated = True
            if n - pos >= MAX_HEADER_BLOCK:
                anomalies.append("header block too long")
            break
        start, headers, body_at = head
        message = _Message(start, headers)
        if requests:
            pos = _read_body(message, data, body_at, until_close=False, max_body=max_body)
        else:
            status = _status(start)
            if status is not None and 100 <= status < 200 and status != 101:
                pos = body_at  # an interim answer (100 Continue): no body, no pairing
                continue
            is_head = answered < len(head_requests) and head_requests[answered]
            answered += 1
            if is_head or status in _NO_BODY_STATUS or status == 101:
                pos = body_at
            else:
                pos = _read_body(message, data, body_at, until_close=True, max_body=max_body)
        out.append(message)
        if not message.complete:
            truncated = True
        if not requests and _status(start) == 101:
            break  # switched protocols: the rest is not HTTP/1
        if requests and start[0] == "CONNECT":
            break  # a tunnel follows
    return out, truncated, anomalies


def _status(start: list[str]) -> int | None:
    if len(start) >= 2 and start[1].isdigit() and len(start[1]) == 3:
        return int(start[1])
    return None


def _files(
    message: _Message, *, direction: FileDirection, name: str | None, max_body: int
) -> tuple[FileInfo, ...]:
    if not message.body:
        return ()
    disposition = message.headers.get("content-disposition")
    if disposition:
        name = _disposition_name(disposition) or name
    truncated = (
        not message.complete
        or "body_capped" in message.flags
        or "decompression_bomb" in message.flags
        or "body_cut" in message.flags
        or len(message.body) >= max_body
    )
    return (
        file_info(
            message.body,
            name=name,
            declared_type=message.headers.get("content-type"),
            source="http",
            direction=direction,
            truncated=truncated,
        ),
    )


_FILENAME = re.compile(r"""filename\*?\s*=\s*(?:UTF-8''|"?)([^";]+)""", re.IGNORECASE)


def _disposition_name(value: str) -> str | None:
    found = _FILENAME.search(value)
    if found is None:
        return None
    name = found.group(1).strip().strip('"')
    return name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1][:255] or None


def _uri_name(uri: str | None) -> str | None:
    if not uri:
        return None
    path = uri.split("?", 1)[0].split("#", 1)[0]
    name = path.rsplit("/", 1)[-1]
    return name[:255] or None


def parse_http(client: bytes, server: bytes, *, max_body: int) -> HttpParse:
    """Every transaction of one HTTP/1.x connection, from both reassembled directions."""
    max_body = max(max_body, 0)
    requests, client_cut, anomalies = _split(
        client, requests=True, head_requests=[], max_body=max_body
    )
    heads = [len(r.start) > 0 and r.start[0] == "HEAD" for r in requests]
    responses, server_cut, server_anomalies = _split(
        server, requests=False, head_requests=heads, max_body=max_body
    )
    anomalies += server_anomalies
    transactions: list[HttpTransaction] = []
    for index in range(max(len(requests), len(responses))):
        request = requests[index] if index < len(requests) else None
        response = responses[index] if index < len(responses) else None
        transactions.append(_transaction(request, response, max_body))
    return HttpParse(
        transactions=tuple(transactions),
        truncated=client_cut or server_cut,
        anomalies=tuple(anomalies),
    )


def _transaction(
    request: _Message | None, response: _Message | None, max_body: int
) -> HttpTransaction:
    files: list[FileInfo] = []
    flags: list[str] = []
    req_start: list[str] = request.start if request is not None else []
    req_headers = request.headers if request is not None else {}
    resp_start: list[str] = response.start if response is not None else []
    resp_headers = response.headers if response is not None else {}
    uri = req_start[1] if len(req_start) > 1 else None
    if request is not None:
        files += _files(request, direction="upload", name=None, max_body=max_body)
        flags += request.flags
    if response is not None:
        files += _files(response, direction="download", name=_uri_name(uri), max_body=max_body)
        flags += response.flags
    return HttpTransaction(
        method=req_start[0] if req_start else None,
        uri=uri,
        version=_version(req_start[2]) if len(req_start) > 2 else None,
        host=req_headers.get("host"),
        user_agent=req_headers.get("user-agent"),
        referrer=req_headers.get("referer"),
        request_content_type=req_headers.get("content-type"),
        request_body_bytes=request.body_bytes if request is not None else 0,
        status_code=_status(resp_start),
        reason=resp_start[2] if len(resp_start) > 2 else None,
        response_version=_version(resp_start[0]) if resp_start else None,
        response_content_type=resp_headers.get("content-type"),
        response_body_bytes=response.body_bytes if response is not None else 0,
        server=resp_headers.get("server"),
        files=tuple(files),
        flags=tuple(dict.fromkeys(flags)),
        truncated=(request is not None and not request.complete)
        or (response is not None and not response.complete),
    )


def _version(text: str) -> str | None:
    return text[5:] if text.startswith("HTTP/") else None
