"""Durability settings: flush.messages / flush.ms move the partition's
recovery point (data fdatasync'ed) without acks=all; acks=all is answered
after the flush; and (RUNNEL_SCALE=1) a measurement of acks=all throughput
with and without the flush, and of acks=1, in one run.

The recovery-point file (<partition>/recovery-point, "0\\n<offset>\\n", see
src/log/log.c) is written by the sync that advanced it, at most every 5 s
after its first write, and at close.
"""

import json
import os
import subprocess
import time

import pytest

from helpers import confluent_produce, unique_topic
from test_storage_util import create_topic, partition_dir, read_checkpoint, wait_until

ACKS1 = {"acks": "1"}


def rp(b, topic):
    return read_checkpoint(partition_dir(b, topic), "recovery-point")


def test_flush_messages_1_advances_the_recovery_point_without_acks_all(broker):
    topic = unique_topic("flush-msgs")
    create_topic(broker.bootstrap, topic, {"flush.messages": "1"})
    confluent_produce(broker.bootstrap, topic, [{"value": b"one"}], partition=0, conf=ACKS1)
    wait_until("the first recovery-point write", lambda: rp(broker, topic) == 1, timeout_s=5, interval_s=0.05)
    confluent_produce(broker.bootstrap, topic, [{"value": b"%d" % i} for i in range(20)], partition=0, conf=ACKS1)
    # Later writes of the checkpoint are spaced by up to 5 s.
    wait_until("the recovery point to reach 21", lambda: rp(broker, topic) == 21, timeout_s=12, interval_s=0.1)


def test_flush_ms_advances_the_recovery_point_without_acks_all(broker):
    topic = unique_topic("flush-ms")
    create_topic(broker.bootstrap, topic, {"flush.ms": "200"})
    confluent_produce(broker.bootstrap, topic, [{"value": b"%d" % i} for i in range(5)], partition=0, conf=ACKS1)
    wait_until("the recovery point to reach 5", lambda: rp(broker, topic) == 5, timeout_s=5, interval_s=0.05)


def test_acks_1_with_default_flush_settings_leaves_the_recovery_point_to_close(broker):
    topic = unique_topic("flush-none")
    create_topic(broker.bootstrap, topic)
    confluent_produce(broker.bootstrap, topic, [{"value": b"%d" % i} for i in range(5)], partition=0, conf=ACKS1)
    time.sleep(1.5)
    assert rp(broker, topic) in (None, 0)
    broker.restart()  # a clean shutdown syncs and writes the checkpoint
    assert rp(broker, topic) == 5


def test_acks_all_is_answered_after_the_data_is_synced(broker):
    topic = unique_topic("acks-all")
    create_topic(broker.bootstrap, topic)
    confluent_produce(broker.bootstrap, topic, [{"value": b"%d" % i} for i in range(7)], partition=0)
    # The answer came after the fdatasync; the first checkpoint write follows the first sync at once.
    wait_until("the recovery point to reach 7", lambda: rp(broker, topic) == 7, timeout_s=3, interval_s=0.05)


def test_broker_log_flush_interval_messages_applies_to_topics_without_override(start_broker):
    b = start_broker("log.flush.interval.messages=1")
    topic = unique_topic("flush-broker")
    create_topic(b.bootstrap, topic)
    confluent_produce(b.bootstrap, topic, [{"value": b"x"}], partition=0, conf=ACKS1)
    wait_until("the recovery point to reach 1", lambda: rp(b, topic) == 1, timeout_s=5, interval_s=0.05)


# ---------------------------------------------------------------- measurement

RUNNEL = os.path.join(os.path.dirname(os.environ.get("RUNNELD", "/nonexistent")), "runnel")


def bench(b, topic, acks, records, batch_size, linger_ms, producers=4, partitions=4):
    cmd = [RUNNEL, "--brokers", b.bootstrap, "bench", "produce", "--topic", topic, "--records", str(records),
           "--record-size", "100", "--acks", acks, "--producers", str(producers), "--partitions", str(partitions),
           "--batch-size", str(batch_size), "--linger-ms", str(linger_ms), "--quiet", "--output", "json",
           "--time-limit", "120"]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=150)
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    r = json.loads(p.stdout.decode().strip().splitlines()[-1])
    assert r["failed"] == 0 and r["ok"] == records, r
    return r


CASES = (("acks=all, log.flush.acks.all=true", "log.flush.acks.all=true", "all"),
         ("acks=all, log.flush.acks.all=false", "log.flush.acks.all=false", "all"),
         ("acks=1", "log.flush.acks.all=true", "1"))
SHAPES = (("large batches (batch.size 1 MB, linger 5 ms)", 1000000, 5),
          ("small batches (batch.size 16 KB, linger 0 ms)", 16384, 0))


@pytest.mark.scale
@pytest.mark.timeout(900)
def test_measure_acks_all_throughput_with_and_without_fdatasync(start_broker):
    """Not a check: prints records/s (median of RUNNEL_BENCH_REPS interleaved
    runs) for acks=all with log.flush.acks.all=true (group-committed
    fdatasync), with false (answered after the write, as Kafka), and acks=1,
    for two batch shapes, each ratio against acks=1 in the same run."""
    if not os.access(RUNNEL, os.X_OK):
        pytest.skip("%s not built (make all)" % RUNNEL)
    n = int(os.environ.get("RUNNEL_BENCH_RECORDS", "2000000"))
    reps = int(os.environ.get("RUNNEL_BENCH_REPS", "3"))
    brokers = {label: start_broker(override) for label, override, _ in CASES}
    print("\n==== produce throughput: %d records of 100 B, 4 producers, 4 partitions, median of %d ====" % (n, reps))
    for shape, batch_size, linger in SHAPES:
        rates = {label: [] for label, _, _ in CASES}
        lat = {label: [] for label, _, _ in CASES}
        for _ in range(reps):
            for label, _, acks in CASES:
                r = bench(brokers[label], unique_topic("bench"), acks, n, batch_size, linger)
                rates[label].append(r["records_per_s"])
                lat[label].append(r["ack_latency_ms"]["p50"])
        med = {label: sorted(v)[len(v) // 2] for label, v in rates.items()}
        print("-- %s" % shape)
        for label, _, _ in CASES:
            print("%-38s %10.0f rec/s  %.2f x acks=1  p50 ack %.1f ms  runs %s" % (
                label, med[label], med[label] / med["acks=1"], sorted(lat[label])[len(lat[label]) // 2],
                [int(x) for x in rates[label]]))
