"""Consumer groups (FindCoordinator, JoinGroup, SyncGroup, Heartbeat,
OffsetCommit, OffsetFetch). Runnel does not implement them yet: every test
here is marked `groups` and skipped unless RUNNEL_GROUPS=1."""

import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from helpers import confluent_produce, log, unique_topic

pytestmark = pytest.mark.groups


def group_consumer(bootstrap, group, **conf):
    c = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
         "enable.auto.commit": False, "session.timeout.ms": 6000, "logger": log}
    c.update(conf)
    return Consumer(c)


def poll_values(c, n, timeout_s=30):
    out = []
    deadline = time.monotonic() + timeout_s
    while len(out) < n and time.monotonic() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        assert not m.error(), m.error()
        out.append(m)
    assert len(out) == n, "got %d of %d" % (len(out), n)
    return out


def test_subscribed_group_consumer_receives_all_records(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"g%d" % i} for i in range(10)], partition=0)
    c = group_consumer(broker.bootstrap, unique_topic("grp"))
    try:
        c.subscribe([topic])
        assert [m.value() for m in poll_values(c, 10)] == [b"g%d" % i for i in range(10)]
    finally:
        c.close()


def test_committed_offset_is_where_the_next_group_member_starts(broker):
    topic = unique_topic()
    group = unique_topic("grp")
    confluent_produce(broker.bootstrap, topic, [{"value": b"g%d" % i} for i in range(10)], partition=0)
    c = group_consumer(broker.bootstrap, group)
    try:
        c.subscribe([topic])
        msgs = poll_values(c, 4)
        c.commit(message=msgs[-1], asynchronous=False)
        (tp,) = c.committed([TopicPartition(topic, 0)], timeout=10)
        assert tp.offset == 4
    finally:
        c.close()
    c2 = group_consumer(broker.bootstrap, group)
    try:
        c2.subscribe([topic])
        assert [m.offset() for m in poll_values(c2, 6)] == list(range(4, 10))
    finally:
        c2.close()


def test_committed_offsets_survive_restart(broker):
    topic = unique_topic()
    group = unique_topic("grp")
    confluent_produce(broker.bootstrap, topic, [{"value": b"x"}] * 5, partition=0)
    c = group_consumer(broker.bootstrap, group)
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 3)], asynchronous=False)
    finally:
        c.close()
    broker.restart()
    c = group_consumer(broker.bootstrap, group)
    try:
        (tp,) = c.committed([TopicPartition(topic, 0)], timeout=10)
        assert tp.offset == 3
    finally:
        c.close()


def test_kafka_python_group_consumer_receives_records(broker):
    from kafka import KafkaConsumer
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"k%d" % i} for i in range(5)], partition=0)
    c = KafkaConsumer(topic, bootstrap_servers=broker.bootstrap, group_id=unique_topic("grp"),
                      auto_offset_reset="earliest", consumer_timeout_ms=20000)
    try:
        got = []
        for r in c:
            got.append(r.value)
            if len(got) == 5:
                break
        assert got == [b"k%d" % i for i in range(5)]
    finally:
        c.close()
