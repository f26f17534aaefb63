from importlib.metadata import EntryPoint

import pytest

from tocsin.core import plugins
from tocsin.core.errors import ConflictError, NotFoundError
from tocsin.core.plugins import PluginLoadError, Registry


def fake_entry_points(*entries):
    def lookup(group):
        return [e for e in entries if e.group == group]

    return lookup


def test_builtin_parsers_all_load():
    registry = Registry(strict=True)
    parsers = registry.load_all("tocsin.parsers")
    assert {"json", "syslog", "evtx", "winlogbeat", "zeek", "suricata", "cloudtrail"} <= set(
        parsers
    )
    for parser_id, cls in parsers.items():
        assert cls.id == parser_id  # the id users pass to --format is the registered one


def test_two_targets_for_one_id_is_an_error(monkeypatch):
    monkeypatch.setattr(
        plugins,
        "entry_points",
        fake_entry_points(
            EntryPoint("twin", "tocsin.ingest.parsers.jsonfmt:JsonParser", "tocsin.parsers"),
            EntryPoint("twin", "tocsin.ingest.parsers.syslog:SyslogParser", "tocsin.parsers"),
        ),
    )
    with pytest.raises(ConflictError, match="claimed twice"):
        Registry().ids("tocsin.parsers")


def test_a_broken_plugin_is_skipped_unless_strict(monkeypatch):
    monkeypatch.setattr(
        plugins,
        "entry_points",
        fake_entry_points(
            EntryPoint("good", "tocsin.ingest.parsers.jsonfmt:JsonParser", "tocsin.parsers"),
            EntryPoint("broken", "tocsin.no_such_module:Thing", "tocsin.parsers"),
        ),
    )
    assert set(Registry().load_all("tocsin.parsers")) == {"good"}
    rows = {row.id: row for row in Registry().describe() if row.group == "tocsin.parsers"}
    assert rows["good"].error is None
    assert "No module named" in (rows["broken"].error or "")
    with pytest.raises(PluginLoadError):
        Registry(strict=True).load_all("tocsin.parsers")
    with pytest.raises(NotFoundError, match="known: broken, good"):
        Registry().load("tocsin.parsers", "missing")
