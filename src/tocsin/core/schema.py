"""The one schema module every writer uses: the fixed types of envelope and ECS fields.

Rules (ARCHITECTURE.md section 3):

* ECS array fields are always lists of strings (``event.category``, ``event.type``,
  ``dns.answers.data``, ``tags``, ``related.*``).
* ``event.duration`` is an integer in nanoseconds; ports, byte and packet counts are integers.
* Times are UTC timestamps.
* A **native** field (not listed here) takes the type of its values; when one batch of a
  dataset mixes types (say ``5`` and ``"five"``), the field is stored as a string (numbers in
  decimal, booleans ``true``/``false``, other values as compact JSON). A list of scalars is a
  list of strings. See :func:`infer_native_type`.
* Field names that differ only in case cannot live side by side (DuckDB identifiers are
  case-insensitive): the first spelling met in a batch keeps the name and a later one is
  renamed ``<name>~<n>`` (``~2``, ``~3``...). See :func:`resolve_case_clashes`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import orjson


class FieldType(StrEnum):
    """Storage type of a field."""

    KEYWORD = "keyword"
    LONG = "long"
    DOUBLE = "double"
    BOOLEAN = "boolean"
    TIMESTAMP = "timestamp"
    KEYWORD_LIST = "keyword_list"


K = FieldType.KEYWORD
L = FieldType.LONG
T = FieldType.TIMESTAMP
KL = FieldType.KEYWORD_LIST

ECS_FIELDS: dict[str, FieldType] = {
    # envelope
    "@timestamp": T,
    "event.id": K,
    "event.ingested": T,
    "event.dataset": K,
    "event.category": KL,
    "event.type": KL,
    "event.kind": K,
    "event.original": K,
    "event.action": K,
    "event.outcome": K,
    "event.code": K,
    "event.provider": K,
    "event.module": K,
    "event.severity": L,
    "event.duration": L,
    "event.start": T,
    "event.end": T,
    "message": K,
    "tags": KL,
    "log.level": K,
    "log.file.path": K,
    "log.syslog.facility.code": L,
    "log.syslog.facility.name": K,
    "log.syslog.severity.code": L,
    "log.syslog.severity.name": K,
    "log.syslog.priority": L,
    "log.syslog.appname": K,
    "log.syslog.procid": K,
    "log.syslog.msgid": K,
    "log.syslog.hostname": K,
    "log.syslog.version": K,
    # network
    "source.ip": K,
    "source.port": L,
    "source.address": K,
    "source.domain": K,
    "source.bytes": L,
    "source.packets": L,
    "source.mac": K,
    "destination.ip": K,
    "destination.port": L,
    "destination.address": K,
    "destination.domain": K,
    "destination.bytes": L,
    "destination.packets": L,
    "destination.mac": K,
    "network.transport": K,
    "network.protocol": K,
    "network.direction": K,
    "network.community_id": K,
    "network.bytes": L,
    "network.packets": L,
    "network.type": K,
    "network.vlan.id": K,
    # dns
    "dns.question.name": K,
    "dns.question.type": K,
    "dns.question.class": K,
    "dns.response_code": K,
    "dns.answers.data": KL,
    "dns.id": K,
    "dns.type": K,
    # http / tls / url
    "url.full": K,
    "url.original": K,
    "url.domain": K,
    "url.path": K,
    "http.request.method": K,
    "http.request.referrer": K,
    "http.response.status_code": L,
    "http.request.body.bytes": L,
    "http.response.body.bytes": L,
    "http.version": K,
    "http.request.mime_type": K,
    "http.response.mime_type": K,
    "user_agent.original": K,
    "tls.version": K,
    "tls.cipher": K,
    "tls.client.server_name": K,
    "tls.client.ja3": K,
    "tls.client.ja4": K,
    "tls.server.ja3s": K,
    "tls.server.subject": K,
    "tls.server.issuer": K,
    # process
    "process.pid": L,
    "process.name": K,
    "process.executable": K,
    "process.command_line": K,
    "process.entity_id": K,
    "process.working_directory": K,
    "process.parent.pid": L,
    "process.parent.name": K,
    "process.parent.executable": K,
    "process.parent.command_line": K,
    "process.hash.md5": K,
    "process.hash.sha1": K,
    "process.hash.sha256": K,
    # identity and host
    "user.name": K,
    "user.id": K,
    "user.domain": K,
    "user.target.name": K,
    "host.name": K,
    "host.hostname": K,
    "host.ip": KL,
    "host.os.type": K,
    "agent.type": K,
    "agent.name": K,
    "observer.vendor": K,
    "observer.product": K,
    "observer.version": K,
    "observer.hostname": K,
    "rule.id": K,
    "rule.name": K,
    "rule.category": K,
    # file
    "file.path": K,
    "file.name": K,
    "file.directory": K,
    "file.extension": K,
    "file.size": L,
    "file.hash.md5": K,
    "file.hash.sha1": K,
    "file.hash.sha256": K,
    "file.mime_type": K,
    "file.owner": K,
    # registry
    "registry.path": K,
    "registry.key": K,
    "registry.value": K,
    "registry.data.strings": KL,
    # cloud
    "cloud.provider": K,
    "cloud.region": K,
    "cloud.account.id": K,
    "cloud.service.name": K,
    # email
    "email.from.address": KL,
    "email.to.address": KL,
    "email.cc.address": KL,
    "email.origination_timestamp": T,
    "email.subject": K,
    "email.message_id": K,
    # related
    "related.ip": KL,
    "related.user": KL,
    "related.hosts": KL,
    "related.hash": KL,
}


def field_type(name: str) -> FieldType | None:
    """Return the fixed type of an ECS or envelope field, or None for a native field."""
    return ECS_FIELDS.get(name)


def resolve_name_clashes(names: list[str]) -> list[str]:
    """Rename names that differ only in case from an earlier one (see the module docstring)."""
    if len({name.lower() for name in names}) == len(names):
        return names
    counts: dict[str, int] = {}
    out: list[str] = []
    for name in names:
        lowered = name.lower()
        if lowered in counts:
            counts[lowered] += 1
            out.append(f"{name}~{counts[lowered]}")
        else:
            counts[lowered] = 1
            out.append(name)
    return out


def to_text(value: object) -> str:
    """Render a value as text, as every writer stores a value in a text column: strings as is,
    booleans lowercase, numbers as Python writes them, times in UTC ISO 8601, others as
    compact JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, datetime):
        utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
        return utc.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return str(value)
