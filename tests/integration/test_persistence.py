"""What the broker acknowledged is still there after it restarts, whether it
was stopped cleanly (SIGTERM) or killed (SIGKILL)."""

import threading
import time

from confluent_kafka.admin import ConfigResource, NewTopic

import kproto
from helpers import (admin_call, describe_configs, confluent_consume, confluent_produce, confluent_producer,
                     confluent_watermarks, topic_exists, topic_partition_count, unique_topic)


def test_records_survive_a_clean_restart(start_broker):
    b = start_broker("num.partitions=2")
    topic = unique_topic()
    for p in range(2):
        confluent_produce(b.bootstrap, topic, [{"key": b"k%d" % i, "value": b"p%d-%d" % (p, i)} for i in range(500)],
                          partition=p)
    b.restart()
    for p in range(2):
        assert confluent_watermarks(b.bootstrap, topic, p) == (0, 500)
        got = confluent_consume(b.bootstrap, topic, 500, partition=p)
        assert [(m.offset(), m.key(), m.value()) for m in got] == [(i, b"k%d" % i, b"p%d-%d" % (p, i))
                                                                   for i in range(500)]


def test_acks_all_records_survive_sigkill(broker):
    topic = unique_topic()
    values = [b"durable-%d" % i for i in range(5000)]
    confluent_produce(broker.bootstrap, topic, [{"value": v} for v in values], partition=0, conf={"acks": "all"})
    broker.restart(kill9=True)
    assert confluent_watermarks(broker.bootstrap, topic) == (0, 5000)
    got = confluent_consume(broker.bootstrap, topic, 5000)
    assert [m.value() for m in got] == values


def test_sigkill_during_acks_all_production_loses_no_acknowledged_record(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"first"}], partition=0)
    acked = {}
    lock = threading.Lock()
    stop = threading.Event()

    def produce_until_stopped():
        p = confluent_producer(broker.bootstrap, **{"acks": "all", "linger.ms": 1, "message.timeout.ms": 5000,
                                                   "retries": 0})

        def on_delivery(err, msg):
            if err is None:
                with lock:
                    acked[msg.offset()] = msg.value()

        i = 0
        while not stop.is_set():
            try:
                p.produce(topic, value=b"v-%d" % i, partition=0, on_delivery=on_delivery)
                i += 1
            except BufferError:
                pass
            p.poll(0.001)
        p.flush(6)

    t = threading.Thread(target=produce_until_stopped, daemon=True)
    t.start()
    time.sleep(1.5)
    with lock:
        acked_before_kill = dict(acked)
    broker.kill()
    stop.set()
    t.join(15)
    assert len(acked_before_kill) > 100, "too few records acknowledged in 1.5 s: %d" % len(acked_before_kill)
    with lock:
        acked_total = dict(acked)  # includes reports that arrived after the kill was sent
    broker.start()
    _, high = confluent_watermarks(broker.bootstrap, topic)
    assert high >= max(acked_total) + 1, "high watermark %d, acknowledged up to offset %d" % (high, max(acked_total))
    got = {m.offset(): m.value() for m in confluent_consume(broker.bootstrap, topic, high)}
    lost = [(o, v) for o, v in sorted(acked_total.items()) if got.get(o) != v]
    assert not lost, "%d acknowledged records lost or changed, first: %s" % (len(lost), lost[:5])


def test_offsets_continue_after_restart(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"a%d" % i} for i in range(10)], partition=0)
    broker.restart()
    delivered = confluent_produce(broker.bootstrap, topic, [{"value": b"b%d" % i} for i in range(10)], partition=0)
    assert [m.offset() for m in delivered] == list(range(10, 20))
    got = confluent_consume(broker.bootstrap, topic, 20)
    assert [m.value() for m in got] == [b"a%d" % i for i in range(10)] + [b"b%d" % i for i in range(10)]


def test_offsets_continue_after_sigkill(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"a%d" % i} for i in range(10)], partition=0)
    broker.restart(kill9=True)
    delivered = confluent_produce(broker.bootstrap, topic, [{"value": b"b"}], partition=0)
    assert delivered[0].offset() == 10


def test_topics_partition_counts_and_configs_survive_restart(broker):
    topic = unique_topic()
    res = admin_call(broker.bootstrap, "create_topics",
                     [NewTopic(topic, 4, 1, config={"retention.ms": "7200000"})], operation_timeout=10)
    assert res == {topic: None}
    broker.restart()
    assert topic_partition_count(broker.bootstrap, topic) == 4
    assert describe_configs(broker.bootstrap, ConfigResource.Type.TOPIC, topic)["retention.ms"].value == "7200000"


def test_deleted_topic_stays_deleted_after_restart(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"x"}], partition=0)
    assert admin_call(broker.bootstrap, "delete_topics", [topic], operation_timeout=10) == {topic: None}
    broker.restart()
    assert not topic_exists(broker.bootstrap, topic)


def test_added_partitions_survive_sigkill(broker):
    from confluent_kafka.admin import NewPartitions
    topic = unique_topic()
    admin_call(broker.bootstrap, "create_topics", [NewTopic(topic, 1, 1)], operation_timeout=10)
    assert admin_call(broker.bootstrap, "create_partitions", [NewPartitions(topic, 3)]) == {topic: None}
    confluent_produce(broker.bootstrap, topic, [{"value": b"in-2"}], partition=2)
    broker.restart(kill9=True)
    assert topic_partition_count(broker.bootstrap, topic) == 3
    assert [m.value() for m in confluent_consume(broker.bootstrap, topic, 1, partition=2)] == [b"in-2"]


def test_sigterm_with_idle_and_long_polling_clients_connected_exits_zero_quickly(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"x"}], partition=0)
    idle = kproto.Conn(broker.port)
    poller = kproto.Conn(broker.port)
    try:
        idle.api_versions(0)
        # A Fetch parked at the end of the log for 30 s must not hold up shutdown.
        body_offset = 1
        poller.send_request(kproto.API_FETCH, 4,
                            kproto.i32(-1) + kproto.i32(30000) + kproto.i32(1) + kproto.i32(1 << 20) + kproto.i8(0)
                            + kproto.array([kproto.string(topic) + kproto.array(
                                [kproto.i32(0) + kproto.i64(body_offset) + kproto.i32(1 << 20)])]))
        time.sleep(0.3)
        t0 = time.monotonic()
        assert broker.stop() == 0
        assert time.monotonic() - t0 < 5.0, "shutdown took %.1f s" % (time.monotonic() - t0)
    finally:
        idle.close()
        poller.close()
