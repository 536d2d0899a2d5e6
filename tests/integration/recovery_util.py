"""Helpers of the recovery tests (test_recovery_*.py): reading and damaging
a partition's segment files from outside the broker, producing in known
batches, and reading a whole partition back with a real client.

On-disk formats (src/log/segment.c, src/log/index.c, src/log/log.c):
<log.dir>/<topic>-<p>/<20-digit base>.log holds v2 record batches back to
back (baseOffset int64, batchLength int32, partitionLeaderEpoch int32,
magic int8, crc uint32 over [21, 12+batchLength), attributes int16,
lastOffsetDelta int32, baseTimestamp int64, maxTimestamp int64, ...);
.index holds 8-byte entries (relative offset of a batch's last record,
position of the batch); .timeindex 12-byte entries (timestamp, relative
offset); recovery-point is "0\\n<offset>\\n".
"""

import glob
import os
import struct
import time
from collections import namedtuple

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import kproto

CLIENT_TIMEOUT_S = 30.0
BATCH_HEADER_BYTES = 61

Batch = namedtuple("Batch", "pos size base_offset last_offset magic crc max_timestamp")


# ---------------------------------------------------------------- files

def partition_dir(broker, topic, partition=0):
    return os.path.join(broker.datadir, "%s-%d" % (topic, partition))


def segment_bases(pdir):
    """Base offsets of the segments in a partition folder, sorted."""
    return sorted(int(os.path.basename(p)[:20]) for p in glob.glob(os.path.join(pdir, "[0-9]" * 20 + ".log")))


def segment_path(pdir, base, ext=".log"):
    return os.path.join(pdir, "%020d%s" % (base, ext))


def parse_batches(path):
    """The whole batches of a .log file, in order, by their headers only
    (no CRC check); stops at the first header that does not frame a batch."""
    with open(path, "rb") as f:
        data = f.read()
    out, pos = [], 0
    while pos + BATCH_HEADER_BYTES <= len(data):
        base, length = struct.unpack_from(">qi", data, pos)
        if length < 49 or pos + 12 + length > len(data):
            break
        magic = data[pos + 16]
        crc, = struct.unpack_from(">I", data, pos + 17)
        delta, = struct.unpack_from(">i", data, pos + 23)
        max_ts, = struct.unpack_from(">q", data, pos + 35)
        out.append(Batch(pos, 12 + length, base, base + delta, magic, crc, max_ts))
        pos += 12 + length
    return out


def all_batches(pdir):
    """[(segment base, Batch)] across every segment of the partition."""
    return [(b, x) for b in segment_bases(pdir) for x in parse_batches(segment_path(pdir, b))]


def read_recovery_point(pdir):
    try:
        with open(os.path.join(pdir, "recovery-point")) as f:
            version, offset = f.read().split()
        assert version == "0"
        return int(offset)
    except FileNotFoundError:
        return 0


def flip_byte(path, pos):
    with open(path, "r+b") as f:
        f.seek(pos)
        b = f.read(1)
        assert len(b) == 1, "no byte at %d in %s" % (pos, path)
        f.seek(pos)
        f.write(bytes([b[0] ^ 0x5A]))


def truncate_file(path, size):
    with open(path, "r+b") as f:
        f.truncate(size)


def append_bytes(path, data):
    with open(path, "ab") as f:
        f.write(data)


def check_index_files(pdir, base):
    """The segment's .index and .timeindex exist and agree with its .log:
    every offset index entry points at the start of the batch whose last
    offset it names, entries strictly increase, time index entries
    increase and name offsets of records carrying at most that timestamp
    (the segment's max timestamp so far)."""
    batches = parse_batches(segment_path(pdir, base))
    by_pos = {b.pos: b for b in batches}
    with open(segment_path(pdir, base, ".index"), "rb") as f:
        idx = f.read()
    assert len(idx) % 8 == 0, "offset index of %d bytes" % len(idx)
    prev = (-1, -1)
    for i in range(0, len(idx), 8):
        rel, pos = struct.unpack_from(">ii", idx, i)
        assert rel > prev[0] and pos > prev[1], "offset index entries not increasing: %s then %s" % (prev, (rel, pos))
        assert pos in by_pos, "offset index entry (%d, %d) does not point at a batch" % (rel, pos)
        assert by_pos[pos].last_offset == base + rel, "offset index entry (%d, %d): batch there ends at %d" % (
            rel, pos, by_pos[pos].last_offset)
        prev = (rel, pos)
    with open(segment_path(pdir, base, ".timeindex"), "rb") as f:
        tix = f.read()
    assert len(tix) % 12 == 0, "time index of %d bytes" % len(tix)
    prev_ts = -1
    last_by_offset = {b.last_offset: b for b in batches}
    running_max = {}
    m = -1
    for b in batches:
        m = max(m, b.max_timestamp)
        running_max[b.last_offset] = m
    for i in range(0, len(tix), 12):
        ts, rel = struct.unpack_from(">qi", tix, i)
        assert ts > prev_ts, "time index timestamps not increasing"
        assert base + rel in last_by_offset, "time index entry (%d, %d) names no batch's last offset" % (ts, rel)
        assert running_max[base + rel] == ts, "time index entry (%d, %d): max timestamp there is %d" % (
            ts, rel, running_max[base + rel])
        prev_ts = ts


# ---------------------------------------------------------------- clients

def create_topic(bootstrap, topic, partitions=1, config=None, timeout_s=CLIENT_TIMEOUT_S):
    a = AdminClient({"bootstrap.servers": bootstrap})
    fs = a.create_topics([NewTopic(topic, partitions, 1, config=config or {})], operation_timeout=10)
    fs[topic].result(timeout=timeout_s)


def produce_batches(bootstrap, topic, nbatches, per_batch, partition=0, value_bytes=100, ts0=None,
                    prefix=b"rec", first_offset=0, timeout_s=CLIENT_TIMEOUT_S):
    """Produces nbatches groups of per_batch records with acks=all, flushing
    after each group, so that each group is one batch (linger is long and
    flush() sends at once). Values are b"<prefix>-<i>-" padded to
    value_bytes; with ts0, record i has timestamp ts0 + 1000 * i. Returns
    [(offset, value, timestamp or None)] as acknowledged; asserts offsets
    first_offset, first_offset + 1, ... in produce order."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 1000,
                  "batch.num.messages": max(per_batch, 1), "compression.type": "none",
                  "message.timeout.ms": int(timeout_s * 1000), "enable.idempotence": False})
    acked = {}

    def cb(err, msg):
        assert err is None, "delivery failed: %s" % err
        acked[msg.value()] = msg.offset()

    out = []
    i = 0
    for _ in range(nbatches):
        for _ in range(per_batch):
            v = (b"%s-%06d-" % (prefix, i)).ljust(value_bytes, b".")
            ts = None if ts0 is None else ts0 + 1000 * i
            kw = {"timestamp": ts} if ts is not None else {}
            p.produce(topic, value=v, partition=partition, on_delivery=cb, **kw)
            out.append((v, ts))
            i += 1
        assert p.flush(timeout_s) == 0, "not delivered within %.0f s" % timeout_s
    got = [(acked[v], v, ts) for v, ts in out]
    want = list(range(first_offset, first_offset + len(got)))
    assert [o for o, _, _ in got] == want, "acknowledged offsets %s, expected %s" % (
        [o for o, _, _ in got][:10], want[:10])
    return got


def read_partition(bootstrap, topic, partition, end, start=0, timeout_s=CLIENT_TIMEOUT_S):
    """Every record in [start, end) of one partition, read with a
    confluent-kafka consumer by assignment, CRCs checked; fails on any
    consumer error and when the records do not arrive within timeout_s.
    Returns [(offset, value, timestamp)]."""
    out = []
    if end <= start:
        return out
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "runnel-recovery-tests",
                  "enable.auto.commit": False, "enable.auto.offset.store": False,
                  "auto.offset.reset": "error", "check.crcs": True,
                  "enable.partition.eof": False, "fetch.wait.max.ms": 100})
    try:
        c.assign([TopicPartition(topic, partition, start)])
        deadline = time.monotonic() + timeout_s
        while (not out or out[-1][0] < end - 1) and time.monotonic() < deadline:
            # As many as the offsets still missing: consume() returns as soon
            # as they are there (it waits for num_messages or the timeout).
            want = end - (out[-1][0] + 1 if out else start)
            for m in c.consume(num_messages=max(1, min(10000, want)), timeout=0.5):
                if m.error():
                    raise AssertionError("consumer error reading %s[%d]: %s" % (topic, partition, m.error()))
                if m.offset() < end:
                    out.append((m.offset(), m.value(), m.timestamp()[1]))
        assert out and out[-1][0] >= end - 1, "read up to offset %s of %s[%d] within %.0f s, want up to %d" % (
            out[-1][0] if out else None, topic, partition, timeout_s, end - 1)
        return out
    finally:
        c.close()


def watermarks(bootstrap, topic, partition=0):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "runnel-recovery-tests"})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
    finally:
        c.close()


def offsets_for_times(bootstrap, topic, partition, timestamps):
    """{ts: offset (-1 when no record is that late)} by ListOffsets."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "runnel-recovery-tests"})
    try:
        out = {}
        for ts in timestamps:
            (tp,) = c.offsets_for_times([TopicPartition(topic, partition, ts)], timeout=10)
            assert tp.error is None, "offsets_for_times(%d): %s" % (ts, tp.error)
            out[ts] = tp.offset
        return out
    finally:
        c.close()


def raw_fetch_all(port, topic, partition, end):
    """Reads [0, end) with raw Fetch v4 requests and checks every batch the
    broker sends: CRC32C (kproto.decode_batches asserts it), magic, and that
    offsets come exactly once, in order. Returns [(offset, value)]."""
    out = []
    offset = 0
    with kproto.Conn(port) as c:
        while offset < end:
            err, hw, records = c.fetch_v4(topic, partition, offset, max_wait_ms=0, partition_max_bytes=64 * 1024)
            assert err == 0, "fetch at %d: error %d" % (offset, err)
            got = [(o, v) for o, _, v in kproto.decode_batches(records) if o >= offset]
            assert got, "fetch at %d (hw %d) returned no whole batch" % (offset, hw)
            for o, v in got:
                assert o == offset, "raw fetch: offset %d where %d was expected" % (o, offset)
                out.append((o, v))
                offset += 1
    return out


def assert_no_kafka_error(err):
    assert err is None or err.code() == KafkaError.NO_ERROR, err
