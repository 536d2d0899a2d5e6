"""librdkafka's idempotent producer (enable.idempotence=true, acks=all)
across forced connection drops and broker restarts: every message whose
delivery succeeded is stored exactly once, in produce order per partition.

Each message's value is "<partition>:<sequence>" with a per-partition
sequence in produce order. The producer keeps going while the test
  - freezes the broker (SIGSTOP) for longer than request.timeout.ms, so the
    client times its requests out, drops the connection and resends them on
    a new one, while the frozen broker still holds the old requests (it
    executes them when it is continued: the retries must be duplicates);
  - kills the broker (SIGKILL) and starts it again (producer state replayed
    from the log);
  - restarts it cleanly (producer state from the snapshot).
message.timeout.ms is large, so no message may fail. Afterwards every
partition is read back in full and checked: records in (acknowledged),
records out (stored), duplicates, missing, out of order. The figures are
printed (run with -s to see them).
"""

import json
import signal
import threading
import time

import pytest
from confluent_kafka import KafkaError, Producer

from helpers import confluent_consume, confluent_watermarks, log, unique_topic
from recovery_util import create_topic

PARTITIONS = 3
RATE_PER_S = 3000  # messages per second, all partitions together


class IdempotentRun:
    """A producer thread writing "<p>:<seq>" values round-robin over the
    partitions at RATE_PER_S until stopped, then flushing."""

    def __init__(self, bootstrap, topic, **conf):
        self.topic = topic
        self.lock = threading.Lock()
        self.reports = {}   # (partition, seq) -> (error or None, offset)
        self.produced = 0
        self.fatal = []
        self.errors = []
        self.stats = {"txretries": 0, "req_timeouts": 0, "disconnects": 0}
        c = {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
             "max.in.flight.requests.per.connection": 5, "linger.ms": 5,
             "message.timeout.ms": 300000, "request.timeout.ms": 2000, "socket.timeout.ms": 3000,
             "retry.backoff.ms": 100, "reconnect.backoff.ms": 100, "reconnect.backoff.max.ms": 500,
             "topic.metadata.refresh.interval.ms": 1000, "error_cb": self._on_error, "logger": log,
             "statistics.interval.ms": 500, "stats_cb": self._on_stats}
        c.update(conf)
        self.producer = Producer(c)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _on_error(self, err):
        # Transient errors (broker down, timeouts) are expected; fatal ones are not.
        with self.lock:
            self.errors.append(err)
            if err.fatal():
                self.fatal.append(err)

    def _on_stats(self, text):
        # Per-broker counters of the librdkafka instance: retries, request
        # timeouts, disconnects (they are cumulative; keep the largest seen).
        st = json.loads(text)
        sums = {"txretries": 0, "req_timeouts": 0, "disconnects": 0}
        for b in st.get("brokers", {}).values():
            if b.get("nodeid", -1) < 0:
                continue  # the bootstrap pseudo-broker
            for k in sums:
                sums[k] += b.get(k, 0)
        with self.lock:
            for k, v in sums.items():
                self.stats[k] = max(self.stats[k], v)

    def _cb(self, part, seq):
        def cb(err, msg):
            with self.lock:
                self.reports[(part, seq)] = (err, msg.offset() if err is None else None)
        return cb

    def _run(self):
        seqs = [0] * PARTITIONS
        i = 0
        t0 = time.monotonic()
        while not self.stop.is_set():
            # Pace the production: i messages by t0 + i / RATE_PER_S.
            ahead = t0 + i / RATE_PER_S - time.monotonic()
            if ahead > 0:
                self.producer.poll(min(ahead, 0.05))
                continue
            part = i % PARTITIONS
            try:
                self.producer.produce(self.topic, value=b"%d:%d" % (part, seqs[part]), partition=part,
                                      on_delivery=self._cb(part, seqs[part]))
            except BufferError:
                self.producer.poll(0.05)
                continue
            seqs[part] += 1
            i += 1
            self.producer.poll(0)
        with self.lock:
            self.produced = i
        self.seqs = seqs

    def start(self):
        self.thread.start()
        return self

    def finish(self, flush_timeout_s):
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive(), "producer thread did not stop"
        left = self.producer.flush(flush_timeout_s)
        self.producer.poll(0.6)  # one more statistics report
        return left


def verify(bootstrap, topic, run, label):
    """Reads every partition in full; returns the figures and asserts exactly
    once, in order, for every acknowledged message."""
    with run.lock:
        reports = dict(run.reports)
        fatal = list(run.fatal)
    failed = {k: e for k, (e, _o) in reports.items() if e is not None}
    acked = {k: o for k, (e, o) in reports.items() if e is None}
    stored_total = dup_total = missing_total = reorder_total = 0
    offset_mismatch = []
    for part in range(PARTITIONS):
        low, high = confluent_watermarks(bootstrap, topic, part)
        msgs = confluent_consume(bootstrap, topic, high - low, partition=part) if high > low else []
        stored_total += len(msgs)
        seen = {}
        last = -1
        for m in msgs:
            p_s, seq_s = m.value().split(b":")
            assert int(p_s) == part, "value %r in partition %d" % (m.value(), part)
            seq = int(seq_s)
            if seq in seen:
                dup_total += 1
            else:
                seen[seq] = m.offset()
                if seq < last:
                    reorder_total += 1
                last = max(last, seq)
        for (p, seq), off in acked.items():
            if p != part:
                continue
            if seq not in seen:
                missing_total += 1
            elif seen[seq] != off:
                offset_mismatch.append((p, seq, off, seen[seq]))
    figures = {"produced": run.produced, "records in (acknowledged)": len(acked),
               "delivery failures": len(failed), "records out (stored)": stored_total,
               "duplicates": dup_total, "missing": missing_total, "out of order": reorder_total,
               "acknowledged offset differs from stored offset": len(offset_mismatch)}
    figures.update(("client " + k, v) for k, v in run.stats.items())
    print("\n[idempotence %s] %s" % (label, ", ".join("%s: %d" % kv for kv in figures.items())))
    assert not fatal, "fatal producer errors: %s" % fatal
    assert not failed, "%d deliveries failed, e.g. %s" % (len(failed), list(failed.items())[:3])
    assert len(acked) == run.produced, "%d produced, %d acknowledged" % (run.produced, len(acked))
    assert dup_total == 0, "%d duplicates stored" % dup_total
    assert missing_total == 0, "%d acknowledged records missing" % missing_total
    assert reorder_total == 0, "%d records out of order" % reorder_total
    assert not offset_mismatch, "acknowledged at another offset than stored (p, seq, acked, stored): %s" % \
        offset_mismatch[:5]
    assert stored_total == len(acked), "stored %d, acknowledged %d" % (stored_total, len(acked))
    return figures


def freeze(broker, seconds):
    broker.proc.send_signal(signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        broker.proc.send_signal(signal.SIGCONT)


@pytest.fixture
def topic(broker):
    t = unique_topic("idem-rdk")
    create_topic(broker.bootstrap, t, partitions=PARTITIONS)
    return t


@pytest.mark.timeout(90)
def test_connection_drops_by_freezing_the_broker(broker, topic):
    """SIGSTOP for 5 s > request.timeout.ms (2 s): librdkafka times out the
    in-flight produce requests, disconnects and retries them; the broker,
    once continued, still executes the requests queued on the old
    connections. Twice."""
    run = IdempotentRun(broker.bootstrap, topic).start()
    try:
        time.sleep(3)
        freeze(broker, 5)
        time.sleep(4)
        freeze(broker, 5)
        time.sleep(4)
    finally:
        broker.proc.send_signal(signal.SIGCONT)
        left = run.finish(40)
    assert left == 0, "%d messages still undelivered after the flush" % left
    figures = verify(broker.bootstrap, topic, run, "SIGSTOP/SIGCONT x2")
    assert figures["records in (acknowledged)"] > 10000
    assert figures["client req_timeouts"] > 0, "the freeze did not time out any request: nothing was tested"


@pytest.mark.timeout(90)
def test_broker_killed_and_restarted_while_producing(broker, topic):
    """SIGKILL mid-stream, twice; the broker is started again after a short
    outage. Batches the broker wrote but never acknowledged are retried by
    the client and must be recognised from the replayed log."""
    run = IdempotentRun(broker.bootstrap, topic).start()
    try:
        time.sleep(3)
        broker.kill()
        time.sleep(1.5)
        broker.start()
        time.sleep(4)
        broker.kill()
        broker.start()  # at once this time
        time.sleep(4)
    finally:
        if not broker.running():
            broker.start()
        left = run.finish(40)
    assert left == 0, "%d messages still undelivered after the flush" % left
    figures = verify(broker.bootstrap, topic, run, "SIGKILL+restart x2")
    assert figures["records in (acknowledged)"] > 10000


@pytest.mark.timeout(90)
def test_clean_restarts_freeze_and_kill_mixed(broker, topic):
    """Clean restart (snapshot), freeze (timeouts and reconnects) and SIGKILL
    (replay) in one run."""
    run = IdempotentRun(broker.bootstrap, topic).start()
    try:
        time.sleep(3)
        broker.restart()
        time.sleep(3)
        freeze(broker, 4)
        time.sleep(3)
        broker.restart(kill9=True)
        time.sleep(3)
    finally:
        broker.proc.send_signal(signal.SIGCONT)
        if not broker.running():
            broker.start()
        left = run.finish(40)
    assert left == 0, "%d messages still undelivered after the flush" % left
    verify(broker.bootstrap, topic, run, "restart+SIGSTOP+SIGKILL")
