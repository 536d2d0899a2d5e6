"""Topic administration through librdkafka's AdminClient (confluent_kafka.admin):
CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs, with Kafka's
error codes for what a single broker must refuse."""

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import ConfigResource, NewPartitions, NewTopic

import kproto
from helpers import (admin_call, describe_configs, confluent_consume, confluent_produce, confluent_watermarks,
                     topic_exists, topic_partition_count, unique_topic)


def create(bootstrap, *new_topics, validate_only=False):
    return admin_call(bootstrap, "create_topics", list(new_topics), operation_timeout=10, validate_only=validate_only)


def test_create_topic_makes_a_topic_with_the_requested_partition_count(broker):
    topic = unique_topic()
    assert create(broker.bootstrap, NewTopic(topic, 4, 1)) == {topic: None}
    assert topic_partition_count(broker.bootstrap, topic) == 4
    for p in range(4):
        assert confluent_watermarks(broker.bootstrap, topic, p) == (0, 0)


def test_create_topic_with_default_partitions_uses_num_partitions(start_broker):
    b = start_broker("num.partitions=3")
    topic = unique_topic()
    assert create(b.bootstrap, NewTopic(topic, -1, -1)) == {topic: None}
    assert topic_partition_count(b.bootstrap, topic) == 3


def test_create_existing_topic_fails_with_TOPIC_ALREADY_EXISTS(broker):
    topic = unique_topic()
    assert create(broker.bootstrap, NewTopic(topic, 1, 1)) == {topic: None}
    err = create(broker.bootstrap, NewTopic(topic, 2, 1))[topic]
    assert err is not None and err.code() == KafkaError.TOPIC_ALREADY_EXISTS, err
    assert topic_partition_count(broker.bootstrap, topic) == 1


def test_create_topic_validate_only_creates_nothing(broker):
    topic = unique_topic()
    assert create(broker.bootstrap, NewTopic(topic, 2, 1), validate_only=True) == {topic: None}
    assert not topic_exists(broker.bootstrap, topic)


def test_create_topic_validate_only_still_reports_TOPIC_ALREADY_EXISTS(broker):
    topic = unique_topic()
    create(broker.bootstrap, NewTopic(topic, 1, 1))
    err = create(broker.bootstrap, NewTopic(topic, 1, 1), validate_only=True)[topic]
    assert err is not None and err.code() == KafkaError.TOPIC_ALREADY_EXISTS, err


@pytest.mark.parametrize("name", ["bad/name", "..", ".", "spaces in name", "x" * 250, "ümlaut"])
def test_create_topic_with_an_illegal_name_fails_with_INVALID_TOPIC_EXCEPTION(broker, name):
    err = create(broker.bootstrap, NewTopic(name, 1, 1))[name]
    assert err is not None and err.code() == KafkaError.TOPIC_EXCEPTION, err
    assert not topic_exists(broker.bootstrap, name)


def test_create_topic_with_249_character_name_succeeds(broker):
    name = "n" * 249
    assert create(broker.bootstrap, NewTopic(name, 1, 1)) == {name: None}
    assert topic_exists(broker.bootstrap, name)


def test_create_topic_with_replication_factor_above_broker_count_fails_with_INVALID_REPLICATION_FACTOR(broker):
    topic = unique_topic()
    err = create(broker.bootstrap, NewTopic(topic, 1, 2))[topic]
    assert err is not None and err.code() == KafkaError.INVALID_REPLICATION_FACTOR, err
    assert not topic_exists(broker.bootstrap, topic)


def test_create_several_topics_reports_each_result_separately(broker):
    good, dup = unique_topic("good"), unique_topic("dup")
    create(broker.bootstrap, NewTopic(dup, 1, 1))
    res = create(broker.bootstrap, NewTopic(good, 2, 1), NewTopic(dup, 1, 1), NewTopic("bad/one", 1, 1))
    assert res[good] is None
    assert res[dup].code() == KafkaError.TOPIC_ALREADY_EXISTS
    assert res["bad/one"].code() == KafkaError.TOPIC_EXCEPTION
    assert topic_partition_count(broker.bootstrap, good) == 2


def test_delete_topic_removes_it_from_metadata(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"x"}], partition=0)
    assert topic_exists(broker.bootstrap, topic)
    assert admin_call(broker.bootstrap, "delete_topics", [topic], operation_timeout=10) == {topic: None}
    assert not topic_exists(broker.bootstrap, topic)


def test_deleted_topic_can_be_recreated_and_starts_empty(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"old-%d" % i} for i in range(5)], partition=0)
    assert admin_call(broker.bootstrap, "delete_topics", [topic], operation_timeout=10) == {topic: None}
    assert create(broker.bootstrap, NewTopic(topic, 1, 1)) == {topic: None}
    assert confluent_watermarks(broker.bootstrap, topic) == (0, 0)
    confluent_produce(broker.bootstrap, topic, [{"value": b"new"}], partition=0)
    got = confluent_consume(broker.bootstrap, topic, 1)
    assert (got[0].offset(), got[0].value()) == (0, b"new")


def test_delete_unknown_topic_fails_with_UNKNOWN_TOPIC_OR_PARTITION(broker):
    topic = unique_topic("never")
    err = admin_call(broker.bootstrap, "delete_topics", [topic], operation_timeout=10)[topic]
    assert err is not None and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, err


def test_create_partitions_adds_partitions_that_accept_records(broker):
    topic = unique_topic()
    create(broker.bootstrap, NewTopic(topic, 1, 1))
    confluent_produce(broker.bootstrap, topic, [{"value": b"p0"}], partition=0)
    res = admin_call(broker.bootstrap, "create_partitions", [NewPartitions(topic, 3)], operation_timeout=10)
    assert res == {topic: None}
    assert topic_partition_count(broker.bootstrap, topic) == 3
    confluent_produce(broker.bootstrap, topic, [{"value": b"p2"}], partition=2)
    assert [m.value() for m in confluent_consume(broker.bootstrap, topic, 1, partition=2)] == [b"p2"]
    assert confluent_watermarks(broker.bootstrap, topic, 0) == (0, 1)


@pytest.mark.parametrize("new_total", [1, 2])
def test_create_partitions_not_above_current_count_fails_with_INVALID_PARTITIONS(broker, new_total):
    topic = unique_topic()
    create(broker.bootstrap, NewTopic(topic, 2, 1))
    res = admin_call(broker.bootstrap, "create_partitions", [NewPartitions(topic, new_total)], operation_timeout=10)
    assert res[topic] is not None and res[topic].code() == KafkaError.INVALID_PARTITIONS, res
    assert topic_partition_count(broker.bootstrap, topic) == 2


def test_create_partitions_of_unknown_topic_fails_with_UNKNOWN_TOPIC_OR_PARTITION(broker):
    topic = unique_topic("never")
    res = admin_call(broker.bootstrap, "create_partitions", [NewPartitions(topic, 2)], operation_timeout=10)
    assert res[topic] is not None and res[topic].code() == KafkaError.UNKNOWN_TOPIC_OR_PART, res


def test_create_partitions_validate_only_changes_nothing(broker):
    topic = unique_topic()
    create(broker.bootstrap, NewTopic(topic, 1, 1))
    res = admin_call(broker.bootstrap, "create_partitions", [NewPartitions(topic, 5)], operation_timeout=10,
                     validate_only=True)
    assert res == {topic: None}
    assert topic_partition_count(broker.bootstrap, topic) == 1


def test_describe_configs_of_a_topic_lists_its_settings_with_overrides_marked(broker):
    topic = unique_topic()
    assert create(broker.bootstrap, NewTopic(topic, 1, 1, config={"retention.ms": "3600000"})) == {topic: None}
    entries = describe_configs(broker.bootstrap, ConfigResource.Type.TOPIC, topic)
    for key in ("retention.ms", "cleanup.policy", "segment.bytes", "max.message.bytes", "message.timestamp.type"):
        assert key in entries, "missing %s in %s" % (key, sorted(entries))
    assert entries["retention.ms"].value == "3600000"
    assert not entries["retention.ms"].is_default
    assert entries["cleanup.policy"].value == "delete"
    assert entries["message.timestamp.type"].value == "CreateTime"


def test_describe_configs_of_an_unknown_topic_fails_with_UNKNOWN_TOPIC_OR_PARTITION(broker):
    with pytest.raises(KafkaException) as e:
        describe_configs(broker.bootstrap, ConfigResource.Type.TOPIC, unique_topic("never"))
    err = e.value.args[0]
    assert isinstance(err, KafkaError) and err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, err


def test_describe_configs_of_the_broker_shows_configured_values(start_broker):
    b = start_broker("num.partitions=3", "message.max.bytes=2000000")
    entries = describe_configs(b.bootstrap, ConfigResource.Type.BROKER, "1")
    assert entries["num.partitions"].value == "3"
    assert entries["message.max.bytes"].value == "2000000"
    assert entries["auto.create.topics.enable"].value == "true"
    assert entries["log.message.timestamp.type"].value == "CreateTime"


def test_describe_cluster_reports_this_broker_as_controller(broker):
    with kproto.Conn(broker.port) as c:
        _, apis, _ = c.api_versions(0)
        assert kproto.API_DESCRIBE_CLUSTER in apis, "DescribeCluster (60) not in ApiVersions: %s" % sorted(apis)
        d = c.describe_cluster_v0()
    assert d["error_code"] == 0, d
    assert d["cluster_id"], d
    assert d["controller_id"] == 1, d
    assert [(x["broker_id"], x["host"], x["port"]) for x in d["brokers"]] == [(1, "127.0.0.1", broker.port)]
