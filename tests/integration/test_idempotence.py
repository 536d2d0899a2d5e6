"""Idempotent producer on a raw socket (KIP-98): InitProducerId, duplicate
batches answered with their first offset and stored once, sequence gaps
(OUT_OF_ORDER_SEQUENCE_NUMBER, 45), fenced epochs (INVALID_PRODUCER_EPOCH,
47), duplicate detection across a clean restart (producer snapshot) and a
SIGKILL (replay of the log tail), and DescribeProducers v0.

The batches are built here (kproto.record_batch has no producer fields):
magic 2, uncompressed, with producer id, epoch and base sequence set.
"""

import time

import pytest

import kproto
from helpers import unique_topic
from recovery_util import create_topic

API_INIT_PRODUCER_ID = 22
API_DESCRIBE_PRODUCERS = 61

OUT_OF_ORDER_SEQUENCE_NUMBER = 45
INVALID_PRODUCER_EPOCH = 47
COORDINATOR_NOT_AVAILABLE = 15


# ---------------------------------------------------------------- wire helpers

def idempotent_batch(values, producer_id, epoch, base_sequence, transactional=False):
    """A magic-2 uncompressed batch of values (bytes) at base offset 0 with
    the producer fields set; lastOffsetDelta = len(values) - 1."""
    ts = int(time.time() * 1000)
    recs = b"".join(kproto.record(i, None, v) for i, v in enumerate(values))
    n = len(values)
    attributes = 0x10 if transactional else 0
    after_crc = (kproto.i16(attributes) + kproto.i32(n - 1) + kproto.i64(ts) + kproto.i64(ts)
                 + kproto.i64(producer_id) + kproto.i16(epoch) + kproto.i32(base_sequence)
                 + kproto.i32(n) + recs)
    after_length = kproto.i32(-1) + kproto.i8(2) + kproto.u32(kproto.crc32c(after_crc)) + after_crc
    return kproto.i64(0) + kproto.i32(len(after_length)) + after_length


def init_producer_id(conn, version=0, transactional_id=None, producer_id=-1, epoch=-1, timeout_ms=60000):
    """InitProducerId; v0-1 classic, v2+ flexible, v3+ with producer id/epoch.
    Returns (error_code, producer_id, epoch)."""
    flexible = version >= 2
    if flexible:
        body = kproto.compact_string(transactional_id) + kproto.i32(timeout_ms)
        if version >= 3:
            body += kproto.i64(producer_id) + kproto.i16(epoch)
        body += kproto.NO_TAGS
    else:
        body = kproto.string(transactional_id) + kproto.i32(timeout_ms)
    cid = conn.send_request(API_INIT_PRODUCER_ID, version, body, flexible=flexible)
    r = conn.recv_response(cid, flexible_header=flexible)
    r.i32()  # throttle
    err, pid, ep = r.i16(), r.i64(), r.i16()
    if flexible:
        r.tags()
    return err, pid, ep


def describe_producers(conn, topic, partitions):
    """DescribeProducers v0 (flexible). Returns {partition: (error, [producer dicts])}."""
    body = kproto.compact_array([kproto.compact_string(topic)
                                 + kproto.compact_array([kproto.i32(p) for p in partitions])
                                 + kproto.NO_TAGS]) + kproto.NO_TAGS
    cid = conn.send_request(API_DESCRIBE_PRODUCERS, 0, body, flexible=True)
    r = conn.recv_response(cid, flexible_header=True)
    r.i32()  # throttle

    def producer(r):
        p = {"producer_id": r.i64(), "epoch": r.i32(), "last_sequence": r.i32(), "last_timestamp": r.i64(),
             "coordinator_epoch": r.i32(), "current_txn_start_offset": r.i64()}
        r.tags()
        return p

    def partition(r):
        idx, err, _msg = r.i32(), r.i16(), r.compact_string()
        prods = r.compact_array(producer)
        r.tags()
        return idx, (err, prods or [])

    def topic_(r):
        name = r.compact_string()
        parts = r.compact_array(partition)
        r.tags()
        return name, dict(parts or [])

    topics = dict(r.compact_array(topic_) or [])
    r.tags()
    assert list(topics) == [topic], topics
    return topics[topic]


def high_watermark(conn, topic, partition=0):
    err, _ts, off = conn.list_offsets_v1(topic, partition, -1)
    assert err == 0, err
    return off


def stored_values(conn, topic, partition=0):
    err, hw, data = conn.fetch_v4(topic, partition, 0, max_wait_ms=0)
    assert err == 0, err
    return [(o, v) for o, _k, v in kproto.decode_batches(data)]


def new_producer(conn):
    err, pid, epoch = init_producer_id(conn)
    assert err == 0, "InitProducerId error %d" % err
    assert pid >= 0 and epoch == 0, (pid, epoch)
    return pid, epoch


@pytest.fixture
def topic(broker):
    t = unique_topic("idem")
    create_topic(broker.bootstrap, t, partitions=2)
    return t


# ---------------------------------------------------------------- InitProducerId

def test_init_producer_id_hands_out_distinct_ids(broker):
    with kproto.Conn(broker.port) as c:
        ids = set()
        for v in (0, 1, 2, 3, 4):
            err, pid, epoch = init_producer_id(c, version=v)
            assert (err, epoch) == (0, 0), (v, err, epoch)
            assert pid >= 0
            ids.add(pid)
        assert len(ids) == 5, "producer ids handed out twice: %s" % sorted(ids)


def test_producer_ids_are_not_reused_after_restarts(broker):
    before = set()
    with kproto.Conn(broker.port) as c:
        for _ in range(3):
            before.add(new_producer(c)[0])
    broker.restart()
    with kproto.Conn(broker.port) as c:
        for _ in range(3):
            before.add(new_producer(c)[0])
    broker.restart(kill9=True)
    with kproto.Conn(broker.port) as c:
        for _ in range(3):
            before.add(new_producer(c)[0])
    assert len(before) == 9, sorted(before)


def test_transactional_id_waits_for_the_transaction_coordinator(broker):
    """Until the transaction coordinator lands the broker answers
    COORDINATOR_NOT_AVAILABLE (retriable) rather than a bogus id."""
    with kproto.Conn(broker.port) as c:
        err, pid, epoch = init_producer_id(c, version=1, transactional_id="txn-a")
        assert err == COORDINATOR_NOT_AVAILABLE or (err == 0 and pid >= 0), (err, pid, epoch)


# ---------------------------------------------------------------- duplicates, gaps, epochs

def test_retried_batch_is_answered_with_its_offset_and_stored_once(broker, topic):
    with kproto.Conn(broker.port) as c:
        pid, epoch = new_producer(c)
        # Something from a plain producer first, so the offsets are not trivially 0.
        assert c.produce_v3(topic, 0, kproto.record_batch([(None, b"plain-0"), (None, b"plain-1")]))[0] == 0
        batch = idempotent_batch([b"a0", b"a1", b"a2"], pid, epoch, 0)
        err1, base1, _ = c.produce_v3(topic, 0, batch)
        err2, base2, _ = c.produce_v3(topic, 0, batch)
        assert (err1, err2) == (0, 0), (err1, err2)
        assert base1 == base2 == 2, (base1, base2)
        assert high_watermark(c, topic) == 5, "the retry was stored again"
        # The next batch continues the sequence; retries of both are still answered.
        batch2 = idempotent_batch([b"b0"], pid, epoch, 3)
        assert c.produce_v3(topic, 0, batch2)[:2] == (0, 5)
        assert c.produce_v3(topic, 0, batch)[:2] == (0, 2)
        assert c.produce_v3(topic, 0, batch2)[:2] == (0, 5)
        assert high_watermark(c, topic) == 6
        assert stored_values(c, topic) == [(0, b"plain-0"), (1, b"plain-1"), (2, b"a0"), (3, b"a1"), (4, b"a2"),
                                           (5, b"b0")]


def test_retry_on_another_connection_is_a_duplicate_too(broker, topic):
    with kproto.Conn(broker.port) as c1, kproto.Conn(broker.port) as c2:
        pid, epoch = new_producer(c1)
        batch = idempotent_batch([b"x"], pid, epoch, 0)
        assert c1.produce_v3(topic, 1, batch)[:2] == (0, 0)
        assert c2.produce_v3(topic, 1, batch)[:2] == (0, 0)
        assert high_watermark(c2, topic, 1) == 1


def test_each_of_the_last_five_batches_is_deduplicated(broker, topic):
    with kproto.Conn(broker.port) as c:
        pid, epoch = new_producer(c)
        batches = [idempotent_batch([b"v%d-%d" % (k, j) for j in range(2)], pid, epoch, 2 * k) for k in range(7)]
        for k, b in enumerate(batches):
            assert c.produce_v3(topic, 0, b)[:2] == (0, 2 * k)
        for k in range(2, 7):
            assert c.produce_v3(topic, 0, batches[k])[:2] == (0, 2 * k), "retry of batch %d" % k
        # Older than the 5 remembered batches: Kafka answers OUT_OF_ORDER_SEQUENCE_NUMBER.
        err, base, _ = c.produce_v3(topic, 0, batches[0])
        assert err == OUT_OF_ORDER_SEQUENCE_NUMBER, (err, base)
        assert high_watermark(c, topic) == 14


def test_sequence_gap_is_refused_and_nothing_is_stored(broker, topic):
    with kproto.Conn(broker.port) as c:
        pid, epoch = new_producer(c)
        assert c.produce_v3(topic, 0, idempotent_batch([b"s0", b"s1"], pid, epoch, 0))[:2] == (0, 0)
        err, base, _ = c.produce_v3(topic, 0, idempotent_batch([b"s3"], pid, epoch, 3))  # 2 is missing
        assert err == OUT_OF_ORDER_SEQUENCE_NUMBER, err
        assert base == -1
        assert high_watermark(c, topic) == 2
        # The refused batches did not move the sequence: 2 is still next.
        assert c.produce_v3(topic, 0, idempotent_batch([b"s2"], pid, epoch, 2))[:2] == (0, 2)
        assert stored_values(c, topic) == [(0, b"s0"), (1, b"s1"), (2, b"s2")]


def test_older_epoch_after_an_epoch_bump_is_fenced(broker, topic):
    with kproto.Conn(broker.port) as c:
        pid, epoch = new_producer(c)
        assert c.produce_v3(topic, 0, idempotent_batch([b"e0"], pid, epoch, 0))[:2] == (0, 0)
        # KIP-360: an idempotent producer with its id and epoch asks for a bump.
        err, pid2, epoch2 = init_producer_id(c, version=3, producer_id=pid, epoch=epoch)
        assert err == 0, err
        if pid2 == pid:
            assert epoch2 == epoch + 1
            # The new epoch restarts at sequence 0 ...
            assert c.produce_v3(topic, 0, idempotent_batch([b"e1"], pid, epoch2, 0))[:2] == (0, 1)
            # ... and the old epoch is fenced, in sequence or not.
            err, base, _ = c.produce_v3(topic, 0, idempotent_batch([b"zombie"], pid, epoch, 1))
            assert err == INVALID_PRODUCER_EPOCH, err
            assert base == -1
            err, _, _ = c.produce_v3(topic, 0, idempotent_batch([b"e0"], pid, epoch, 0))
            assert err == INVALID_PRODUCER_EPOCH, "a retry from the old epoch must be fenced too: %d" % err
            assert high_watermark(c, topic) == 2
        else:
            # Kafka itself hands out a fresh id with epoch 0 for non-transactional producers.
            assert epoch2 == 0 and pid2 != pid


# ---------------------------------------------------------------- restarts

@pytest.mark.parametrize("kill9", [False, True], ids=["clean-restart-snapshot", "sigkill-replay"])
def test_duplicate_detection_survives_restart(broker, topic, kill9):
    with kproto.Conn(broker.port) as c:
        pid, epoch = new_producer(c)
        batches = [idempotent_batch([b"r%d-%d" % (k, j) for j in range(3)], pid, epoch, 3 * k) for k in range(4)]
        for k, b in enumerate(batches):
            assert c.produce_v3(topic, 0, b)[:2] == (0, 3 * k)
        # Another producer on the same partition, so state is per producer.
        pid_b, _ = new_producer(c)
        other = idempotent_batch([b"other"], pid_b, 0, 0)
        assert c.produce_v3(topic, 0, other)[:2] == (0, 12)
    broker.restart(kill9=kill9)
    with kproto.Conn(broker.port) as c:
        assert high_watermark(c, topic) == 13
        for k, b in enumerate(batches):
            err, base, _ = c.produce_v3(topic, 0, b)
            assert (err, base) == (0, 3 * k), "retry of batch %d after restart: error %d, offset %d" % (k, err, base)
        assert c.produce_v3(topic, 0, other)[:2] == (0, 12)
        assert high_watermark(c, topic) == 13, "retries after the restart were stored again"
        # The sequence goes on where it was; a gap is still refused.
        assert c.produce_v3(topic, 0, idempotent_batch([b"gap"], pid, epoch, 13))[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
        assert c.produce_v3(topic, 0, idempotent_batch([b"next"], pid, epoch, 12))[:2] == (0, 13)
        assert high_watermark(c, topic) == 14


def test_duplicate_detection_survives_sigkill_after_a_clean_restart(broker, topic):
    """Snapshot from the clean stop, then more batches, then SIGKILL: the
    state is the snapshot plus the replayed tail."""
    with kproto.Conn(broker.port) as c:
        pid, epoch = new_producer(c)
        first = idempotent_batch([b"f0", b"f1"], pid, epoch, 0)
        assert c.produce_v3(topic, 0, first)[:2] == (0, 0)
    broker.restart()
    with kproto.Conn(broker.port) as c:
        second = idempotent_batch([b"g0"], pid, epoch, 2)
        assert c.produce_v3(topic, 0, second)[:2] == (0, 2)
    broker.restart(kill9=True)
    with kproto.Conn(broker.port) as c:
        assert c.produce_v3(topic, 0, first)[:2] == (0, 0)
        assert c.produce_v3(topic, 0, second)[:2] == (0, 2)
        assert high_watermark(c, topic) == 3
        assert c.produce_v3(topic, 0, idempotent_batch([b"h0"], pid, epoch, 3))[:2] == (0, 3)


# ---------------------------------------------------------------- DescribeProducers

def test_describe_producers_lists_the_producer_with_its_last_sequence(broker, topic):
    with kproto.Conn(broker.port) as c:
        pid, epoch = new_producer(c)
        assert c.produce_v3(topic, 0, idempotent_batch([b"d%d" % i for i in range(4)], pid, epoch, 0))[0] == 0
        assert c.produce_v3(topic, 0, idempotent_batch([b"d4", b"d5"], pid, epoch, 4))[0] == 0
        # Plain records do not make a producer.
        assert c.produce_v3(topic, 1, kproto.record_batch([(None, b"plain")]))[0] == 0
        parts = describe_producers(c, topic, [0, 1, 7])
        err, prods = parts[0]
        assert err == 0
        assert len(prods) == 1, prods
        p = prods[0]
        assert (p["producer_id"], p["epoch"], p["last_sequence"]) == (pid, epoch, 5), p
        assert p["current_txn_start_offset"] == -1
        assert abs(p["last_timestamp"] - time.time() * 1000) < 600000, p
        assert parts[1] == (0, [])
        assert parts[7][0] == kproto.UNKNOWN_TOPIC_OR_PARTITION
    broker.restart()
    with kproto.Conn(broker.port) as c:
        err, prods = describe_producers(c, topic, [0])[0]
        assert err == 0
        assert [(p["producer_id"], p["last_sequence"]) for p in prods] == [(pid, 5)], "lost by the restart"


# ---------------------------------------------------------------- expiry

def wait_for(cond, timeout_s, step_s=0.1):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(step_s)
    return cond()


def test_idle_producer_expires_and_may_continue_its_sequence(start_broker):
    """producer.id.expiration.ms: an idle producer is forgotten (DescribeProducers
    no longer lists it). Kafka then accepts its next batch at whatever
    sequence it continues with ("If there is no current producer epoch ...
    accept writes with any sequence number", ProducerAppendInfo.checkSequence,
    Kafka 2.5+), rather than OUT_OF_ORDER_SEQUENCE_NUMBER, which clients
    treat as fatal."""
    b = start_broker("producer.id.expiration.ms=1000", "log.retention.check.interval.ms=200")
    t = unique_topic("idem-exp")
    create_topic(b.bootstrap, t, partitions=1)
    with kproto.Conn(b.port) as c:
        pid, epoch = new_producer(c)
        assert c.produce_v3(t, 0, idempotent_batch([b"x0", b"x1", b"x2"], pid, epoch, 0))[:2] == (0, 0)
        assert [p["producer_id"] for p in describe_producers(c, t, [0])[0][1]] == [pid]
        assert wait_for(lambda: describe_producers(c, t, [0])[0][1] == [], 10), \
            "producer still listed well after producer.id.expiration.ms"
        err, base, _ = c.produce_v3(t, 0, idempotent_batch([b"x3"], pid, epoch, 3))
        assert (err, base) == (0, 3), "continuing after expiry: error %d (Kafka accepts any sequence " \
            "from a producer it has no state for)" % err
        assert high_watermark(c, t) == 4


def test_unknown_producer_is_accepted_at_any_sequence(broker, topic):
    """Same rule for a producer id the partition never saw (e.g. its batches
    were all deleted by retention): Kafka appends the batch as sent."""
    with kproto.Conn(broker.port) as c:
        pid, epoch = new_producer(c)
        err, base, _ = c.produce_v3(topic, 0, idempotent_batch([b"late"], pid, epoch, 5))
        assert (err, base) == (0, 0), "error %d" % err
        # From then on the sequence is checked: 6 is next, 8 is a gap.
        assert c.produce_v3(topic, 0, idempotent_batch([b"gap"], pid, epoch, 8))[0] == OUT_OF_ORDER_SEQUENCE_NUMBER
        assert c.produce_v3(topic, 0, idempotent_batch([b"late"], pid, epoch, 5))[:2] == (0, 0)
        assert c.produce_v3(topic, 0, idempotent_batch([b"next"], pid, epoch, 6))[:2] == (0, 1)
        assert high_watermark(c, topic) == 2
