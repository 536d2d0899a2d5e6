"""Compaction (cleanup.policy=compact): a consumer reading from the start
sees the latest value of every live key at its original offset, the log
shrinks, tombstones go after delete.retention.ms, and compressed batches
are cleaned too.

Topics use small segments and min.cleanable.dirty.ratio=0.01, and brokers
check every 250 ms, so a pass runs as soon as a segment is rolled.
"""

import os
import time

import pytest

from helpers import confluent_produce, unique_topic
from test_storage_util import (EARLIEST, LATEST, OP_SET, RESOURCE_TOPIC, consume_to_end, create_topic,
                               incremental_alter_configs, list_offset, log_bytes, partition_dir, segment_logs,
                               wait_until)

BROKER = ("log.retention.check.interval.ms=250", "log.segment.delete.delay.ms=200")
COMPACT = {"cleanup.policy": "compact", "segment.bytes": "8192", "min.cleanable.dirty.ratio": "0.01"}
KEYS = 10


def produce_updates(b, topic, rounds, keys=KEYS, conf=None, start_round=0, pad=60):
    """rounds x keys records: key k-<j>, value r<round>-k<j>-<random hex>, in
    batches of 20 (so small segments fill batch by batch). Returns
    {offset: (key, value)} from the delivery reports."""
    recs = []
    for r in range(start_round, start_round + rounds):
        for j in (range(keys) if isinstance(keys, int) else keys):
            recs.append({"key": b"k-%d" % j, "value": b"r%05d-k%d-" % (r, j) + os.urandom(pad // 2).hex().encode()})
    c = {"batch.num.messages": 20}
    c.update(conf or {})
    msgs = confluent_produce(b.bootstrap, topic, recs, partition=0, conf=c)
    return {m.offset(): (m.key(), m.value()) for m in msgs}


def latest_by_key(written):
    out = {}
    for off in sorted(written):
        k, v = written[off]
        out[k] = (off, v)
    return out


def check_compacted_view(b, topic, written):
    """Reads from the start; every record read is one that was written at
    that offset, and the last one read per key is the latest written for it
    (at its offset). Returns the messages read."""
    got = consume_to_end(b.bootstrap, topic)
    offsets = [m.offset() for m in got]
    assert offsets == sorted(set(offsets)), "offsets not increasing"
    for m in got:
        assert written.get(m.offset()) == (m.key(), m.value()), "offset %d holds %r, %r was written there" % (
            m.offset(), (m.key(), m.value()), written.get(m.offset()))
    seen = {}
    for m in got:
        seen[m.key()] = (m.offset(), m.value())
    want = {k: ov for k, ov in latest_by_key(written).items() if ov[1] is not None}
    assert {k: v for k, v in seen.items() if v[1] is not None} == want
    return got


def test_compaction_keeps_the_latest_value_of_every_key_at_its_offset(start_broker):
    b = start_broker(*BROKER)
    topic = unique_topic("compact")
    create_topic(b.bootstrap, topic, COMPACT)
    pdir = partition_dir(b, topic)
    written = produce_updates(b, topic, rounds=200)  # 2000 records, ~200 KB, ~25 segments
    total = len(written)
    size_before = log_bytes(pdir)
    assert len(segment_logs(pdir)) > 10
    wait_until("the cleaner to shrink the log", lambda: log_bytes(pdir) < size_before / 4, timeout_s=20)
    got = check_compacted_view(b, topic, written)
    assert len(got) < total / 4, "read %d of %d records after compaction" % (len(got), total)
    assert log_bytes(pdir) < size_before / 4
    # Offsets are kept: the log's bounds do not move, gaps are expected.
    assert list_offset(b.port, topic, 0, EARLIEST) == 0
    assert list_offset(b.port, topic, 0, LATEST) == total


def test_compaction_leaves_an_uncompacted_topic_alone(start_broker):
    b = start_broker(*BROKER)
    topic = unique_topic("nocompact")
    create_topic(b.bootstrap, topic, {"segment.bytes": "8192"})
    pdir = partition_dir(b, topic)
    written = produce_updates(b, topic, rounds=50)
    size = log_bytes(pdir)
    time.sleep(1.0)
    assert log_bytes(pdir) == size
    assert len(consume_to_end(b.bootstrap, topic)) == len(written)


def test_compaction_continues_with_later_updates(start_broker):
    b = start_broker(*BROKER)
    topic = unique_topic("compact-more")
    create_topic(b.bootstrap, topic, COMPACT)
    pdir = partition_dir(b, topic)
    written = produce_updates(b, topic, rounds=100)
    size1 = log_bytes(pdir)
    wait_until("a first pass", lambda: log_bytes(pdir) < size1 / 2, timeout_s=20)
    written.update(produce_updates(b, topic, rounds=100, start_round=100))
    size2 = log_bytes(pdir)
    wait_until("a second pass", lambda: log_bytes(pdir) < size2 / 2, timeout_s=20)
    check_compacted_view(b, topic, written)


def test_compaction_survives_a_restart_and_keeps_cleaning(start_broker):
    b = start_broker(*BROKER)
    topic = unique_topic("compact-restart")
    create_topic(b.bootstrap, topic, COMPACT)
    pdir = partition_dir(b, topic)
    written = produce_updates(b, topic, rounds=100)
    size1 = log_bytes(pdir)
    wait_until("a first pass", lambda: log_bytes(pdir) < size1 / 2, timeout_s=20)
    b.restart(kill9=True)
    check_compacted_view(b, topic, written)
    written.update(produce_updates(b, topic, rounds=100, start_round=100))
    size2 = log_bytes(pdir)
    wait_until("a pass after the restart", lambda: log_bytes(pdir) < size2 / 2, timeout_s=20)
    check_compacted_view(b, topic, written)


def test_tombstone_is_kept_then_removed_after_delete_retention_ms(start_broker):
    b = start_broker(*BROKER)
    topic = unique_topic("tombstone")
    create_topic(b.bootstrap, topic, dict(COMPACT, **{"delete.retention.ms": "1500"}))
    written = produce_updates(b, topic, rounds=50)
    (tomb,) = confluent_produce(b.bootstrap, topic, [{"key": b"k-3", "value": None}], partition=0)
    written[tomb.offset()] = (b"k-3", None)
    # Roll the tombstone out of the active segment so the cleaner reaches it.
    others = [j for j in range(KEYS) if j != 3]
    written.update(produce_updates(b, topic, rounds=50, start_round=50, keys=others))

    def tombstone_only():
        got = consume_to_end(b.bootstrap, topic)
        k3 = [(m.offset(), m.value()) for m in got if m.key() == b"k-3"]
        return k3 == [(tomb.offset(), None)] and got
    # First passes: the older k-3 records go, the tombstone stays (within delete.retention.ms).
    got = wait_until("k-3's older values to go, its tombstone kept", tombstone_only, timeout_s=20, interval_s=0.3)
    assert b"k-3" not in {m.key() for m in got if m.value() is not None}
    # After delete.retention.ms, a later pass (more dirty data needed to trigger one) drops it.
    time.sleep(1.6)
    more = produce_updates(b, topic, rounds=50, start_round=100, keys=others)

    # The pass that drops the tombstone may leave a segment rolled after it
    # uncleaned; the next pass cleans it, so wait for both.
    def tombstone_gone_and_cleaned():
        got = consume_to_end(b.bootstrap, topic)
        return all(m.key() != b"k-3" for m in got) and len(got) < 60 and got
    got = wait_until("the tombstone to go and the log to be cleaned", tombstone_gone_and_cleaned, timeout_s=20,
                     interval_s=0.3)
    written.update(more)
    written = {o: kv for o, kv in written.items() if kv[0] != b"k-3"}
    check_compacted_view(b, topic, written)
    assert len(got) < 60


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_compaction_of_compressed_batches(start_broker, codec):
    b = start_broker(*BROKER)
    topic = unique_topic("compact-" + codec)
    create_topic(b.bootstrap, topic, COMPACT)
    pdir = partition_dir(b, topic)
    conf = {"compression.type": codec}
    written = {}
    for r in range(0, 300, 30):  # ten producer runs, so batches stay small and segments fill
        written.update(produce_updates(b, topic, rounds=30, start_round=r, conf=conf, pad=300))
    size_before = log_bytes(pdir)
    assert len(segment_logs(pdir)) > 5, segment_logs(pdir)
    wait_until("the cleaner to shrink the log", lambda: log_bytes(pdir) < size_before / 2, timeout_s=20)
    got = check_compacted_view(b, topic, written)
    assert len(got) < len(written) / 2


def test_min_compaction_lag_ms_holds_back_recent_records(start_broker):
    b = start_broker(*BROKER)
    topic = unique_topic("compact-lag")
    create_topic(b.bootstrap, topic, dict(COMPACT, **{"min.compaction.lag.ms": "600000"}))
    pdir = partition_dir(b, topic)
    written = produce_updates(b, topic, rounds=100)
    size = log_bytes(pdir)
    time.sleep(1.5)
    assert log_bytes(pdir) == size
    assert len(consume_to_end(b.bootstrap, topic)) == len(written)


def test_min_cleanable_dirty_ratio_holds_back_cleaning_until_max_compaction_lag_ms_forces_it(start_broker):
    b = start_broker(*BROKER)
    topic = unique_topic("compact-ratio")
    create_topic(b.bootstrap, topic, COMPACT)
    pdir = partition_dir(b, topic)
    keys = 300
    written = produce_updates(b, topic, rounds=2, keys=keys)
    size = log_bytes(pdir)
    wait_until("a first pass", lambda: log_bytes(pdir) < size * 0.7, timeout_s=20)
    set_topic(b, topic, {"min.cleanable.dirty.ratio": "0.9"})
    # One more update of every key: about as many dirty bytes as clean ones, a ratio near 0.5.
    written.update(produce_updates(b, topic, rounds=1, keys=keys, start_round=2))
    size = log_bytes(pdir)
    time.sleep(1.5)
    assert log_bytes(pdir) >= size, "cleaned below min.cleanable.dirty.ratio"
    set_topic(b, topic, {"max.compaction.lag.ms": "1000"})
    wait_until("max.compaction.lag.ms to force a pass", lambda: log_bytes(pdir) < size * 0.8, timeout_s=15)
    check_compacted_view(b, topic, written)


def set_topic(b, topic, configs):
    err, msg = incremental_alter_configs(b.port, RESOURCE_TOPIC, topic, [(k, OP_SET, v) for k, v in configs.items()])
    assert err == 0, msg
