"""Record timestamps: CreateTime kept as sent; LogAppendTime (broker-wide or
per topic) replaced by the broker's clock and flagged as such."""

import time

from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME
from confluent_kafka.admin import NewTopic

import kproto
from helpers import admin_call, confluent_consume, confluent_produce, kafka_python_consume, unique_topic

OLD_TS = 1_000_000_000_000  # 2001: far from any append time


def now_ms():
    return int(time.time() * 1000)


def assert_log_append_times(bootstrap, topic, n, t_before, t_after):
    got = confluent_consume(bootstrap, topic, n)
    for m in got:
        ts_type, ts = m.timestamp()
        assert ts_type == TIMESTAMP_LOG_APPEND_TIME, m.timestamp()
        assert t_before - 5 <= ts <= t_after + 5, "append time %d outside [%d, %d]" % (ts, t_before, t_after)
    kp = kafka_python_consume(bootstrap, topic, n)
    assert all(r.timestamp_type == 1 for r in kp), [r.timestamp_type for r in kp]
    assert all(t_before - 5 <= r.timestamp <= t_after + 5 for r in kp), [r.timestamp for r in kp]


def test_broker_wide_log_append_time_replaces_producer_timestamps(start_broker):
    b = start_broker("log.message.timestamp.type=LogAppendTime")
    topic = unique_topic()
    t_before = now_ms()
    confluent_produce(b.bootstrap, topic, [{"value": b"v%d" % i, "timestamp": OLD_TS + i} for i in range(20)],
                      partition=0)
    t_after = now_ms()
    assert_log_append_times(b.bootstrap, topic, 20, t_before, t_after)


def test_log_append_time_is_returned_in_the_produce_response(start_broker):
    b = start_broker("log.message.timestamp.type=LogAppendTime")
    topic = unique_topic()
    confluent_produce(b.bootstrap, topic, [{"value": b"create-topic"}], partition=0)
    with kproto.Conn(b.port) as c:
        t_before = now_ms()
        err, base, log_append_time = c.produce_v3(topic, 0, kproto.record_batch([(None, b"x")], base_timestamp=OLD_TS))
        t_after = now_ms()
    assert (err, base) == (0, 1)
    assert t_before - 5 <= log_append_time <= t_after + 5, log_append_time


def test_create_time_topic_answers_minus_one_as_log_append_time(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"create-topic"}], partition=0)
    with kproto.Conn(broker.port) as c:
        err, base, log_append_time = c.produce_v3(topic, 0, kproto.record_batch([(None, b"x")], base_timestamp=OLD_TS))
    assert (err, base, log_append_time) == (0, 1, -1)
    got = confluent_consume(broker.bootstrap, topic, 2)
    assert got[1].timestamp() == (TIMESTAMP_CREATE_TIME, OLD_TS)


def test_topic_config_log_append_time_applies_to_that_topic_only(broker):
    lat, ct = unique_topic("lat"), unique_topic("ct")
    res = admin_call(broker.bootstrap, "create_topics",
                     [NewTopic(lat, 1, 1, config={"message.timestamp.type": "LogAppendTime"}), NewTopic(ct, 1, 1)],
                     operation_timeout=10)
    assert res == {lat: None, ct: None}
    t_before = now_ms()
    confluent_produce(broker.bootstrap, lat, [{"value": b"x", "timestamp": OLD_TS}], partition=0)
    t_after = now_ms()
    confluent_produce(broker.bootstrap, ct, [{"value": b"y", "timestamp": OLD_TS}], partition=0)
    assert_log_append_times(broker.bootstrap, lat, 1, t_before, t_after)
    assert confluent_consume(broker.bootstrap, ct, 1)[0].timestamp() == (TIMESTAMP_CREATE_TIME, OLD_TS)


def test_offsets_for_times_uses_append_times_on_a_log_append_time_topic(start_broker):
    from confluent_kafka import TopicPartition
    from helpers import confluent_consumer
    b = start_broker("log.message.timestamp.type=LogAppendTime")
    topic = unique_topic()
    confluent_produce(b.bootstrap, topic, [{"value": b"a", "timestamp": OLD_TS}], partition=0)
    time.sleep(0.05)
    t_mid = now_ms()
    time.sleep(0.05)
    confluent_produce(b.bootstrap, topic, [{"value": b"b", "timestamp": OLD_TS}], partition=0)
    c = confluent_consumer(b.bootstrap)
    try:
        (tp,) = c.offsets_for_times([TopicPartition(topic, 0, t_mid)], timeout=10)
        assert tp.error is None and tp.offset == 1, tp
        (tp,) = c.offsets_for_times([TopicPartition(topic, 0, OLD_TS)], timeout=10)
        assert tp.offset == 0, tp
    finally:
        c.close()
