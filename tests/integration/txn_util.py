"""Helpers of the transaction tests (test_transactions*.py): topics, reading
partitions back with an isolation level, transactional producers, and the
raw requests no client library used here exposes (Fetch and ListOffsets
with an isolation level, ListTransactions, DescribeTransactions), on top of
kproto's framing.
"""

import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import kproto
from helpers import log

CLIENT_TIMEOUT_S = 30.0

API_DESCRIBE_TRANSACTIONS = 65
API_LIST_TRANSACTIONS = 66

READ_UNCOMMITTED = 0
READ_COMMITTED = 1

# Kafka error codes.
PRODUCER_FENCED = 90
INVALID_TXN_STATE = 48
TRANSACTIONAL_ID_NOT_FOUND = 105


def create_topics(bootstrap, topics, partitions=1, config=None, timeout_s=CLIENT_TIMEOUT_S):
    a = AdminClient({"bootstrap.servers": bootstrap, "logger": log})
    fs = a.create_topics([NewTopic(t, partitions, 1, config=config or {}) for t in topics], operation_timeout=10)
    for f in fs.values():
        f.result(timeout=timeout_s)


def txn_producer(bootstrap, txn_id, **conf):
    c = {"bootstrap.servers": bootstrap, "transactional.id": txn_id, "acks": "all", "linger.ms": 5,
         "message.timeout.ms": 30000, "logger": log}
    c.update(conf)
    return Producer(c)


def produce_all(producer, topic, values, partition=None, key=None):
    for v in values:
        kwargs = {"value": v}
        if partition is not None:
            kwargs["partition"] = partition
        if key is not None:
            kwargs["key"] = key
        while True:
            try:
                producer.produce(topic, **kwargs)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)


def read_to_end(bootstrap, topic, partitions, isolation, timeout_s=CLIENT_TIMEOUT_S, settle_s=0.0):
    """Reads partitions [0, partitions) from the beginning until every one
    reports end of partition (for read_committed: the last stable offset)
    and nothing arrives for settle_s. Returns the messages in read order."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "runnel-tests-unused",
                  "enable.auto.commit": False, "enable.auto.offset.store": False,
                  "isolation.level": isolation, "enable.partition.eof": True,
                  "fetch.wait.max.ms": 100, "logger": log})
    try:
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        out = []
        at_eof = set()
        quiet_since = None
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = c.consume(num_messages=10000, timeout=0.2)
            got = False
            for m in batch:
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        at_eof.add(m.partition())
                        continue
                    raise AssertionError("consumer error: %s" % m.error())
                at_eof.discard(m.partition())
                out.append(m)
                got = True
            if got:
                quiet_since = None
            if len(at_eof) == partitions:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= settle_s:
                    return out
        raise AssertionError("%s (%s): not every partition reached its end within %.0f s (at end: %s, read %d)"
                             % (topic, isolation, timeout_s, sorted(at_eof), len(out)))
    finally:
        c.close()


def values_of(msgs):
    return [m.value() for m in msgs]


# ---------------------------------------------------------------- raw requests

def fetch_v4(port, topic, partition, offset, isolation, max_wait_ms=0):
    """Fetch v4 of one partition with an isolation level. Returns a dict:
    error, high_watermark, last_stable_offset, aborted [(pid, first_offset)],
    records [(offset, key, value)] of the data batches (control batches'
    records are included: callers filter by value)."""
    body = kproto.i32(-1) + kproto.i32(max_wait_ms) + kproto.i32(1) + kproto.i32(1 << 20) + kproto.i8(isolation)
    body += kproto.array([kproto.string(topic) + kproto.array(
        [kproto.i32(partition) + kproto.i64(offset) + kproto.i32(1 << 20)])])
    with kproto.Conn(port) as c:
        cid = c.send_request(kproto.API_FETCH, 4, body)
        r = c.recv_response(cid)
    r.i32()  # throttle
    topics = r.array(lambda r: (r.string(), r.array(lambda r: (
        r.i32(), r.i16(), r.i64(), r.i64(), r.array(lambda r: (r.i64(), r.i64())), r.bytes_()))))
    (_name, parts), = topics
    (_idx, err, hw, lso, aborted, records), = parts
    return {"error": err, "high_watermark": hw, "last_stable_offset": lso, "aborted": aborted or [],
            "records": decode_data_records(records or b"")}


def decode_data_records(data):
    """(offset, key, value) of the records of non-control batches."""
    out = []
    pos = 0
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos + 8:pos + 12], "big", signed=True)
        if pos + 12 + length > len(data):
            break
        attrs = int.from_bytes(data[pos + 21:pos + 23], "big")
        if not attrs & 0x20:  # not a control batch
            out += kproto.decode_batches(data[pos:pos + 12 + length])
        pos += 12 + length
    return out


def list_offsets_v2(port, topic, partition, timestamp, isolation):
    """ListOffsets v2 (-1 latest, -2 earliest). Returns (error, offset)."""
    body = kproto.i32(-1) + kproto.i8(isolation)
    body += kproto.array([kproto.string(topic) + kproto.array([kproto.i32(partition) + kproto.i64(timestamp)])])
    with kproto.Conn(port) as c:
        cid = c.send_request(kproto.API_LIST_OFFSETS, 2, body)
        r = c.recv_response(cid)
    r.i32()  # throttle
    topics = r.array(lambda r: (r.string(), r.array(lambda r: (r.i32(), r.i16(), r.i64(), r.i64()))))
    (_name, parts), = topics
    (_idx, err, _ts, off), = parts
    return err, off


def list_transactions(port, states=(), producer_ids=()):
    """ListTransactions v0. Returns (error, {transactional id: (producer id, state)})."""
    body = kproto.compact_array([kproto.compact_string(s) for s in states])
    body += kproto.compact_array([kproto.i64(p) for p in producer_ids]) + kproto.NO_TAGS
    with kproto.Conn(port) as c:
        cid = c.send_request(API_LIST_TRANSACTIONS, 0, body, flexible=True)
        r = c.recv_response(cid, flexible_header=True)
    r.i32()  # throttle
    err = r.i16()
    r.compact_array(lambda r: r.compact_string())  # unknown state filters

    def state(r):
        s = (r.compact_string(), r.i64(), r.compact_string())
        r.tags()
        return s

    states_ = r.compact_array(state) or []
    r.tags()
    return err, {tid: (pid, st) for tid, pid, st in states_}


def describe_transactions(port, txn_ids):
    """DescribeTransactions v0. Returns {transactional id: dict}."""
    body = kproto.compact_array([kproto.compact_string(t) for t in txn_ids]) + kproto.NO_TAGS
    with kproto.Conn(port) as c:
        cid = c.send_request(API_DESCRIBE_TRANSACTIONS, 0, body, flexible=True)
        r = c.recv_response(cid, flexible_header=True)
    r.i32()  # throttle

    def topic(r):
        t = (r.compact_string(), r.compact_array(lambda r: r.i32()) or [])
        r.tags()
        return t

    def state(r):
        d = {"error": r.i16(), "transactional_id": r.compact_string(), "state": r.compact_string(),
             "timeout_ms": r.i32(), "start_ms": r.i64(), "producer_id": r.i64(), "epoch": r.i16()}
        d["partitions"] = sorted((t, p) for t, ps in (r.compact_array(topic) or []) for p in ps)
        r.tags()
        return d

    out = {d["transactional_id"]: d for d in (r.compact_array(state) or [])}
    r.tags()
    return out


def wait_for(pred, timeout_s, what, interval_s=0.1):
    deadline = time.monotonic() + timeout_s
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.0f s waiting for %s" % (timeout_s, what))
        time.sleep(interval_s)
