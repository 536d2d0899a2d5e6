"""Topic administration through kafka-python's KafkaAdminClient."""

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewPartitions, NewTopic
from kafka import errors as Errors

from helpers import confluent_produce, topic_exists, topic_partition_count, unique_topic


@pytest.fixture
def kadmin(broker):
    a = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10000)
    yield a
    a.close()


def test_kafka_python_create_topic_makes_the_partitions(broker, kadmin):
    topic = unique_topic()
    kadmin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)], timeout_ms=10000)
    assert topic_partition_count(broker.bootstrap, topic) == 3
    assert topic in kadmin.list_topics()


def test_kafka_python_create_existing_topic_raises_TopicAlreadyExistsError(kadmin):
    topic = unique_topic()
    kadmin.create_topics([NewTopic(topic, 1, 1)])
    with pytest.raises(Errors.TopicAlreadyExistsError):
        kadmin.create_topics([NewTopic(topic, 1, 1)])


def test_kafka_python_create_topic_with_zero_partitions_raises_InvalidPartitionsError(broker, kadmin):
    topic = unique_topic()
    with pytest.raises(Errors.InvalidPartitionsError):
        kadmin.create_topics([NewTopic(topic, 0, 1)])
    assert not topic_exists(broker.bootstrap, topic)


def test_kafka_python_create_topic_with_bad_name_raises_InvalidTopicError(broker, kadmin):
    with pytest.raises(Errors.InvalidTopicError):
        kadmin.create_topics([NewTopic("bad/name", 1, 1)])


def test_kafka_python_create_topic_with_replication_factor_2_raises_InvalidReplicationFactorError(kadmin):
    with pytest.raises(Errors.InvalidReplicationFactorError):
        kadmin.create_topics([NewTopic(unique_topic(), 1, 2)])


def test_kafka_python_create_topic_validate_only_creates_nothing(broker, kadmin):
    topic = unique_topic()
    kadmin.create_topics([NewTopic(topic, 2, 1)], validate_only=True)
    assert not topic_exists(broker.bootstrap, topic)


def test_kafka_python_delete_topic_removes_it(broker, kadmin):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"x"}], partition=0)
    kadmin.delete_topics([topic], timeout_ms=10000)
    assert topic not in kadmin.list_topics()


def test_kafka_python_delete_unknown_topic_raises_UnknownTopicOrPartitionError(kadmin):
    with pytest.raises(Errors.UnknownTopicOrPartitionError):
        kadmin.delete_topics([unique_topic("never")])


def test_kafka_python_create_partitions_raises_the_count(broker, kadmin):
    topic = unique_topic()
    kadmin.create_topics([NewTopic(topic, 1, 1)])
    kadmin.create_partitions({topic: NewPartitions(total_count=4)})
    assert topic_partition_count(broker.bootstrap, topic) == 4


def test_kafka_python_create_partitions_to_fewer_raises_InvalidPartitionsError(kadmin):
    topic = unique_topic()
    kadmin.create_topics([NewTopic(topic, 3, 1)])
    with pytest.raises(Errors.InvalidPartitionsError):
        kadmin.create_partitions({topic: NewPartitions(total_count=2)})


def configs_of(response):
    """{name: value} from a DescribeConfigs response holding one resource."""
    (resource,) = response.resources
    error_code, error_message, _type, _name, entries = resource[:5]
    assert error_code == 0, (error_code, error_message)
    return {e[0]: e[1] for e in entries}


def test_kafka_python_describe_configs_of_topic_shows_its_override(kadmin):
    topic = unique_topic()
    kadmin.create_topics([NewTopic(topic, 1, 1, topic_configs={"segment.bytes": "1048576"})])
    (resp,) = kadmin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    cfg = configs_of(resp)
    assert cfg["segment.bytes"] == "1048576"
    assert "retention.ms" in cfg


def test_kafka_python_describe_configs_of_broker_lists_broker_settings(start_broker):
    b = start_broker("num.partitions=5")
    a = KafkaAdminClient(bootstrap_servers=b.bootstrap, request_timeout_ms=10000)
    try:
        (resp,) = a.describe_configs([ConfigResource(ConfigResourceType.BROKER, "1")])
        cfg = configs_of(resp)
        assert cfg["num.partitions"] == "5"
        assert "log.retention.ms" in cfg or "log.retention.hours" in cfg
    finally:
        a.close()


def test_kafka_python_describe_cluster_reports_one_broker_and_controller(broker, kadmin):
    cluster = kadmin.describe_cluster()
    assert [(x["node_id"], x["host"], x["port"]) for x in cluster["brokers"]] == [(1, "127.0.0.1", broker.port)]
    assert cluster["controller_id"] == 1
