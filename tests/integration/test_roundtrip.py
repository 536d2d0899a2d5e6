"""Records produced by each client come back unchanged, in order, at the
offsets the broker acknowledged."""

import os

from confluent_kafka import KafkaError, TIMESTAMP_CREATE_TIME

from helpers import (confluent_consume, confluent_produce, confluent_producer, confluent_watermarks,
                     kafka_python_consume, kafka_python_producer, kcat, unique_topic)


def test_confluent_producer_records_are_read_back_by_confluent_consumer(broker):
    topic = unique_topic()
    values = [b"value-%d" % i for i in range(100)]
    delivered = confluent_produce(broker.bootstrap, topic, [{"value": v} for v in values], partition=0)
    assert [m.offset() for m in delivered] == list(range(100))
    got = confluent_consume(broker.bootstrap, topic, 100)
    assert [m.value() for m in got] == values
    assert [m.offset() for m in got] == list(range(100))


def test_kafka_python_producer_records_are_read_back_by_kafka_python_consumer(broker):
    topic = unique_topic()
    p = kafka_python_producer(broker.bootstrap)
    futures = [p.send(topic, value=b"kp-%d" % i, partition=0) for i in range(100)]
    p.flush(30)
    metas = [f.get(timeout=30) for f in futures]
    p.close(10)
    assert [m.offset for m in metas] == list(range(100))
    got = kafka_python_consume(broker.bootstrap, topic, 100)
    assert [r.value for r in got] == [b"kp-%d" % i for i in range(100)]
    assert [r.offset for r in got] == list(range(100))


def test_kcat_produced_keyed_records_are_read_back_by_kcat(broker):
    topic = unique_topic()
    lines = b"".join(b"k%d:v%d\n" % (i, i) for i in range(50))
    kcat("-b", broker.bootstrap, "-P", "-t", topic, "-p", "0", "-K", ":", "-X", "acks=all", input_bytes=lines)
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e",
               "-f", "%o %k %s\\n")
    assert out.decode().splitlines() == ["%d k%d v%d" % (i, i, i) for i in range(50)]


def test_kcat_lists_topic_metadata_with_this_broker_as_leader(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"x"}], partition=0)
    out = kcat("-b", broker.bootstrap, "-L", "-t", topic).decode()
    assert 'topic "%s" with 1 partitions' % topic in out, out
    assert "leader 1" in out, out
    assert "127.0.0.1:%d" % broker.port in out, out


def test_records_from_one_client_are_read_by_the_others(broker):
    topic = unique_topic()
    p = kafka_python_producer(broker.bootstrap)
    for i in range(10):
        p.send(topic, key=b"key-%d" % i, value=b"from-kafka-python-%d" % i, partition=0)
    p.flush(30)
    p.close(10)
    got = confluent_consume(broker.bootstrap, topic, 10)
    assert [(m.key(), m.value()) for m in got] == [(b"key-%d" % i, b"from-kafka-python-%d" % i) for i in range(10)]
    out = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e", "-f", "%k=%s\\n")
    assert out.decode().splitlines() == ["key-%d=from-kafka-python-%d" % (i, i) for i in range(10)]


def test_null_and_empty_keys_and_values_are_preserved(broker):
    topic = unique_topic()
    records = [{"key": None, "value": b"null-key"},
               {"key": b"", "value": b"empty-key"},
               {"key": b"k", "value": None},
               {"key": b"k2", "value": b""},
               {"key": b"\x00\xff binary", "value": b"\x00\x01\x02"}]
    confluent_produce(broker.bootstrap, topic, records, partition=0)
    got = confluent_consume(broker.bootstrap, topic, len(records))
    assert [(m.key(), m.value()) for m in got] == [(r["key"], r["value"]) for r in records]
    kp = kafka_python_consume(broker.bootstrap, topic, len(records))
    assert [(r.key, r.value) for r in kp] == [(r["key"], r["value"]) for r in records]


def test_headers_are_preserved_in_order_including_duplicates_and_null_values(broker):
    topic = unique_topic()
    headers = [("h1", b"v1"), ("h1", b"dup"), ("empty", b""), ("nullvalue", None), ("bin", b"\x00\xff")]
    confluent_produce(broker.bootstrap, topic, [{"value": b"with-headers", "headers": headers}], partition=0)
    p = kafka_python_producer(broker.bootstrap)
    p.send(topic, value=b"kp-headers", headers=[("a", b"1"), ("b", b"2")], partition=0).get(timeout=30)
    p.close(10)
    got = confluent_consume(broker.bootstrap, topic, 2)
    assert got[0].headers() == headers
    assert got[1].headers() == [("a", b"1"), ("b", b"2")]
    kp = kafka_python_consume(broker.bootstrap, topic, 2)
    assert kp[1].headers == [("a", b"1"), ("b", b"2")]


def test_explicit_create_time_timestamps_are_preserved(broker):
    topic = unique_topic()
    ts = [1600000000000 + i * 1000 for i in range(5)]
    confluent_produce(broker.bootstrap, topic, [{"value": b"%d" % t, "timestamp": t} for t in ts], partition=0)
    got = confluent_consume(broker.bootstrap, topic, 5)
    assert [m.timestamp() for m in got] == [(TIMESTAMP_CREATE_TIME, t) for t in ts]


def test_one_megabyte_messages_round_trip_when_message_max_bytes_allows(start_broker):
    b = start_broker("message.max.bytes=3000000")
    topic = unique_topic()
    values = [os.urandom(1_000_000) for _ in range(5)]
    confluent_produce(b.bootstrap, topic, [{"value": v} for v in values], partition=0,
                      conf={"message.max.bytes": 3_000_000, "compression.type": "none"})
    kp = kafka_python_producer(b.bootstrap, max_request_size=3_000_000)
    big = os.urandom(1_000_000)
    kp.send(topic, value=big, partition=0).get(timeout=30)
    kp.close(10)
    got = confluent_consume(b.bootstrap, topic, 6)
    assert [m.value() for m in got] == values + [big]
    kgot = kafka_python_consume(b.bootstrap, topic, 6)
    assert [r.value for r in kgot] == values + [big]


def test_message_over_message_max_bytes_is_rejected_with_MESSAGE_TOO_LARGE_and_not_stored(start_broker):
    b = start_broker("message.max.bytes=100000")
    topic = unique_topic()
    confluent_produce(b.bootstrap, topic, [{"value": b"small"}], partition=0)
    p = confluent_producer(b.bootstrap, **{"message.max.bytes": 1_000_000, "compression.type": "none",
                                           "message.send.max.retries": 0})
    errors = []
    p.produce(topic, value=os.urandom(200_000), partition=0, on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(30) == 0
    assert len(errors) == 1 and errors[0] is not None, errors
    assert errors[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, errors[0]
    assert confluent_watermarks(b.bootstrap, topic) == (0, 1)


def test_hundred_thousand_acks_all_records_are_read_back_in_order_at_consecutive_offsets(broker):
    topic = unique_topic()
    n = 100_000
    delivered = confluent_produce(broker.bootstrap, topic, [{"value": b"%06d" % i} for i in range(n)],
                                  partition=0, conf={"acks": "all", "linger.ms": 10}, timeout_s=45)
    assert [m.offset() for m in delivered] == list(range(n))
    got = confluent_consume(broker.bootstrap, topic, n, timeout_s=45)
    bad = [(m.offset(), m.value()) for i, m in enumerate(got) if m.offset() != i or m.value() != b"%06d" % i]
    assert not bad, "first mismatches (offset, value): %s" % bad[:5]
    assert confluent_watermarks(broker.bootstrap, topic) == (0, n)


def test_records_produced_to_several_partitions_stay_in_their_partition(start_broker):
    b = start_broker("num.partitions=3")
    topic = unique_topic()
    for p in range(3):
        confluent_produce(b.bootstrap, topic, [{"value": b"p%d-%d" % (p, i)} for i in range(p + 1)], partition=p)
    for p in range(3):
        got = confluent_consume(b.bootstrap, topic, p + 1, partition=p)
        assert [m.value() for m in got] == [b"p%d-%d" % (p, i) for i in range(p + 1)]
        assert confluent_watermarks(b.bootstrap, topic, p) == (0, p + 1)
