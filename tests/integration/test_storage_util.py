"""Helpers for the storage tests (test_storage_*.py); no tests of its own.

Raw requests the Python clients cannot send (confluent-kafka 1.7 and
kafka-python 2.0.2 have neither DeleteRecords nor IncrementalAlterConfigs),
a look at a partition's folder, and small waiting and reading helpers.
"""

import os
import time

from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition
from confluent_kafka.admin import NewTopic

import kproto
from helpers import admin_call, confluent_consumer

API_DELETE_RECORDS = 21
API_INCREMENTAL_ALTER_CONFIGS = 44

RESOURCE_TOPIC = 2
RESOURCE_BROKER = 4
OP_SET, OP_DELETE, OP_APPEND, OP_SUBTRACT = 0, 1, 2, 3

# Kafka error codes
OFFSET_OUT_OF_RANGE = 1
UNKNOWN_TOPIC_OR_PARTITION = 3
MESSAGE_TOO_LARGE = 10
INVALID_CONFIG = 40
KAFKA_STORAGE_ERROR = 56

# DescribeConfigs ConfigSource
SOURCE_TOPIC_CONFIG = 1
SOURCE_DYNAMIC_BROKER_CONFIG = 2
SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG = 3
SOURCE_STATIC_BROKER_CONFIG = 4
SOURCE_DEFAULT_CONFIG = 5

EARLIEST = -2
LATEST = -1


# ---------------------------------------------------------------- raw requests

def delete_records(port, topic, partition, offset, version=0):
    """DeleteRecords v0/v1 (non-flexible) for one partition.
    Returns (error_code, low_watermark)."""
    body = kproto.array([kproto.string(topic) + kproto.array([kproto.i32(partition) + kproto.i64(offset)])])
    body += kproto.i32(10000)
    with kproto.Conn(port) as c:
        cid = c.send_request(API_DELETE_RECORDS, version, body)
        r = c.recv_response(cid)
        r.i32()  # throttle
        topics = r.array(lambda r: (r.string(), r.array(lambda r: (r.i32(), r.i64(), r.i16()))))
    (name, parts), = topics
    assert name == topic
    (idx, low, err), = parts
    assert idx == partition
    return err, low


def incremental_alter_configs(port, resource_type, name, configs, validate_only=False):
    """IncrementalAlterConfigs v0 of one resource; configs = [(key, op, value or None)].
    Returns (error_code, error_message)."""
    entries = [kproto.string(k) + kproto.i8(op) + kproto.string(v) for k, op, v in configs]
    body = kproto.array([kproto.i8(resource_type) + kproto.string(name) + kproto.array(entries)])
    body += kproto.i8(1 if validate_only else 0)
    with kproto.Conn(port) as c:
        cid = c.send_request(API_INCREMENTAL_ALTER_CONFIGS, 0, body)
        r = c.recv_response(cid)
        r.i32()
        res = r.array(lambda r: (r.i16(), r.string(), r.i8(), r.string()))
    (err, msg, rtype, rname), = res
    assert rtype == resource_type and rname == name, (rtype, rname)
    return err, msg


def list_offset(port, topic, partition, which):
    """ListOffsets v1: which = EARLIEST or LATEST; returns the offset (asserts no error)."""
    with kproto.Conn(port) as c:
        err, _, off = c.list_offsets_v1(topic, partition, which)
    assert err == 0, "ListOffsets error %d" % err
    return off


def raw_fetch(port, topic, partition, offset, max_wait_ms=0):
    """Fetch v4 of one partition; returns (error_code, high_watermark, records bytes)."""
    with kproto.Conn(port) as c:
        return c.fetch_v4(topic, partition, offset, max_wait_ms)


def raw_produce(port, topic, partition, pairs, acks=-1, base_timestamp=None):
    """One uncompressed batch of (key, value) pairs; returns (error_code, base_offset, log_append_time)."""
    with kproto.Conn(port) as c:
        return c.produce_v3(topic, partition, kproto.record_batch(pairs, base_timestamp=base_timestamp), acks=acks)


# ---------------------------------------------------------------- topics

def create_topic(bootstrap, topic, config=None, partitions=1):
    res = admin_call(bootstrap, "create_topics", [NewTopic(topic, partitions, 1, config=config or {})],
                     request_timeout=15)
    assert res == {topic: None}, res


# ---------------------------------------------------------------- the partition folder

def partition_dir(broker, topic, partition=0, datadir=None):
    return os.path.join(datadir or broker.datadir, "%s-%d" % (topic, partition))


def list_files(pdir):
    try:
        return sorted(os.listdir(pdir))
    except FileNotFoundError:
        return []


def segment_logs(pdir):
    """Live segment .log files (not .deleted/.cleaned/.swap), sorted by base offset."""
    return [f for f in list_files(pdir) if f.endswith(".log") and len(f) == 24]


def segment_bases(pdir):
    return [int(f[:20]) for f in segment_logs(pdir)]


def log_bytes(pdir):
    """Bytes in the live segments (a segment renamed away meanwhile counts 0)."""
    total = 0
    for f in segment_logs(pdir):
        try:
            total += os.path.getsize(os.path.join(pdir, f))
        except FileNotFoundError:
            pass
    return total


def deleted_files(pdir):
    return [f for f in list_files(pdir) if f.endswith(".deleted")]


def read_checkpoint(pdir, name):
    """A two-line checkpoint (version 0, offset); None when the file is missing."""
    try:
        with open(os.path.join(pdir, name)) as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        return None
    assert lines[0] == "0", "checkpoint %s version line %r" % (name, lines[0])
    return int(lines[1])


# ---------------------------------------------------------------- waiting and reading

def wait_until(what, predicate, timeout_s=20.0, interval_s=0.1):
    """Polls predicate() until it returns a true value; returns that value,
    fails with `what` when timeout_s passes."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError("timed out after %.0f s waiting for %s (last: %r)" % (timeout_s, what, last))


def consume_to_end(bootstrap, topic, partition=0, offset=OFFSET_BEGINNING, timeout_s=30.0, conf=None):
    """Reads one partition by assignment from `offset` up to its high
    watermark (taken first). Returns the messages; fails on consumer errors."""
    c = confluent_consumer(bootstrap, **(conf or {}))
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
        c.assign([TopicPartition(topic, partition, offset)])
        out = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if out and out[-1].offset() >= high - 1:
                break
            if high == low:
                break
            for m in c.consume(num_messages=10000, timeout=0.5):
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError("consumer error: %s" % m.error())
                out.append(m)
        assert high == low or (out and out[-1].offset() >= high - 1), \
            "read up to %s of high watermark %d within %.0f s" % (out[-1].offset() if out else None, high, timeout_s)
        return out
    finally:
        c.close()
