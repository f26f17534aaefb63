"""``tocsin rules``: list and validate fixture rules (sub-app mounted directly), then packs and
switches in a real home through the whole ``tocsin`` app (zips built here, a real HTTP server
on 127.0.0.1 for the URL install)."""

from __future__ import annotations

import functools
import http.server
import json
import threading
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tocsin.cli import app as tocsin_app
from tocsin.cli.rules_cmd import app
from tocsin.detect.loader import load_rules
from tocsin.detect.store import starter_pack_path

DATA = Path(__file__).resolve().parents[1] / "data" / "sigma"
runner = CliRunner()


def test_list_json_rows():
    result = runner.invoke(app, ["list", str(DATA / "good"), "--output", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert sorted(r["kind"] for r in rows) == [
        "correlation",
        "detection",
        "detection",
        "detection",
        "filter",
    ]
    whoami = next(r for r in rows if r["id"] == "0b4c1d2e-0001-4a00-8000-000000000001")
    assert whoami == {
        "id": "0b4c1d2e-0001-4a00-8000-000000000001",
        "title": "Tocsin Test Whoami Execution",
        "level": "high",
        "status": "test",
        "kind": "detection",
        "product": "windows",
        "category": "process_creation",
        "service": None,
        "tags": "attack.discovery,attack.t1033",
        "path": str(DATA / "good" / "proc_whoami.yml"),
    }


def test_list_csv_header():
    result = runner.invoke(app, ["list", str(DATA / "good"), "--output", "csv"])
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0]
    assert header == "id,title,level,status,kind,product,category,service,tags,path"


def test_validate_clean_folder_exits_0():
    result = runner.invoke(app, ["validate", str(DATA / "good"), "--output", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert "5 loaded, 0 failed, 0 warnings" in result.stderr


def test_validate_reports_every_problem_and_exits_1():
    result = runner.invoke(
        app, ["validate", str(DATA / "good"), str(DATA / "bad"), "--output", "ndjson"]
    )
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted((Path(r["path"]).name, r["severity"]) for r in rows) == [
        ("bad_modifier.yml", "error"),
        ("corr_unknown.yml", "error"),
        ("duplicate.yml", "error"),
        ("malformed.yml", "error"),
        ("no_id_no_level.yml", "warning"),
        ("no_id_no_level.yml", "warning"),
    ]
    assert set(rows[0]) == {"path", "rule_id", "severity", "message"}
    assert "6 loaded, 4 failed, 2 warnings" in result.stderr


def test_no_arguments_shows_help():
    result = runner.invoke(app, [])
    assert "list" in result.output and "validate" in result.output


# -- the home: packs and switches (through the whole `tocsin` app) ------------------------------

STARTER_IDS = {r.id for r in load_rules([starter_pack_path()]).rules}
PACK_ID_1 = "7c1e5a2b-0000-4b00-8000-000000000001"
PACK_ID_2 = "7c1e5a2b-0000-4b00-8000-000000000002"
PACK_RULE = """\
title: Tocsin Pack Rule {n}
id: 7c1e5a2b-0000-4b00-8000-00000000000{n}
status: test
level: high
tags:
  - attack.execution
  - attack.t1059.00{n}
logsource:
  category: process_creation
  product: windows
detection:
  selection:
    Image|endswith: '\\\\tool{n}.exe'
  condition: selection
"""
BROKEN_RULE = """\
title: Tocsin Broken Rule
id: 7c1e5a2b-0000-4b00-8000-000000000009
logsource:
  product: windows
detection:
  selection:
    Image|notamodifier: x
  condition: selection
"""


def pack_zip(path: Path, *members: tuple[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members:
            archive.writestr(name, text)
    return path


def good_zip(path: Path) -> Path:
    return pack_zip(
        path,
        ("rules/windows/one.yml", PACK_RULE.format(n=1)),
        ("rules/windows/two.yml", PACK_RULE.format(n=2)),
        ("LICENSE", "DRL"),
    )


def home_run(home: Path, *args: str):
    return runner.invoke(tocsin_app, ["--home", str(home), "rules", *args])


def test_list_without_home_shows_the_starter_pack(tmp_path):
    result = home_run(tmp_path / "nohome", "list", "--output", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["id"] for r in rows} == STARTER_IDS
    assert all(r["enabled"] is True and r["pack"] == "starter" for r in rows)
    assert list(rows[0])[:3] == ["enabled", "pack", "id"]
    assert not (tmp_path / "nohome").exists()


def test_install_list_disable_enable_remove(tmp_path):
    home = tmp_path / "home"
    result = home_run(home, "install", str(good_zip(tmp_path / "sigma_core.zip")), "-o", "json")
    assert result.exit_code == 0, result.output
    (pack,) = json.loads(result.stdout)
    assert (pack["name"], pack["rules"]) == ("sigma_core", 2)
    assert "2 rules loaded, 0 failed" in result.stderr

    result = home_run(home, "packs", "-o", "json")
    assert [(p["name"], p["rules"]) for p in json.loads(result.stdout)] == [
        ("starter", len(STARTER_IDS)),
        ("sigma_core", 2),
    ]

    result = home_run(home, "list", "-o", "json")
    rows = {r["id"]: r for r in json.loads(result.stdout)}
    assert set(rows) == STARTER_IDS | {PACK_ID_1, PACK_ID_2}
    assert rows[PACK_ID_1]["pack"] == "sigma_core" and rows[PACK_ID_1]["enabled"] is True

    result = home_run(home, "disable", "attack.t1059.001", "-o", "json")
    assert result.exit_code == 0, result.output
    off = {r["id"] for r in json.loads(result.stdout)}
    assert PACK_ID_1 in off and PACK_ID_2 not in off
    assert off <= {r for r in rows if "attack.t1059.001" in rows[r]["tags"].split(",")}

    # a fresh invocation reads the switches back from the home
    rows = {r["id"]: r for r in json.loads(home_run(home, "list", "-o", "json").stdout)}
    assert rows[PACK_ID_1]["enabled"] is False and rows[PACK_ID_2]["enabled"] is True
    enabled_only = json.loads(home_run(home, "list", "--enabled-only", "-o", "json").stdout)
    assert PACK_ID_1 not in {r["id"] for r in enabled_only}

    result = home_run(home, "enable", "attack.t1059.001", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    rows = {r["id"]: r for r in json.loads(home_run(home, "list", "-o", "json").stdout)}
    assert all(r["enabled"] for r in rows.values())

    result = home_run(home, "remove", "sigma_core")
    assert result.exit_code == 0 and "removed pack 'sigma_core'" in result.stderr
    result = home_run(home, "remove", "sigma_core")
    assert result.exit_code == 1 and "no installed pack 'sigma_core'" in result.stderr


def test_disable_warns_about_a_selector_that_matches_nothing(tmp_path):
    result = home_run(tmp_path / "home", "disable", "no-such-rule*", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []
    assert "'no-such-rule*' matches no detection or correlation rule" in result.stderr


def test_switch_commands_need_a_selector(tmp_path):
    assert home_run(tmp_path / "home", "disable").exit_code == 2
    assert home_run(tmp_path / "home", "enable").exit_code == 2


def test_install_reports_bad_rules_and_installs_the_rest(tmp_path):
    archive = pack_zip(
        tmp_path / "mixed.zip",
        ("rules/one.yml", PACK_RULE.format(n=1)),
        ("rules/broken.yml", BROKEN_RULE),
    )
    result = home_run(tmp_path / "home", "install", str(archive), "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["rules"] == 1
    assert "rule not loaded" in result.stderr and "broken.yml" in result.stderr
    assert "1 rules loaded, 1 failed" in result.stderr
    result = home_run(tmp_path / "home", "validate", "-o", "json")
    assert result.exit_code == 1
    assert [Path(r["path"]).name for r in json.loads(result.stdout)] == ["broken.yml"]


def test_install_twice_needs_force(tmp_path):
    home, archive = tmp_path / "home", good_zip(tmp_path / "team.zip")
    assert home_run(home, "install", str(archive)).exit_code == 0
    result = home_run(home, "install", str(archive))
    assert result.exit_code == 1 and "--force" in result.stderr
    result = home_run(home, "install", str(archive), "--force", "--name", "team", "-o", "csv")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "name,rules,source,installed_at,sha256,path"


def test_install_refuses_a_zip_with_path_traversal(tmp_path):
    archive = pack_zip(
        tmp_path / "evil.zip",
        ("rules/one.yml", PACK_RULE.format(n=1)),
        ("../../outside.yml", PACK_RULE.format(n=2)),
    )
    result = home_run(tmp_path / "home", "install", str(archive))
    assert result.exit_code == 1
    assert "unsafe path in the zip" in result.stderr
    assert not (tmp_path / "outside.yml").exists()
    assert json.loads(home_run(tmp_path / "home", "packs", "-o", "json").stdout)[1:] == []


def test_install_a_missing_file_exits_1(tmp_path):
    result = home_run(tmp_path / "home", "install", str(tmp_path / "nothing.zip"))
    assert result.exit_code == 1 and "no such file or folder" in result.stderr


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass


@pytest.mark.network
def test_install_from_a_url(tmp_path):
    www = tmp_path / "www"
    www.mkdir()
    good_zip(www / "sigma_all_rules.zip")
    handler = functools.partial(_QuietHandler, directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/sigma_all_rules.zip"
        result = home_run(tmp_path / "home", "install", url, "-o", "json")
        missing = home_run(tmp_path / "home", "install", url.replace("sigma_all", "none"))
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert result.exit_code == 0, result.output
    (pack,) = json.loads(result.stdout)
    assert (pack["name"], pack["rules"], pack["source"]) == ("sigma_all_rules", 2, url)
    assert missing.exit_code == 1 and "cannot download the pack" in missing.stderr


def test_rules_test_shows_selections_and_routing(tmp_path: Path) -> None:
    rule = tmp_path / "rule.yml"
    rule.write_text(
        "title: certutil fetch\nid: 2f0a4a4e-8a8b-4c1e-9d55-0d6f0a7b1c11\n"
        "logsource:\n  category: process_creation\n  product: windows\n"
        "detection:\n  sel_img:\n    Image|endswith: '\\certutil.exe'\n"
        "  sel_url:\n    CommandLine|contains: 'http'\n  condition: sel_img and sel_url\n"
        "level: high\n",
        encoding="utf-8",
    )
    events = tmp_path / "events.ndjson"
    lines = [
        {
            "event.dataset": "windows.sysmon",
            "EventID": 1,
            "Image": "C:\\W\\certutil.exe",
            "CommandLine": "certutil -f http://x/a",
        },
        {
            "event.dataset": "windows.sysmon",
            "EventID": 1,
            "Image": "C:\\W\\certutil.exe",
            "CommandLine": "certutil -dump",
        },
        {
            "event.dataset": "windows.security",
            "EventID": 4688,
            "Image": "C:\\W\\certutil.exe",
            "CommandLine": "certutil http://x",
        },
    ]
    events.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        tocsin_app,
        ["rules", "test", str(rule), "--events", str(events), "-d", "windows.sysmon", "-o", "json"],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout[result.stdout.index("[") :])
    assert [r["fires"] for r in rows] == [True, False, False]
    assert rows[0]["selections"] == "sel_img,sel_url"
    assert "certutil.exe" in rows[0]["why"]
    assert rows[1]["selections"] == "sel_img"
    assert rows[2]["condition"] is True and rows[2]["routed"] is False
    assert "1 events satisfy the condition but their dataset" in result.stderr
