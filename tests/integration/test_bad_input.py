"""Malformed and hostile input on a raw socket: the broker refuses it (closes
the connection or answers with an error), stores nothing, and keeps serving
everyone else."""

import random
import socket
import struct

import pytest

import kproto
from helpers import assert_broker_serves, confluent_produce, confluent_watermarks, unique_topic


def produce_body(topic, partition, records, topic_count=None, acks=-1):
    """Produce v3 body; topic_count overrides the topics array length."""
    topics = kproto.string(topic) + kproto.array([kproto.i32(partition) + kproto.bytes_(records)])
    count = 1 if topic_count is None else topic_count
    return kproto.string(None) + kproto.i16(acks) + kproto.i32(10000) + kproto.i32(count) + topics


def test_frame_larger_than_socket_request_max_bytes_closes_only_that_connection(start_broker):
    b = start_broker("socket.request.max.bytes=1048576")
    with kproto.Conn(b.port) as bystander, kproto.Conn(b.port) as c:
        assert bystander.api_versions(0)[0] == 0
        c.send_raw(kproto.i32(1048576 + 1) + b"\x00" * 1000)
        assert c.is_closed_by_peer(), "connection left open after an oversized frame"
        assert bystander.api_versions(0)[0] == 0
    assert_broker_serves(b)


def test_frame_of_two_gigabytes_is_refused_without_reading_it(broker):
    with kproto.Conn(broker.port) as c:
        c.send_raw(kproto.i32(0x7FFFFFFF) + b"\x00" * 100)
        assert c.is_closed_by_peer()
    assert_broker_serves(broker)


@pytest.mark.parametrize("size", [-1, -0x80000000])
def test_negative_frame_size_closes_the_connection(broker, size):
    with kproto.Conn(broker.port) as c:
        c.send_raw(kproto.i32(size) + b"\x00" * 16)
        assert c.is_closed_by_peer()
    assert_broker_serves(broker)


@pytest.mark.parametrize("payload", [b"", b"\x00", b"\x00\x12\x00"], ids=["empty", "1-byte", "3-byte"])
def test_frame_shorter_than_a_request_header_closes_the_connection(broker, payload):
    with kproto.Conn(broker.port) as c:
        c.send_raw(kproto.frame(payload))
        assert c.is_closed_by_peer()
    assert_broker_serves(broker)


def test_client_id_longer_than_the_frame_closes_the_connection(broker):
    header = kproto.i16(kproto.API_API_VERSIONS) + kproto.i16(0) + kproto.i32(1) + kproto.i16(30000) + b"abc"
    with kproto.Conn(broker.port) as c:
        c.send_raw(kproto.frame(header))
        assert c.is_closed_by_peer()
    assert_broker_serves(broker)


def test_truncated_request_then_close_leaves_broker_healthy(broker):
    for _ in range(20):
        with kproto.Conn(broker.port) as c:
            c.send_raw(kproto.i32(100) + b"\x00\x12\x00\x00\x00\x00\x00\x01\xff\xff")
    assert_broker_serves(broker)


def test_half_sent_request_does_not_block_other_clients(broker):
    with kproto.Conn(broker.port) as stalled:
        stalled.send_raw(b"\x00\x00")  # half a size prefix, then nothing
        with kproto.Conn(broker.port) as other:
            assert other.api_versions(0)[0] == 0
        assert_broker_serves(broker)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_garbage_bytes_do_not_hurt_the_broker(broker, seed):
    rng = random.Random(seed)
    garbage = bytes(rng.getrandbits(8) for _ in range(8192))
    with kproto.Conn(broker.port) as c:
        try:
            c.send_raw(garbage)
        except (BrokenPipeError, ConnectionResetError):
            pass
        c.closes_or_answers(wait_s=1.0)
    assert_broker_serves(broker)


@pytest.mark.parametrize("api_key", [9999, -1, 1000])
def test_unknown_api_key_does_not_hurt_the_broker(broker, api_key):
    with kproto.Conn(broker.port) as c:
        c.send_request(api_key, 0, b"\x00" * 8)
        outcome = c.closes_or_answers()
        assert outcome in ("closed", "answered"), "no reaction to api key %d within 5 s" % api_key
    assert_broker_serves(broker)


def test_unsupported_version_of_produce_stores_nothing_and_does_not_hurt_the_broker(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"good"}], partition=0)
    with kproto.Conn(broker.port) as c:
        c.send_request(kproto.API_PRODUCE, 99, produce_body(topic, 0, kproto.record_batch([(None, b"x")])))
        assert c.closes_or_answers() in ("closed", "answered")
    assert confluent_watermarks(broker.bootstrap, topic) == (0, 1)
    assert_broker_serves(broker)


def test_produce_with_bad_crc_is_CORRUPT_MESSAGE_and_stores_nothing(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"good"}], partition=0)
    with kproto.Conn(broker.port) as c:
        err, _, _ = c.produce_v3(topic, 0, kproto.record_batch([(None, b"bad")], corrupt_crc=True))
        assert err == kproto.CORRUPT_MESSAGE
        # The connection stays usable after an error answer.
        err, base, _ = c.produce_v3(topic, 0, kproto.record_batch([(None, b"good-2")]))
        assert (err, base) == (0, 1)
    assert confluent_watermarks(broker.bootstrap, topic) == (0, 2)
    assert_broker_serves(broker)


def test_produce_with_huge_record_count_in_batch_is_refused_and_stores_nothing(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"good"}], partition=0)
    with kproto.Conn(broker.port) as c:
        try:
            err, _, _ = c.produce_v3(topic, 0, kproto.record_batch([(None, b"x")], records_count=0x7FFFFFFF))
        except kproto.ConnectionClosed:
            err = None  # closing is acceptable too
        assert err in (None, kproto.CORRUPT_MESSAGE, kproto.INVALID_RECORD), err
    assert confluent_watermarks(broker.bootstrap, topic) == (0, 1)
    assert_broker_serves(broker)


def test_produce_with_huge_topics_array_count_closes_the_connection(broker):
    topic = unique_topic()
    with kproto.Conn(broker.port) as c:
        c.send_request(kproto.API_PRODUCE, 3, produce_body(topic, 0, kproto.record_batch([(None, b"x")]),
                                                          topic_count=0x7FFFFFFF))
        assert c.is_closed_by_peer()
    assert_broker_serves(broker)


def test_produce_with_records_length_beyond_the_frame_closes_the_connection(broker):
    topic = unique_topic()
    body = (kproto.string(None) + kproto.i16(-1) + kproto.i32(10000)
            + kproto.array([kproto.string(topic) + kproto.array([kproto.i32(0) + kproto.i32(1 << 30) + b"\x00" * 20])]))
    with kproto.Conn(broker.port) as c:
        c.send_request(kproto.API_PRODUCE, 3, body)
        assert c.is_closed_by_peer()
    assert_broker_serves(broker)


def test_produce_with_batch_length_beyond_the_records_is_refused_and_stores_nothing(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"good"}], partition=0)
    batch = bytearray(kproto.record_batch([(None, b"x")]))
    batch[8:12] = kproto.i32(len(batch) + 1000)  # batchLength claims more than is there
    with kproto.Conn(broker.port) as c:
        err, _, _ = c.produce_v3(topic, 0, bytes(batch))
    assert err in (kproto.CORRUPT_MESSAGE, kproto.INVALID_RECORD), err
    assert confluent_watermarks(broker.bootstrap, topic) == (0, 1)
    assert_broker_serves(broker)


def test_produce_with_empty_records_is_refused_and_stores_nothing(broker):
    topic = unique_topic()
    confluent_produce(broker.bootstrap, topic, [{"value": b"good"}], partition=0)
    with kproto.Conn(broker.port) as c:
        err, _, _ = c.produce_v3(topic, 0, b"")
    assert err in (kproto.CORRUPT_MESSAGE, kproto.INVALID_RECORD), err
    assert confluent_watermarks(broker.bootstrap, topic) == (0, 1)


def test_many_connections_closed_abruptly_do_not_leak_or_hurt(broker):
    for i in range(300):
        s = socket.create_connection(("127.0.0.1", broker.port), timeout=5)
        s.sendall(kproto.frame(kproto.request_header(kproto.API_API_VERSIONS, 0, i)))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # RST, possibly before the answer is written
    assert_broker_serves(broker)
