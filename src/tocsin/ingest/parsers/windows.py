"""Windows events: the Sigma-style flattening and the ECS mapping that every Windows parser shares.

Windows events arrive as EVTX files (:mod:`tocsin.ingest.parsers.evtx`), as the JSON the
``evtx`` package and ``evtx_dump`` write, and as Winlogbeat documents
(:mod:`tocsin.ingest.parsers.winjson`). All of them end here, so a Sigma rule sees the same
fields whatever the source (ARCHITECTURE.md section 3).

Native fields, named as Sigma expects:

* System: ``EventID`` and ``EventRecordID`` (int), ``Channel``, ``Computer``,
  ``Provider_Name``, ``Provider_Guid`` (and ``Provider_EventSourceName`` when set),
  ``Version``, ``Level``, ``Task``, ``Opcode`` (int), ``Keywords`` (the hex string),
  ``TimeCreated`` (the SystemTime text), ``SecurityUserID``, ``ActivityID``,
  ``RelatedActivityID``, and ``Execution_ProcessID``/``Execution_ThreadID`` (int). The last two
  are not called ``ProcessID``/``ThreadID``: most Sysmon and Security events carry an EventData
  ``ProcessId``, and two names differing only in case cannot share a dataset.
* EventData and UserData fields by their own leaf names, values keeping their JSON type; XML
  attributes of UserData elements become leaves too (``xmlns`` ones are dropped) and an
  element's text takes the element's name. Unnamed ``<Data>`` values become ``Data``, a list of
  strings. Spaces are taken out of names, as the Sigma specification asks (Defender's
  ``Threat Name`` is ``ThreatName``).
* Clashes: System names always win. A data field whose name is already taken is stored as
  ``<parent element>_<name>`` (``EventData_Channel``, ``LogFileCleared_Channel``); if that is
  taken too, the field is left to ``event.original``.

ECS fields: ``host.name``, ``event.code``, ``event.provider``, ``log.level``, ``@timestamp``
(from ``TimeCreated``), ``event.kind``, ``event.dataset`` (:func:`windows_dataset`), and for the
well-known events of :data:`ECS_RULES` the categorisation and the ``process.*``, ``user.*``,
``source.*``/``destination.*``, ``file.*``, ``registry.*`` and ``dns.*`` fields. What depends
only on the (channel, event id) pair is worked out once and cached.

Speed: EVTX parsing must keep up with the ``evtx`` package, so :func:`windows_event` first tries
a straight-line path for the usual record shape and falls back to the general one for anything
else; both give the same event (the tests check it on every shared sample).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tocsin.core import event as ev
from tocsin.core.event import Event
from tocsin.core.flatten import flatten_list
from tocsin.core.timeutil import parse_timestamp

Derive = Callable[[Event], None]

_NESTED = frozenset({dict, list})
_MISSING = (None, "", "-")
_ZERO = timedelta(0)

# ----------------------------------------------------------------------------- flattening


def flatten_windows(
    system: Mapping[str, object], event_data: object = None, user_data: object = None
) -> Event:
    """Flatten the System, EventData and UserData of one evtx-JSON record to Sigma fields."""
    flat: Event = {}
    if "EventID" in system:
        event_id = system["EventID"]
        if type(event_id) is dict:  # classic providers: {"#attributes": {Qualifiers}, "#text"}
            event_id = event_id.get("#text")
        flat["EventID"] = as_int(event_id)
    _copy_attributes(flat, system, "Provider", _PROVIDER_ATTRIBUTES)
    for key in ("Version", "Level", "Task", "Opcode"):
        if key in system:
            flat[key] = as_int(system[key])
    if "Keywords" in system:
        flat["Keywords"] = system["Keywords"]
    _copy_attributes(flat, system, "TimeCreated", (("SystemTime", "TimeCreated"),))
    if "EventRecordID" in system:
        flat["EventRecordID"] = as_int(system["EventRecordID"])
    _copy_attributes(flat, system, "Correlation", _CORRELATION_ATTRIBUTES)
    _copy_attributes(flat, system, "Execution", _EXECUTION_ATTRIBUTES)
    for key in ("Channel", "Computer"):
        if key in system:
            flat[key] = system[key]
    _copy_attributes(flat, system, "Security", (("UserID", "SecurityUserID"),))
    if event_data is not None:
        add_event_data(flat, event_data)
    if user_data is not None:
        add_leaves(flat, user_data, "UserData")
    return flat


_PROVIDER_ATTRIBUTES = (
    ("Name", "Provider_Name"),
    ("Guid", "Provider_Guid"),
    ("EventSourceName", "Provider_EventSourceName"),
)
_CORRELATION_ATTRIBUTES = (("ActivityID", "ActivityID"), ("RelatedActivityID", "RelatedActivityID"))
_EXECUTION_ATTRIBUTES = (("ProcessID", "Execution_ProcessID"), ("ThreadID", "Execution_ThreadID"))
_INT_FIELDS = frozenset({"Execution_ProcessID", "Execution_ThreadID"})


def _copy_attributes(
    flat: Event, system: Mapping[str, object], element: str, names: tuple[tuple[str, str], ...]
) -> None:
    node = system.get(element)
    if type(node) is dict:
        attributes = node.get("#attributes")
    else:  # evtx_dump --separate-json-attributes writes <element>_attributes beside <element>
        attributes = system.get(element + "_attributes")
    if type(attributes) is not dict:
        return
    for key, name in names:
        if key in attributes:
            value = attributes[key]
            flat[name] = as_int(value) if name in _INT_FIELDS else value


def flatten_evtx_json(record: Mapping[str, object]) -> Event:
    """Flatten one record in the ``evtx`` JSON form, ``{"Event": {"System": ...}}``."""
    inner = record.get("Event", record)
    if not isinstance(inner, Mapping):
        raise ValueError("the record's Event is not an object")
    system = inner.get("System")
    if not isinstance(system, Mapping):
        raise ValueError("the record has no System element")
    flat = flatten_windows(system, inner.get("EventData"), inner.get("UserData"))
    _add_message(flat, inner.get("RenderingInfo"))
    return flat


def _add_message(flat: Event, rendering: object) -> None:
    if type(rendering) is dict:
        message = rendering.get("Message")
        if type(message) is str:
            flat["message"] = message


def add_event_data(flat: Event, data: object) -> None:
    """Add the fields of an EventData element to ``flat`` (see the module docstring)."""
    if type(data) is not dict:
        if data is not None:
            _put(flat, "EventData", scalar_text(data), "EventData")
        return
    if (
        "Data" not in data
        and "#attributes" not in data
        and "#text" not in data
        and flat.keys().isdisjoint(data)
        and _NESTED.isdisjoint(map(type, data.values()))
        and not any(" " in key for key in data)
    ):
        flat.update(data)  # the usual case: named scalars only, no clash
        return
    for key, value in data.items():
        if key == "#attributes":
            continue  # the template's Name, not a field
        if key == "#text" or (key == "Data" and type(value) in _NESTED):
            if type(value) is dict:
                value = value.get("#text")
            flat["Data"] = _text_list(value)
        elif type(value) is dict:
            add_leaves(flat, value, key)
        elif type(value) is list:
            _put(flat, key, flatten_list(value), "EventData")
        else:
            _put(flat, key, value, "EventData")


def add_leaves(flat: Event, node: object, parent: str) -> None:
    """Add every leaf under ``node`` (UserData, nested elements) to ``flat`` by its own name."""
    if type(node) is not dict:
        if node is not None:
            _put(flat, parent, flatten_list(node) if type(node) is list else node, parent)
        return
    for key, value in node.items():
        if key == "#attributes" or key.endswith("_attributes"):
            if type(value) is dict:
                owner = parent if key == "#attributes" else key[: -len("_attributes")]
                for name, attribute in value.items():
                    if not name.startswith("xmlns"):
                        _put(flat, name, attribute, owner)
        elif key == "#text":
            _put(flat, parent, flatten_list(value) if type(value) is list else value, parent)
        elif key == "xml_name":
            continue  # Winlogbeat's name of the UserData element
        elif type(value) is dict:
            add_leaves(flat, value, key)
        elif type(value) is list:
            _put(flat, key, flatten_list(value), parent)
        else:
            _put(flat, key, value, parent)


def _put(flat: Event, name: str, value: object, parent: str) -> None:
    if " " in name:  # Sigma names fields as in the source with the spaces taken out
        name = name.replace(" ", "")
    if name not in flat:
        flat[name] = value
        return
    other = f"{parent}_{name}"
    if other not in flat:
        flat[other] = value


def scalar_text(value: object) -> str:
    """Render a scalar the way the event XML shows it (``true``, ``12``, empty for null)."""
    if type(value) is str:
        return value
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _text_list(value: object) -> list[str]:
    if type(value) is list:
        return [scalar_text(item) for item in value]
    return [scalar_text(value)]


def as_int(value: object) -> object:
    """Return ``value`` as an int when it spells one (``12``, ``"12"``, ``"0x1f4"``), else as is."""
    if type(value) is int:
        return value
    if type(value) is str:
        text = value.strip()
        try:
            return int(text, 16) if text[:2] in ("0x", "0X") else int(text)
        except ValueError:
            return value
    return value


# ----------------------------------------------------------------------------- datasets

_SHORT_DATASETS = {
    "security": "windows.security",
    "system": "windows.system",
    "application": "windows.application",
    "microsoft-windows-sysmon/operational": "windows.sysmon",
    "microsoft-windows-powershell/operational": "windows.powershell",
    "windows powershell": "windows.powershell_classic",
}
_UNSAFE = re.compile(r"[^a-z0-9_.]")


def windows_dataset(channel: object) -> str:
    """Return the dataset of a Windows channel: ``windows.security``, ``windows.sysmon``, ...

    The common channels have short names; any other becomes ``windows.`` and the channel
    lowercased with ``/``, ``-``, spaces (and any other character unsafe in a directory name)
    turned into ``_``. An event without a channel is ``windows.unknown``.
    """
    if not isinstance(channel, str) or not channel.strip():
        return "windows.unknown"
    lowered = channel.strip().lower()
    short = _SHORT_DATASETS.get(lowered)
    if short is not None:
        return short
    return "windows." + _UNSAFE.sub("_", lowered)


# ----------------------------------------------------------------------------- ECS derivations


def basename(path: str) -> str:
    """Return the last component of a Windows or POSIX path."""
    return path.rpartition("\\")[2].rpartition("/")[2]


def _process_names(event: Event) -> None:
    exe = event.get("process.executable")
    if type(exe) is str:
        event["process.name"] = basename(exe)
    parent = event.get("process.parent.executable")
    if type(parent) is str:
        event["process.parent.name"] = basename(parent)


def _set_user(event: Event, value: object) -> None:
    if type(value) is not str or value in _MISSING:
        return
    domain, sep, name = value.partition("\\")
    if sep:
        event["user.name"] = name
        if domain:
            event["user.domain"] = domain
    else:
        event["user.name"] = value


def _sysmon_user(event: Event) -> None:
    _set_user(event, event.get("User"))


def _hashes(prefix: str) -> Derive:
    """Split ``Hashes`` (or ``Hash``), ``SHA1=..,MD5=..,SHA256=..``, into ``<prefix>.<algo>``."""
    names = {algo: f"{prefix}.{algo.lower()}" for algo in ("MD5", "SHA1", "SHA256")}

    def derive(event: Event) -> None:
        value = event.get("Hashes")
        if value is None:
            value = event.get("Hash")
        if type(value) is not str:
            return
        for part in value.split(","):
            algo, sep, digest = part.partition("=")
            field = names.get(algo.strip().upper())
            if field is not None and digest.strip():
                event[field] = digest.strip().lower()

    return derive


def _file_parts(event: Event) -> None:
    path = event.get("file.path")
    if type(path) is not str:
        return
    name = basename(path)
    event["file.name"] = name
    directory = path[: len(path) - len(name)].rstrip("\\/")
    if directory:
        event["file.directory"] = directory
    stem, dot, extension = name.rpartition(".")
    if dot and stem and extension:
        event["file.extension"] = extension.lower()


def _network(event: Event) -> None:
    protocol = event.get("Protocol")
    if type(protocol) is str and protocol not in _MISSING:
        event["network.transport"] = protocol.lower()
    initiated = event.get("Initiated")
    if initiated is not None and initiated != "":
        outbound = initiated is True or (type(initiated) is str and initiated.lower() == "true")
        event["network.direction"] = "egress" if outbound else "ingress"


# Windows DNS status codes (winerror.h DNS_ERROR_RCODE_*) as DNS response codes.
_DNS_STATUS = {
    "0": "NOERROR",
    "9001": "FORMERR",
    "9002": "SERVFAIL",
    "9003": "NXDOMAIN",
    "9004": "NOTIMP",
    "9005": "REFUSED",
    "9501": "NOERROR",  # DNS_INFO_NO_RECORDS: the name exists, without data of that type
}


def dns_answers(results: str) -> list[str]:
    """Split Sysmon's ``QueryResults`` (``type:  5 cdn.example;::ffff:192.0.2.1;``) into data."""
    answers: list[str] = []
    for part in results.split(";"):
        item = part.strip()
        if not item or item == "-":
            continue
        if item.startswith("type:"):
            words = item.split()
            if len(words) >= 3:
                answers.append(words[-1])
            continue
        answers.append(item[7:] if item.startswith("::ffff:") else item)
    return answers


def _dns(event: Event) -> None:
    name = event.get("QueryName")
    if type(name) is str and name:
        event["dns.question.name"] = name
    results = event.get("QueryResults")
    if type(results) is str:
        event["dns.answers.data"] = dns_answers(results)
    status = event.get("QueryStatus")
    if status is not None and status != "":
        code = scalar_text(status)
        event["dns.response_code"] = _DNS_STATUS.get(code, code)
    event["network.protocol"] = "dns"


def _registry(event: Event) -> None:
    path = event.get("TargetObject")
    if type(path) is not str or not path:
        return
    event["registry.path"] = path
    rest = path.partition("\\")[2]  # without the hive
    if event.get("EventType") == "SetValue":
        key, _, value = rest.rpartition("\\")
        event["registry.key"] = key
        event["registry.value"] = value
        details = event.get("Details")
        if details is not None:
            event["registry.data.strings"] = [scalar_text(details)]
    else:
        event["registry.key"] = rest


_VALID_IPS: dict[str, bool] = {}


def _is_ip(text: str) -> bool:
    known = _VALID_IPS.get(text)
    if known is None:
        try:
            ipaddress.ip_address(text.partition("%")[0])
            known = True
        except ValueError:
            known = False
        if len(_VALID_IPS) > 65536:
            _VALID_IPS.clear()
        _VALID_IPS[text] = known
    return known


def _source_address(event: Event) -> None:
    address = event.get("IpAddress")
    if type(address) is str and address not in _MISSING:
        text = address[7:] if address.startswith("::ffff:") else address
        if _is_ip(text):
            event["source.ip"] = text
    port = as_int(event.get("IpPort"))
    if type(port) is int and port > 0:
        event["source.port"] = port


def _share_path(event: Event) -> None:
    parts = [
        part
        for part in (event.get("ShareLocalPath"), event.get("RelativeTargetName"))
        if type(part) is str and part not in _MISSING
    ]
    if len(parts) == 2:
        event["file.path"] = parts[0].rstrip("\\") + "\\" + parts[1].lstrip("\\")
    elif parts:
        event["file.path"] = parts[0]


def _powershell_context(event: Event) -> None:
    info = event.get("ContextInfo")
    if type(info) is not str:
        return
    for line in info.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        key = key.strip()
        if key == "Host Application" and value.strip():
            event["process.command_line"] = value.strip()
        elif key == "User":
            _set_user(event, value.strip())


def _powershell_classic(event: Event) -> None:
    data = event.get("Data")
    if type(data) is not list:
        return
    for item in data:
        if type(item) is str and "HostApplication=" in item:
            for line in item.splitlines():
                key, _, value = line.strip().partition("=")
                if key == "HostApplication" and value:
                    event["process.command_line"] = value
                elif key == "UserId" and value:
                    _set_user(event, value)
            return


_OUTCOMES: dict[str, str | None] = {}


def _audit_outcome(event: Event) -> None:
    """Security events: ``event.outcome`` from the Audit Success/Failure keyword bits."""
    keywords = event.get("Keywords")
    if type(keywords) is not str:
        return
    if keywords not in _OUTCOMES:
        try:
            bits = int(keywords, 16)
        except ValueError:
            bits = 0
        failure, success = bits & 0x10000000000000, bits & 0x20000000000000
        outcome = "failure" if failure else "success" if success else None
        if len(_OUTCOMES) > 1024:
            _OUTCOMES.clear()
        _OUTCOMES[keywords] = outcome
    outcome = _OUTCOMES[keywords]
    if outcome is not None:
        event["event.outcome"] = outcome


# ----------------------------------------------------------------------------- ECS rules


@dataclass(frozen=True, slots=True)
class EcsRule:
    """How one kind of Windows event maps to ECS.

    ``copy`` and ``ints`` are ``(ecs field, native field)`` pairs: a native value that is
    missing, empty or ``-`` is skipped; ``ints`` keeps only values that read as integers
    (decimal or ``0x`` hex). ``derive`` functions then add what needs computing.
    """

    category: tuple[str, ...]
    type: tuple[str, ...]
    action: str | None = None
    copy: tuple[tuple[str, str], ...] = ()
    ints: tuple[tuple[str, str], ...] = ()
    derive: tuple[Derive, ...] = ()


def _rule(kind: str, action: str, fields: str = "", *derive: Derive) -> EcsRule:
    """Build a rule from ``"cat1,cat2/type1,type2"`` and ``"ecs=Native ecs:int=Native ..."``."""
    category, _, types = kind.partition("/")
    copy: list[tuple[str, str]] = []
    ints: list[tuple[str, str]] = []
    for pair in fields.split():
        target, _, source = pair.partition("=")
        if target.endswith(":int"):
            ints.append((target[: -len(":int")], source))
        else:
            copy.append((target, source))
    return EcsRule(
        tuple(category.split(",")), tuple(types.split(",")), action, tuple(copy), tuple(ints),
        derive,
    )  # fmt: skip


_PROCESS = "process.executable=Image process.entity_id=ProcessGuid process.pid:int=ProcessId"
_SOURCE_PROCESS = (
    "process.executable=SourceImage process.entity_id=SourceProcessGuid "
    "process.pid:int=SourceProcessId"
)
_FILE = f"{_PROCESS} file.path=TargetFilename"
_SUBJECT = "user.name=SubjectUserName user.domain=SubjectDomainName user.id=SubjectUserSid"
_TARGET = "user.name=TargetUserName user.domain=TargetDomainName user.id=TargetUserSid"
_LOGON_PROCESS = "process.executable=ProcessName process.pid:int=ProcessId"
_SYSMON = (_process_names, _sysmon_user)
_FILE_HASHES = _hashes("file.hash")
_REGISTRY = _rule("registry/change", "registry-changed", _PROCESS, *_SYSMON, _registry)
_FILE_DELETED = _rule("file/deletion", "file-deleted", _FILE, *_SYSMON, _file_parts, _FILE_HASHES)
_LOGON = (_source_address, _process_names)
_USER_CHANGE = f"{_SUBJECT} user.target.name=TargetUserName"
_GROUP_CHANGE = (
    f"{_SUBJECT} group.name=TargetUserName group.domain=TargetDomainName group.id=TargetSid"
)

ECS_RULES: dict[tuple[str, int], EcsRule] = {
    ("windows.sysmon", 1): _rule(
        "process/start",
        "process-created",
        f"{_PROCESS} process.command_line=CommandLine process.working_directory=CurrentDirectory "
        "process.parent.executable=ParentImage process.parent.command_line=ParentCommandLine "
        "process.parent.entity_id=ParentProcessGuid process.parent.pid:int=ParentProcessId",
        *_SYSMON,
        _hashes("process.hash"),
    ),
    ("windows.sysmon", 2): _rule("file/change", "file-time-changed", _FILE, *_SYSMON, _file_parts),
    ("windows.sysmon", 3): _rule(
        "network/connection,start",
        "network-connection",
        f"{_PROCESS} source.ip=SourceIp source.domain=SourceHostname source.port:int=SourcePort "
        "destination.ip=DestinationIp destination.domain=DestinationHostname "
        "destination.port:int=DestinationPort",
        *_SYSMON,
        _network,
    ),
    ("windows.sysmon", 5): _rule("process/end", "process-terminated", _PROCESS, *_SYSMON),
    ("windows.sysmon", 6): _rule(
        "driver/start", "driver-loaded", "file.path=ImageLoaded", _file_parts, _FILE_HASHES
    ),
    ("windows.sysmon", 7): _rule(
        "library/start",
        "image-loaded",
        f"{_PROCESS} file.path=ImageLoaded",
        *_SYSMON,
        _file_parts,
        _FILE_HASHES,
    ),
    ("windows.sysmon", 8): _rule(
        "process/change", "create-remote-thread", _SOURCE_PROCESS, *_SYSMON
    ),
    ("windows.sysmon", 10): _rule("process/access", "process-accessed", _SOURCE_PROCESS, *_SYSMON),
    ("windows.sysmon", 11): _rule("file/creation", "file-created", _FILE, *_SYSMON, _file_parts),
    ("windows.sysmon", 12): _REGISTRY,
    ("windows.sysmon", 13): _REGISTRY,
    ("windows.sysmon", 14): _REGISTRY,
    ("windows.sysmon", 15): _rule(
        "file/creation", "file-stream-created", _FILE, *_SYSMON, _file_parts, _FILE_HASHES
    ),
    ("windows.sysmon", 17): _rule(
        "file/creation", "pipe-created", f"{_PROCESS} file.name=PipeName", *_SYSMON
    ),
    ("windows.sysmon", 18): _rule(
        "file/access", "pipe-connected", f"{_PROCESS} file.name=PipeName", *_SYSMON
    ),
    ("windows.sysmon", 22): _rule("network/protocol,info", "dns-query", _PROCESS, *_SYSMON, _dns),
    ("windows.sysmon", 23): _FILE_DELETED,
    ("windows.sysmon", 25): _rule("process/change", "process-tampering", _PROCESS, *_SYSMON),
    ("windows.sysmon", 26): _FILE_DELETED,
    ("windows.sysmon", 29): _rule(
        "file/creation", "file-executable-detected", _FILE, *_SYSMON, _file_parts, _FILE_HASHES
    ),
    ("windows.security", 1102): _rule("iam/admin,change", "audit-log-cleared", _SUBJECT),
    ("windows.security", 4624): _rule(
        "authentication/start", "logged-in", f"{_TARGET} {_LOGON_PROCESS}", *_LOGON
    ),
    ("windows.security", 4625): _rule(
        "authentication/start", "logon-failed", f"{_TARGET} {_LOGON_PROCESS}", *_LOGON
    ),
    ("windows.security", 4634): _rule("authentication/end", "logged-out", _TARGET),
    ("windows.security", 4647): _rule("authentication/end", "logged-out", _TARGET),
    ("windows.security", 4648): _rule(
        "authentication/start",
        "logged-in-explicit",
        f"{_SUBJECT} user.target.name=TargetUserName {_LOGON_PROCESS}",
        *_LOGON,
    ),
    ("windows.security", 4672): _rule("iam/admin", "logged-in-special", _SUBJECT),
    ("windows.security", 4688): _rule(
        "process/start",
        "created-process",
        f"{_SUBJECT} process.executable=NewProcessName process.pid:int=NewProcessId "
        "process.command_line=CommandLine process.parent.executable=ParentProcessName "
        "process.parent.pid:int=ProcessId",
        _process_names,
    ),
    ("windows.security", 4689): _rule(
        "process/end", "exited-process", f"{_SUBJECT} {_LOGON_PROCESS}", _process_names
    ),
    ("windows.security", 4697): _rule(
        "iam,configuration/admin,change",
        "service-installed",
        f"{_SUBJECT} service.name=ServiceName",
    ),
    ("windows.security", 4698): _rule(
        "iam,configuration/creation,admin", "scheduled-task-created", _SUBJECT
    ),
    ("windows.security", 4699): _rule(
        "iam,configuration/deletion,admin", "scheduled-task-deleted", _SUBJECT
    ),
    ("windows.security", 4702): _rule(
        "iam,configuration/change,admin", "scheduled-task-updated", _SUBJECT
    ),
    ("windows.security", 4720): _rule("iam/user,creation", "added-user-account", _USER_CHANGE),
    ("windows.security", 4722): _rule("iam/user,change", "enabled-user-account", _USER_CHANGE),
    ("windows.security", 4725): _rule("iam/user,change", "disabled-user-account", _USER_CHANGE),
    ("windows.security", 4726): _rule("iam/user,deletion", "deleted-user-account", _USER_CHANGE),
    ("windows.security", 4738): _rule("iam/user,change", "modified-user-account", _USER_CHANGE),
    ("windows.security", 4728): _rule("iam/group,change", "added-group-member", _GROUP_CHANGE),
    ("windows.security", 4732): _rule("iam/group,change", "added-group-member", _GROUP_CHANGE),
    ("windows.security", 4756): _rule("iam/group,change", "added-group-member", _GROUP_CHANGE),
    ("windows.security", 5140): _rule(
        "network,file/access",
        "network-share-object-accessed",
        f"{_SUBJECT} file.path=ShareLocalPath",
        _source_address,
    ),
    ("windows.security", 5145): _rule(
        "network,file/access",
        "network-share-object-access-checked",
        _SUBJECT,
        _source_address,
        _share_path,
        _file_parts,
    ),
    ("windows.system", 104): _rule(
        "iam/admin,change",
        "audit-log-cleared",
        "user.name=SubjectUserName user.domain=SubjectDomainName",
    ),
    ("windows.system", 7045): _rule(
        "iam,configuration/admin,change", "service-installed", "service.name=ServiceName"
    ),
    ("windows.powershell", 4103): _rule(
        "process/info", "execute-pipeline", "", _powershell_context
    ),
    ("windows.powershell", 4104): _rule(
        "process/info", "execute-script-block", "file.path=Path", _file_parts
    ),
    ("windows.powershell_classic", 400): _rule(
        "process/start", "engine-started", "", _powershell_classic
    ),
    ("windows.powershell_classic", 403): _rule(
        "process/end", "engine-stopped", "", _powershell_classic
    ),
    ("windows.powershell_classic", 600): _rule(
        "process/info", "provider-started", "", _powershell_classic
    ),
    ("windows.powershell_classic", 800): _rule(
        "process/info", "pipeline-executed", "", _powershell_classic
    ),
}
"""ECS mapping of the well-known events, by (dataset of the channel, EventID)."""

_DATASET_DERIVE: dict[str, tuple[Derive, ...]] = {"windows.security": (_audit_outcome,)}
_LEVELS = {
    0: "information",
    1: "critical",
    2: "error",
    3: "warning",
    4: "information",
    5: "verbose",
}


@dataclass(frozen=True, slots=True)
class _Plan:
    """What follows from a (channel, event id) pair alone."""

    dataset: str
    code: str | None
    rule: EcsRule | None
    derive: tuple[Derive, ...]


_PLANS: dict[tuple[object, object], _Plan] = {}


def _plan(channel: object, event_id: object) -> _Plan:
    plan = _PLANS.get((channel, event_id))
    if plan is not None:
        return plan
    dataset = windows_dataset(channel)
    rule = ECS_RULES.get((dataset, event_id)) if type(event_id) is int else None
    code = None if event_id is None else scalar_text(event_id)
    derive = (*(rule.derive if rule else ()), *_DATASET_DERIVE.get(dataset, ()))
    plan = _Plan(dataset, code, rule, derive)
    if len(_PLANS) >= 4096:
        _PLANS.clear()
    _PLANS[(channel, event_id)] = plan
    return plan


def _apply_rule(flat: Event, plan: _Plan) -> None:
    rule = plan.rule
    if rule is not None:
        flat[ev.CATEGORY] = list(rule.category)
        flat[ev.TYPE] = list(rule.type)
        if rule.action is not None:
            flat["event.action"] = rule.action
        get = flat.get
        for target, source in rule.copy:
            value = get(source)
            if value is None or value == "" or value == "-":
                continue
            flat[target] = value if type(value) is str else scalar_text(value)
        for target, source in rule.ints:
            value = get(source)
            if type(value) is not int:
                value = as_int(value)
                if type(value) is not int:
                    continue
            flat[target] = value
    for derive in plan.derive:
        derive(flat)


def event_timestamp(value: object) -> datetime | None:
    """Parse a SystemTime (``2025-11-27T07:40:10.1653240Z``) as a UTC datetime."""
    if type(value) is str:
        try:
            stamp = datetime.fromisoformat(value)
        except ValueError:
            return parse_timestamp(value)
        if stamp.tzinfo is None:
            return stamp.replace(tzinfo=UTC)
        return stamp if stamp.utcoffset() == _ZERO else stamp.astimezone(UTC)
    return parse_timestamp(value)


def map_ecs(flat: Event, dataset: str | None = None) -> Event:
    """Add the envelope and ECS fields to a flat Windows event (in place; returns it).

    ``dataset`` forces ``event.dataset``; otherwise it comes from the channel.
    """
    get = flat.get
    plan = _plan(get("Channel"), get("EventID"))
    flat[ev.DATASET] = dataset or plan.dataset
    flat[ev.KIND] = "event"
    stamp = event_timestamp(get("TimeCreated"))
    if stamp is not None:
        flat[ev.TIMESTAMP] = stamp
    if plan.code is not None:
        flat["event.code"] = plan.code
    if get("Computer") is not None:
        flat["host.name"] = flat["Computer"]
    if get("Provider_Name") is not None:
        flat["event.provider"] = flat["Provider_Name"]
    level = get("Level")
    if type(level) is int and level in _LEVELS:
        flat["log.level"] = _LEVELS[level]
    _apply_rule(flat, plan)
    return flat


def windows_event(record: Mapping[str, object], dataset: str | None = None) -> Event:
    """Flatten an evtx-JSON record and add its ECS fields (no ``event.id``/``event.original``)."""
    inner = record.get("Event", record)
    if type(inner) is dict:
        try:
            return _usual_event(inner, dataset)
        except (KeyError, TypeError, ValueError, AttributeError):
            pass  # not the usual shape: the general path below handles (or rejects) it
    return map_ecs(flatten_evtx_json(record), dataset)


def _usual_event(inner: dict[str, object], dataset: str | None) -> Event:
    """:func:`windows_event` for the usual shape of a manifest provider's record.

    Raises (KeyError, TypeError, ValueError) as soon as the record departs from that shape;
    the caller then takes the general path, which gives the same result for usual records.
    """
    system: Any = inner["System"]  # decoded JSON of an assumed shape: departures raise
    provider = system["Provider"]["#attributes"]
    name = provider["Name"]
    event_id = system["EventID"]
    version = system["Version"]
    level = system["Level"]
    task = system["Task"]
    opcode = system["Opcode"]
    record_id = system["EventRecordID"]
    execution = system["Execution"]["#attributes"]
    process_id = execution["ProcessID"]
    thread_id = execution["ThreadID"]
    channel = system["Channel"]
    computer = system["Computer"]
    if type(event_id) is dict:  # classic providers: {"#attributes": {Qualifiers}, "#text"}
        event_id = event_id["#text"]
    try:  # a cheap type check: the sum raises TypeError unless all are ints
        _ = event_id + version + level + task + opcode + record_id + process_id + thread_id + 0
    except TypeError:  # some renderings give System numbers as strings
        numbers: Any = [
            as_int(value)
            for value in (event_id, version, level, task, opcode, record_id, process_id, thread_id)
        ]
        event_id, version, level, task, opcode, record_id, process_id, thread_id = numbers
        _ = event_id + version + level + task + opcode + record_id + process_id + thread_id + 0
    _ = channel + computer + name + ""  # and this unless all are strings
    time_created = system["TimeCreated"]["#attributes"]["SystemTime"]
    stamp: datetime | None = datetime.fromisoformat(time_created)
    if stamp is None or stamp.tzinfo is not UTC:
        stamp = event_timestamp(time_created)
    plan = _PLANS.get((channel, event_id)) or _plan(channel, event_id)
    flat: Event = {
        "EventID": event_id,
        "Provider_Name": name,
        "Provider_Guid": provider["Guid"],
        "Version": version,
        "Level": level,
        "Task": task,
        "Opcode": opcode,
        "Keywords": system["Keywords"],
        "TimeCreated": time_created,
        "EventRecordID": record_id,
        "Execution_ProcessID": process_id,
        "Execution_ThreadID": thread_id,
        "Channel": channel,
        "Computer": computer,
        ev.DATASET: dataset or plan.dataset,
        ev.KIND: "event",
        ev.TIMESTAMP: stamp,
        "event.code": plan.code,
        "host.name": computer,
        "event.provider": name,
    }
    if len(provider) != 2:
        if len(provider) != 3:
            raise KeyError("Provider")
        flat["Provider_EventSourceName"] = provider["EventSourceName"]
    correlation = system["Correlation"]
    if correlation is not None:
        attributes = correlation["#attributes"]
        if "ActivityID" in attributes:
            flat["ActivityID"] = attributes["ActivityID"]
        if "RelatedActivityID" in attributes:
            flat["RelatedActivityID"] = attributes["RelatedActivityID"]
    security = system["Security"]
    if security is not None:
        flat["SecurityUserID"] = security["#attributes"]["UserID"]
    if level in _LEVELS:
        flat["log.level"] = _LEVELS[level]
    event_data = inner.get("EventData")
    if event_data is not None:
        add_event_data(flat, event_data)
    user_data = inner.get("UserData")
    if user_data is not None:
        add_leaves(flat, user_data, "UserData")
    if "RenderingInfo" in inner:
        _add_message(flat, inner["RenderingInfo"])
    _apply_rule(flat, plan)
    return flat


def record_position(flat: Event, fallback: int | str) -> int | str:
    """Return the position that makes a JSON record's ``event.id``.

    ``EventRecordID`` is unique only within one channel of one computer (forwarded and merged
    logs mix several), so the position is ``Computer/Channel/EventRecordID``; a record without
    one falls back to ``fallback`` (its offset in the input).
    """
    record_id = flat.get("EventRecordID")
    if type(record_id) is int:
        return f"{flat.get('Computer')}/{flat.get('Channel')}/{record_id}"
    return fallback
