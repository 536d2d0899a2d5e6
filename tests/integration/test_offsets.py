"""ListOffsets: earliest and latest watermarks, and offsets by timestamp."""

from confluent_kafka import TopicPartition

import kproto
from helpers import confluent_consumer, confluent_produce, confluent_watermarks, unique_topic

BASE_TS = 1_700_000_000_000


def produce_timestamped(bootstrap, topic, n):
    """n records at BASE_TS, BASE_TS + 1000, ... (CreateTime), one batch each."""
    for i in range(n):
        confluent_produce(bootstrap, topic, [{"value": b"r%d" % i, "timestamp": BASE_TS + i * 1000}], partition=0)


def test_watermarks_of_a_new_topic_are_zero_and_zero(broker):
    topic = unique_topic()
    with kproto.Conn(broker.port) as c:
        md = c.metadata_v4([topic], allow_auto_topic_creation=True)
    assert md["topics"][topic]["error_code"] == 0
    assert confluent_watermarks(broker.bootstrap, topic) == (0, 0)


def test_latest_watermark_is_one_past_the_last_record(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"x%d" % i} for i in range(42)], partition=0)
    assert confluent_watermarks(broker.bootstrap, topic) == (0, 42)
    with kproto.Conn(broker.port) as c:
        assert c.list_offsets_v1(topic, 0, -2)[::2] == (0, 0)
        assert c.list_offsets_v1(topic, 0, -1)[::2] == (0, 42)


def test_kafka_python_beginning_and_end_offsets_match_the_log(broker):
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"x%d" % i} for i in range(17)], partition=0)
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tp = KTP(topic, 0)
        assert c.beginning_offsets([tp]) == {tp: 0}
        assert c.end_offsets([tp]) == {tp: 17}
    finally:
        c.close()


def test_offsets_for_times_returns_first_offset_with_timestamp_at_or_after_the_query(broker):
    topic = unique_topic()
    produce_timestamped(broker.bootstrap, topic, 10)
    c = confluent_consumer(broker.bootstrap)
    try:
        queries = {BASE_TS - 5000: 0, BASE_TS: 0, BASE_TS + 1: 1, BASE_TS + 2500: 3, BASE_TS + 9000: 9}
        for ts, expected in queries.items():
            (tp,) = c.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=10)
            assert tp.error is None, tp.error
            assert tp.offset == expected, "timestamp %d: offset %d, expected %d" % (ts, tp.offset, expected)
    finally:
        c.close()


def test_offsets_for_times_after_the_last_timestamp_finds_no_offset(broker):
    topic = unique_topic()
    produce_timestamped(broker.bootstrap, topic, 3)
    c = confluent_consumer(broker.bootstrap)
    try:
        (tp,) = c.offsets_for_times([TopicPartition(topic, 0, BASE_TS + 60_000)], timeout=10)
        assert tp.error is None, tp.error
        assert tp.offset == -1  # Kafka answers offset -1 (and timestamp -1) when no record qualifies
    finally:
        c.close()
    with kproto.Conn(broker.port) as k:
        err, ts, off = k.list_offsets_v1(topic, 0, BASE_TS + 60_000)
    assert (err, ts, off) == (0, -1, -1)


def test_kafka_python_offsets_for_times_matches_timestamps_inside_one_batch(broker):
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    topic = unique_topic()
    # One batch holding all ten records: the lookup must look inside the batch.
    confluent_produce(broker.bootstrap, topic,
                      [{"value": b"r%d" % i, "timestamp": BASE_TS + i * 1000} for i in range(10)],
                      partition=0, conf={"linger.ms": 200})
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tp = KTP(topic, 0)
        got = c.offsets_for_times({tp: BASE_TS + 4500})
        assert got[tp] is not None and got[tp].offset == 5 and got[tp].timestamp == BASE_TS + 5000, got
        assert c.offsets_for_times({tp: BASE_TS + 10_000})[tp] is None
    finally:
        c.close()


def test_list_offsets_for_an_unknown_partition_is_UNKNOWN_TOPIC_OR_PARTITION(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"x"}], partition=0)
    with kproto.Conn(broker.port) as c:
        err, _, _ = c.list_offsets_v1(topic, 7, -1)
    assert err == kproto.UNKNOWN_TOPIC_OR_PARTITION
