"""Automatic topic creation (auto.create.topics.enable, num.partitions)."""

import kproto
from helpers import confluent_consume, confluent_produce, topic_exists, topic_partition_count, unique_topic


def test_metadata_for_unknown_topic_creates_it_with_num_partitions(start_broker):
    b = start_broker("num.partitions=3")
    topic = unique_topic()
    with kproto.Conn(b.port) as c:
        md = c.metadata_v4([topic], allow_auto_topic_creation=True)
        t = md["topics"][topic]
        # Kafka may answer LEADER_NOT_AVAILABLE (5) while creating; then the next request sees it.
        if t["error_code"] == 5:
            md = c.metadata_v4([topic], allow_auto_topic_creation=True)
            t = md["topics"][topic]
    assert t["error_code"] == 0, t
    assert sorted(p["partition_index"] for p in t["partitions"]) == [0, 1, 2]
    assert all(p["leader_id"] == 1 and p["replica_nodes"] == [1] and p["isr_nodes"] == [1] for p in t["partitions"])
    assert topic_partition_count(b.bootstrap, topic) == 3


def test_metadata_without_allow_auto_topic_creation_does_not_create(broker):
    topic = unique_topic()
    with kproto.Conn(broker.port) as c:
        md = c.metadata_v4([topic], allow_auto_topic_creation=False)
    assert md["topics"][topic]["error_code"] == kproto.UNKNOWN_TOPIC_OR_PARTITION
    assert not topic_exists(broker.bootstrap, topic)


def test_producing_to_unknown_topic_creates_it_and_stores_the_records(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"auto-%d" % i} for i in range(3)])
    assert topic_partition_count(broker.bootstrap, topic) == 1
    assert [m.value() for m in confluent_consume(broker.bootstrap, topic, 3)] == [b"auto-%d" % i for i in range(3)]


def test_auto_create_disabled_leaves_unknown_topic_unknown(start_broker):
    b = start_broker("auto.create.topics.enable=false")
    topic = unique_topic()
    with kproto.Conn(b.port) as c:
        md = c.metadata_v4([topic], allow_auto_topic_creation=True)
    assert md["topics"][topic]["error_code"] == kproto.UNKNOWN_TOPIC_OR_PARTITION
    assert not topic_exists(b.bootstrap, topic)


def test_produce_to_unknown_topic_with_auto_create_disabled_is_UNKNOWN_TOPIC_OR_PARTITION(start_broker):
    b = start_broker("auto.create.topics.enable=false")
    topic = unique_topic()
    with kproto.Conn(b.port) as c:
        err, _, _ = c.produce_v3(topic, 0, kproto.record_batch([(None, b"x")]))
    assert err == kproto.UNKNOWN_TOPIC_OR_PARTITION
    assert not topic_exists(b.bootstrap, topic)


def test_metadata_auto_creation_of_an_illegal_name_is_INVALID_TOPIC_EXCEPTION(broker):
    with kproto.Conn(broker.port) as c:
        md = c.metadata_v4(["bad/name"], allow_auto_topic_creation=True)
    assert md["topics"]["bad/name"]["error_code"] == 17  # INVALID_TOPIC_EXCEPTION
    assert not topic_exists(broker.bootstrap, "bad/name")


def test_metadata_for_all_topics_lists_every_topic_and_this_broker(broker):
    topics = [unique_topic() for _ in range(3)]
    for t in topics:
        confluent_produce(broker.bootstrap, t, [{"value": b"x"}])
    with kproto.Conn(broker.port) as c:
        md = c.metadata_v4(None)
    assert set(topics) <= set(md["topics"])
    assert [(x["node_id"], x["host"], x["port"]) for x in md["brokers"]] == [(1, "127.0.0.1", broker.port)]
    assert md["controller_id"] == 1
