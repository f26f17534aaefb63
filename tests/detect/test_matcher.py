"""The streaming matcher against the Sigma specification: one row per behaviour.

Each case is a detection block, an event and whether the rule must match. Rules are written as
YAML and loaded through pySigma, exactly as users' rules are.
"""

from __future__ import annotations

import base64
import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tocsin.detect.engine import Engine
from tocsin.detect.evaluate import build

SYSMON = {"event.dataset": "windows.sysmon", "EventID": 1}


def rule_yaml(
    detection: str, *, logsource: str = "category: process_creation\n  product: windows"
) -> str:
    body = textwrap.indent(textwrap.dedent(detection).strip(), "  ")
    return (
        "title: case\n"
        "id: 9a0c5c2e-1111-4a7b-9c3d-000000000001\n"
        "status: test\n"
        f"logsource:\n  {logsource}\n"
        f"detection:\n{body}\n"
        "level: high\n"
    )


def engine_for(
    tmp_path: Path, text: str, placeholders: dict[str, list[str]] | None = None
) -> Engine:
    path = tmp_path / "rule.yml"
    path.write_text(text, encoding="utf-8")
    engine = Engine.load([path], placeholders=placeholders)
    errors = [i for i in engine.issues if i.severity == "error"]
    assert not errors, errors
    assert len(engine.compiled) == 1
    return engine


def matches(engine: Engine, event: dict[str, Any]) -> bool:
    found = engine.match([{**SYSMON, **event}])
    # the prefiltered plan and a plain evaluation of the condition must agree
    plain = build(engine.compiled[0].detection.condition)({**SYSMON, **event})
    assert bool(found) == plain, "prefilter disagrees with the condition"
    return bool(found)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


CASES: list[tuple[str, str, dict[str, Any], bool]] = [
    # plain values: whole-value equality, case-insensitive
    (
        "equal",
        "sel:\n  Image: 'C:\\Windows\\cmd.exe'\ncondition: sel",
        {"Image": "c:\\windows\\CMD.EXE"},
        True,
    ),
    (
        "equal is whole value",
        "sel:\n  Image: 'cmd.exe'\ncondition: sel",
        {"Image": "C:\\cmd.exe"},
        False,
    ),
    ("list is or", "sel:\n  Image: [a.exe, b.exe]\ncondition: sel", {"Image": "B.exe"}, True),
    (
        "map is and",
        "sel:\n  Image: a.exe\n  User: bob\ncondition: sel",
        {"Image": "a.exe", "User": "eve"},
        False,
    ),
    (
        "list of maps is or",
        "sel:\n  - Image: a.exe\n  - User: bob\ncondition: sel",
        {"User": "BOB"},
        True,
    ),
    # wildcards and escapes
    (
        "star inside",
        "sel:\n  CommandLine: 'net * user'\ncondition: sel",
        {"CommandLine": "NET localgroup user"},
        True,
    ),
    ("question mark", "sel:\n  CommandLine: 'a?c'\ncondition: sel", {"CommandLine": "abc"}, True),
    (
        "question mark is one char",
        "sel:\n  CommandLine: 'a?c'\ncondition: sel",
        {"CommandLine": "abbc"},
        False,
    ),
    (
        "escaped star is literal",
        "sel:\n  CommandLine: 'a\\*c'\ncondition: sel",
        {"CommandLine": "abc"},
        False,
    ),
    (
        "escaped star matches star",
        "sel:\n  CommandLine: 'a\\*c'\ncondition: sel",
        {"CommandLine": "a*c"},
        True,
    ),
    (
        "lone star is any value",
        "sel:\n  CommandLine: '*'\ncondition: sel",
        {"CommandLine": ""},
        True,
    ),
    ("lone star needs the field", "sel:\n  CommandLine: '*'\ncondition: sel", {}, False),
    (
        "underscore is literal",
        "sel:\n  CommandLine|contains: 'a_b'\ncondition: sel",
        {"CommandLine": "xaxbx"},
        False,
    ),
    (
        "percent is literal",
        "sel:\n  CommandLine|contains: '100%'\ncondition: sel",
        {"CommandLine": "1000"},
        False,
    ),
    # contains / startswith / endswith / all
    (
        "contains",
        "sel:\n  CommandLine|contains: WhoAmI\ncondition: sel",
        {"CommandLine": "cmd /c whoami /all"},
        True,
    ),
    (
        "startswith",
        "sel:\n  Image|startswith: 'C:\\Temp\\'\ncondition: sel",
        {"Image": "c:\\temp\\x.exe"},
        True,
    ),
    (
        "startswith no",
        "sel:\n  Image|startswith: 'C:\\Temp\\'\ncondition: sel",
        {"Image": "D:\\c:\\temp\\x"},
        False,
    ),
    (
        "endswith",
        "sel:\n  Image|endswith: '\\rundll32.exe'\ncondition: sel",
        {"Image": "C:\\W\\RUNDLL32.EXE"},
        True,
    ),
    (
        "endswith no",
        "sel:\n  Image|endswith: '\\rundll32.exe'\ncondition: sel",
        {"Image": "rundll32.exe.bak"},
        False,
    ),
    (
        "contains all yes",
        "sel:\n  CommandLine|contains|all: [' -enc ', 'bypass']\ncondition: sel",
        {"CommandLine": "ps -ENC x BYPASS"},
        True,
    ),
    (
        "contains all no",
        "sel:\n  CommandLine|contains|all: [' -enc ', 'bypass']\ncondition: sel",
        {"CommandLine": "ps -enc x"},
        False,
    ),
    # cased
    ("cased yes", "sel:\n  CommandLine|cased: 'Foo'\ncondition: sel", {"CommandLine": "Foo"}, True),
    ("cased no", "sel:\n  CommandLine|cased: 'Foo'\ncondition: sel", {"CommandLine": "foo"}, False),
    (
        "contains cased",
        "sel:\n  CommandLine|contains|cased: 'AbC'\ncondition: sel",
        {"CommandLine": "xabcx"},
        False,
    ),
    # regular expressions: case-sensitive by default, unanchored, with flags
    (
        "re",
        "sel:\n  CommandLine|re: 'a[0-9]+b'\ncondition: sel",
        {"CommandLine": "xx a123b yy"},
        True,
    ),
    (
        "re is case-sensitive",
        "sel:\n  CommandLine|re: 'ABC'\ncondition: sel",
        {"CommandLine": "abc"},
        False,
    ),
    ("re i flag", "sel:\n  CommandLine|re|i: 'ABC'\ncondition: sel", {"CommandLine": "abc"}, True),
    (
        "re m flag",
        "sel:\n  CommandLine|re|m: '^two$'\ncondition: sel",
        {"CommandLine": "one\ntwo\nthree"},
        True,
    ),
    (
        "re without m",
        "sel:\n  CommandLine|re: '^two$'\ncondition: sel",
        {"CommandLine": "one\ntwo\nthree"},
        False,
    ),
    (
        "re s flag",
        "sel:\n  CommandLine|re|s: 'one.two'\ncondition: sel",
        {"CommandLine": "one\ntwo"},
        True,
    ),
    (
        "re without s",
        "sel:\n  CommandLine|re: 'one.two'\ncondition: sel",
        {"CommandLine": "one\ntwo"},
        False,
    ),
    # windash: - and / and the Unicode dashes
    (
        "windash slash",
        "sel:\n  CommandLine|windash|contains: ' -exec '\ncondition: sel",
        {"CommandLine": "x /exec y"},
        True,
    ),
    (
        "windash en dash",
        "sel:\n  CommandLine|windash|contains: ' -exec '\ncondition: sel",
        {"CommandLine": "x \u2013exec y"},
        True,
    ),
    (
        "windash dash",
        "sel:\n  CommandLine|windash|contains: ' -exec '\ncondition: sel",
        {"CommandLine": "x -exec y"},
        True,
    ),
    (
        "windash no",
        "sel:\n  CommandLine|windash|contains: ' -exec '\ncondition: sel",
        {"CommandLine": "x exec y"},
        False,
    ),
    # base64 and base64offset
    (
        "base64",
        "sel:\n  CommandLine|base64: 'http://'\ncondition: sel",
        {"CommandLine": b64("http://")},
        True,
    ),
    (
        "base64offset 0",
        "sel:\n  CommandLine|base64offset|contains: 'Invoke-'\ncondition: sel",
        {"CommandLine": "-e " + b64("Invoke-Mimikatz")},
        True,
    ),
    (
        "base64offset 1",
        "sel:\n  CommandLine|base64offset|contains: 'Invoke-'\ncondition: sel",
        {"CommandLine": "-e " + b64("xInvoke-Mimikatz")},
        True,
    ),
    (
        "base64offset 2",
        "sel:\n  CommandLine|base64offset|contains: 'Invoke-'\ncondition: sel",
        {"CommandLine": "-e " + b64("xyInvoke-Mimikatz")},
        True,
    ),
    (
        "base64offset no",
        "sel:\n  CommandLine|base64offset|contains: 'Invoke-'\ncondition: sel",
        {"CommandLine": b64("nothing here")},
        False,
    ),
    # wide / utf16 (with base64offset, as SigmaHQ uses them)
    (
        "wide",
        "sel:\n  CommandLine|wide|base64offset|contains: 'ping'\ncondition: sel",
        {"CommandLine": base64.b64encode("ping x".encode("utf-16-le")).decode()},
        True,
    ),
    (
        "utf16 with bom",
        "sel:\n  CommandLine|utf16|base64offset|contains: 'ping'\ncondition: sel",
        {"CommandLine": base64.b64encode("ping".encode("utf-16")).decode()},
        True,
    ),
    (
        "utf16be",
        "sel:\n  CommandLine|utf16be|base64offset|contains: 'ping'\ncondition: sel",
        {"CommandLine": base64.b64encode("ping".encode("utf-16-be")).decode()},
        True,
    ),
    # numbers and comparisons
    ("number equals int", "sel:\n  LogonType: 3\ncondition: sel", {"LogonType": 3}, True),
    ("number equals text", "sel:\n  LogonType: 3\ncondition: sel", {"LogonType": "3"}, True),
    ("number differs", "sel:\n  LogonType: 3\ncondition: sel", {"LogonType": 10}, False),
    ("text equals number", "sel:\n  LogonType: '3'\ncondition: sel", {"LogonType": 3}, True),
    ("gt", "sel:\n  Size|gt: 100\ncondition: sel", {"Size": 101}, True),
    ("gt equal", "sel:\n  Size|gt: 100\ncondition: sel", {"Size": 100}, False),
    ("gte", "sel:\n  Size|gte: 100\ncondition: sel", {"Size": "100"}, True),
    ("lt", "sel:\n  Size|lt: 100\ncondition: sel", {"Size": 99.5}, True),
    ("lte", "sel:\n  Size|lte: 100\ncondition: sel", {"Size": 101}, False),
    ("compare text not number", "sel:\n  Size|gt: 1\ncondition: sel", {"Size": "big"}, False),
    ("compare hex text", "sel:\n  Size|gt: 15\ncondition: sel", {"Size": "0x10"}, True),
    # cidr
    (
        "cidr v4",
        "sel:\n  DestinationIp|cidr: 10.0.0.0/8\ncondition: sel",
        {"DestinationIp": "10.2.3.4"},
        True,
    ),
    (
        "cidr v4 no",
        "sel:\n  DestinationIp|cidr: 10.0.0.0/8\ncondition: sel",
        {"DestinationIp": "11.2.3.4"},
        False,
    ),
    (
        "cidr v6",
        "sel:\n  DestinationIp|cidr: 'fe80::/10'\ncondition: sel",
        {"DestinationIp": "fe80::1"},
        True,
    ),
    (
        "cidr not an ip",
        "sel:\n  DestinationIp|cidr: 10.0.0.0/8\ncondition: sel",
        {"DestinationIp": "10.example"},
        False,
    ),
    # exists
    ("exists true", "sel:\n  Hashes|exists: true\ncondition: sel", {"Hashes": ""}, True),
    ("exists true absent", "sel:\n  Hashes|exists: true\ncondition: sel", {}, False),
    ("exists false", "sel:\n  Hashes|exists: false\ncondition: sel", {}, True),
    (
        "exists false present",
        "sel:\n  Hashes|exists: false\ncondition: sel",
        {"Hashes": "x"},
        False,
    ),
    ("exists true null", "sel:\n  Hashes|exists: true\ncondition: sel", {"Hashes": None}, False),
    # fieldref
    (
        "fieldref",
        "sel:\n  ParentImage|fieldref: Image\ncondition: sel",
        {"Image": "A.exe", "ParentImage": "a.EXE"},
        True,
    ),
    (
        "fieldref no",
        "sel:\n  ParentImage|fieldref: Image\ncondition: sel",
        {"Image": "a.exe", "ParentImage": "b.exe"},
        False,
    ),
    (
        "fieldref absent",
        "sel:\n  ParentImage|fieldref: Image\ncondition: sel",
        {"ParentImage": "b.exe"},
        False,
    ),
    (
        "fieldref endswith",
        "sel:\n  CommandLine|fieldref|endswith: Image\ncondition: sel",
        {"Image": "x.exe", "CommandLine": "run x.exe"},
        True,
    ),
    # null and empty
    ("null absent", "sel:\n  Hashes: null\ncondition: sel", {}, True),
    ("null null", "sel:\n  Hashes: null\ncondition: sel", {"Hashes": None}, True),
    ("null empty string", "sel:\n  Hashes: null\ncondition: sel", {"Hashes": ""}, False),
    ("empty is empty", "sel:\n  Hashes: ''\ncondition: sel", {"Hashes": ""}, True),
    ("empty not absent", "sel:\n  Hashes: ''\ncondition: sel", {}, False),
    (
        "not null present",
        "sel:\n  Image: a.exe\nfilter:\n  Hashes: null\ncondition: sel and not filter",
        {"Image": "a.exe", "Hashes": "x"},
        True,
    ),
    (
        "not null absent",
        "sel:\n  Image: a.exe\nfilter:\n  Hashes: null\ncondition: sel and not filter",
        {"Image": "a.exe"},
        False,
    ),
    # an absent field never matches a value, so its negation is true (no SQL three-valued logic)
    (
        "not on absent field",
        "sel:\n  Image: a.exe\nfilter:\n  User|contains: admin\ncondition: sel and not filter",
        {"Image": "a.exe"},
        True,
    ),
    (
        "not on present field",
        "sel:\n  Image: a.exe\nfilter:\n  User|contains: admin\ncondition: sel and not filter",
        {"Image": "a.exe", "User": "Administrator"},
        False,
    ),
    # list-valued fields: any element
    (
        "list field",
        "sel:\n  Data|contains: evil\ncondition: sel",
        {"Data": ["good", "EVIL one"]},
        True,
    ),
    (
        "list field no",
        "sel:\n  Data|contains: evil\ncondition: sel",
        {"Data": ["good", None]},
        False,
    ),
    # booleans
    ("bool", "sel:\n  Signed: true\ncondition: sel", {"Signed": True}, True),
    ("bool text", "sel:\n  Signed: false\ncondition: sel", {"Signed": "False"}, True),
    ("bool no", "sel:\n  Signed: true\ncondition: sel", {"Signed": False}, False),
    # conditions
    (
        "1 of",
        "sel_a:\n  Image: a.exe\nsel_b:\n  Image: b.exe\ncondition: 1 of sel_*",
        {"Image": "b.exe"},
        True,
    ),
    (
        "all of",
        "sel_a:\n  Image: a.exe\nsel_b:\n  User: bob\ncondition: all of sel_*",
        {"Image": "a.exe", "User": "x"},
        False,
    ),
    (
        "1 of them",
        "sel_a:\n  Image: a.exe\nsel_b:\n  User: bob\ncondition: 1 of them",
        {"User": "bob"},
        True,
    ),
    (
        "parentheses",
        "a:\n  Image: a.exe\nb:\n  User: bob\nc:\n  User: eve\ncondition: a and (b or c)",
        {"Image": "a.exe", "User": "eve"},
        True,
    ),
    (
        "not precedence",
        "a:\n  Image: a.exe\nb:\n  User: bob\ncondition: not a and b",
        {"Image": "x", "User": "bob"},
        True,
    ),
    # neq modifier
    (
        "neq",
        "sel:\n  Image: a.exe\n  User|neq: bob\ncondition: sel",
        {"Image": "a.exe", "User": "eve"},
        True,
    ),
    (
        "neq no",
        "sel:\n  Image: a.exe\n  User|neq: bob\ncondition: sel",
        {"Image": "a.exe", "User": "bob"},
        False,
    ),
]


@pytest.mark.parametrize(
    ("name", "detection", "event", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_specification_case(
    tmp_path: Path, name: str, detection: str, event: dict[str, Any], expected: bool
) -> None:
    engine = engine_for(tmp_path, rule_yaml(detection))
    assert matches(engine, event) is expected, name


KEYWORD_RULE = """
keywords:
  - 'sekurlsa::logonpasswords'
  - 'Failed password for * from'
condition: keywords
"""


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("mimikatz # SEKURLSA::LogonPasswords", True),
        ("sshd[1]: Failed password for root from 10.0.0.1 port 22", True),
        ("sshd[1]: Accepted password for root from 10.0.0.1", False),
        (None, False),
    ],
)
def test_keywords_search_the_raw_event(
    tmp_path: Path, original: str | None, expected: bool
) -> None:
    engine = engine_for(
        tmp_path, rule_yaml(KEYWORD_RULE, logsource="product: linux\n  service: auth")
    )
    event: dict[str, Any] = {"event.dataset": "syslog"}
    if original is not None:
        event["event.original"] = original
    assert bool(engine.match([event])) is expected


def test_keywords_all(tmp_path: Path) -> None:
    detection = "kw:\n  '|all':\n    - 'OabVirtualDirectory'\n    - ' -ExternalUrl '\ncondition: kw"
    engine = engine_for(
        tmp_path,
        rule_yaml(detection, logsource="product: windows\n  service: msexchange-management"),
    )
    dataset = {"event.dataset": "windows.msexchange_management"}
    assert engine.match([{**dataset, "event.original": "Set-OabVirtualDirectory -ExternalUrl 'x'"}])
    assert not engine.match([{**dataset, "event.original": "Set-OabVirtualDirectory"}])


def test_timestamp_part_modifiers(tmp_path: Path) -> None:
    engine = engine_for(
        tmp_path, rule_yaml("sel:\n  Image: a.exe\n  UtcTime|hour: 3\ncondition: sel")
    )
    at_three = datetime(2026, 1, 1, 3, 15, tzinfo=UTC)
    assert matches(engine, {"Image": "a.exe", "UtcTime": at_three})
    assert matches(engine, {"Image": "a.exe", "UtcTime": "2026-01-01 03:59:00"})
    assert not matches(engine, {"Image": "a.exe", "UtcTime": "2026-01-01 04:00:00"})


def test_expand_placeholders_from_configuration(tmp_path: Path) -> None:
    text = rule_yaml("sel:\n  Computer|expand: '%admin_hosts%'\ncondition: sel")
    engine = engine_for(tmp_path, text, placeholders={"admin_hosts": ["dc01", "dc02"]})
    assert matches(engine, {"Computer": "DC02"})
    assert not matches(engine, {"Computer": "ws01"})


def test_rules_only_see_their_logsource(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, rule_yaml("sel:\n  Image|endswith: '\\cmd.exe'\ncondition: sel"))
    event = {"Image": "C:\\cmd.exe"}
    assert engine.match([{"event.dataset": "windows.sysmon", "EventID": 1, **event}])
    assert not engine.match([{"event.dataset": "windows.sysmon", "EventID": 3, **event}])
    assert not engine.match([{"event.dataset": "windows.security", "EventID": 1, **event}])
    assert not engine.match([{"event.dataset": "json", **event}])


def test_service_rules_see_every_event_of_the_channel(tmp_path: Path) -> None:
    text = rule_yaml(
        "sel:\n  EventID: 1102\ncondition: sel", logsource="product: windows\n  service: security"
    )
    engine = engine_for(tmp_path, text)
    assert engine.match([{"event.dataset": "windows.security", "EventID": 1102}])
    assert not engine.match([{"event.dataset": "windows.security", "EventID": 1100}])
    assert not engine.match([{"event.dataset": "windows.system", "EventID": 1102}])


def test_filters_apply_to_the_rules_they_name(tmp_path: Path) -> None:
    (tmp_path / "rule.yml").write_text(
        rule_yaml("sel:\n  Image|endswith: '\\whoami.exe'\ncondition: sel"), encoding="utf-8"
    )
    (tmp_path / "filter.yml").write_text(
        textwrap.dedent(
            """
            title: admins may run whoami
            id: 9a0c5c2e-1111-4a7b-9c3d-0000000000f1
            logsource:
              category: process_creation
              product: windows
            filter:
              rules:
                - 9a0c5c2e-1111-4a7b-9c3d-000000000001
              selection:
                User: 'CORP\\admin'
              condition: not selection
            """
        ),
        encoding="utf-8",
    )
    engine = Engine.load([tmp_path])
    assert not [i for i in engine.issues if i.severity == "error"]
    base = {**SYSMON, "Image": "C:\\Windows\\whoami.exe"}
    assert engine.match([{**base, "User": "CORP\\eve"}])
    assert not engine.match([{**base, "User": "corp\\ADMIN"}])


def test_matches_come_in_event_order_with_positions(tmp_path: Path) -> None:
    engine = engine_for(tmp_path, rule_yaml("sel:\n  Image: a.exe\ncondition: sel"))
    events = [{**SYSMON, "Image": name} for name in ("a.exe", "b.exe", "A.EXE")]
    found = engine.match(events)
    assert [m.position for m in found] == [0, 2]
    assert all(m.rule.title == "case" for m in found)


def test_explain_names_the_selection_field_and_value(tmp_path: Path) -> None:
    text = rule_yaml(
        "sel_img:\n  Image|endswith: '\\whoami.exe'\nsel_cli:\n  CommandLine|contains: '/all'\n"
        "filter:\n  User: admin\ncondition: sel_img and sel_cli and not filter"
    )
    engine = engine_for(tmp_path, text)
    event = {**SYSMON, "Image": "C:\\W\\whoami.exe", "CommandLine": "whoami /all", "User": "eve"}
    [match] = engine.match([event])
    reasons = engine.explain(match)
    checks = {r.check: r.detail for r in reasons}
    assert set(checks) == {"sigma:sel_img", "sigma:sel_cli"}
    assert "Image ends with '\\\\whoami.exe'" in checks["sigma:sel_img"]
    assert "C:\\\\W\\\\whoami.exe" in checks["sigma:sel_img"]
    assert "/all" in checks["sigma:sel_cli"]


def test_a_rule_that_cannot_compile_is_reported_and_the_rest_work(tmp_path: Path) -> None:
    (tmp_path / "good.yml").write_text(
        rule_yaml("sel:\n  Image: a.exe\ncondition: sel"), encoding="utf-8"
    )
    bad = rule_yaml("sel:\n  Image|re: '(unclosed'\ncondition: sel").replace(
        "000000000001", "000000000002"
    )
    (tmp_path / "bad.yml").write_text(bad, encoding="utf-8")
    engine = Engine.load([tmp_path])
    assert len(engine.compiled) == 1
    errors = [i for i in engine.issues if i.severity == "error"]
    assert len(errors) == 1 and errors[0].path.name == "bad.yml"
    assert engine.match([{**SYSMON, "Image": "a.exe"}])


def test_keywords_search_the_values_of_json_records(tmp_path: Path) -> None:
    """In EVTX/JSON records the raw form escapes backslashes and quotes; keywords must not care."""
    detection = (
        "kw:\n  - 'C:\\Temp\\evil.exe'\n  - '-Role \"Mailbox Import Export\"'\ncondition: kw"
    )
    engine = engine_for(tmp_path, rule_yaml(detection, logsource="product: windows"))
    base = {"event.dataset": "windows.application", "EventID": 1}
    path_event = {**base, "Data": ["run C:\\Temp\\evil.exe now"]}
    path_event["event.original"] = json.dumps(path_event)
    role_event = {**base, "Data": ['New-Assignment -Role "Mailbox Import Export"']}
    role_event["event.original"] = json.dumps(role_event)
    other = {**base, "Data": ["C:\\Temp\\good.exe"]}
    other["event.original"] = json.dumps(other)
    assert [m.position for m in engine.match([path_event, role_event, other])] == [0, 1]
