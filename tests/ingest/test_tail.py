import os

import pyarrow.parquet as pq

from tocsin.core.settings import load_settings
from tocsin.ingest.tail import Tailer
from tocsin.lake.layout import list_files


def stored_messages(settings):
    out = []
    for lake_file in list_files(settings.lake_dir):
        out.extend(pq.read_table(lake_file.path, columns=["msg"]).column(0).to_pylist())
    return sorted(out)


def test_tail_follows_growth_waits_for_newline_and_resumes(tmp_path):
    settings = load_settings(home=tmp_path / "home")
    log = tmp_path / "app.log"
    log.write_text('{"msg": "a"}\n{"msg": "b"}\n{"msg": "c"')  # the last line is not complete
    tailer = Tailer(settings, [log], format="json")
    assert tailer.poll() == 2
    tailer.close()
    with log.open("a") as handle:
        handle.write('}\n{"msg": "d"}\n')
    # a new tailer, as after a restart: resumes from the saved offset
    tailer = Tailer(settings, [log], format="json")
    assert tailer.poll() == 2
    assert tailer.poll() == 0
    tailer.close()
    assert stored_messages(settings) == ["a", "b", "c", "d"]


def test_tail_rereads_a_rotated_file(tmp_path):
    settings = load_settings(home=tmp_path / "home")
    log = tmp_path / "app.log"
    log.write_text('{"msg": "old"}\n')
    tailer = Tailer(settings, [log], format="json")
    assert tailer.poll() == 1
    os.rename(log, tmp_path / "app.log.1")
    log.write_text('{"msg": "new"}\n')
    assert tailer.poll() == 1
    log.write_text("")  # truncated in place
    with log.open("a") as handle:
        handle.write('{"msg": "after truncate"}\n')
    assert tailer.poll() == 1
    tailer.close()
    assert stored_messages(settings) == ["after truncate", "new", "old"]


def test_tail_detects_the_format_and_follows_folders(tmp_path):
    settings = load_settings(home=tmp_path / "home")
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "one.ndjson").write_text('{"msg": "1"}\n')
    tailer = Tailer(settings, [folder])
    assert tailer.poll() == 1
    (folder / "two.ndjson").write_text('{"msg": "2"}\n')
    assert tailer.poll() == 1
    tailer.close()
    assert tailer.states[str((folder / "one.ndjson").resolve())].format == "json"
    assert stored_messages(settings) == ["1", "2"]


ZEEK_HEADER = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
    "#path\tconn\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\n"
)


def zeek_row(i):
    return f"17000000{i:02d}.0\tC{i}\t10.0.0.{i}\t5000{i}\t198.51.100.1\t443\ttcp\n"


def test_tail_resumes_a_zeek_log_with_its_header_after_restart(tmp_path):
    settings = load_settings(home=tmp_path / "home")
    log = tmp_path / "conn.log"
    log.write_text(ZEEK_HEADER + zeek_row(1))
    tailer = Tailer(settings, [log])
    assert tailer.poll() == 1
    tailer.close()
    with log.open("a") as handle:
        handle.write(zeek_row(2) + zeek_row(3))
    tailer = Tailer(settings, [log])  # a restart: the parser has never seen the header
    assert tailer.poll() == 2
    tailer.close()
    assert tailer.pipeline.stats.quarantined == 0
    rows = []
    for lake_file in list_files(settings.lake_dir):
        rows.extend(pq.read_table(lake_file.path).to_pylist())
    assert sorted(r["uid"] for r in rows) == ["C1", "C2", "C3"]
    assert {r["event.dataset"] for r in rows} == {"zeek.conn"}
    assert len({r["event.id"] for r in rows}) == 3
    assert {r["destination.port"] for r in rows} == {443}
