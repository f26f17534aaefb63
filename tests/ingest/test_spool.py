import threading

import pytest

from tocsin.ingest.spool import Spool, SpoolPosition, SpoolRecord


def record(i, size=0, kind="syslog"):
    payload = f"<13>Jan  1 00:00:00 host app: message {i} ".encode() + b"x" * size
    return SpoolRecord(kind, f"tcp://127.0.0.1:{i}", payload, 1700000000.0 + i)


def read_all(spool, start=None, **kwargs):
    """Every record from ``start`` (or the checkpoint) to the end, and the end position."""
    position = start if start is not None else spool.read_checkpoint()
    out = []
    for _ in range(10_000):
        records, after = spool.read(position, **kwargs)
        position = after
        if not records:
            break
        out.extend(records)
    return out, position


@pytest.fixture
def spool(tmp_path):
    spool = Spool(tmp_path / "spool", segment_bytes=1024)
    yield spool
    spool.close()


def test_record_round_trip_keeps_every_field(tmp_path):
    spool = Spool(tmp_path / "spool")
    sent = SpoolRecord(
        "http", "http://10.0.0.1 token:ab12", b'{"a": 1}\n{"b": "\xc3\xa9"}\n', 1.5, "json", "web"
    )
    bare = SpoolRecord("syslog", "udp://127.0.0.1:9", b"\x00\xff binary\n", 2.0)
    end = spool.append([sent, bare])
    records, after = spool.read(spool.read_checkpoint())
    assert [r for _, r in records] == [sent, bare]
    assert after == end == spool.end()
    assert records[0][0] == SpoolPosition(1, 0)
    spool.close()


def test_round_trip_across_segment_rotation(spool):
    sent = [record(i) for i in range(200)]
    for start in range(0, 200, 7):  # batches of several records
        spool.append(sent[start : start + 7])
    assert len(spool.segments()) > 5
    got, end = read_all(spool)
    assert [r for _, r in got] == sent
    assert end == spool.end()
    positions = [p for p, _ in got]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    # reading from any record's position resumes exactly there
    resumed, _ = read_all(spool, start=positions[123])
    assert [r for _, r in resumed] == sent[123:]


def test_read_limits_by_record_count(spool):
    sent = [record(i) for i in range(50)]
    spool.append(sent)
    records, after = spool.read(spool.read_checkpoint(), max_records=10)
    assert [r for _, r in records] == sent[:10]
    rest, _ = read_all(spool, start=after, max_records=10)
    assert [r for _, r in rest] == sent[10:]


def test_commit_deletes_consumed_segments_and_survives_reopen(tmp_path):
    folder = tmp_path / "spool"
    spool = Spool(folder, segment_bytes=1024)
    sent = [record(i) for i in range(100)]
    for item in sent:
        spool.append([item])
    before = spool.segments()
    got, _ = read_all(spool)
    middle = got[60][0]
    spool.commit(middle)
    after_commit = spool.segments()
    assert after_commit[0] == middle.segment
    assert set(after_commit) < set(before)
    spool.close()

    reopened = Spool(folder, segment_bytes=1024)
    assert reopened.read_checkpoint() == middle
    again, _ = read_all(reopened)
    assert [r for _, r in again] == sent[60:]
    # appending after the reopen continues where it left off
    reopened.append([record(1000)])
    tail, end = read_all(reopened, start=again[-1][0])
    assert [r for _, r in tail] == [sent[-1], record(1000)]
    reopened.commit(end)
    assert reopened.segments() == [end.segment]
    assert reopened.pending_bytes() == 0
    reopened.close()


def test_torn_record_is_cut_on_reopen(tmp_path):
    folder = tmp_path / "spool"
    spool = Spool(folder)
    sent = [record(i) for i in range(10)]
    spool.append(sent)
    spool.append([record(99, size=500)])
    spool.close()
    segment = next(folder.glob("seg-*.spool"))
    data = segment.read_bytes()
    segment.write_bytes(data[:-7])  # the crash hit mid-write

    reopened = Spool(folder)
    got, end = read_all(reopened)
    assert [r for _, r in got] == sent
    assert segment.stat().st_size == end.offset  # the torn tail was cut off
    # new records go after the intact ones and are read back
    reopened.append([record(10)])
    more, _ = read_all(reopened, start=end)
    assert [r for _, r in more] == [record(10)]
    reopened.close()


def test_torn_header_is_cut_on_reopen(tmp_path):
    folder = tmp_path / "spool"
    spool = Spool(folder)
    spool.append([record(1), record(2)])
    end = spool.end()
    spool.close()
    segment = next(folder.glob("seg-*.spool"))
    with segment.open("ab") as handle:
        handle.write(b"\x10\x00\x00")  # three bytes of the next header
    reopened = Spool(folder)
    assert reopened.end() == end
    got, _ = read_all(reopened)
    assert [r for _, r in got] == [record(1), record(2)]
    reopened.close()


def test_record_bigger_than_the_read_budget_is_still_read(tmp_path):
    spool = Spool(tmp_path / "spool")
    big = record(1, size=200_000)
    sent = [record(0), big, record(2)]
    spool.append(sent)
    got, end = read_all(spool, max_bytes=4096)
    assert [r for _, r in got] == sent
    assert end == spool.end()
    first, _ = spool.read(got[1][0], max_bytes=1000)
    assert [r for _, r in first] == [big]
    spool.close()


def test_record_bigger_than_a_segment_gets_its_own(spool):
    sent = [record(0), record(1, size=5000), record(2)]
    for item in sent:
        spool.append([item])
    got, _ = read_all(spool, max_bytes=512)
    assert [r for _, r in got] == sent


def test_pending_bytes_and_is_full(tmp_path):
    spool = Spool(tmp_path / "spool", max_bytes=3000, segment_bytes=1024)
    assert spool.pending_bytes() == 0
    assert not spool.is_full()
    spool.append([record(i) for i in range(5)])
    first = spool.pending_bytes()
    assert 0 < first < 3000
    assert not spool.is_full()
    for i in range(5, 60):
        spool.append([record(i)])
    assert len(spool.segments()) > 2
    total = sum(p.stat().st_size for p in (tmp_path / "spool").glob("seg-*.spool"))
    assert spool.pending_bytes() == total
    assert spool.is_full()
    got, _ = read_all(spool)
    spool.commit(got[40][0])
    remaining = sum(len(r.encode()) + 8 for _, r in got[40:])  # 8: the record header
    assert spool.pending_bytes() == remaining
    assert not spool.is_full()
    spool.commit(spool.end())
    assert spool.pending_bytes() == 0
    spool.close()


def test_wait_for_data_wakes_on_append(spool):
    start = spool.end()
    assert not spool.wait_for_data(start, 0.01)
    timer = threading.Timer(0.05, spool.append, args=([record(1)],))
    timer.start()
    try:
        assert spool.wait_for_data(start, 5.0)
    finally:
        timer.join()


def test_concurrent_append_and_read_lose_nothing_across_rotation(tmp_path):
    """A reader racing a writer that rotates segments reads every record once, in order."""
    spool = Spool(tmp_path / "spool", segment_bytes=2048)
    total = 4000
    sent = [record(i) for i in range(total)]
    done = threading.Event()

    def write():
        try:
            for i in range(0, total, 3):
                spool.append(sent[i : i + 3])
        finally:
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    got = []
    position = spool.read_checkpoint()
    try:
        while True:
            finished = done.is_set()
            records, position = spool.read(position, max_records=17)
            got.extend(r for _, r in records)
            if records:
                spool.commit(position)
            elif finished:
                break
    finally:
        writer.join()
    assert len(got) == total
    assert got == sent
    spool.close()


def test_packed_messages_round_trip():
    from tocsin.ingest.spool import pack_messages, unpack_messages

    messages = [b"", b"one", b"two\nlines", b"\x00\xff" * 100]
    assert unpack_messages(pack_messages(messages)) == messages
    assert unpack_messages(b"") == []
