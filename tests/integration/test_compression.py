"""Compressed batches from each producer, in every codec Kafka defines, are
stored and served so that both consumers decompress the original records."""

import pytest

from helpers import confluent_consume, confluent_produce, kafka_python_consume, kafka_python_producer, unique_topic

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
N = 500


def records():
    # Repetitive values so every codec really shrinks them; keys vary.
    return [(b"key-%d" % (i % 7), (b"value %d " % i) * 20) for i in range(N)]


def assert_both_consumers_read(bootstrap, topic, expected):
    got = confluent_consume(bootstrap, topic, len(expected))
    assert [(m.key(), m.value()) for m in got] == expected
    assert [m.offset() for m in got] == list(range(len(expected)))
    kp = kafka_python_consume(bootstrap, topic, len(expected))
    assert [(r.key, r.value) for r in kp] == expected
    assert [r.offset for r in kp] == list(range(len(expected)))


@pytest.mark.parametrize("codec", CODECS)
def test_librdkafka_compressed_batches_round_trip(broker, codec):
    topic = unique_topic(codec)
    expected = records()
    confluent_produce(broker.bootstrap, topic, [{"key": k, "value": v} for k, v in expected], partition=0,
                      conf={"compression.type": codec, "linger.ms": 50})
    assert_both_consumers_read(broker.bootstrap, topic, expected)


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_compressed_batches_round_trip(broker, codec):
    from kafka import codec as kcodec
    available = {"none": True, "gzip": kcodec.has_gzip(), "snappy": kcodec.has_snappy(),
                 "lz4": kcodec.has_lz4(), "zstd": kcodec.has_zstd()}
    assert available[codec], "kafka-python has no %s module: run scripts/deps.sh" % codec
    topic = unique_topic(codec)
    expected = records()
    p = kafka_python_producer(broker.bootstrap, compression_type=None if codec == "none" else codec,
                              linger_ms=50, batch_size=64 * 1024)
    futures = [p.send(topic, key=k, value=v, partition=0) for k, v in expected]
    p.flush(30)
    offsets = [f.get(timeout=30).offset for f in futures]
    p.close(10)
    assert offsets == list(range(N))
    assert_both_consumers_read(broker.bootstrap, topic, expected)
