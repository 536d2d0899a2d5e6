"""Topic and broker configs: AlterConfigs / IncrementalAlterConfigs take
effect on a live broker, persist across restarts, are validated with
Kafka's error codes, and DescribeConfigs reports where each value comes
from (ConfigSource: 1 topic override, 2 per-broker dynamic, 3 cluster-wide
dynamic default, 4 static broker config, 5 default)."""

import os
import time

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import ConfigResource

from helpers import (AdminError, admin_call, confluent_consume, confluent_produce, confluent_watermarks,
                     describe_configs, unique_topic)
from test_storage_util import (EARLIEST, INVALID_CONFIG, LATEST, MESSAGE_TOO_LARGE, OP_DELETE, OP_SET,
                               RESOURCE_BROKER, RESOURCE_TOPIC, SOURCE_DEFAULT_CONFIG,
                               SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG, SOURCE_TOPIC_CONFIG,
                               UNKNOWN_TOPIC_OR_PARTITION, create_topic, incremental_alter_configs, list_offset,
                               partition_dir, raw_produce, segment_bases, wait_until)

FAST_CHECKS = "log.retention.check.interval.ms=200"


def source_of(entry):
    s = entry.source
    return s.value if hasattr(s, "value") else s


def topic_entries(b, topic):
    return describe_configs(b.bootstrap, ConfigResource.Type.TOPIC, topic)


def alter_configs(b, restype, name, configs):
    """Classic AlterConfigs through confluent-kafka; returns None or an AdminError."""
    (r,) = admin_call(b.bootstrap, "alter_configs", [ConfigResource(restype, name, set_config=configs)],
                      request_timeout=10).values()
    return r


def set_topic(b, topic, **configs):
    """IncrementalAlterConfigs SET of topic keys (key_with_underscores -> key.with.dots)."""
    err, msg = incremental_alter_configs(b.port, RESOURCE_TOPIC, topic,
                                         [(k.replace("_", "."), OP_SET, v) for k, v in configs.items()])
    assert err == 0, (err, msg)


def fill(b, topic, n, size=300):
    for i in range(n):
        err, base, _ = raw_produce(b.port, topic, 0, [(None, b"%04d" % i + b"v" * size)])
        assert err == 0, err


# ---------------------------------------------------------------- taking effect live

def test_lowering_retention_ms_on_a_live_topic_deletes_its_data(start_broker):
    b = start_broker(FAST_CHECKS)
    topic = unique_topic("live-ret")
    create_topic(b.bootstrap, topic, {"segment.bytes": "2048"})
    fill(b, topic, 20)
    time.sleep(0.5)
    assert list_offset(b.port, topic, 0, EARLIEST) == 0  # default retention: 7 days
    set_topic(b, topic, retention_ms="300")
    # Everything is older than 300 ms: every segment goes, the active one rolled first.
    wait_until("the data to go", lambda: list_offset(b.port, topic, 0, EARLIEST) == 20, timeout_s=10)
    assert confluent_watermarks(b.bootstrap, topic) == (20, 20)
    assert segment_bases(partition_dir(b, topic)) == [20]


def test_max_message_bytes_set_live_rejects_larger_batches_with_MESSAGE_TOO_LARGE(broker):
    topic = unique_topic("live-mmb")
    create_topic(broker.bootstrap, topic)
    assert raw_produce(broker.port, topic, 0, [(None, b"x" * 3000)])[0] == 0
    assert alter_configs(broker, ConfigResource.Type.TOPIC, topic, {"max.message.bytes": "1000"}) is None
    assert raw_produce(broker.port, topic, 0, [(None, b"x" * 3000)])[0] == MESSAGE_TOO_LARGE
    assert raw_produce(broker.port, topic, 0, [(None, b"x" * 500)])[0] == 0
    assert list_offset(broker.port, topic, 0, LATEST) == 2


def test_max_message_bytes_error_reaches_a_confluent_producer(broker):
    topic = unique_topic("live-mmb-client")
    create_topic(broker.bootstrap, topic, {"max.message.bytes": "1000"})
    with pytest.raises(AssertionError) as e:
        confluent_produce(broker.bootstrap, topic, [{"value": b"x" * 3000}], partition=0,
                          conf={"message.timeout.ms": 5000})
    assert "MSG_SIZE_TOO_LARGE" in str(e.value)


def test_message_timestamp_type_log_append_time_set_live_stamps_new_records(broker):
    topic = unique_topic("live-lat")
    create_topic(broker.bootstrap, topic)
    old = int(time.time() * 1000) - 3600 * 1000
    confluent_produce(broker.bootstrap, topic, [{"value": b"before", "timestamp": old}], partition=0)
    set_topic(broker, topic, message_timestamp_type="LogAppendTime")
    t0 = int(time.time() * 1000)
    err, base, log_append_time = raw_produce(broker.port, topic, 0, [(None, b"raw-after")], base_timestamp=old)
    assert err == 0 and t0 - 1000 <= log_append_time <= int(time.time() * 1000) + 1000, log_append_time
    confluent_produce(broker.bootstrap, topic, [{"value": b"after", "timestamp": old}], partition=0)
    t1 = int(time.time() * 1000)
    got = confluent_consume(broker.bootstrap, topic, 3)
    # confluent_kafka: TIMESTAMP_CREATE_TIME = 1, TIMESTAMP_LOG_APPEND_TIME = 2
    assert got[0].timestamp() == (1, old)
    for m in got[1:]:
        kind, ts = m.timestamp()
        assert kind == 2 and t0 - 1000 <= ts <= t1 + 1000, (m.value(), kind, ts)


def test_segment_bytes_set_live_takes_effect_on_the_next_append(broker):
    """As Kafka: the roll check uses the current config, so the active segment
    (already past the new size) rolls on the next append."""
    topic = unique_topic("live-seg")
    create_topic(broker.bootstrap, topic)
    fill(broker, topic, 10)
    pdir = partition_dir(broker, topic)
    assert segment_bases(pdir) == [0]
    set_topic(broker, topic, segment_bytes="2048")
    fill(broker, topic, 30)
    assert len(segment_bases(pdir)) >= 5


# ---------------------------------------------------------------- persistence

def test_topic_overrides_survive_a_clean_restart(broker):
    topic = unique_topic("persist")
    create_topic(broker.bootstrap, topic)
    set_topic(broker, topic, retention_ms="123456", max_message_bytes="1000", cleanup_policy="compact")
    broker.restart()
    e = topic_entries(broker, topic)
    assert (e["retention.ms"].value, e["max.message.bytes"].value, e["cleanup.policy"].value) == (
        "123456", "1000", "compact")
    assert all(source_of(e[k]) == SOURCE_TOPIC_CONFIG for k in ("retention.ms", "max.message.bytes"))
    assert raw_produce(broker.port, topic, 0, [(b"k", b"x" * 3000)])[0] == MESSAGE_TOO_LARGE
    with open(os.path.join(partition_dir(broker, topic), "topic.config")) as f:
        assert "retention.ms=123456\n" in f.read()


def test_topic_overrides_survive_kill_9(broker):
    topic = unique_topic("persist-kill")
    create_topic(broker.bootstrap, topic)
    assert alter_configs(broker, ConfigResource.Type.TOPIC, topic, {"retention.bytes": "999999"}) is None
    broker.restart(kill9=True)
    e = topic_entries(broker, topic)
    assert e["retention.bytes"].value == "999999" and source_of(e["retention.bytes"]) == SOURCE_TOPIC_CONFIG


def test_broker_dynamic_config_survives_a_restart(broker):
    err, msg = incremental_alter_configs(broker.port, RESOURCE_BROKER, "1", [("log.retention.ms", OP_SET, "7777777")])
    assert err == 0, msg
    with open(os.path.join(broker.datadir, "dynamic.config")) as f:
        assert "log.retention.ms=7777777\n" in f.read()
    broker.restart(kill9=True)
    e = describe_configs(broker.bootstrap, ConfigResource.Type.BROKER, "1")
    assert e["log.retention.ms"].value == "7777777"
    assert source_of(e["log.retention.ms"]) == SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG


# ---------------------------------------------------------------- validation

INVALID = [
    ("retention.ms", "abc"),
    ("retention.ms", "-2"),
    ("segment.bytes", "1"),
    ("cleanup.policy", "shred"),
    ("message.timestamp.type", "WallClock"),
    ("min.cleanable.dirty.ratio", "1.5"),
    ("no.such.config", "1"),
]


@pytest.mark.parametrize("key,value", INVALID)
def test_incremental_alter_configs_invalid_value_fails_with_INVALID_CONFIG(broker, key, value):
    topic = unique_topic("invalid")
    create_topic(broker.bootstrap, topic)
    err, msg = incremental_alter_configs(broker.port, RESOURCE_TOPIC, topic, [(key, OP_SET, value)])
    assert err == INVALID_CONFIG, (err, msg)
    assert source_of(topic_entries(broker, topic)["retention.ms"]) == SOURCE_DEFAULT_CONFIG


def test_alter_configs_invalid_value_fails_with_INVALID_CONFIG_and_changes_nothing(broker):
    topic = unique_topic("invalid-ac")
    create_topic(broker.bootstrap, topic, {"retention.ms": "500000"})
    r = alter_configs(broker, ConfigResource.Type.TOPIC, topic, {"retention.ms": "600000", "segment.bytes": "x"})
    assert isinstance(r, AdminError) and r.code() == KafkaError.INVALID_CONFIG, r
    assert topic_entries(broker, topic)["retention.ms"].value == "500000"


def test_create_topics_with_an_invalid_config_fails_with_INVALID_CONFIG(broker):
    from confluent_kafka.admin import NewTopic
    topic = unique_topic("invalid-create")
    res = admin_call(broker.bootstrap, "create_topics", [NewTopic(topic, 1, 1, config={"retention.ms": "soon"})],
                     request_timeout=10)
    assert isinstance(res[topic], AdminError) and res[topic].code() == KafkaError.INVALID_CONFIG, res


def test_validate_only_changes_nothing(broker):
    topic = unique_topic("validate")
    create_topic(broker.bootstrap, topic)
    err, _ = incremental_alter_configs(broker.port, RESOURCE_TOPIC, topic, [("retention.ms", OP_SET, "1000")],
                                       validate_only=True)
    assert err == 0
    assert source_of(topic_entries(broker, topic)["retention.ms"]) == SOURCE_DEFAULT_CONFIG


def test_alter_configs_of_an_unknown_topic_fails_with_UNKNOWN_TOPIC_OR_PARTITION(broker):
    name = unique_topic("never")
    err, _ = incremental_alter_configs(broker.port, RESOURCE_TOPIC, name, [("retention.ms", OP_SET, "1000")])
    assert err == UNKNOWN_TOPIC_OR_PARTITION
    r = alter_configs(broker, ConfigResource.Type.TOPIC, name, {"retention.ms": "1000"})
    assert isinstance(r, AdminError) and r.code() == KafkaError.UNKNOWN_TOPIC_OR_PART, r


def test_broker_config_that_is_not_dynamic_cannot_be_altered(broker):
    err, msg = incremental_alter_configs(broker.port, RESOURCE_BROKER, "1", [("log.dirs", OP_SET, "/elsewhere")])
    assert err == INVALID_CONFIG, (err, msg)


def test_broker_dynamic_config_with_an_invalid_value_fails_with_INVALID_CONFIG(broker):
    err, msg = incremental_alter_configs(broker.port, RESOURCE_BROKER, "1", [("log.retention.ms", OP_SET, "never")])
    assert err == INVALID_CONFIG, (err, msg)
    assert not os.path.exists(os.path.join(broker.datadir, "dynamic.config")) or "never" not in open(
        os.path.join(broker.datadir, "dynamic.config")).read()


# ---------------------------------------------------------------- semantics of the two requests

def test_incremental_delete_removes_an_override(broker):
    topic = unique_topic("incr-del")
    create_topic(broker.bootstrap, topic, {"retention.ms": "500000", "retention.bytes": "1000000"})
    err, _ = incremental_alter_configs(broker.port, RESOURCE_TOPIC, topic, [("retention.ms", OP_DELETE, None)])
    assert err == 0
    e = topic_entries(broker, topic)
    assert source_of(e["retention.ms"]) == SOURCE_DEFAULT_CONFIG and e["retention.ms"].value == "604800000"
    assert e["retention.bytes"].value == "1000000"  # untouched


def test_alter_configs_replaces_the_whole_set_of_overrides(broker):
    topic = unique_topic("ac-replace")
    create_topic(broker.bootstrap, topic, {"retention.ms": "500000", "retention.bytes": "1000000"})
    assert alter_configs(broker, ConfigResource.Type.TOPIC, topic, {"retention.bytes": "2000000"}) is None
    e = topic_entries(broker, topic)
    assert e["retention.bytes"].value == "2000000" and source_of(e["retention.bytes"]) == SOURCE_TOPIC_CONFIG
    assert source_of(e["retention.ms"]) == SOURCE_DEFAULT_CONFIG


# ---------------------------------------------------------------- broker dynamic configs

def test_broker_dynamic_log_retention_ms_applies_to_topics_without_override(start_broker):
    b = start_broker(FAST_CHECKS)
    plain, pinned = unique_topic("dyn-plain"), unique_topic("dyn-pinned")
    create_topic(b.bootstrap, plain, {"segment.bytes": "2048"})
    create_topic(b.bootstrap, pinned, {"segment.bytes": "2048", "retention.ms": "-1"})
    fill(b, plain, 15)
    fill(b, pinned, 15)
    err, msg = incremental_alter_configs(b.port, RESOURCE_BROKER, "1", [("log.retention.ms", OP_SET, "300")])
    assert err == 0, msg
    wait_until("the topic without override to lose its data",
               lambda: list_offset(b.port, plain, 0, EARLIEST) == 15, timeout_s=10)
    time.sleep(0.5)
    assert list_offset(b.port, pinned, 0, EARLIEST) == 0
    assert topic_entries(b, plain)["retention.ms"].value == "300"


def test_broker_dynamic_message_max_bytes_applies_to_topics_without_override(broker):
    topic = unique_topic("dyn-mmb")
    create_topic(broker.bootstrap, topic)
    err, msg = incremental_alter_configs(broker.port, RESOURCE_BROKER, "", [("message.max.bytes", OP_SET, "1000")])
    assert err == 0, msg
    assert raw_produce(broker.port, topic, 0, [(None, b"x" * 3000)])[0] == MESSAGE_TOO_LARGE


# ---------------------------------------------------------------- DescribeConfigs sources

def test_describe_configs_topic_override_has_source_TOPIC_CONFIG_and_others_DEFAULT_CONFIG(broker):
    topic = unique_topic("src")
    create_topic(broker.bootstrap, topic, {"retention.ms": "86400000"})
    e = topic_entries(broker, topic)
    assert source_of(e["retention.ms"]) == SOURCE_TOPIC_CONFIG and not e["retention.ms"].is_default
    assert source_of(e["segment.bytes"]) == SOURCE_DEFAULT_CONFIG and e["segment.bytes"].is_default
    assert e["segment.bytes"].value == "1073741824"


def test_describe_configs_broker_dynamic_default_has_source_DYNAMIC_DEFAULT_BROKER_CONFIG(broker):
    err, msg = incremental_alter_configs(broker.port, RESOURCE_BROKER, "", [("log.retention.ms", OP_SET, "3600000")])
    assert err == 0, msg
    e = describe_configs(broker.bootstrap, ConfigResource.Type.BROKER, "1")
    assert e["log.retention.ms"].value == "3600000"
    assert source_of(e["log.retention.ms"]) == SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG
    assert source_of(e["log.segment.bytes"]) == SOURCE_DEFAULT_CONFIG


def test_describe_configs_topic_value_inherited_from_a_broker_dynamic_config_reports_that_source(broker):
    """Kafka reports a topic key without override with the source of the
    broker synonym its value comes from (here DYNAMIC_DEFAULT_BROKER_CONFIG)."""
    topic = unique_topic("src-inherit")
    create_topic(broker.bootstrap, topic)
    err, msg = incremental_alter_configs(broker.port, RESOURCE_BROKER, "", [("log.retention.ms", OP_SET, "3600000")])
    assert err == 0, msg
    e = topic_entries(broker, topic)
    assert e["retention.ms"].value == "3600000"
    assert source_of(e["retention.ms"]) == SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG


def test_describe_configs_topic_value_inherited_from_a_static_broker_config_reports_STATIC_BROKER_CONFIG(
        start_broker):
    b = start_broker("log.segment.bytes=5000000")
    topic = unique_topic("src-static")
    create_topic(b.bootstrap, topic)
    e = topic_entries(b, topic)
    assert e["segment.bytes"].value == "5000000"
    assert source_of(e["segment.bytes"]) == 4  # STATIC_BROKER_CONFIG
