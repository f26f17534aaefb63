import time

import orjson
import pyarrow.parquet as pq
import pytest

from tocsin.core.settings import Settings
from tocsin.ingest.consumer import SpoolConsumer, lake_has_spool_tags, spool_tag
from tocsin.ingest.spool import Spool, SpoolPosition, SpoolRecord
from tocsin.lake.layout import list_files


def syslog(i):
    payload = f"<13>May  1 10:00:00 web01 app[7]: seq={i}".encode()
    return SpoolRecord("syslog", "tcp://127.0.0.1:5000", payload, time.time())


def http(first, count, dataset="web"):
    lines = [orjson.dumps({"seq": i, "msg": f"http {i}"}) for i in range(first, first + count)]
    return SpoolRecord(
        "http",
        "http://127.0.0.1 token:abcd",
        b"\n".join(lines) + b"\n",
        time.time(),
        "auto",
        dataset,
    )


def lake_ids(lake):
    """Every event.id in the lake (one per row)."""
    ids = []
    for lake_file in list_files(lake):
        ids.extend(pq.read_table(lake_file.path, columns=["event.id"]).column(0).to_pylist())
    return ids


@pytest.fixture
def home(tmp_path):
    return Settings(home=tmp_path / "home", flush_seconds=0.05)


def fill(settings, batches=5, per_batch=40):
    """Append syslog messages and HTTP bodies to the spool; returns the events they hold."""
    spool = Spool(settings.spool_dir, segment_bytes=4096)
    total = 0
    for b in range(batches):
        spool.append([syslog(b * per_batch + i) for i in range(per_batch)])
        spool.append([http(b * per_batch, 10), http(b * per_batch + 10, 5, dataset="app")])
        total += per_batch + 15
    spool.close()
    return total


def open_consumer(settings):
    spool = Spool(settings.spool_dir, segment_bytes=4096)
    return spool, SpoolConsumer(settings, spool, detection=False)


def test_drain_stores_every_record_and_commits(home):
    total = fill(home)
    spool, consumer = open_consumer(home)
    consumer.drain()
    ids = lake_ids(home.lake_dir)
    assert len(ids) == len(set(ids)) == total
    datasets = {f.dataset for f in list_files(home.lake_dir)}
    assert datasets == {"syslog", "web", "app"}
    assert spool.read_checkpoint() == spool.end() == consumer.committed
    assert spool.pending_bytes() == 0
    assert lake_has_spool_tags(home.lake_dir)
    # a restart with nothing new writes nothing
    spool.close()
    spool, again = open_consumer(home)
    again.drain()
    assert len(lake_ids(home.lake_dir)) == total
    spool.close()


def crash_after_lake_write(settings):
    """Process the whole spool and write the lake files, then 'crash' before the commit."""
    spool, consumer = open_consumer(settings)
    while consumer.step(wait=0.0):
        pass
    assert consumer.writer.buffered
    consumer.writer.flush(name_tag=spool_tag(consumer.position))
    spool.close()  # the process dies here: the checkpoint was never committed
    return consumer.position


def test_crash_between_lake_write_and_commit_writes_each_event_once(home):
    total = fill(home)
    crash_after_lake_write(home)
    assert len(lake_ids(home.lake_dir)) == total
    spool, restarted = open_consumer(home)
    assert restarted.committed == SpoolPosition(1, 0)
    restarted.drain()
    ids = lake_ids(home.lake_dir)
    assert len(ids) == len(set(ids)) == total
    assert restarted.writer.stats.duplicates == total
    spool.close()


def test_crash_after_a_partial_flush_rewrites_only_what_is_missing(home):
    """The crash hit mid-flush: one dataset's file was written, another's was not."""
    total = fill(home)
    crash_after_lake_write(home)
    lost = list_files(home.lake_dir, datasets=["syslog"])
    assert lost
    for lake_file in lost:
        lake_file.path.unlink()
    kept = len(lake_ids(home.lake_dir))
    spool, restarted = open_consumer(home)
    restarted.drain()
    ids = lake_ids(home.lake_dir)
    assert len(ids) == len(set(ids)) == total
    assert restarted.writer.stats.duplicates == kept
    spool.close()


def test_crash_with_more_records_after_it_and_a_second_crash(home):
    total = fill(home, batches=3)
    crash_after_lake_write(home)
    # more arrived after the restart, then a second crash before any commit
    spool = Spool(home.spool_dir, segment_bytes=4096)
    spool.append([syslog(10_000 + i) for i in range(30)])
    spool.close()
    total += 30
    crash_after_lake_write(home)
    spool, restarted = open_consumer(home)
    restarted.drain()
    ids = lake_ids(home.lake_dir)
    assert len(ids) == len(set(ids)) == total
    spool.close()


def test_rewound_checkpoint_replays_without_duplicates(home):
    total = fill(home, batches=2)
    spool, consumer = open_consumer(home)
    consumer.drain()
    spool.close()
    # the checkpoint is rewound (restored from an old backup, say) to the spool's first record
    (home.spool_dir / "checkpoint").write_text("1:0")
    spool, replayed = open_consumer(home)
    assert replayed.committed == SpoolPosition(1, 0)
    replayed.drain()
    ids = lake_ids(home.lake_dir)
    assert len(ids) == len(set(ids)) == total
    assert spool.read_checkpoint() == spool.end()
    spool.close()


def test_unparsable_records_are_quarantined_and_committed(home):
    spool, consumer = open_consumer(home)
    spool.append(
        [
            SpoolRecord("syslog", "udp://127.0.0.1:9", b"\xff\xfe garbage \x80", time.time()),
            syslog(1),
            SpoolRecord("http", "http://x token:ab", b"\x01\x02 not json", time.time(), "auto"),
            SpoolRecord("http", "http://x token:ab", b"{}", time.time(), "no-such-format"),
        ]
    )
    consumer.drain()
    assert len(lake_ids(home.lake_dir)) == 1
    reasons = sorted(r.parser for r in consumer.quarantine.records())
    assert reasons == ["auto", "no-such-format", "syslog"]
    assert spool.pending_bytes() == 0
    spool.close()


def test_consumer_thread_stores_within_the_flush_interval_and_stops_cleanly(home):
    spool, consumer = open_consumer(home)
    consumer.start()
    try:
        spool.append([syslog(i) for i in range(100)])
        deadline = time.monotonic() + 10
        while len(lake_ids(home.lake_dir)) < 100 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(lake_ids(home.lake_dir)) == 100
        spool.append([syslog(i) for i in range(100, 150)])
    finally:
        consumer.stop(timeout=10)
    ids = lake_ids(home.lake_dir)
    assert len(ids) == len(set(ids)) == 150
    assert spool.read_checkpoint() == spool.end()
    spool.close()


@pytest.mark.parametrize("damage", ["body", "length"])
def test_a_segment_damaged_on_disk_is_quarantined_and_the_rest_goes_on(home, damage):
    spool = Spool(home.spool_dir, segment_bytes=4096)
    for i in range(60):  # several segments of ~4 KiB
        spool.append([syslog(i)])
    spool.close()
    first = home.spool_dir / "seg-000000000001.spool"
    data = bytearray(first.read_bytes())
    middle = len(data) // 2
    if damage == "body":
        data[middle] ^= 0xFF
    else:
        # find the record boundary at or after the middle and give it an absurd length
        spool_check = Spool(home.spool_dir, segment_bytes=4096)
        records, _ = spool_check.read(spool_check.read_checkpoint())
        spool_check.close()
        starts = [pos.offset for pos, _ in records if pos.segment == 1]
        boundary = next(o for o in starts if o >= middle)
        data[boundary : boundary + 4] = (10**8).to_bytes(4, "little")
    first.write_bytes(bytes(data))
    spool, consumer = open_consumer(home)
    consumer.drain()
    stored = len(lake_ids(home.lake_dir))
    quarantined = list(consumer.quarantine.records())
    assert 0 < stored < 60  # what came before the damage and every later segment
    assert len(quarantined) == 1
    assert "damaged" in quarantined[0].reason
    assert consumer.spool.pending_bytes() == 0  # the consumer is not stuck on it
    spool.close()


def test_replayed_bad_records_are_quarantined_once(home):
    spool = Spool(home.spool_dir)
    spool.append([SpoolRecord("syslog", "udp://127.0.0.1:9", b"\xff\xfe garbage \x80", 1.0)])
    spool.close()
    for _ in range(2):  # the second consumer replays: no checkpoint was committed between
        spool, consumer = open_consumer(home)
        records, _ = spool.read(spool.read_checkpoint())
        consumer._process(records)
        spool.close()
    assert len(list(consumer.quarantine.records())) == 1
