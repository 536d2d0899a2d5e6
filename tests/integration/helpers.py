"""Client-side helpers shared by the integration tests.

Consumers never join a group (Runnel has no group coordinator yet): they are
assigned partitions by hand and never commit.
"""

import logging
import subprocess
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

import kproto

log = logging.getLogger("runnel-tests")

CLIENT_TIMEOUT_S = 30.0


def unique_topic(prefix="t"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


# ---------------------------------------------------------------- confluent_kafka (librdkafka)

def confluent_producer(bootstrap, **conf):
    c = {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
         "message.timeout.ms": 20000, "logger": log}
    c.update(conf)
    return Producer(c)


def confluent_produce(bootstrap, topic, records, partition=None, conf=None, timeout_s=CLIENT_TIMEOUT_S):
    """Produces records (dicts with value, and optionally key, headers,
    timestamp) and waits for every delivery report. Returns the delivered
    messages in produce order; fails on any delivery error."""
    p = confluent_producer(bootstrap, **(conf or {}))
    reports = [None] * len(records)

    def on_delivery(i):
        def cb(err, msg):
            reports[i] = (err, msg)
        return cb

    for i, r in enumerate(records):
        kwargs = dict(r)
        if partition is not None:
            kwargs.setdefault("partition", partition)
        while True:
            try:
                p.produce(topic, on_delivery=on_delivery(i), **kwargs)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(timeout_s)
    assert left == 0, "%d messages not delivered within %.0f s" % (left, timeout_s)
    errors = [(i, err) for i, (err, _) in enumerate(reports) if err is not None]
    assert not errors, "delivery errors: %s" % errors[:5]
    return [msg for _, msg in reports]


def confluent_consumer(bootstrap, **conf):
    c = {"bootstrap.servers": bootstrap, "group.id": "runnel-tests-unused",
         "enable.auto.commit": False, "enable.auto.offset.store": False,
         "auto.offset.reset": "earliest", "logger": log}
    c.update(conf)
    return Consumer(c)


def confluent_consume(bootstrap, topic, count, partition=0, offset=OFFSET_BEGINNING, conf=None,
                      timeout_s=CLIENT_TIMEOUT_S):
    """Reads exactly `count` messages from one partition by manual assignment.
    Fails on a consumer error or when fewer arrive within timeout_s."""
    c = confluent_consumer(bootstrap, **(conf or {}))
    try:
        c.assign([TopicPartition(topic, partition, offset)])
        out = []
        deadline = time.monotonic() + timeout_s
        while len(out) < count and time.monotonic() < deadline:
            batch = c.consume(num_messages=min(10000, count - len(out)), timeout=0.5)
            for m in batch:
                if m.error():
                    if m.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise AssertionError("consumer error: %s" % m.error())
                out.append(m)
        assert len(out) == count, "read %d of %d messages from %s[%d] within %.0f s" % (
            len(out), count, topic, partition, timeout_s)
        return out
    finally:
        c.close()


def confluent_watermarks(bootstrap, topic, partition=0):
    c = confluent_consumer(bootstrap)
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
    finally:
        c.close()


def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap, "logger": log})


class AdminError:
    """A failed admin request's KafkaError, as plain data: pytest can print
    and compare it (KafkaError's comparisons break pytest's reports)."""

    def __init__(self, kafka_error):
        self.kafka_error = kafka_error
        self.name = kafka_error.name()
        self.text = kafka_error.str()
        self._code = kafka_error.code()

    def code(self):
        return self._code

    def __repr__(self):
        return "AdminError(%s: %s)" % (self.name, self.text)


def admin_call(bootstrap, method, *args, timeout_s=CLIENT_TIMEOUT_S, **kwargs):
    """Calls AdminClient.<method>(*args, **kwargs) and waits for each of its
    futures while the client is still alive (destroying it fails them).
    Returns {key: result, or the AdminError the request failed with}."""
    a = admin(bootstrap)
    futures = getattr(a, method)(*args, **kwargs)
    out = {}
    for key, f in futures.items():
        try:
            out[key] = f.result(timeout=timeout_s)
        except KafkaException as e:
            out[key] = AdminError(e.args[0])
    del a
    return out


def describe_configs(bootstrap, restype, name):
    """{config name: ConfigEntry} of one resource; raises KafkaException."""
    (result,) = admin_call(bootstrap, "describe_configs", [ConfigResource(restype, name)],
                           request_timeout=10).values()
    if isinstance(result, AdminError):
        raise KafkaException(result.kafka_error)
    return result


def topic_partition_count(bootstrap, topic):
    md = admin(bootstrap).list_topics(topic=topic, timeout=10)
    t = md.topics[topic]
    if t.error is not None:
        return None
    return len(t.partitions)


def topic_exists(bootstrap, topic):
    md = admin(bootstrap).list_topics(timeout=10)
    return topic in md.topics


# ---------------------------------------------------------------- kafka-python

def kafka_python_consume(bootstrap, topic, count, partition=0, timeout_s=CLIENT_TIMEOUT_S, **conf):
    """Reads exactly `count` records from one partition, from the beginning,
    with kafka-python and no group."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTP
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", **conf)
    try:
        tp = KTP(topic, partition)
        c.assign([tp])
        c.seek_to_beginning(tp)
        out = []
        deadline = time.monotonic() + timeout_s
        while len(out) < count and time.monotonic() < deadline:
            for recs in c.poll(timeout_ms=500, max_records=10000).values():
                out.extend(recs)
        assert len(out) == count, "kafka-python read %d of %d records from %s[%d] within %.0f s" % (
            len(out), count, topic, partition, timeout_s)
        return out
    finally:
        c.close()


def kafka_python_producer(bootstrap, **conf):
    from kafka import KafkaProducer
    c = {"acks": "all", "linger_ms": 5}
    c.update(conf)
    return KafkaProducer(bootstrap_servers=bootstrap, **c)


# ---------------------------------------------------------------- kcat

def kcat(*args, input_bytes=None, timeout_s=CLIENT_TIMEOUT_S):
    """Runs kcat; returns stdout bytes; fails with its stderr on non-zero exit."""
    p = subprocess.run(["kcat", *args], input=input_bytes, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout_s)
    assert p.returncode == 0, "kcat %s exited %d: %s" % (" ".join(args), p.returncode,
                                                       p.stderr.decode(errors="replace"))
    return p.stdout


# ---------------------------------------------------------------- health

def assert_broker_serves(broker):
    """A fresh connection gets ApiVersions answered, and a fresh client can
    produce to and consume from a new topic."""
    with kproto.Conn(broker.port) as c:
        err, apis, _ = c.api_versions(0)
        assert err == 0 and kproto.API_PRODUCE in apis, (err, apis)
    assert broker.running(), "runneld exited"
    topic = unique_topic("health")
    values = [b"health-%d" % i for i in range(3)]
    confluent_produce(broker.bootstrap, topic, [{"value": v} for v in values], partition=0)
    got = confluent_consume(broker.bootstrap, topic, len(values))
    assert [m.value() for m in got] == values
