"""The EVTX parser (tocsin.ingest.parsers.evtx), on shared samples and damaged copies of them."""

from __future__ import annotations

import gzip
import io
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import orjson
import pytest
from evtx import PyEvtxParser

from tocsin.core.event import Event
from tocsin.ingest.base import ParseContext, ParseIssue, Parser
from tocsin.ingest.files import OpenedInput
from tocsin.ingest.parsers.evtx import BATCH_SIZE, CHUNK_SIZE, HEADER_SIZE, EvtxParser

SECURITY_FILE = "evtx/DeepBlueCLI/smb-password-guessing-security.evtx"  # 3561 records
SECURITY_RECORDS = 3561
CHUNK0_RECORDS = 107


def parse(
    stream: BinaryIO, source: str = "test.evtx", dataset: str | None = None
) -> tuple[list[Event], list[ParseIssue], list[int]]:
    """All events, issues and batch sizes of one input."""
    ctx = ParseContext(source=source, identity="identity", dataset=dataset)
    events: list[Event] = []
    issues: list[ParseIssue] = []
    sizes: list[int] = []
    for batch in EvtxParser().parse_stream(stream, ctx):
        events.extend(batch.events)
        issues.extend(batch.issues)
        sizes.append(len(batch.events))
    return events, issues, sizes


def parse_file(path: Path, dataset: str | None = None) -> tuple[list[Event], list[ParseIssue]]:
    with path.open("rb") as stream:
        events, issues, _ = parse(stream, str(path), dataset)
    return events, issues


@pytest.fixture
def security_file(shared_data: Path) -> Path:
    return shared_data / SECURITY_FILE


@pytest.mark.parametrize(
    ("head", "score"),
    [
        (b"ElfFile\x00" + bytes(120), 100),
        (b"ElfChnk\x00" + bytes(120), 0),
        (b'{"Event": {"System": {}}}', 0),
        (b"ElfFile", 0),
        (b"", 0),
    ],
)
def test_sniff(head: bytes, score: int) -> None:
    assert EvtxParser().sniff(head) == score


def test_is_a_parser() -> None:
    assert isinstance(EvtxParser(), Parser)
    assert EvtxParser.id == "evtx"


def test_sniffs_a_real_file(security_file: Path) -> None:
    assert EvtxParser().sniff(security_file.read_bytes()[:65536]) == 100


def test_parses_every_record_with_envelope(security_file: Path) -> None:
    with security_file.open("rb") as stream:
        events, issues, sizes = parse(stream, str(security_file))
    assert issues == []
    assert len(events) == SECURITY_RECORDS
    assert sizes == [BATCH_SIZE, SECURITY_RECORDS - BATCH_SIZE]
    assert BATCH_SIZE <= 8192
    ctx = ParseContext(source=str(security_file), identity="identity")
    rendered = [item for item in PyEvtxParser(str(security_file)).records_json() if item]
    for event, item in zip(events, rendered, strict=True):
        assert event["event.id"] == ctx.event_id(item["event_record_id"])
        assert event["event.original"] == item["data"]
        assert event["event.dataset"] == "windows.security"
        assert event["event.kind"] == "event"
        stamp = event["@timestamp"]
        assert isinstance(stamp, datetime) and stamp.utcoffset() is not None
        assert isinstance(event["EventID"], int)
    assert len({event["event.id"] for event in events}) == SECURITY_RECORDS
    first = orjson.loads(str(events[0]["event.original"]))
    assert first["Event"]["System"]["EventRecordID"] == events[0]["EventRecordID"]


def test_ids_are_stable_across_reads(security_file: Path) -> None:
    first, _ = parse_file(security_file)
    second, _ = parse_file(security_file)
    assert [event["event.id"] for event in first] == [event["event.id"] for event in second]


def test_forced_dataset(security_file: Path) -> None:
    events, _ = parse_file(security_file, dataset="lab.security")
    assert {event["event.dataset"] for event in events} == {"lab.security"}


def test_stream_in_memory_gives_the_same_events(security_file: Path) -> None:
    from_disk, _ = parse_file(security_file)
    in_memory, issues, _ = parse(io.BufferedReader(io.BytesIO(security_file.read_bytes())))
    assert issues == []
    assert in_memory == from_disk


def test_gzipped_file_through_opened_input(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "evtx/DeepBlueCLI/metasploit-psexec-native-target-system.evtx"
    packed = tmp_path / "system.evtx.gz"
    packed.write_bytes(gzip.compress(source.read_bytes()))
    expected, _ = parse_file(source)
    with OpenedInput(packed) as opened:
        assert EvtxParser().sniff(opened.head) == 100
        events, issues, _ = parse(opened.stream, str(packed))
    assert issues == []
    assert [event["EventRecordID"] for event in events] == [
        event["EventRecordID"] for event in expected
    ]


def test_stream_is_left_at_its_end(security_file: Path) -> None:
    with security_file.open("rb") as stream:
        parse(stream)
        assert stream.tell() == security_file.stat().st_size


def test_truncated_inside_a_chunk(security_file: Path, tmp_path: Path) -> None:
    """A copy cut in the middle of chunk 1: chunk 0 and the whole records of chunk 1 are read."""
    cut = tmp_path / "cut.evtx"
    cut.write_bytes(security_file.read_bytes()[: HEADER_SIZE + CHUNK_SIZE + 30000])
    events, issues = parse_file(cut)
    assert CHUNK0_RECORDS < len(events) < SECURITY_RECORDS
    assert len(issues) == 1
    assert "truncated" in issues[0].reason and "30000 bytes" in issues[0].reason
    assert issues[0].source == str(cut)
    complete, _ = parse_file(security_file)
    assert events == complete[: len(events)]  # the records read are the file's first ones


def test_truncated_at_a_chunk_boundary(security_file: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.evtx"
    cut.write_bytes(security_file.read_bytes()[: HEADER_SIZE + 2 * CHUNK_SIZE])
    events, issues = parse_file(cut)
    assert CHUNK0_RECORDS < len(events) < SECURITY_RECORDS
    assert [issue.reason.split(":")[0] for issue in issues] == ["file truncated"]
    assert "declares 34 chunks, it holds 2 whole chunks" in issues[0].reason


def test_truncated_inside_the_header(security_file: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.evtx"
    cut.write_bytes(security_file.read_bytes()[:3000])
    events, issues = parse_file(cut)
    assert events == []
    assert len(issues) == 1
    assert issues[0].reason.startswith("cannot read as EVTX")


def test_corrupt_record_is_reported_and_reading_goes_on(
    security_file: Path, tmp_path: Path
) -> None:
    data = bytearray(security_file.read_bytes())
    start = HEADER_SIZE + CHUNK_SIZE + 20000  # inside a record of chunk 1
    data[start : start + 400] = b"A" * 400
    broken = tmp_path / "broken.evtx"
    broken.write_bytes(bytes(data))
    events, issues = parse_file(broken)
    assert SECURITY_RECORDS - 5 <= len(events) < SECURITY_RECORDS
    assert len(issues) >= 1
    issue = issues[0]
    assert "record" in issue.reason and "chunk 1" in issue.reason
    assert issue.offset == HEADER_SIZE + CHUNK_SIZE
    assert issue.raw == bytes(data[HEADER_SIZE + CHUNK_SIZE : HEADER_SIZE + 2 * CHUNK_SIZE])
    assert issue.parser == "evtx"
    assert all(later.raw == b"" for later in issues[1:])  # a chunk's bytes are kept once


def test_not_evtx_at_all(tmp_path: Path) -> None:
    junk = tmp_path / "junk.evtx"
    junk.write_bytes(b"ElfFile\x00" + b"\xff" * 5000)
    events, issues = parse_file(junk)
    assert events == []
    assert issues and all(issue.parser == "evtx" for issue in issues)
