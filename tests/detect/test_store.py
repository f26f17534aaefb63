"""Rule packs in the home (install, remove, switches) and the built-in starter pack.

Packs are real folders and zip files built in the test; the URL install downloads from a real
``http.server`` on 127.0.0.1.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import re
import stat
import struct
import threading
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tocsin.core.errors import ConflictError, ExternalServiceError, InvalidInputError, NotFoundError
from tocsin.detect import store as store_module
from tocsin.detect.loader import load_rules
from tocsin.detect.logsources import routes_for
from tocsin.detect.rules import LoadedRule
from tocsin.detect.store import RuleStore, pack_name, selects, starter_pack_path

CASES = Path(__file__).resolve().parents[1] / "data" / "sigma" / "starter_cases"

WHOAMI_ID = "5b7d0c4e-3f0a-4e8b-9a51-1c2d3e4f5a01"
ENCODED_ID = "5b7d0c4e-3f0a-4e8b-9a51-1c2d3e4f5a02"
FAILED_ID = "5b7d0c4e-3f0a-4e8b-9a51-1c2d3e4f5a03"
SPRAY_ID = "5b7d0c4e-3f0a-4e8b-9a51-1c2d3e4f5a04"


def detection_rule(rule_id: str, title: str, tags: list[str], name: str | None = None) -> str:
    """A small process-creation rule."""
    lines = [
        f"title: {title}",
        f"id: {rule_id}",
        *([f"name: {name}"] if name else []),
        "status: test",
        "level: medium",
        "tags:",
        *(f"  - {tag}" for tag in tags),
        "logsource:",
        "  category: process_creation",
        "  product: windows",
        "detection:",
        "  selection:",
        "    Image|endswith: '\\whoami.exe'",
        "  condition: selection",
    ]
    return "\n".join(lines) + "\n"


def correlation_rule(rule_id: str, refs: list[str], *, generate: bool = False) -> str:
    """An event_count correlation over ``refs``."""
    lines = [
        "title: Password spray",
        f"id: {rule_id}",
        "level: high",
        "correlation:",
        "  type: event_count",
        "  rules:",
        *(f"    - {ref}" for ref in refs),
        "  group-by:",
        "    - IpAddress",
        "  timespan: 5m",
        "  condition:",
        "    gte: 3",
        *(["  generate: true"] if generate else []),
    ]
    return "\n".join(lines) + "\n"


BAD_RULE = """\
title: Broken modifier
id: 5b7d0c4e-3f0a-4e8b-9a51-1c2d3e4f5a09
logsource:
  category: process_creation
  product: windows
detection:
  selection:
    Image|nosuchmodifier: 'x'
  condition: selection
"""

PACK_FILES = {
    "windows/whoami.yml": detection_rule(
        WHOAMI_ID, "Whoami Discovery", ["attack.discovery", "attack.t1033"]
    ),
    "windows/encoded.yaml": detection_rule(
        ENCODED_ID, "Encoded PowerShell", ["attack.execution", "attack.t1059.001"]
    ),
}


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def zip_bytes(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def leftovers(store: RuleStore) -> list[str]:
    """Hidden staging or trash folders left in the packs folder."""
    if not store.packs_dir.exists():
        return []
    return [p.name for p in store.packs_dir.iterdir() if p.name.startswith(".")]


@pytest.fixture
def store(tmp_path: Path) -> RuleStore:
    return RuleStore(tmp_path / "home" / "rules")


# -- install ---------------------------------------------------------------------------------


def test_install_folder_keeps_only_rule_files(tmp_path: Path, store: RuleStore) -> None:
    source = write_tree(
        tmp_path / "my-pack",
        {
            **PACK_FILES,
            "README.md": "not a rule",
            "tools/convert.py": "print('no')",
            ".github/workflow.yml": "name: ci",
        },
    )
    outside = write_tree(tmp_path / "outside", {"secret.yml": "title: not mine"})
    (source / "windows" / "linked.yml").symlink_to(outside / "secret.yml")

    pack = store.install(str(source))

    assert pack.name == "my-pack"
    assert pack.rules == 2 and pack.issues == ()
    installed = sorted(
        p.relative_to(pack.path).as_posix() for p in pack.path.rglob("*") if p.is_file()
    )
    assert installed == ["pack.json", "windows/encoded.yaml", "windows/whoami.yml"]
    assert (pack.path / "windows" / "whoami.yml").read_text() == PACK_FILES["windows/whoami.yml"]
    assert re.fullmatch("[0-9a-f]{64}", pack.sha256)
    assert store.packs() == [pack]
    listed = store.packs()[0]
    assert (listed.source, listed.rules) == (str(source), 2)


def test_install_zip_with_rules_in_subfolders(tmp_path: Path, store: RuleStore) -> None:
    data = zip_bytes(
        {
            "rules/windows/process_creation/proc_creation_win_whoami.yml": PACK_FILES[
                "windows/whoami.yml"
            ],
            "rules/windows/process_creation/encoded.yml": PACK_FILES["windows/encoded.yaml"],
            "LICENSE": "Detection Rule License",
            "README.md": "# rules",
        }
    )
    archive = tmp_path / "sigma_core.zip"
    archive.write_bytes(data)

    pack = store.install(str(archive))

    assert pack.name == "sigma_core"
    assert pack.sha256 == hashlib.sha256(data).hexdigest()
    assert pack.rules == 2
    assert (pack.path / "rules/windows/process_creation/proc_creation_win_whoami.yml").is_file()
    assert not (pack.path / "LICENSE").exists()
    loaded = load_rules(store.enabled_paths())
    assert {WHOAMI_ID, ENCODED_ID} <= {r.id for r in loaded.rules}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


@pytest.fixture
def http_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1, and its base URL."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.network
def test_install_from_url(http_folder: tuple[Path, str], store: RuleStore) -> None:
    folder, base = http_folder
    data = zip_bytes({"rules/" + k: v for k, v in PACK_FILES.items()})
    (folder / "sigma_all_rules.zip").write_bytes(data)
    seen: list[tuple[str, int, int | None]] = []

    pack = store.install(f"{base}/sigma_all_rules.zip", progress=lambda *step: seen.append(step))

    assert pack.name == "sigma_all_rules"
    assert pack.source == f"{base}/sigma_all_rules.zip"
    assert pack.sha256 == hashlib.sha256(data).hexdigest()
    assert pack.rules == 2
    downloads = [s for s in seen if s[0] == "download"]
    assert downloads[-1] == ("download", len(data), len(data))
    assert ("extract", 2, 2) in seen
    assert seen[-1] == ("validate", 2, 2)


@pytest.mark.network
def test_failed_download_installs_nothing(http_folder: tuple[Path, str], store: RuleStore) -> None:
    _folder, base = http_folder
    with pytest.raises(ExternalServiceError, match="404"):
        store.install(f"{base}/missing.zip")
    assert store.packs() == [] and leftovers(store) == []


@pytest.mark.parametrize(
    "member",
    ["../evil.yml", "rules/../../evil.yml", "/tmp/evil.yml", "..\\evil.yml", "C:/evil.yml"],
)
def test_zip_with_unsafe_path_is_rejected(tmp_path: Path, store: RuleStore, member: str) -> None:
    archive = tmp_path / "evil.zip"
    archive.write_bytes(
        zip_bytes({"rules/good.yml": PACK_FILES["windows/whoami.yml"], member: "title: x"})
    )
    with pytest.raises(InvalidInputError, match="unsafe path"):
        store.install(str(archive))
    assert store.packs() == [] and leftovers(store) == []
    assert not (tmp_path / "evil.yml").exists()
    assert not (store.root / "evil.yml").exists()


def test_zip_with_symlink_is_rejected(tmp_path: Path, store: RuleStore) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("rules/good.yml", PACK_FILES["windows/whoami.yml"])
        link = zipfile.ZipInfo("rules/link.yml")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    path = tmp_path / "links.zip"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(InvalidInputError, match="link in the zip"):
        store.install(str(path))
    assert store.packs() == [] and leftovers(store) == []


def test_zip_bomb_is_rejected(
    tmp_path: Path, store: RuleStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "MAX_UNPACKED_BYTES", 1_000_000)
    path = tmp_path / "bomb.zip"
    path.write_bytes(zip_bytes({"rules/huge.yml": b"#" * 2_000_000}))
    assert path.stat().st_size < 10_000  # it really is compressed
    with pytest.raises(InvalidInputError, match="too many bytes"):
        store.install(str(path))
    assert store.packs() == [] and leftovers(store) == []


def test_zip_that_lies_about_sizes_is_rejected(tmp_path: Path, store: RuleStore) -> None:
    data = bytearray(zip_bytes({"rules/rule.yml": PACK_FILES["windows/whoami.yml"]}))
    # shrink the uncompressed size in the central directory: the header now lies
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 10)
    path = tmp_path / "liar.zip"
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidInputError, match="cannot unpack"):
        store.install(str(path))
    assert store.packs() == [] and leftovers(store) == []


def test_bad_rule_is_reported_and_the_pack_installed(tmp_path: Path, store: RuleStore) -> None:
    source = write_tree(tmp_path / "mixed", {**PACK_FILES, "windows/broken.yml": BAD_RULE})

    pack = store.install(str(source), name="mixed")

    assert pack.rules == 2
    assert [(i.path, i.rule_id) for i in pack.errors] == [
        (pack.path / "windows" / "broken.yml", "5b7d0c4e-3f0a-4e8b-9a51-1c2d3e4f5a09")
    ]
    assert "nosuchmodifier" in pack.errors[0].message
    assert (pack.path / "windows" / "broken.yml").is_file()
    loaded = load_rules(store.enabled_paths())
    assert {WHOAMI_ID, ENCODED_ID} <= {r.id for r in loaded.rules}


def test_reinstall_needs_force_and_replaces_the_whole_pack(
    tmp_path: Path, store: RuleStore
) -> None:
    first = write_tree(tmp_path / "v1", PACK_FILES)
    second = write_tree(
        tmp_path / "v2", {"only.yml": detection_rule(FAILED_ID, "Only rule", ["attack.t1110"])}
    )
    store.install(str(first), name="team")

    with pytest.raises(ConflictError, match="--force"):
        store.install(str(second), name="team")
    assert store.packs()[0].rules == 2

    replaced = store.install(str(second), name="team", force=True)

    assert replaced.rules == 1
    assert sorted(p.name for p in replaced.path.rglob("*.y*ml")) == ["only.yml"]
    assert [p.name for p in store.packs()] == ["team"] and leftovers(store) == []


def test_install_refuses_bad_sources_and_names(tmp_path: Path, store: RuleStore) -> None:
    with pytest.raises(NotFoundError):
        store.install(str(tmp_path / "nowhere.zip"))
    text = tmp_path / "notes.zip"
    text.write_text("not a zip")
    with pytest.raises(InvalidInputError, match="not a folder or a zip"):
        store.install(str(text))
    empty = write_tree(tmp_path / "empty", {"README.md": "nothing"})
    with pytest.raises(InvalidInputError, match="no .yml or .yaml"):
        store.install(str(empty))
    rules = write_tree(tmp_path / "rules", PACK_FILES)
    for name in ("starter", "../up", ".hidden", "Upper", ""):
        with pytest.raises(InvalidInputError, match="cannot be a pack name"):
            store.install(str(rules), name=name)
    assert store.packs() == [] and leftovers(store) == []


@pytest.mark.parametrize(
    ("source", "name"),
    [
        (
            "https://github.com/SigmaHQ/sigma/releases/download/r2024-11-10/sigma_core.zip",
            "sigma_core",
        ),
        ("/data/My Rules/", "my_rules"),
        ("C:\\rules\\Team.Pack.zip", "team.pack"),
        ("https://example.org/get?file=x.zip", "get"),
        ("...", "pack"),
    ],
)
def test_pack_name(source: str, name: str) -> None:
    assert pack_name(source) == name


def test_remove_and_enabled_paths(tmp_path: Path, store: RuleStore) -> None:
    rules = write_tree(tmp_path / "rules", PACK_FILES)
    store.install(str(rules), name="zeta")
    store.install(str(rules), name="alpha")

    assert store.enabled_paths() == [
        starter_pack_path(),
        store.packs_dir / "alpha",
        store.packs_dir / "zeta",
    ]
    removed = store.remove("zeta")
    assert removed.name == "zeta" and not (store.packs_dir / "zeta").exists()
    assert [p.name for p in store.packs()] == ["alpha"] and leftovers(store) == []
    for name in ("zeta", "starter", "../rules"):
        with pytest.raises(NotFoundError):
            store.remove(name)


# -- switches --------------------------------------------------------------------------------


def loaded(store: RuleStore, tmp_path: Path, files: dict[str, str]) -> list[LoadedRule]:
    source = write_tree(tmp_path / f"pack-{uuid.uuid4().hex[:6]}", files)
    pack = store.install(str(source), name="pack")
    return load_rules([pack.path]).rules


def enabled_titles(store: RuleStore, rules: list[LoadedRule]) -> list[str]:
    return sorted(r.title for r in rules if store.is_enabled(r))


def test_disable_by_id_tag_and_title_survives_a_new_store(tmp_path: Path, store: RuleStore) -> None:
    rules = loaded(
        store,
        tmp_path,
        {
            **PACK_FILES,
            "failed.yml": detection_rule(FAILED_ID, "Failed Logon", ["attack.t1110"]),
        },
    )
    assert enabled_titles(store, rules) == [
        "Encoded PowerShell",
        "Failed Logon",
        "Whoami Discovery",
    ]

    store.disable(["ATTACK.T1059*"])
    assert enabled_titles(RuleStore(store.root), rules) == ["Failed Logon", "Whoami Discovery"]
    store.disable([WHOAMI_ID.upper()])
    assert enabled_titles(RuleStore(store.root), rules) == ["Failed Logon"]
    store.disable(["*logon"])
    fresh = RuleStore(store.root)
    assert enabled_titles(fresh, rules) == []
    assert fresh.disabled() == ["ATTACK.T1059*", WHOAMI_ID.upper(), "*logon"]

    fresh.enable(["ATTACK.T1059*", "*logon"])
    assert enabled_titles(RuleStore(store.root), rules) == ["Encoded PowerShell", "Failed Logon"]


def test_enable_one_rule_inside_a_disabled_tag(tmp_path: Path, store: RuleStore) -> None:
    rules = loaded(store, tmp_path, PACK_FILES)
    store.disable(["attack.*"])
    assert enabled_titles(store, rules) == []

    store.enable([ENCODED_ID])
    assert enabled_titles(RuleStore(store.root), rules) == ["Encoded PowerShell"]
    assert store.enabled_exceptions() == [ENCODED_ID]

    store.disable([ENCODED_ID])
    assert enabled_titles(RuleStore(store.root), rules) == []

    store.enable(["attack.*"])
    assert store.disabled() == [ENCODED_ID] and store.enabled_exceptions() == []
    assert enabled_titles(store, rules) == ["Whoami Discovery"]

    # enabling a disabled selector undoes it; a broader one still holds the rule off
    store.disable(["attack.t1059*"])
    store.enable([ENCODED_ID])
    assert enabled_titles(RuleStore(store.root), rules) == ["Whoami Discovery"]
    # asked again, the id becomes an exception
    store.enable([ENCODED_ID])
    assert enabled_titles(RuleStore(store.root), rules) == [
        "Encoded PowerShell",
        "Whoami Discovery",
    ]


def test_selectors_must_not_be_empty(store: RuleStore) -> None:
    with pytest.raises(InvalidInputError):
        store.disable(["  "])
    assert store.disabled() == []


def test_damaged_state_file_is_an_error(store: RuleStore) -> None:
    store.root.mkdir(parents=True)
    store.state_file.write_text("{not json")
    with pytest.raises(InvalidInputError, match="state.json"):
        store.disabled()


SPRAY_FILES = {
    "failed.yml": detection_rule(FAILED_ID, "Failed Logon", ["attack.t1110"], name="failed"),
    "whoami.yml": PACK_FILES["windows/whoami.yml"],
}


def test_filter_drops_a_correlation_whose_rule_is_disabled(
    tmp_path: Path, store: RuleStore
) -> None:
    rules = loaded(
        store, tmp_path, {**SPRAY_FILES, "spray.yml": correlation_rule(SPRAY_ID, ["failed"])}
    )
    store.disable([FAILED_ID])
    kept = store.filter(load_rules([store.packs_dir / "pack"]))
    assert sorted(r.id for r in kept.rules) == [WHOAMI_ID]
    assert store.enabled_ids(rules) == {WHOAMI_ID}


def test_disabling_a_correlation_keeps_its_quiet_rules_quiet(
    tmp_path: Path, store: RuleStore
) -> None:
    rules = loaded(
        store, tmp_path, {**SPRAY_FILES, "spray.yml": correlation_rule(SPRAY_ID, ["failed"])}
    )
    assert store.enabled_ids(rules) == {FAILED_ID, SPRAY_ID, WHOAMI_ID}
    store.disable(["Password spray"])
    # the failed-logon rule only fed the correlation: it must not start alerting on its own
    assert store.enabled_ids(rules) == {WHOAMI_ID}


def test_disabling_a_generating_correlation_keeps_its_rules(
    tmp_path: Path, store: RuleStore
) -> None:
    spray = correlation_rule(SPRAY_ID, [FAILED_ID], generate=True)
    rules = loaded(store, tmp_path, {**SPRAY_FILES, "spray.yml": spray})
    store.disable([SPRAY_ID])
    assert store.enabled_ids(rules) == {FAILED_ID, WHOAMI_ID}


def test_selects_matches_id_title_and_tags_without_case() -> None:
    lsass = "4fa6d39a-45bd-4a6e-8dd4-75b5288f48b6"  # proc_access_lsass
    rule = next(r for r in load_rules([starter_pack_path()]).rules if r.id == lsass)
    assert selects(rule.id.upper(), rule)
    assert selects(rule.title.upper(), rule)
    assert selects("ATTACK.T1003*", rule)
    assert not selects("attack.t1059*", rule)
    assert not selects(rule.id[:8], rule)


# -- the starter pack ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def starter() -> list[LoadedRule]:
    ruleset = load_rules([starter_pack_path()])
    assert [(i.path.name, i.message) for i in ruleset.issues] == []
    return ruleset.rules


def test_starter_pack_ships_inside_the_package() -> None:
    import tocsin

    path = starter_pack_path()
    assert path.is_dir() and path.is_relative_to(Path(tocsin.__file__).parent)


def test_starter_rules_load_cleanly_with_complete_metadata(starter: list[LoadedRule]) -> None:
    assert 30 <= len(starter) <= 45
    assert {r.kind for r in starter} == {"detection", "correlation", "filter"}
    assert len({r.id for r in starter}) == len(starter)
    for rule in starter:
        raw = yaml.safe_load(rule.path.read_text())
        assert uuid.UUID(rule.id).version == 4, rule.path
        assert raw["author"] == "Tocsin", rule.path
        assert raw["date"], rule.path
        assert rule.description and rule.references and rule.title, rule.path
        assert all(ref.startswith("https://") for ref in rule.references), rule.path
        if rule.kind == "filter":
            continue
        assert raw.get("level") in {"informational", "low", "medium", "high", "critical"}
        assert rule.falsepositives, rule.path
        assert any(re.fullmatch(r"attack\.t\d{4}(\.\d{3})?", t) for t in rule.tags), rule.path


def test_every_starter_rule_has_a_case_file(starter: list[LoadedRule]) -> None:
    stems = {r.path.stem for r in starter}
    assert len(stems) == len(starter)  # one rule per file
    assert {p.stem for p in CASES.glob("*.yml")} == stems
    for rule in starter:
        case = yaml.safe_load((CASES / f"{rule.path.stem}.yml").read_text())
        assert case["rule"] == rule.id and case["kind"] == rule.kind, rule.path.stem
        assert case["match"] and case["no_match"], rule.path.stem
        for event in [*case["match"], *case["no_match"]]:
            assert isinstance(event, dict) and event.get("event.dataset"), rule.path.stem
            if rule.kind == "correlation":
                assert "@timestamp" in event, rule.path.stem


def test_starter_case_events_reach_their_rule(starter: list[LoadedRule]) -> None:
    """Each positive event's dataset is one the rule's logsource routes to."""
    keys = {**{r.name: r for r in starter if r.name}, **{r.id: r for r in starter}}
    for rule in starter:
        case = yaml.safe_load((CASES / f"{rule.path.stem}.yml").read_text())
        targets = [keys[ref] for ref in rule.rule_refs] if rule.rule_refs else [rule]
        assert targets, rule.path.stem
        routes = [
            route
            for target in targets
            for route in routes_for(target.product, target.category, target.service)
        ]
        assert routes, f"{rule.path.stem}: logsource routes to no dataset"
        for event in case["match"]:
            assert any(
                route.covers(event["event.dataset"], event.get(route.field or "", None))
                for route in routes
            ), f"{rule.path.stem}: {event['event.dataset']} is not routed to the rule"


def test_install_a_folder_that_holds_the_home(tmp_path: Path) -> None:
    project = write_tree(
        tmp_path / "project", {"rules/whoami.yml": PACK_FILES["windows/whoami.yml"]}
    )
    store = RuleStore(project / "tocsin-data" / "rules")
    store.install(str(write_tree(tmp_path / "other", PACK_FILES)), name="other")

    pack = store.install(str(project), name="project")

    files = sorted(p.relative_to(pack.path).as_posix() for p in pack.path.rglob("*.yml"))
    assert files == ["rules/whoami.yml"]
