"""Retention (time and size), DeleteRecords, the log start offset, and
segment rolls, seen from clients and from the partition folder.

Brokers here check retention every 200-300 ms and topics use small
segments, so each test runs in a few seconds.
"""

import os
import time

from confluent_kafka import KafkaError, TopicPartition

from helpers import confluent_consume, confluent_consumer, confluent_produce, confluent_watermarks, unique_topic
from test_storage_util import (EARLIEST, LATEST, OFFSET_OUT_OF_RANGE, consume_to_end, create_topic, delete_records,
                               deleted_files, list_offset, log_bytes, partition_dir, raw_fetch, raw_produce,
                               read_checkpoint, segment_bases, segment_logs, wait_until)

FAST_CHECKS = ("log.retention.check.interval.ms=200",)
HOUR_MS = 3600 * 1000


def now_ms():
    return int(time.time() * 1000)


def produce_old_then_new(broker, topic, n_old, n_new, size=400):
    """n_old records stamped two hours ago, then n_new stamped now, each in
    its own batch (so small segments fill one batch at a time)."""
    old_ts = now_ms() - 2 * HOUR_MS
    for i in range(n_old):
        err, base, _ = raw_produce(broker.port, topic, 0, [(b"k", b"old-%04d-" % i + b"x" * size)], base_timestamp=old_ts)
        assert err == 0 and base == i, (err, base)
    for i in range(n_new):
        err, base, _ = raw_produce(broker.port, topic, 0, [(b"k", b"new-%04d-" % i + b"x" * size)])
        assert err == 0 and base == n_old + i, (err, base)


# ---------------------------------------------------------------- retention.ms

def test_retention_ms_deletes_whole_segments_older_than_the_limit(start_broker):
    b = start_broker(*FAST_CHECKS)
    topic = unique_topic("ret-ms")
    create_topic(b.bootstrap, topic, {"segment.bytes": "2048", "retention.ms": str(HOUR_MS),
                                      "file.delete.delay.ms": "60000"})
    produce_old_then_new(b, topic, 30, 10)
    pdir = partition_dir(b, topic)
    low = wait_until("the log start offset to advance", lambda: list_offset(b.port, topic, 0, EARLIEST) or None)
    # Whole segments only: the new start is a segment base, at or below the first new record.
    assert 0 < low <= 30
    assert low in segment_bases(pdir)
    assert list_offset(b.port, topic, 0, LATEST) == 40
    assert confluent_watermarks(b.bootstrap, topic) == (low, 40)
    # Every segment holding only old records is gone; every new record is still there.
    got = confluent_consume(b.bootstrap, topic, 40 - low)
    assert [m.offset() for m in got] == list(range(low, 40))
    assert all(m.value().startswith(b"new-") for m in got[30 - low:])


def test_fetch_below_the_log_start_offset_gets_OFFSET_OUT_OF_RANGE(start_broker):
    b = start_broker(*FAST_CHECKS)
    topic = unique_topic("ret-oor")
    create_topic(b.bootstrap, topic, {"segment.bytes": "2048", "retention.ms": str(HOUR_MS)})
    produce_old_then_new(b, topic, 20, 5)
    low = wait_until("the log start offset to advance", lambda: list_offset(b.port, topic, 0, EARLIEST) or None)
    err, hw, records = raw_fetch(b.port, topic, 0, 0)
    assert (err, records) == (OFFSET_OUT_OF_RANGE, b"")
    err, hw, records = raw_fetch(b.port, topic, 0, low - 1)
    assert err == OFFSET_OUT_OF_RANGE
    err, hw, records = raw_fetch(b.port, topic, 0, low)
    assert err == 0 and hw == 25 and records


def test_consumer_with_auto_offset_reset_error_is_told_its_offset_is_gone(start_broker):
    b = start_broker(*FAST_CHECKS)
    topic = unique_topic("ret-reset")
    create_topic(b.bootstrap, topic, {"segment.bytes": "2048", "retention.ms": str(HOUR_MS)})
    produce_old_then_new(b, topic, 20, 5)
    wait_until("the log start offset to advance", lambda: list_offset(b.port, topic, 0, EARLIEST) or None)
    c = confluent_consumer(b.bootstrap, **{"auto.offset.reset": "error"})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        deadline = time.monotonic() + 15
        error = None
        while error is None and time.monotonic() < deadline:
            for m in c.consume(num_messages=100, timeout=0.5):
                assert not (m.error() is None and m.offset() < 20), "read offset %d below the log start" % m.offset()
                if m.error() and m.error().code() != KafkaError._PARTITION_EOF:
                    error = m.error()
        assert error is not None, "no error for a fetch below the log start offset"
        assert error.code() == KafkaError._AUTO_OFFSET_RESET, error
        assert "out of range" in error.str().lower() or "OFFSET_OUT_OF_RANGE" in error.str(), error
    finally:
        c.close()


def test_retention_renames_segments_deleted_then_purges_them_after_file_delete_delay(start_broker):
    b = start_broker(*FAST_CHECKS)
    topic = unique_topic("ret-purge")
    create_topic(b.bootstrap, topic, {"segment.bytes": "2048", "retention.ms": str(HOUR_MS),
                                      "file.delete.delay.ms": "2500"})
    pdir = partition_dir(b, topic)
    produce_old_then_new(b, topic, 20, 5)
    pending = wait_until(".deleted files", lambda: deleted_files(pdir), timeout_s=10, interval_s=0.02)
    seen_at = time.monotonic()
    # Each deleted segment's .log goes the same way (its indexes may have no file yet).
    assert any(f.endswith(".log.deleted") for f in pending), pending
    for f in pending:  # the live segment of that name is gone
        assert not os.path.exists(os.path.join(pdir, f[:-len(".deleted")])), f
    wait_until(".deleted files to be removed", lambda: not deleted_files(pdir), timeout_s=15)
    assert time.monotonic() - seen_at >= 1.5, "purged sooner than file.delete.delay.ms"
    assert list_offset(b.port, topic, 0, LATEST) == 25


def test_broker_log_segment_delete_delay_ms_applies_without_topic_override(start_broker):
    b = start_broker(*FAST_CHECKS, "log.segment.delete.delay.ms=300")
    topic = unique_topic("ret-delay")
    create_topic(b.bootstrap, topic, {"segment.bytes": "2048", "retention.ms": str(HOUR_MS)})
    pdir = partition_dir(b, topic)
    produce_old_then_new(b, topic, 20, 5)
    wait_until("the log start offset to advance", lambda: list_offset(b.port, topic, 0, EARLIEST) or None)
    wait_until(".deleted files to be removed", lambda: not deleted_files(pdir), timeout_s=5)


# ---------------------------------------------------------------- retention.bytes

def test_retention_bytes_keeps_the_log_just_above_the_bound(start_broker):
    b = start_broker(*FAST_CHECKS)
    topic = unique_topic("ret-bytes")
    seg, bound = 4096, 12000
    create_topic(b.bootstrap, topic, {"segment.bytes": str(seg), "retention.bytes": str(bound)})
    pdir = partition_dir(b, topic)
    for i in range(100):
        assert raw_produce(b.port, topic, 0, [(None, b"%04d" % i + b"y" * 400)])[0] == 0
    wait_until("retention.bytes to delete segments", lambda: list_offset(b.port, topic, 0, EARLIEST) > 0)
    time.sleep(0.6)  # a few more checks: nothing more should go
    size = log_bytes(pdir)
    # Kafka's rule: drop the oldest segment while what is left still holds >= retention.bytes.
    first = os.path.getsize(os.path.join(pdir, segment_logs(pdir)[0]))
    assert bound <= size, (size, segment_logs(pdir))
    assert size - first < bound, (size, first)
    low = list_offset(b.port, topic, 0, EARLIEST)
    assert low == segment_bases(pdir)[0]
    got = confluent_consume(b.bootstrap, topic, 100 - low)
    assert [m.value()[:4] for m in got] == [b"%04d" % i for i in range(low, 100)]


def test_retention_never_deletes_the_active_segment(start_broker):
    b = start_broker(*FAST_CHECKS)
    topic = unique_topic("ret-active")
    create_topic(b.bootstrap, topic, {"segment.bytes": "4096", "retention.bytes": "0"})
    pdir = partition_dir(b, topic)
    for i in range(40):
        assert raw_produce(b.port, topic, 0, [(None, b"%04d" % i + b"z" * 400)])[0] == 0
    wait_until("all but the active segment to go", lambda: len(segment_logs(pdir)) == 1)
    time.sleep(0.6)
    assert len(segment_logs(pdir)) == 1
    low = list_offset(b.port, topic, 0, EARLIEST)
    assert 0 < low < 40 and segment_bases(pdir) == [low]
    got = confluent_consume(b.bootstrap, topic, 40 - low)
    assert got[-1].value()[:4] == b"0039"
    # and it keeps taking appends
    confluent_produce(b.bootstrap, topic, [{"value": b"after"}], partition=0)
    assert consume_to_end(b.bootstrap, topic)[-1].value() == b"after"


# ---------------------------------------------------------------- DeleteRecords

def test_delete_records_moves_the_low_watermark_and_returns_it(broker):
    topic = unique_topic("delrec")
    create_topic(broker.bootstrap, topic, {"segment.bytes": "2048"})
    for i in range(30):
        assert raw_produce(broker.port, topic, 0, [(None, b"%04d" % i + b"q" * 300)])[0] == 0
    assert delete_records(broker.port, topic, 0, 17) == (0, 17)
    assert list_offset(broker.port, topic, 0, EARLIEST) == 17
    assert confluent_watermarks(broker.bootstrap, topic) == (17, 30)
    assert raw_fetch(broker.port, topic, 0, 16)[0] == OFFSET_OUT_OF_RANGE
    got = confluent_consume(broker.bootstrap, topic, 13)
    assert [m.offset() for m in got] == list(range(17, 30))
    # A consumer starting mid-batch/segment gets exactly from 17 on (the segment holding 17 stays).
    pdir = partition_dir(broker, topic)
    assert segment_bases(pdir)[0] <= 17


def test_delete_records_below_the_current_start_changes_nothing(broker):
    topic = unique_topic("delrec-low")
    create_topic(broker.bootstrap, topic)
    confluent_produce(broker.bootstrap, topic, [{"value": b"%d" % i} for i in range(10)], partition=0)
    assert delete_records(broker.port, topic, 0, 6) == (0, 6)
    assert delete_records(broker.port, topic, 0, 3) == (0, 6)
    assert list_offset(broker.port, topic, 0, EARLIEST) == 6


def test_delete_records_minus_one_means_the_high_watermark(broker):
    topic = unique_topic("delrec-hw")
    create_topic(broker.bootstrap, topic)
    confluent_produce(broker.bootstrap, topic, [{"value": b"%d" % i} for i in range(12)], partition=0)
    assert delete_records(broker.port, topic, 0, -1, version=1) == (0, 12)
    assert confluent_watermarks(broker.bootstrap, topic) == (12, 12)
    confluent_produce(broker.bootstrap, topic, [{"value": b"next"}], partition=0)
    got = consume_to_end(broker.bootstrap, topic)
    assert [(m.offset(), m.value()) for m in got] == [(12, b"next")]


def test_delete_records_beyond_the_end_fails_with_OFFSET_OUT_OF_RANGE(broker):
    topic = unique_topic("delrec-oor")
    create_topic(broker.bootstrap, topic)
    confluent_produce(broker.bootstrap, topic, [{"value": b"%d" % i} for i in range(5)], partition=0)
    err, low = delete_records(broker.port, topic, 0, 6)
    assert err == OFFSET_OUT_OF_RANGE
    assert list_offset(broker.port, topic, 0, EARLIEST) == 0


def test_delete_records_of_an_unknown_partition_fails_with_UNKNOWN_TOPIC_OR_PARTITION(broker):
    topic = unique_topic("delrec-unknown")
    create_topic(broker.bootstrap, topic)
    assert delete_records(broker.port, topic, 3, 0)[0] == 3
    assert delete_records(broker.port, unique_topic("never"), 0, 0)[0] == 3


def test_delete_records_deletes_segments_wholly_below_the_new_start(start_broker):
    b = start_broker(*FAST_CHECKS, "log.segment.delete.delay.ms=200")
    topic = unique_topic("delrec-seg")
    create_topic(b.bootstrap, topic, {"segment.bytes": "2048"})
    pdir = partition_dir(b, topic)
    for i in range(40):
        assert raw_produce(b.port, topic, 0, [(None, b"%04d" % i + b"w" * 300)])[0] == 0
    before = segment_bases(pdir)
    assert len(before) >= 5
    target = before[3] + 1
    assert delete_records(b.port, topic, 0, target) == (0, target)
    assert segment_bases(pdir)[0] == before[3]
    wait_until("the deleted segments' files to be purged", lambda: not deleted_files(pdir), timeout_s=10)
    assert segment_bases(pdir) == before[3:]


# ---------------------------------------------------------------- the log start offset across restarts

def test_log_start_offset_survives_a_clean_restart(broker):
    topic = unique_topic("lso-clean")
    create_topic(broker.bootstrap, topic, {"segment.bytes": "2048"})
    for i in range(30):
        assert raw_produce(broker.port, topic, 0, [(None, b"%04d" % i + b"r" * 300)])[0] == 0
    assert delete_records(broker.port, topic, 0, 23) == (0, 23)
    assert read_checkpoint(partition_dir(broker, topic), "log-start-offset") == 23
    broker.restart()
    assert confluent_watermarks(broker.bootstrap, topic) == (23, 30)
    assert raw_fetch(broker.port, topic, 0, 22)[0] == OFFSET_OUT_OF_RANGE
    got = confluent_consume(broker.bootstrap, topic, 7)
    assert got[0].offset() == 23 and got[0].value()[:4] == b"0023"


def test_log_start_offset_survives_kill_9(broker):
    topic = unique_topic("lso-kill")
    create_topic(broker.bootstrap, topic, {"segment.bytes": "2048"})
    for i in range(30):
        assert raw_produce(broker.port, topic, 0, [(None, b"%04d" % i + b"r" * 300)])[0] == 0
    assert delete_records(broker.port, topic, 0, 11) == (0, 11)
    broker.restart(kill9=True)
    assert confluent_watermarks(broker.bootstrap, topic) == (11, 30)
    got = confluent_consume(broker.bootstrap, topic, 19)
    assert [m.offset() for m in got] == list(range(11, 30))


def test_log_start_offset_set_by_retention_survives_kill_9(start_broker):
    b = start_broker(*FAST_CHECKS)
    topic = unique_topic("lso-ret")
    create_topic(b.bootstrap, topic, {"segment.bytes": "2048", "retention.ms": str(HOUR_MS)})
    produce_old_then_new(b, topic, 20, 5)
    low = wait_until("retention", lambda: list_offset(b.port, topic, 0, EARLIEST) or None)
    b.restart(kill9=True)
    assert list_offset(b.port, topic, 0, EARLIEST) == low
    assert list_offset(b.port, topic, 0, LATEST) == 25


def test_delete_records_to_the_end_survives_kill_9_and_the_log_continues_there(broker):
    topic = unique_topic("lso-end")
    create_topic(broker.bootstrap, topic)
    confluent_produce(broker.bootstrap, topic, [{"value": b"%d" % i} for i in range(8)], partition=0)
    assert delete_records(broker.port, topic, 0, -1) == (0, 8)
    broker.restart(kill9=True)
    assert confluent_watermarks(broker.bootstrap, topic) == (8, 8)
    msgs = confluent_produce(broker.bootstrap, topic, [{"value": b"after"}], partition=0)
    assert msgs[0].offset() == 8


# ---------------------------------------------------------------- rolling segments

def test_create_topics_configs_apply_small_segment_bytes_gives_many_segments(broker):
    topic = unique_topic("roll-size")
    create_topic(broker.bootstrap, topic, {"segment.bytes": "1024"})
    confluent_produce(broker.bootstrap, topic, [{"value": b"%04d" % i + b"s" * 200} for i in range(100)],
                      partition=0, conf={"linger.ms": 0, "batch.num.messages": 1, "max.in.flight": 1})
    pdir = partition_dir(broker, topic)
    logs = segment_logs(pdir)
    assert len(logs) >= 15, logs
    assert all(os.path.getsize(os.path.join(pdir, f)) <= 1024 for f in logs[:-1])
    assert segment_bases(pdir)[0] == 0
    got = consume_to_end(broker.bootstrap, topic)
    assert [m.value()[:4] for m in got] == [b"%04d" % i for i in range(100)]


def test_segment_ms_rolls_segments_by_time(broker):
    topic = unique_topic("roll-ms")
    create_topic(broker.bootstrap, topic, {"segment.ms": "400"})
    pdir = partition_dir(broker, topic)
    for i in range(4):
        confluent_produce(broker.bootstrap, topic, [{"value": b"tick-%d" % i}], partition=0)
        time.sleep(0.6)
    assert segment_bases(pdir) == [0, 1, 2, 3]
    got = consume_to_end(broker.bootstrap, topic)
    assert [m.value() for m in got] == [b"tick-%d" % i for i in range(4)]


def test_broker_log_roll_ms_rolls_topics_without_override(start_broker):
    b = start_broker("log.roll.ms=400")
    topic = unique_topic("roll-broker")
    create_topic(b.bootstrap, topic)
    pdir = partition_dir(b, topic)
    for i in range(3):
        confluent_produce(b.bootstrap, topic, [{"value": b"tick-%d" % i}], partition=0)
        time.sleep(0.6)
    assert segment_bases(pdir) == [0, 1, 2]


def test_without_segment_ms_records_stay_in_one_segment(broker):
    topic = unique_topic("roll-none")
    create_topic(broker.bootstrap, topic)
    pdir = partition_dir(broker, topic)
    for i in range(3):
        confluent_produce(broker.bootstrap, topic, [{"value": b"tick-%d" % i}], partition=0)
        time.sleep(0.3)
    assert segment_bases(pdir) == [0]
