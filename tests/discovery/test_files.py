"""Files and folders: documents and archives opened, hostile input skipped with a reason,
and the CLI's outputs and exit codes."""

from __future__ import annotations

import gzip
import io
import json
import os
import random
import tarfile
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tocsin.cli.app import app
from tocsin.discovery.extract import Limits, Skipped, TextPart, iter_parts, iter_tree
from tocsin.discovery.scan import ScanOptions, scan_files
from tocsin.testing import secrets as fakes
from tocsin.testing.documents import W, docx, pdf, xlsx


def parts(path: Path, limits: Limits | None = None) -> tuple[dict[str, str], dict[str, str]]:
    texts: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for part in iter_parts(path, limits, display=path.name):
        if isinstance(part, TextPart):
            texts[part.path] = part.text
        else:
            skipped[part.path] = part.reason
    return texts, skipped


def test_documents_give_their_text(tmp_path: Path) -> None:
    (tmp_path / "a.docx").write_bytes(docx("Hello", "SSN 123-45-6780"))
    (tmp_path / "b.xlsx").write_bytes(xlsx([["name", "email"], ["Jane", "jane@example.org"]]))
    (tmp_path / "c.pdf").write_bytes(pdf("card 4111 1111 1111 1111 and jane@example.org"))
    texts, _ = parts(tmp_path / "a.docx")
    assert texts == {"a.docx!word/document.xml": "Hello\nSSN 123-45-6780"}
    texts, _ = parts(tmp_path / "b.xlsx")
    assert texts == {"b.xlsx!Customers": "name\temail\nJane\tjane@example.org"}
    texts, _ = parts(tmp_path / "c.pdf")
    assert "jane@example.org" in texts["c.pdf!page 1"]


def test_nested_archives_up_to_the_depth_limit(tmp_path: Path) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("deep/secret.env", "TOKEN=x")
        z.writestr("hr.docx", docx("jane@example.org"))
    data = inner.getvalue()
    with tarfile.open(tmp_path / "backup.tgz", "w:gz") as t:
        info = tarfile.TarInfo("site/files.zip")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    texts, _ = parts(tmp_path / "backup.tgz")
    assert texts["backup.tgz!site/files.zip!deep/secret.env"] == "TOKEN=x"
    assert "backup.tgz!site/files.zip!hr.docx!word/document.xml" in texts
    texts, skipped = parts(tmp_path / "backup.tgz", Limits(max_depth=1))
    assert texts == {}
    assert "depth limit 1" in skipped["backup.tgz!site/files.zip"]


def test_hostile_inputs_are_skipped_with_reasons(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.txt", b"0" * (20 * 2**20))
        z.writestr("fine.txt", "ok")
    texts, skipped = parts(tmp_path / "bomb.zip")
    assert texts == {"bomb.zip!fine.txt": "ok"}
    assert "zip bomb" in skipped["bomb.zip!zeros.txt"]
    (tmp_path / "corrupt.zip").write_bytes(b"PK\x03\x04" + os.urandom(200))
    assert "corrupt zip" in parts(tmp_path / "corrupt.zip")[1]["corrupt.zip"]
    (tmp_path / "trunc.gz").write_bytes(gzip.compress(b"x" * 10000)[:30])
    assert "gzip data" in parts(tmp_path / "trunc.gz")[1]["trunc.gz"]
    (tmp_path / "prog").write_bytes(b"\x7fELF" + bytes(1000))
    assert parts(tmp_path / "prog")[1] == {"prog": "binary file"}
    with zipfile.ZipFile(tmp_path / "evil.docx", "w") as z:
        z.writestr(
            "word/document.xml",
            f"<!DOCTYPE d [<!ENTITY a 'aaaa'>]><w:document xmlns:w=\"{W}\"><w:body><w:p>"
            "<w:r><w:t>&a;&a;</w:t></w:r></w:p></w:body></w:document>",
        )
    texts, skipped = parts(tmp_path / "evil.docx")
    assert texts == {} and "DTD or entities" in " ".join(skipped.values())
    (tmp_path / "long.min.js").write_text("a" * (3 * 2**20))
    texts, skipped = parts(tmp_path / "long.min.js")
    assert texts["long.min.js"].count("\n") == 2 and "cut into pieces" in skipped["long.min.js"]
    (tmp_path / "utf16.txt").write_bytes("contact jane@example.org".encode("utf-16"))
    assert parts(tmp_path / "utf16.txt")[0]["utf16.txt"] == "contact jane@example.org"


def test_unreadable_file_is_reported_and_the_rest_goes_through() -> None:
    """Run as an unprivileged user: root reads any file (as root, setpriv drops to nobody)."""
    import shutil
    import subprocess
    import sys
    import tempfile

    command = [sys.executable, "-c", UNREADABLE_PROBE]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root reads any file; dropping to nobody needs setpriv (util-linux)")
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    folder = Path(tempfile.mkdtemp(prefix="tocsin-unreadable-"))
    try:
        folder.chmod(0o755)
        (folder / "locked.txt").write_text("x")
        (folder / "locked.txt").chmod(0)
        (folder / "open.txt").write_text("jane@example.org")
        (folder / "open.txt").chmod(0o644)
        out = subprocess.run(
            [*command, str(folder)], capture_output=True, text=True, check=True, timeout=60
        )
    finally:
        shutil.rmtree(folder)
    assert json.loads(out.stdout) == [
        ["skipped", "locked.txt", "unreadable: Permission denied"],
        ["text", "open.txt", "jane@example.org"],
    ]


UNREADABLE_PROBE = """
import json, sys
from pathlib import Path
from tocsin.discovery.extract import TextPart, iter_tree
out = []
for part in iter_tree(Path(sys.argv[1])):
    if isinstance(part, TextPart):
        out.append(["text", part.path, part.text])
    else:
        out.append(["skipped", part.path, part.reason])
print(json.dumps(out))
"""


def test_tree_skips_git_and_symlinks_and_keeps_going(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("x")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "c.txt").write_text("c")
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "loop").symlink_to(tmp_path)
    assert [p.path for p in iter_tree(tmp_path)] == ["a.txt", "b/c.txt"]


def _tree(root: Path) -> dict[str, str]:
    rng = random.Random(9)
    pat = fakes.github_pat(rng)
    (root / "src").mkdir(parents=True)
    (root / "src" / "app.py").write_text(f"TOKEN = '{pat}'\n")
    (root / "vendor").mkdir()
    (root / "vendor" / "lib.py").write_text(f"TOKEN = '{fakes.github_pat(rng)}'\n")
    (root / "hr.docx").write_bytes(docx("Employee SSN 123-45-6780"))
    return {"pat": pat}


def test_scan_files_finds_text_in_documents_and_applies_the_allow_list(tmp_path: Path) -> None:
    from tocsin.discovery.allow import parse_allow_list

    _tree(tmp_path)
    report = scan_files([tmp_path], ScanOptions())
    assert {(f.location.path, f.kind) for f in report.findings} == {
        ("src/app.py", "GITHUB_PAT"),
        ("vendor/lib.py", "GITHUB_PAT"),
        ("hr.docx!word/document.xml", "US_SSN"),
    }
    # two processes give the same findings, in the same order
    pooled = scan_files([tmp_path], ScanOptions(), workers=2)
    assert [f.fingerprint for f in pooled.findings] == [f.fingerprint for f in report.findings]
    assert (pooled.parts, pooled.bytes) == (report.parts, report.bytes)
    allow = parse_allow_list("paths: ['^vendor/']\n", "a.yaml")
    report = scan_files([tmp_path], ScanOptions(allow=allow))
    assert "vendor/lib.py" not in {f.location.path for f in report.findings}


runner = CliRunner()


def test_cli_scan_outputs_and_fail_on(tmp_path: Path) -> None:
    secrets = _tree(tmp_path / "t")
    result = runner.invoke(app, ["discovery", "scan", str(tmp_path / "t"), "-o", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {r["kind"] for r in rows} == {"GITHUB_PAT", "US_SSN"}
    assert secrets["pat"] not in result.stdout
    sarif = runner.invoke(app, ["discovery", "scan", str(tmp_path / "t"), "-o", "sarif"])
    assert json.loads(sarif.stdout)["runs"][0]["results"][0]["ruleId"]
    failing = runner.invoke(
        app, ["discovery", "scan", str(tmp_path / "t"), "--fail-on", "high", "-o", "csv"]
    )
    assert failing.exit_code == 1 and failing.stdout.startswith("level,kind,location")
    only = runner.invoke(
        app, ["discovery", "scan", str(tmp_path / "t"), "--no-secrets", "-o", "ndjson"]
    )
    assert [json.loads(x)["kind"] for x in only.stdout.splitlines()] == ["US_SSN"]
    missing = runner.invoke(app, ["discovery", "scan", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "no such file" in missing.output


def test_cli_rules_lists_builtin_and_extra(tmp_path: Path) -> None:
    extra = tmp_path / "team.yaml"
    extra.write_text(
        "rules:\n  - id: acme-key\n    regex: 'acme_[a-z0-9]{16}'\n    keywords: [acme_]\n"
    )
    result = runner.invoke(app, ["discovery", "rules", "--rules", str(extra), "-o", "json"])
    ids = {r["id"] for r in json.loads(result.stdout)}
    assert {"acme-key", "github-pat", "pii-iban"} <= ids


def test_cli_diff_gates_new_secrets_with_the_repos_allow_list_and_baseline(tmp_path: Path) -> None:
    import shutil
    import subprocess

    if shutil.which("git") is None:
        pytest.skip("needs git (Debian: git)")
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "d",
        "GIT_AUTHOR_EMAIL": "d@x",
        "GIT_COMMITTER_NAME": "d",
        "GIT_COMMITTER_EMAIL": "d@x",
    }

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, env=env, capture_output=True)

    git("init", "-q", "-b", "main")
    rng = random.Random(11)
    old, new, sample = fakes.github_pat(rng), fakes.github_pat(rng), fakes.github_pat(rng)
    (repo / "app.py").write_text(f"OLD = '{old}'\n")
    git("add", ".")
    git("commit", "-qm", "base")
    # accept what is there: the baseline, committed with the repository
    base = runner.invoke(app, ["discovery", "baseline", str(repo)])
    assert base.exit_code == 0 and (repo / ".tocsin" / "discovery-baseline.json").exists()
    (repo / "app.py").write_text(f"OLD = '{old}'\nNEW = '{new}'\n")
    (repo / "docs.md").write_text(f"example: {sample}\n")
    (repo / ".tocsin" / "discovery-allow.yaml").write_text("paths: ['^docs\\.md$']\n")
    git("add", ".")
    sarif = tmp_path / "out.sarif"
    staged = runner.invoke(
        app, ["discovery", "diff", "--repo", str(repo), "-o", "json", "--sarif", str(sarif)]
    )
    assert staged.exit_code == 1, staged.output
    rows = json.loads(staged.stdout)
    assert [(r["path"], r["line"]) for r in rows] == [("app.py", 2)]
    assert (
        json.loads(sarif.read_text())["runs"][0]["results"][0]["locations"][0]["physicalLocation"][
            "artifactLocation"
        ]["uri"]
        == "app.py"
    )
    git("commit", "-qm", "more")
    clean = runner.invoke(app, ["discovery", "diff", "--repo", str(repo), "-o", "json"])
    assert clean.exit_code == 0 and json.loads(clean.stdout) == []
    ranged = runner.invoke(app, ["discovery", "diff", "HEAD~1", "--repo", str(repo), "-o", "json"])
    assert ranged.exit_code == 1 and len(json.loads(ranged.stdout)) == 1


def test_zip_members_that_could_fill_memory_or_break_zipfile(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "odd.zip", "w") as z:
        z.writestr(zipfile.ZipInfo("packed.txt"), b"x" * 1000, compress_type=zipfile.ZIP_BZIP2)
        z.writestr(zipfile.ZipInfo(""), b"a member without a name")
        z.writestr("fine.txt", "ok")
    texts, skipped = parts(tmp_path / "odd.zip")
    assert texts["odd.zip!fine.txt"] == "ok"
    assert skipped["odd.zip!packed.txt"] == "unsupported zip compression: bzip2"
    assert texts["odd.zip!"] == "a member without a name"  # read, and no crash on its name
    # too many members: refused from the directory's size, before zipfile reads it all
    with zipfile.ZipFile(tmp_path / "many.zip", "w") as z:
        for i in range(40):
            z.writestr(f"m{i:03d}-" + "n" * 40 + ".txt", "x")
    texts, skipped = parts(tmp_path / "many.zip", Limits(max_members=2))
    assert texts == {} and "too many members: 40" in skipped["many.zip"]


def test_truncated_gzip_keeps_what_came_out(tmp_path: Path) -> None:
    body = "".join(f"line {i} jane{i}@example.org\n" for i in range(2000)).encode()
    packed = gzip.compress(body)
    (tmp_path / "app.log.gz").write_bytes(packed[: len(packed) * 2 // 3])
    texts, skipped = parts(tmp_path / "app.log.gz")
    assert "truncated gzip data" in skipped["app.log.gz"]
    kept = texts["app.log.gz!app.log"]
    assert kept.startswith("line 0 jane0@example.org") and 0 < len(kept) < len(body)


def test_damaged_containers_never_raise() -> None:
    from tocsin.discovery.extract import iter_bytes_parts

    rng = random.Random(5)
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a.txt", "hello " * 50)
        z.writestr("b.docx", docx("x", "y"))
    seeds = [
        inner.getvalue(),
        docx("a", "b"),
        xlsx([["a", "b"]]),
        pdf("hi"),
        gzip.compress(b"x" * 999),
    ]
    for _ in range(300):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(data))
            if rng.random() < 0.6:
                data[at] = rng.randrange(256)
            else:
                del data[at : at + rng.randint(1, 40)]
            data = data or bytearray(b"x")
        for part in iter_bytes_parts("f", bytes(data), Limits(max_file_bytes=2**20)):
            assert isinstance(part, TextPart | Skipped)
