"""Fetch long-polling: a Fetch at the end of the log waits up to max_wait_ms,
is answered as soon as a record arrives, and waiting costs no CPU."""

import threading
import time

from confluent_kafka import OFFSET_END, KafkaError, TopicPartition

import kproto
from helpers import confluent_consumer, confluent_produce, confluent_producer, unique_topic

LATENCY_MAX_S = 0.5
IDLE_CPU_MAX_S = 0.2  # over 2 s of waiting: 10% of one core is already far too much


def test_consumer_waiting_at_the_end_gets_a_new_record_within_500_ms(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"old"}], partition=0)
    c = confluent_consumer(broker.bootstrap, **{"fetch.wait.max.ms": 5000, "fetch.error.backoff.ms": 10})
    received = {}
    try:
        c.assign([TopicPartition(topic, 0, 1)])
        # Let the consumer reach the end and park its Fetch at the broker.
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            m = c.poll(0.1)
            assert m is None or (m.error() and m.error().code() == KafkaError._PARTITION_EOF), m

        def consume():
            end = time.monotonic() + 10
            while time.monotonic() < end:
                m = c.poll(0.05)
                if m is not None and not m.error():
                    received["t"] = time.monotonic()
                    received["value"] = m.value()
                    return

        t = threading.Thread(target=consume)
        t.start()
        time.sleep(1.0)
        p = confluent_producer(broker.bootstrap, **{"linger.ms": 0, "acks": 1})
        t_produce = time.monotonic()
        p.produce(topic, value=b"new", partition=0)
        assert p.flush(10) == 0
        t.join(12)
    finally:
        c.close()
    assert received.get("value") == b"new", "the consumer never got the record"
    latency = received["t"] - t_produce
    assert latency < LATENCY_MAX_S, "record reached the waiting consumer %.0f ms after produce" % (latency * 1000)


def test_fetch_at_the_end_waits_for_max_wait_ms_then_answers_empty(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"x"}], partition=0)
    with kproto.Conn(broker.port) as c:
        t0 = time.monotonic()
        err, hw, records = c.fetch_v4(topic, 0, 1, max_wait_ms=1500)
        elapsed = time.monotonic() - t0
    assert (err, hw, records) == (0, 1, b"")
    assert 1.4 <= elapsed < 3.0, "Fetch with max_wait_ms=1500 answered after %.0f ms" % (elapsed * 1000)


def test_fetch_with_data_available_answers_at_once(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"x"}], partition=0)
    with kproto.Conn(broker.port) as c:
        t0 = time.monotonic()
        err, hw, records = c.fetch_v4(topic, 0, 0, max_wait_ms=5000)
        elapsed = time.monotonic() - t0
    assert err == 0 and hw == 1
    assert [(o, v) for o, _, v in kproto.decode_batches(records)] == [(0, b"x")]
    assert elapsed < 0.5, "Fetch with data available answered after %.0f ms" % (elapsed * 1000)


def test_parked_fetch_is_answered_when_a_record_arrives(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"x"}], partition=0)
    result = {}

    def fetch():
        with kproto.Conn(broker.port) as c:
            result["r"] = c.fetch_v4(topic, 0, 1, max_wait_ms=10000)
            result["t"] = time.monotonic()

    t = threading.Thread(target=fetch)
    t.start()
    time.sleep(0.5)
    with kproto.Conn(broker.port) as c:
        t_produce = time.monotonic()
        err, base, _ = c.produce_v3(topic, 0, kproto.record_batch([(None, b"wake")]), acks=1)
    assert (err, base) == (0, 1)
    t.join(15)
    err, hw, records = result["r"]
    assert err == 0 and hw == 2
    assert [(o, v) for o, _, v in kproto.decode_batches(records)] == [(1, b"wake")]
    latency = result["t"] - t_produce
    assert latency < LATENCY_MAX_S, "parked Fetch answered %.0f ms after the produce" % (latency * 1000)


def test_parked_fetch_costs_no_cpu_while_waiting(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"x"}], partition=0)
    with kproto.Conn(broker.port) as c:
        time.sleep(0.2)
        cpu0 = broker.cpu_seconds()
        c.fetch_v4(topic, 0, 1, max_wait_ms=2000)
        cpu = broker.cpu_seconds() - cpu0
    assert cpu < IDLE_CPU_MAX_S, "broker used %.2f s CPU during a 2 s parked Fetch" % cpu


def test_idle_long_polling_consumer_keeps_broker_cpu_low(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"x"}], partition=0)
    c = confluent_consumer(broker.bootstrap, **{"fetch.wait.max.ms": 500})
    try:
        c.assign([TopicPartition(topic, 0, OFFSET_END)])
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            c.poll(0.1)
        cpu0 = broker.cpu_seconds()
        end = time.monotonic() + 2.0
        while time.monotonic() < end:
            m = c.poll(0.1)
            assert m is None or m.error(), "unexpected record"
        cpu = broker.cpu_seconds() - cpu0
    finally:
        c.close()
    assert cpu < IDLE_CPU_MAX_S, "broker used %.2f s CPU over 2 s of idle long-polling" % cpu
