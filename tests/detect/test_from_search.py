"""Search to Sigma: the conversion table, what is left out, the logsource, the rule fires on what
the search finds, and saving into the local pack that the rule store and catalogue read."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import orjson
import pytest
import yaml

from tocsin.core.errors import ConflictError, QuerySyntaxError
from tocsin.core.settings import Settings
from tocsin.detect.catalog import RuleCatalog
from tocsin.detect.from_search import (
    check_rule_text,
    draft_rule,
    logsource_for,
    save_to_local_pack,
    show_query,
)
from tocsin.detect.store import RuleStore
from tocsin.lake.querylang import parse_query
from tocsin.lake.reader import LakeReader
from tocsin.lake.writer import LakeWriter

RULE_ID = "5d7c1c52-9a4e-4c55-8a57-3b1fb0b4f0a1"
SYSMON = "event.dataset:windows.sysmon AND "


def detection_of(query: str, **kwargs) -> tuple[dict, dict]:
    draft = draft_rule(query, today=date(2026, 11, 28), rule_id=RULE_ID, **kwargs)
    rule = yaml.safe_load(draft.yaml)
    return rule["logsource"], rule["detection"]


@pytest.mark.parametrize(
    ("query", "logsource", "detection"),
    [
        (
            SYSMON + "EventID:1 AND Image:*\\cmd.exe AND CommandLine:*whoami*",
            {"product": "windows", "category": "process_creation"},
            {
                "selection": {"Image|endswith": "\\cmd.exe", "CommandLine|contains": "whoami"},
                "condition": "selection",
            },
        ),
        (
            SYSMON + 'CommandLine:*certutil* NOT user.name:(SYSTEM OR "LOCAL SERVICE")',
            {"product": "windows", "service": "sysmon"},
            {
                "selection": {"CommandLine|contains": "certutil"},
                "filter": {"user.name": ["SYSTEM", "LOCAL SERVICE"]},
                "condition": "selection and not filter",
            },
        ),
        (
            "event.dataset:zeek.conn AND destination.port:[1 TO 1024} AND source.bytes>=1000",
            {"product": "zeek", "service": "conn"},
            {
                "selection": {
                    "destination.port|gte": 1,
                    "destination.port|lt": 1024,
                    "source.bytes|gte": 1000,
                },
                "condition": "selection",
            },
        ),
        (
            SYSMON + "(Image:*\\rundll32.exe OR OriginalFileName:RUNDLL32.EXE) AND _exists_:x",
            {"product": "windows", "service": "sysmon"},
            {
                "selection": {"x|exists": True},
                "selection_2": [
                    {"Image|endswith": "\\rundll32.exe"},
                    {"OriginalFileName": "RUNDLL32.EXE"},
                ],
                "condition": "selection and selection_2",
            },
        ),
        (
            SYSMON
            + "CommandLine:*-enc* AND CommandLine:*hidden* AND TargetFilename:C:\\Temp\\*.d?l",
            {"product": "windows", "service": "sysmon"},
            {
                "selection": {
                    # a backslash before a wildcard is doubled: literal in the query, an escape
                    # in Sigma
                    "TargetFilename": "C:\\Temp\\\\*.d?l",
                    "CommandLine|contains|all": ["-enc", "hidden"],
                },
                "condition": "selection",
            },
        ),
        (
            'event.dataset:syslog AND ("Failed password" OR "Invalid user") AND NOT host.name:gw*',
            {"product": "linux", "service": "syslog"},
            {
                # the logsource also reads journald, so the dataset stays a condition
                "selection": {"event.dataset": "syslog"},
                "keywords": ["Failed password", "Invalid user"],
                "filter": {"host.name|startswith": "gw"},
                "condition": "selection and keywords and not filter",
            },
        ),
        (
            SYSMON + "NOT (a:1 AND NOT b:true) AND (c:007 OR d:x)",
            {"product": "windows", "service": "sysmon"},
            {
                "filter": {"a": 1},
                "filter_2": {"b": True},
                # numbers with a leading zero stay text
                "selection": [{"c": "007"}, {"d": "x"}],
                "condition": "not (filter and not filter_2) and selection",
            },
        ),
        (
            "event.dataset:windows.sysmon",
            {"product": "windows", "service": "sysmon"},
            {"selection": {"event.dataset": "windows.sysmon"}, "condition": "selection"},
        ),
        (
            "event.dataset:(zeek.dns OR pcap.dns OR dns.bind OR dns.windows OR dns.dnsmasq "
            "OR dns.unbound) AND dns.question.name:*.example.org",
            {"category": "dns"},
            {
                "selection": {"dns.question.name|endswith": ".example.org"},
                "condition": "selection",
            },
        ),
        (
            # part of the category's datasets: the rule keeps the choice (no DNS server logs)
            "event.dataset:(zeek.dns OR pcap.dns) AND dns.question.name:*.example.org",
            {"category": "dns"},
            {
                "selection": {"dns.question.name|endswith": ".example.org"},
                "selection_2": {"event.dataset": ["zeek.dns", "pcap.dns"]},
                "condition": "selection and selection_2",
            },
        ),
    ],
)
def test_the_conversion_table(query, logsource, detection):
    assert detection_of(query) == (logsource, detection)
    draft = draft_rule(query, rule_id=RULE_ID)
    check = check_rule_text(draft.yaml)
    assert check.ok, check.errors
    assert check.rule_id == RULE_ID


def test_the_draft_is_a_complete_sigma_rule():
    draft = draft_rule(SYSMON + "Image:*\\cmd.exe", author="ana", rule_id=RULE_ID)
    rule = yaml.safe_load(draft.yaml)
    assert draft.complete
    assert rule["title"] == "Search: event.dataset:windows.sysmon AND Image:*\\cmd.exe"
    assert rule["id"] == RULE_ID
    assert rule["author"] == "ana"
    assert rule["status"] == "experimental"
    assert rule["level"] == "medium"
    assert "by ana" in rule["description"]
    assert list(rule) == [
        "title",
        "id",
        "status",
        "description",
        "author",
        "date",
        "logsource",
        "detection",
        "falsepositives",
        "level",
    ]


@pytest.mark.parametrize(
    ("query", "part", "reason"),
    [
        (SYSMON + "@timestamp>-1h AND a:1", "@timestamp>-1h", "time conditions do not apply"),
        (SYSMON + "@timestamp:2026-11-28 AND a:1", "@timestamp:2026-11-28", "time conditions"),
        (SYSMON + "name>bob AND a:1", "name>bob", "compares numbers only"),
        (SYSMON + "size:[a TO z] AND a:1", "size:[a TO z]", "compares numbers only"),
        ("*", "*", "matches every event"),
    ],
)
def test_what_has_no_sigma_form_is_left_out_and_said(query, part, reason):
    draft = draft_rule(query, rule_id=RULE_ID)
    assert [u.part for u in draft.left_out] == [part]
    assert reason in draft.left_out[0].reason
    assert not draft.complete
    if query != "*":
        assert yaml.safe_load(draft.yaml)["detection"] == {
            "selection": {"a": 1},
            "condition": "selection",
        }
    else:
        assert draft.yaml == ""


def test_the_logsource_comes_from_the_results_or_is_a_problem():
    _logsource, detection = detection_of("user.name:ana", datasets_seen=["windows.security"])
    draft = draft_rule("user.name:ana", datasets_seen=["windows.security"])
    assert yaml.safe_load(draft.yaml)["logsource"] == {"product": "windows", "service": "security"}
    assert detection == {"selection": {"user.name": "ana"}, "condition": "selection"}
    assert "the logsource is that of the events found" in draft.notes[0]
    # two windows datasets: the windows product reads both
    both = draft_rule("user.name:ana", datasets_seen=["windows.security", "windows.sysmon"])
    assert both.logsource == {"product": "windows"}
    nothing = draft_rule("user.name:ana")
    assert "names no dataset" in nothing.problems[0]
    unknown = draft_rule("event.dataset:json AND a:b")
    assert "no Sigma logsource reads json" in unknown.problems[0]
    assert not check_rule_text(unknown.yaml).ok


def test_field_names_take_their_stored_case():
    _logsource, detection = detection_of(
        SYSMON + "commandline:*x* AND _exists_:IMAGE", fields_seen=["CommandLine", "Image"]
    )
    assert detection["selection"] == {"CommandLine|contains": "x", "Image|exists": True}


@pytest.mark.parametrize(
    ("datasets", "event_id", "expected"),
    [
        (["windows.sysmon"], None, ({"product": "windows", "service": "sysmon"}, True, False)),
        (
            ["windows.sysmon"],
            3,
            ({"product": "windows", "category": "network_connection"}, True, True),
        ),
        (["windows.sysmon"], 999, ({"product": "windows", "service": "sysmon"}, True, False)),
        (["zeek.dns"], None, ({"product": "zeek", "service": "dns"}, True, False)),
        (["cloudtrail"], None, ({"product": "aws", "service": "cloudtrail"}, True, False)),
        (["syslog"], None, ({"product": "linux", "service": "syslog"}, False, False)),
        (["windows.*"], None, ({"product": "windows"}, True, False)),
        (["suricata.alert"], None, None),
        ([], None, None),
    ],
)
def test_logsource_for(datasets, event_id, expected):
    assert logsource_for(datasets, event_id) == expected


@pytest.mark.parametrize(
    "query",
    [
        'a:"x y" AND NOT (b:1 OR c:[1 TO *}) AND _exists_:d AND e>=5',
        'free OR "two words" AND f:*\\x?*',
        "g:{a TO b] AND h<2",
    ],
)
def test_show_query_parses_back_to_the_same_tree(query):
    node = parse_query(query)
    assert parse_query(show_query(node)) == node


def test_a_bad_query_raises_with_its_column():
    with pytest.raises(QuerySyntaxError) as caught:
        draft_rule("a:(b")
    assert caught.value.column == 3


T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _event(i: int) -> dict:
    return {
        "event.id": f"e-{i}",
        "@timestamp": T0 + timedelta(minutes=i),
        "event.ingested": T0,
        "event.dataset": "windows.sysmon",
        "event.original": f"record {i} {'mimikatz' if i % 5 == 0 else 'quiet'}",
        "EventID": 1 if i % 2 else 3,
        "Image": ["C:\\Windows\\System32\\cmd.exe", "C:\\Tools\\rundll32.exe", "C:\\A\\b.exe"][
            i % 3
        ],
        "CommandLine": f"run -x {i}" + (" -enc AAA" if i % 4 == 0 else ""),
        "user.name": "SYSTEM" if i % 7 == 0 else "ana",
        "DestinationPort": i * 10,
    }


@pytest.mark.parametrize(
    "query",
    [
        SYSMON + "EventID:1 AND Image:*\\cmd.exe",
        SYSMON + "CommandLine:*-enc* AND NOT user.name:SYSTEM",
        SYSMON + '(Image:*\\rundll32.exe OR CommandLine:"*-x 1*") AND DestinationPort:[100 TO 300}',
        SYSMON + "mimikatz AND NOT EventID:3",
        SYSMON + "(user.name:(system OR nobody) OR DestinationPort>450)",
        SYSMON + "Image:c:\\windows\\*",
    ],
)
def test_the_rule_fires_on_exactly_what_the_search_finds(tmp_path, query):
    events = [_event(i) for i in range(60)]
    writer = LakeWriter(tmp_path)
    writer.add(events)
    writer.flush()
    writer.close()
    found = LakeReader(tmp_path).search(query, limit=1000).events
    draft = draft_rule(query, fields_seen=events[0])
    assert draft.complete, (draft.left_out, draft.problems)
    check = check_rule_text(draft.yaml, events)
    assert check.ok, check.errors
    assert found, "the query should find something"
    assert check.fired == len(found)


def test_check_rule_text_reports_what_is_wrong():
    broken = check_rule_text("title: [x")
    assert not broken.ok and broken.errors[0].startswith("invalid YAML")
    two = check_rule_text("title: a\n---\ntitle: b\n")
    assert two.errors == ["write exactly one rule (one YAML document)"]
    no_detection = check_rule_text(
        f"title: t\nid: {RULE_ID}\nlogsource: {{product: windows}}\nlevel: low\n"
    )
    assert not no_detection.ok
    unrouted = check_rule_text(
        f"title: t\nid: {RULE_ID}\nlogsource: {{product: nothing}}\n"
        "detection: {sel: {a: 1}, condition: sel}\nlevel: low\n"
    )
    assert unrouted.errors == ["its logsource reads no dataset: the rule would never see an event"]
    too_big = check_rule_text("x" * 100_001)
    assert "larger than" in too_big.errors[0]


def test_saving_into_the_local_pack_is_what_the_store_and_catalogue_read(tmp_path):
    settings = Settings(home=tmp_path / "home")
    settings.home.mkdir()
    draft = draft_rule(SYSMON + "Image:*\\evil.exe", title="Evil tool / started!", rule_id=RULE_ID)
    saved = save_to_local_pack(settings.rules_dir, draft.yaml)
    assert saved.path == settings.rules_dir / "packs" / "local" / "evil-tool-started.yml"
    assert not saved.replaced
    manifest = orjson.loads((saved.path.parent / "pack.json").read_bytes())
    assert manifest["rules"] == 1
    assert manifest["source"] == "tocsin search"
    assert [p.name for p in RuleStore(settings.rules_dir).packs()] == ["local"]
    info = RuleCatalog(settings).get(RULE_ID)
    assert info is not None and info.pack == "local"
    # the same id again replaces its file, even under a new title
    edited = draft.yaml.replace("level: medium", "level: critical")
    again = save_to_local_pack(settings.rules_dir, edited.replace("Evil tool", "Renamed"))
    assert again.replaced and again.path == saved.path
    assert RuleCatalog(settings).get(RULE_ID).rule.level.value == "critical"
    # another rule with the same title gets its own file
    other = draft_rule(SYSMON + "Image:*\\evil2.exe", title="Evil tool / started!")
    second = save_to_local_pack(settings.rules_dir, other.yaml)
    assert second.path.name == "evil-tool-started-2.yml"
    assert orjson.loads((saved.path.parent / "pack.json").read_bytes())["rules"] == 2
    # an id that another pack already uses is refused
    elsewhere = tmp_path / "elsewhere.yml"
    with pytest.raises(ConflictError, match="already used"):
        save_to_local_pack(
            settings.rules_dir,
            draft_rule(SYSMON + "a:1", rule_id="11111111-2222-4333-8444-555555555555").yaml,
            taken=lambda _rule_id: elsewhere,
        )
