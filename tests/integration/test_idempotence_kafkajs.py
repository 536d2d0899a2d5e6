"""kafkajs idempotent producer (js/idempotent_producer.js) with
maxInFlightRequests 1..5: every send succeeds, and reading the topic back
with librdkafka finds each value exactly once, at the offset the broker
acknowledged it at. Figures are printed (run with -s)."""

import json
import os
import subprocess

import pytest

import kproto
from helpers import confluent_consume, confluent_watermarks
from test_idempotence import describe_producers

JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")
SCRIPT = os.path.join(JS_DIR, "idempotent_producer.js")
NODE_TIMEOUT_S = 50


@pytest.mark.parametrize("max_in_flight", [1, 2, 5])
def test_kafkajs_idempotent_producer_stores_each_message_once(broker, max_in_flight):
    assert os.path.isdir(os.path.join(JS_DIR, "node_modules", "kafkajs")), \
        "kafkajs is not installed in %s: run scripts/deps.sh" % JS_DIR
    env = dict(os.environ, RUNNEL_BOOTSTRAP=broker.bootstrap, KAFKAJS_NO_PARTITIONER_WARNING="1")
    try:
        p = subprocess.run(["node", SCRIPT, str(max_in_flight)], cwd=JS_DIR, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=NODE_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        pytest.fail("node did not finish within %d s\nstdout:\n%s\nstderr:\n%s" % (
            NODE_TIMEOUT_S, (e.stdout or b"").decode(errors="replace")[-3000:],
            (e.stderr or b"").decode(errors="replace")[-3000:]), pytrace=False)
    stdout, stderr = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    assert p.returncode == 0, "node exited %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, stdout[-3000:], stderr)
    (line,) = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")]
    res = json.loads(line[len("RESULT "):])
    topic = res["topic"]

    acked = {}  # (partition, value) -> offset
    for part, value, offset in res["acked"]:
        assert (part, value) not in acked, "value %s acknowledged twice" % value
        acked[(part, value)] = offset
    stored = dups = missing = moved = 0
    for part in range(res["partitions"]):
        low, high = confluent_watermarks(broker.bootstrap, topic, part)
        msgs = confluent_consume(broker.bootstrap, topic, high - low, partition=part) if high > low else []
        stored += len(msgs)
        seen = {}
        for m in msgs:
            v = m.value().decode()
            if v in seen:
                dups += 1
            seen[v] = m.offset()
        for (p_, v), off in acked.items():
            if p_ != part:
                continue
            if v not in seen:
                missing += 1
            elif seen[v] != off:
                moved += 1
    print("\n[kafkajs idempotent maxInFlightRequests=%d] records in: %d, acknowledged: %d, send errors: %d, "
          "records out: %d, duplicates: %d, missing: %d, at another offset: %d"
          % (max_in_flight, res["sent"], len(acked), len(res["errors"]), stored, dups, missing, moved))
    assert not res["errors"], "kafkajs send errors: %s\nstderr:\n%s" % (res["errors"][:5], stderr[-3000:])
    assert len(acked) == res["sent"]
    assert dups == 0 and missing == 0 and moved == 0
    assert stored == res["sent"]
    # The batches really were idempotent: one producer per partition, its
    # last sequence the partition's record count - 1.
    with kproto.Conn(broker.port) as c:
        parts = describe_producers(c, topic, list(range(res["partitions"])))
    for part in range(res["partitions"]):
        err, prods = parts[part]
        n = sum(1 for (p_, _v) in acked if p_ == part)
        assert err == 0
        assert [pr["last_sequence"] for pr in prods] == [n - 1], (part, prods)
