"""Compaction of a topic written by transactional producers (confluent-kafka
/ librdkafka) keeps Kafka's transactional semantics:

- data of aborted transactions are removed, and never supersede a committed
  value of the same key (a read_uncommitted consumer stops seeing them);
- committed transactional records are compacted like any others;
- a marker stays while data of its transaction remain, then goes once a
  pass went past it more than delete.retention.ms earlier (as tombstones);
- nothing at or past the last stable offset is cleaned, so an open
  transaction's value cannot remove the committed one it would replace if
  the transaction later aborts;
- the partition's aborted-transaction index (`aborted-txns`) forgets the
  transactions whose data the cleaner removed.

Brokers check every 250 ms and topics use 8 KiB segments with
min.cleanable.dirty.ratio=0.01, so a pass runs whenever a segment rolls.
"""

import os

from confluent_kafka import OFFSET_BEGINNING

import kproto
from helpers import confluent_produce, unique_topic
from test_storage_util import LATEST, consume_to_end, create_topic, list_offset, partition_dir, raw_fetch, wait_until
from txn_util import produce_all, read_to_end, txn_producer

BROKER = ("log.retention.check.interval.ms=250", "log.segment.delete.delay.ms=200")
COMPACT = {"cleanup.policy": "compact", "segment.bytes": "8192", "min.cleanable.dirty.ratio": "0.01",
           "delete.retention.ms": "1000"}
KEYS = 10


def produce_plain(b, topic, prefix, values_per_key=1, keys=KEYS):
    recs = [{"key": b"%s-%d" % (prefix, j), "value": b"%s-%d-r%d-" % (prefix, j, r) + os.urandom(20).hex().encode()}
            for r in range(values_per_key) for j in range(keys)]
    confluent_produce(b.bootstrap, topic, recs, partition=0, conf={"batch.num.messages": 20})


def fill(b, topic, rounds=60):
    """Plain records on keys of their own, enough to roll several segments."""
    produce_plain(b, topic, b"fill", values_per_key=rounds)


def txn(b, topic, txn_id, pairs, commit):
    p = txn_producer(b.bootstrap, txn_id)
    p.init_transactions(30)
    p.begin_transaction()
    for k, v in pairs:
        produce_all(p, topic, [v], partition=0, key=k)
    p.flush(30)
    if commit:
        p.commit_transaction(30)
    else:
        p.abort_transaction(30)


def latest(msgs):
    out = {}
    for m in msgs:
        out[m.key()] = m.value()
    return out


def control_batches(b, topic):
    """(offset, producer id, type: 0 ABORT / 1 COMMIT) of every marker in
    partition 0, from raw fetches over the whole log."""
    end = list_offset(b.port, topic, 0, LATEST)
    out, off = [], 0
    while off < end:
        err, _hw, data = raw_fetch(b.port, topic, 0, off)
        assert err == 0
        pos, moved = 0, False
        while pos + 61 <= len(data):
            base = int.from_bytes(data[pos:pos + 8], "big")
            length = int.from_bytes(data[pos + 8:pos + 12], "big")
            if pos + 12 + length > len(data):
                break
            attrs = int.from_bytes(data[pos + 21:pos + 23], "big")
            last = base + int.from_bytes(data[pos + 23:pos + 27], "big")
            if attrs & 0x20:
                pid = int.from_bytes(data[pos + 43:pos + 51], "big", signed=True)
                r = kproto.Reader(data[pos + 61:pos + 12 + length])
                r.varint()  # record length
                r.i8()
                r.varint()
                r.varint()
                assert r.varint() == 4, "marker key length"
                r.i16()  # version
                out.append((base, pid, r.i16()))
            off, moved = last + 1, True
            pos += 12 + length
        assert moved, "no whole batch at offset %d" % off
    return out


def aborted_index_lines(b, topic):
    path = os.path.join(partition_dir(b, topic), "aborted-txns")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.split() for line in f if line.strip()]


def test_aborted_data_are_removed_and_markers_follow(start_broker):
    b = start_broker(*BROKER)
    topic = unique_topic("txcompact")
    create_topic(b.bootstrap, topic, COMPACT)
    produce_plain(b, topic, b"k")  # k-j = the committed values
    base = latest(consume_to_end(b.bootstrap, topic))
    assert len(base) == KEYS
    txn(b, topic, "tc-abort", [(b"k-%d" % j, b"aborted-%d" % j) for j in range(KEYS)], commit=False)
    txn(b, topic, "tc-commit", [(b"t-%d" % j, b"committed-%d" % j) for j in range(KEYS)], commit=True)
    markers = control_batches(b, topic)
    assert [m[2] for m in markers] == [0, 1], markers
    assert len(aborted_index_lines(b, topic)) == 1

    def aborted_gone():
        fill(b, topic, rounds=20)
        return not any(m.value().startswith(b"aborted-") for m in consume_to_end(b.bootstrap, topic))

    wait_until("the cleaner to remove the aborted records", aborted_gone, timeout_s=60, interval_s=0.5)
    for isolation in ("read_uncommitted", "read_committed"):
        view = latest(read_to_end(b.bootstrap, topic, 1, isolation))
        for j in range(KEYS):
            assert view[b"k-%d" % j] == base[b"k-%d" % j], "%s: k-%d lost its committed value" % (isolation, j)
            assert view[b"t-%d" % j] == b"committed-%d" % j
    wait_until("aborted-txns to forget the cleaned transaction", lambda: aborted_index_lines(b, topic) == [],
               timeout_s=30)

    # The ABORT marker has no data left: it goes after delete.retention.ms.
    # The COMMIT marker stays while its t-* records do.
    def abort_marker_gone():
        fill(b, topic, rounds=20)
        return [m[2] for m in control_batches(b, topic)] == [1]

    wait_until("the ABORT marker to be removed", abort_marker_gone, timeout_s=60, interval_s=0.5)

    # Newer plain values supersede every t-* record; then the COMMIT marker goes too.
    produce_plain(b, topic, b"t")

    def commit_marker_gone():
        fill(b, topic, rounds=20)
        return control_batches(b, topic) == []

    wait_until("the COMMIT marker to be removed", commit_marker_gone, timeout_s=60, interval_s=0.5)
    view = latest(read_to_end(b.bootstrap, topic, 1, "read_committed"))
    for j in range(KEYS):
        assert view[b"k-%d" % j] == base[b"k-%d" % j]
        assert view[b"t-%d" % j].startswith(b"t-%d-r0-" % j)


def test_an_open_transaction_is_never_cleaned(start_broker):
    """While a transaction is open, passes stop at its first offset, so its
    value for k-0 never supersedes the committed one; once it aborts, the
    cleaner removes it and k-0 keeps its committed value."""
    b = start_broker(*BROKER)
    topic = unique_topic("txopen")
    create_topic(b.bootstrap, topic, COMPACT)
    produce_plain(b, topic, b"k")
    base = latest(consume_to_end(b.bootstrap, topic))
    p = txn_producer(b.bootstrap, "tc-open", **{"transaction.timeout.ms": 60000})
    p.init_transactions(30)
    p.begin_transaction()
    produce_all(p, topic, [b"open-value"], partition=0, key=b"k-0")
    p.flush(30)
    end_before = list_offset(b.port, topic, 0, LATEST)
    for _ in range(8):  # many segments roll and passes run while it is open
        fill(b, topic, rounds=20)
    assert list_offset(b.port, topic, 0, LATEST) > end_before + 1000
    seg_bases = sorted(int(f[:-4]) for f in os.listdir(partition_dir(b, topic)) if f.endswith(".log"))
    assert len(seg_bases) > 3
    p.abort_transaction(30)

    def open_value_gone():
        fill(b, topic, rounds=20)
        return not any(m.value() == b"open-value" for m in consume_to_end(b.bootstrap, topic))

    wait_until("the cleaner to remove the aborted record", open_value_gone, timeout_s=60, interval_s=0.5)
    for isolation in ("read_uncommitted", "read_committed"):
        view = latest(read_to_end(b.bootstrap, topic, 1, isolation))
        assert view[b"k-0"] == base[b"k-0"], "%s: k-0 is %r" % (isolation, view.get(b"k-0"))
    got = consume_to_end(b.bootstrap, topic, offset=OFFSET_BEGINNING)
    assert any(m.key() == b"k-0" and m.value() == base[b"k-0"] for m in got)
