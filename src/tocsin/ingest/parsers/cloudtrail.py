"""AWS CloudTrail records: the log files (``{"Records": [...]}``) and single records.

Input is a CloudTrail log file as S3 holds it (one object wrapping ``Records``, often
gzip'd), or one record a line (NDJSON, as CloudWatch Logs and Lake exports write them), or
EventBridge events whose ``detail`` is a CloudTrail record. A record of a file has the
position of its index in the file (plus the byte offset of its wrapper when several files are
concatenated); a file that is truncated or not valid JSON is one issue.

Fields keep their CloudTrail names, flattened to dotted names (``userIdentity.arn``,
``requestParameters.bucketName``). ``requestParameters``, ``responseElements``,
``additionalEventData`` and ``serviceEventData`` differ for every API and can be large: they
are flattened :data:`MAX_DEPTH` levels deep (``requestParameters.a.b.c``), an object deeper
than that is kept as its compact JSON text, and one whose flattening would give more than
:data:`MAX_FIELDS` fields is kept whole as JSON text under its own name. A list holding
objects is JSON text, as everywhere. So one API call cannot add hundreds of columns.

ECS: ``@timestamp`` (``eventTime``), ``event.action`` (``eventName``), ``event.provider``
(``eventSource``), ``event.outcome`` (``failure`` when ``errorCode`` is present or a console
sign-in failed, else ``success``), ``cloud.provider`` ``aws``, ``cloud.region``
(``awsRegion``), ``cloud.account.id`` (``recipientAccountId``, else
``userIdentity.accountId``), ``cloud.service.name``, ``source.ip`` (``sourceIPAddress`` when it
is an address, else ``source.domain`` when it is a host name such as
``ec2.amazonaws.com``), ``user_agent.original``, ``user.name`` (``userIdentity.userName``,
else the last part of ``userIdentity.arn``), ``user.id`` (``principalId``), ``related.ip``,
``related.user``, and the categorisation of :func:`categorize`. ``event.id`` derives from
``eventID``, else the record's position. The dataset is ``cloudtrail``.
"""

from __future__ import annotations

import io
import ipaddress
import json
import re
from collections.abc import Iterator, Mapping
from typing import BinaryIO, ClassVar, cast

import orjson

from tocsin.core import event as ev
from tocsin.core.event import Event
from tocsin.core.flatten import flatten, flatten_list
from tocsin.core.timeutil import parse_timestamp
from tocsin.ingest.base import ParseBatch, ParseContext
from tocsin.ingest.parsers.jsonfmt import JsonRecord, JsonRecordParser, iter_json_records

DATASET = "cloudtrail"

MAX_DEPTH = 3
"""Levels of keys flattened below a free-form field (``requestParameters.a.b.c``)."""

MAX_FIELDS = 50
"""Fields one free-form object may add; beyond, it is kept whole as JSON text."""

FREE_FORM = ("requestParameters", "responseElements", "additionalEventData", "serviceEventData")
"""Top-level fields whose shape depends on the API called."""

_WRAPPER = re.compile(rb'^(?:\xef\xbb\xbf)?\s*\{\s*"Records"\s*:\s*\[')
_HOST = re.compile(
    r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
_HEAD = 4096

_AUTHENTICATION = frozenset(
    {
        "ConsoleLogin",
        "AssumeRole",
        "AssumeRoleWithSAML",
        "AssumeRoleWithWebIdentity",
        "GetSessionToken",
        "GetFederationToken",
    }
)
"""Sign-ins and credential issues: ECS authentication."""

_VERB_TYPES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("Create", "Run", "Allocate", "Import", "Register"), "creation"),
    (("Delete", "Terminate", "Remove", "Deregister", "Release"), "deletion"),
    (
        (
            "Put",
            "Update",
            "Modify",
            "Attach",
            "Detach",
            "Add",
            "Set",
            "Enable",
            "Disable",
            "Change",
            "Associate",
            "Disassociate",
            "Authorize",
            "Revoke",
            "Start",
            "Stop",
            "Reset",
            "Tag",
            "Untag",
        ),
        "change",
    ),
    (("Get", "List", "Describe", "Lookup", "Head", "Search", "Batch"), "access"),
)
"""The ECS ``event.type`` an API verb implies."""

_IAM_SOURCES = frozenset({"iam.amazonaws.com", "sso.amazonaws.com", "identitystore.amazonaws.com"})


def categorize(event_name: str, event_source: str) -> tuple[list[str], list[str]]:
    """Return ECS ``event.category`` and ``event.type`` for a CloudTrail API call.

    ``ConsoleLogin`` and STS credential calls are authentication (``start``); an IAM call
    that changes something (``Create*``, ``Delete*``, ``Put*``, ``Attach*``...) is iam with
    ``creation``/``deletion``/``change``; anything else is configuration, typed by its verb
    (``access`` for ``Get``/``List``/``Describe``, ``info`` when the verb is unknown).
    """
    if event_name in _AUTHENTICATION:
        return ["authentication"], ["start"]
    kind = "info"
    for verbs, verb_type in _VERB_TYPES:
        if event_name.startswith(verbs):
            kind = verb_type
            break
    if event_source in _IAM_SOURCES and kind in ("creation", "deletion", "change"):
        return ["iam"], [kind]
    return ["configuration"], [kind]


def is_record(obj: Mapping[str, object]) -> bool:
    """Whether ``obj`` is a CloudTrail record (``eventVersion``, ``eventSource``, ``eventName``)."""
    return "eventVersion" in obj and "eventSource" in obj and "eventName" in obj


def _unwrap(obj: Mapping[str, object]) -> Mapping[str, object] | None:
    """The CloudTrail record in ``obj`` itself or in an EventBridge event's ``detail``."""
    if is_record(obj):
        return obj
    detail = obj.get("detail")
    if isinstance(detail, dict) and is_record(detail):
        return detail
    return None


def _flatten_bounded(value: Mapping[str, object], prefix: str) -> dict[str, object]:
    out: dict[str, object] = {}
    _bounded_into(out, value, prefix, 1)
    return out


def _bounded_into(
    out: dict[str, object], value: Mapping[str, object], prefix: str, depth: int
) -> None:
    for key, item in value.items():
        name = f"{prefix}.{key}"
        if isinstance(item, dict):
            if depth >= MAX_DEPTH:
                out[name] = orjson.dumps(item).decode()
            else:
                _bounded_into(out, item, name, depth + 1)
        elif isinstance(item, list):
            out[name] = flatten_list(item)
        else:
            out[name] = item


def flatten_record(record: Mapping[str, object]) -> dict[str, object]:
    """Flatten a CloudTrail record, bounding the free-form fields (see the module docstring)."""
    fixed = {key: value for key, value in record.items() if key not in FREE_FORM}
    out = flatten(fixed)
    for key in FREE_FORM:
        if key not in record:
            continue
        value = record[key]
        if not isinstance(value, dict):
            out[key] = flatten_list(value) if isinstance(value, list) else value
            continue
        flat = _flatten_bounded(value, key)
        if len(flat) > MAX_FIELDS:
            out[key] = orjson.dumps(value).decode()
        else:
            out.update(flat)
    return out


def _user_name(identity: Mapping[str, object]) -> str | None:
    name = identity.get("userName")
    if isinstance(name, str) and name:
        return name
    arn = identity.get("arn")
    if isinstance(arn, str) and arn:
        last = arn.rsplit("/", 1)[-1] if "/" in arn else arn.rsplit(":", 1)[-1]
        return last or None
    return None


def _map_ecs(record: Mapping[str, object], event: Event) -> None:
    name = record.get("eventName")
    source = record.get("eventSource")
    if isinstance(name, str):
        event["event.action"] = name
    if isinstance(source, str):
        event["event.provider"] = source
        event["cloud.service.name"] = source.split(".", 1)[0]
    event["cloud.provider"] = "aws"
    region = record.get("awsRegion")
    if isinstance(region, str) and region:
        event["cloud.region"] = region
    identity = record.get("userIdentity")
    identity = identity if isinstance(identity, dict) else {}
    account = record.get("recipientAccountId") or identity.get("accountId")
    if isinstance(account, str) and account:
        event["cloud.account.id"] = account
    failed = "errorCode" in record
    if name == "ConsoleLogin":
        response = record.get("responseElements")
        if isinstance(response, dict) and response.get("ConsoleLogin") == "Failure":
            failed = True
    event["event.outcome"] = "failure" if failed else "success"
    address = record.get("sourceIPAddress")
    if isinstance(address, str) and address:
        try:
            ipaddress.ip_address(address)
        except ValueError:
            if _HOST.match(address):
                event["source.domain"] = address
        else:
            event["source.ip"] = address
            event["related.ip"] = [address]
    agent = record.get("userAgent")
    if isinstance(agent, str) and agent:
        event["user_agent.original"] = agent
    user = _user_name(identity)
    if user:
        event["user.name"] = user
        event["related.user"] = [user]
    principal = identity.get("principalId")
    if isinstance(principal, str) and principal:
        event["user.id"] = principal
    if isinstance(name, str):
        category, types = categorize(name, source if isinstance(source, str) else "")
        event[ev.CATEGORY] = category
        event[ev.TYPE] = types


class CloudTrailParser(JsonRecordParser):
    """AWS CloudTrail log files and records (see the module docstring)."""

    id: ClassVar[str] = "cloudtrail"
    confidence: ClassVar[int] = 70

    def accepts(self, obj: dict[str, object]) -> bool:
        """A CloudTrail record, an EventBridge event of one, or a file whose first record is."""
        if _unwrap(obj) is not None:
            return True
        records = obj.get("Records")
        return isinstance(records, list) and bool(records) and _is_record_obj(records[0])

    def sniff(self, head: bytes) -> int:
        """Recognise a log file by its first record, even when the head cuts the file short."""
        match = _WRAPPER.match(head)
        if match is None:
            return super().sniff(head)
        text = head[match.end() :].decode("utf-8", errors="replace").lstrip()
        try:
            first, _ = json.JSONDecoder().raw_decode(text)
        except json.JSONDecodeError:
            return 0
        return self.confidence if _is_record_obj(first) else 0

    def records(self, stream: BinaryIO) -> Iterator[JsonRecord]:
        """Split the input into records, unwrapping log files (see the module docstring)."""
        return self._split(stream, [])

    def parse_stream(self, stream: BinaryIO, ctx: ParseContext) -> Iterator[ParseBatch]:
        """Parse every record; a log file's batches end at the end of the file."""
        size: list[int] = []
        for batch in self.parse_records(self._split(stream, size), ctx):
            if size:
                batch.end_offset = size[0]
            yield batch

    def _split(self, stream: BinaryIO, size: list[int]) -> Iterator[JsonRecord]:
        """Yield records; when the input is one log file, put its byte size in ``size``."""
        peek = getattr(stream, "peek", None)
        if peek is None:
            stream = cast(BinaryIO, io.BufferedReader(io.BytesIO(stream.read())))
            peek = getattr(stream, "peek")  # noqa: B009 - a BufferedReader has it
        head = peek(_HEAD)[:_HEAD]
        if _WRAPPER.match(head):
            data = stream.read()
            size.append(len(data))
            try:
                value = orjson.loads(data)
            except orjson.JSONDecodeError as exc:
                reason = f"invalid or truncated CloudTrail log file: {exc}"
                yield JsonRecord(0, None, data, None, reason)
                return
            yield from _expand(JsonRecord(0, None, b"", value))
            return
        for record in iter_json_records(stream):
            yield from _expand(record)

    def convert(self, obj: dict[str, object], record: JsonRecord, ctx: ParseContext) -> Event:
        """Turn one CloudTrail record into an event."""
        trail = _unwrap(obj)
        if trail is None:
            raise ValueError("not a CloudTrail record: no eventVersion, eventSource, eventName")
        event = flatten_record(trail)
        _map_ecs(trail, event)
        event_id = trail.get("eventID")
        position: int | str = event_id if isinstance(event_id, str) and event_id else record.offset
        stamp = parse_timestamp(trail.get("eventTime"))
        event[ev.ID] = ctx.event_id(position)
        event[ev.TIMESTAMP] = stamp if stamp is not None else ctx.received
        event[ev.DATASET] = ctx.dataset or DATASET
        event[ev.KIND] = "event"
        event[ev.ORIGINAL] = record.raw.decode("utf-8", errors="replace")
        return event


def _is_record_obj(value: object) -> bool:
    return isinstance(value, dict) and _unwrap(value) is not None


def _expand(record: JsonRecord) -> Iterator[JsonRecord]:
    """Yield the records a log file wraps, or the record itself."""
    value = record.value
    if not isinstance(value, dict) or "Records" not in value or is_record(value):
        yield record
        return
    items = value["Records"]
    if not isinstance(items, list):
        yield JsonRecord(record.offset, record.line, record.raw, None, "Records is not a list")
        return
    for index, item in enumerate(items):
        yield JsonRecord(record.offset + index, None, orjson.dumps(item), item)
