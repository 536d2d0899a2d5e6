"""A full disk: the broker's log.dirs on a small tmpfs (needs root and
mount(2); the tests skip when mounting is not permitted).

Kafka's behaviour, which these tests hold Runnel to: an append that fails
with ENOSPC is answered KAFKA_STORAGE_ERROR (56) and not acknowledged, the
broker stays up and keeps serving reads of everything it acknowledged,
intact, and (Runnel, not Kafka: Kafka would take the log dir offline) it
takes appends again once space is freed.
"""

import os
import subprocess
import tempfile
import time

import pytest

import kproto
from helpers import admin_call, confluent_produce, unique_topic
from test_storage_util import (KAFKA_STORAGE_ERROR, LATEST, consume_to_end, create_topic, list_offset,
                               raw_produce, wait_until)

TMPFS_SIZE = "6m"
RECORD = 64 * 1024


@pytest.fixture
def tmpfs_logdir():
    """A fresh tmpfs of TMPFS_SIZE; unmounted after the broker that uses it
    stopped (request this fixture before start_broker)."""
    d = tempfile.mkdtemp(prefix="runnel-tmpfs-")
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + TMPFS_SIZE, "tmpfs", d],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if p.returncode != 0:
        os.rmdir(d)
        pytest.skip("cannot mount a tmpfs: %s" % p.stderr.decode(errors="replace").strip())
    logdir = os.path.join(d, "data")
    os.mkdir(logdir)
    try:
        yield logdir
    finally:
        for _ in range(50):
            if subprocess.run(["umount", d], stderr=subprocess.DEVNULL).returncode == 0:
                break
            time.sleep(0.1)
        os.rmdir(d)


def fill_disk(b, topic, limit=400):
    """Produces 64 KiB records (acks=all) until one fails. Returns
    ({offset: value} acknowledged, error code of the failure)."""
    acked = {}
    with kproto.Conn(b.port) as c:
        for i in range(limit):
            value = (b"%06d-" % i) * (RECORD // 7)
            err, base, _ = c.produce_v3(topic, 0, kproto.record_batch([(None, value)]), acks=-1)
            if err != 0:
                return acked, err
            acked[base] = value
    raise AssertionError("%d records of %d B fit in a %s tmpfs" % (limit, RECORD, TMPFS_SIZE))


def check_all_there(b, topic, acked):
    got = consume_to_end(b.bootstrap, topic, conf={"fetch.message.max.bytes": 1 << 20})
    assert {m.offset(): m.value() for m in got} == acked


def test_append_on_a_full_disk_fails_with_KAFKA_STORAGE_ERROR_and_reads_go_on(tmpfs_logdir, start_broker):
    b = start_broker("log.dirs=" + tmpfs_logdir)
    topic = unique_topic("full")
    create_topic(b.bootstrap, topic)
    acked, err = fill_disk(b, topic)
    assert err == KAFKA_STORAGE_ERROR, err
    assert len(acked) > 10
    assert b.running()
    # Nothing unacknowledged became visible; everything acknowledged reads back intact.
    assert list_offset(b.port, topic, 0, LATEST) == len(acked)
    check_all_there(b, topic, acked)
    # Still full: a small append fails the same way, and the broker answers other requests.
    assert raw_produce(b.port, topic, 0, [(None, b"x" * RECORD)])[0] == KAFKA_STORAGE_ERROR
    with kproto.Conn(b.port) as c:
        assert c.api_versions(0)[0] == 0


def test_full_disk_broker_shuts_down_cleanly_and_restarts_with_the_data(tmpfs_logdir, start_broker):
    b = start_broker("log.dirs=" + tmpfs_logdir)
    topic = unique_topic("full-restart")
    create_topic(b.bootstrap, topic)
    acked, err = fill_disk(b, topic)
    assert err == KAFKA_STORAGE_ERROR
    b.restart()  # checked: exits 0 within 10 s
    check_all_there(b, topic, acked)
    b.restart(kill9=True)
    check_all_there(b, topic, acked)


def test_appends_work_again_after_space_is_freed(tmpfs_logdir, start_broker):
    b = start_broker("log.dirs=" + tmpfs_logdir)
    keep, filler = unique_topic("keep"), unique_topic("filler")
    create_topic(b.bootstrap, keep)
    create_topic(b.bootstrap, filler)
    kept = confluent_produce(b.bootstrap, keep, [{"value": b"before-%d" % i} for i in range(5)], partition=0)
    acked, err = fill_disk(b, filler)
    assert err == KAFKA_STORAGE_ERROR
    # (larger than the blocks a partition reserves ahead of its appends,
    # segment.c: rn_segment_reserve, which stay usable on a full disk)
    assert raw_produce(b.port, keep, 0, [(None, b"y" * (4 * RECORD))])[0] == KAFKA_STORAGE_ERROR
    res = admin_call(b.bootstrap, "delete_topics", [filler], request_timeout=15)
    assert res == {filler: None}, res
    # Space comes back once the filler's files are gone.
    wait_until("an append to succeed again",
               lambda: raw_produce(b.port, keep, 0, [(None, b"after")])[0] == 0, timeout_s=15, interval_s=0.3)
    got = consume_to_end(b.bootstrap, keep)
    assert [m.value() for m in got[:5]] == [m.value() for m in kept]
    assert got[-1].value() == b"after" and got[-1].offset() == 5
    # and a new topic works end to end
    fresh = unique_topic("fresh")
    create_topic(b.bootstrap, fresh)
    confluent_produce(b.bootstrap, fresh, [{"value": b"hello"}], partition=0)
    assert [m.value() for m in consume_to_end(b.bootstrap, fresh)] == [b"hello"]
