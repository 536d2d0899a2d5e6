"""kafkajs transactions (js/txn_kafkajs.js): commit, abort, sendOffsets and
fencing with kafkajs' transactional producer (transactionalId, idempotent,
maxInFlightRequests 1), checked with librdkafka consumers: read_committed
sees exactly the committed records, read_uncommitted all of them, and the
group's offset sent in the committed transaction is committed."""

import json
import os
import subprocess

import pytest
from confluent_kafka import Consumer, TopicPartition

from txn_util import read_to_end

JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")
SCRIPT = os.path.join(JS_DIR, "txn_kafkajs.js")
NODE_TIMEOUT_S = 50


def by_partition(msgs):
    out = {}
    for m in msgs:
        out.setdefault(str(m.partition()), []).append(m.value().decode())
    return out


def run_script(broker, mode):
    assert os.path.isdir(os.path.join(JS_DIR, "node_modules", "kafkajs")), \
        "kafkajs is not installed in %s: run scripts/deps.sh" % JS_DIR
    env = dict(os.environ, RUNNEL_BOOTSTRAP=broker.bootstrap, KAFKAJS_NO_PARTITIONER_WARNING="1")
    try:
        p = subprocess.run(["node", SCRIPT, mode], cwd=JS_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=NODE_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        pytest.fail("node txn_kafkajs.js did not finish within %d s\nstdout:\n%s\nstderr:\n%s" % (
            NODE_TIMEOUT_S, (e.stdout or b"").decode(errors="replace"), (e.stderr or b"").decode(errors="replace")),
            pytrace=False)
    stdout, stderr = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    assert p.returncode == 0, "node txn_kafkajs.js exited %d\nstdout:\n%s\nstderr:\n%s" % (
        p.returncode, stdout, stderr)
    (line,) = [ln for ln in stdout.splitlines() if ln.startswith("TXN ")]
    return json.loads(line[len("TXN "):])


def check(broker, exp):
    topic = exp["topic"]

    committed = by_partition(read_to_end(broker.bootstrap, topic, 2, "read_committed"))
    assert committed == {k: v for k, v in exp["committed"].items() if v}
    everything = by_partition(read_to_end(broker.bootstrap, topic, 2, "read_uncommitted"))
    assert everything == {k: v for k, v in exp["all"].items() if v}

    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": exp["group"], "enable.auto.commit": False,
                  "isolation.level": "read_committed"})
    try:
        (tp,) = c.committed([TopicPartition(topic, exp["groupOffset"]["partition"])], timeout=10)
        assert tp.offset == exp["groupOffset"]["offset"]
    finally:
        c.close()


def test_kafkajs_transactions_commit_abort_send_offsets(broker):
    check(broker, run_script(broker, "basic"))


def test_kafkajs_zombie_is_fenced_by_a_new_producer_with_the_same_transactional_id(broker):
    """kafkajs 2.2.4 sends EndTxn v1: a fenced producer's EndTxn must be
    answered INVALID_PRODUCER_EPOCH (47) there, as Kafka does (KIP-588 gave
    PRODUCER_FENCED, 90, to v2+ only); kafkajs does not know code 90."""
    check(broker, run_script(broker, "fencing"))
