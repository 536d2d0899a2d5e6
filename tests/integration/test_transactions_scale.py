"""The throughput cost of transactions (a measurement, not a check; runs
only with RUNNEL_SCALE=1): the same RECORDS records of VALUE_BYTES bytes
produced with librdkafka (acks=all, linger.ms 5) to a 4-partition topic in
one run by
  - a plain producer,
  - an idempotent producer (enable.idempotence=true),
  - a transactional producer committing every N records, for several N,
each into a topic of its own on the same broker. Prints records/s and the
ratio to the plain producer (run with -s); docs/transactions.md quotes them.

The same cases run against librdkafka's in-process mock cluster
(`test.mock.num.brokers`) as a reference for how much of the cost is the
client's transaction protocol (its ratios, with fewer records: the mock's
coordinator takes ~35 ms per transaction). RUNNEL_SCALE_BROKER_ARGS passes
broker overrides (e.g. log.flush.acks.all=false to see the cost of fsync).
"""

import os
import time

import pytest
from confluent_kafka import Producer

from helpers import unique_topic
from txn_util import create_topics, read_to_end

RECORDS = 500_000
VALUE_BYTES = 100
PARTITIONS = 4
TXN_SIZES = (100, 1000, 10000)
MOCK_RECORDS = 100_000


def run(bootstrap, topic, conf, txn_size=None, records=RECORDS):
    p = Producer(dict({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5,
                       "message.timeout.ms": 60000}, **conf))
    failed = []

    def cb(err, msg):
        if err is not None:
            failed.append(err)

    value = b"x" * VALUE_BYTES
    if txn_size:
        p.init_transactions(30)
    t0 = time.monotonic()
    i = 0
    while i < records:
        n = txn_size or records
        if txn_size:
            p.begin_transaction()
        for j in range(i, min(i + n, records)):
            while True:
                try:
                    p.produce(topic, key=b"%d" % j, value=value, on_delivery=cb)
                    break
                except BufferError:
                    p.poll(0.01)
            p.poll(0)
        i += n
        if txn_size:
            p.commit_transaction(60)
    assert p.flush(60) == 0
    elapsed = time.monotonic() - t0
    assert not failed, failed[:3]
    return elapsed


@pytest.mark.scale
@pytest.mark.timeout(600)
def test_throughput_transactional_vs_plain(start_broker):
    broker = start_broker(*os.environ.get("RUNNEL_SCALE_BROKER_ARGS", "").split())
    cases = [("plain", {}, None), ("idempotent", {"enable.idempotence": True}, None)]
    cases += [("transactional, %d records per transaction" % n, {"transactional.id": unique_topic("tid")}, n)
              for n in TXN_SIZES]
    topics = [unique_topic("scale-txn") for _ in cases]
    create_topics(broker.bootstrap, topics, partitions=PARTITIONS)
    results = []
    for (name, conf, n), topic in zip(cases, topics):
        s = run(broker.bootstrap, topic, conf, n)
        mock = dict(conf, **{"test.mock.num.brokers": 1})
        m = run("unused", topic, mock, n, records=MOCK_RECORDS)
        results.append((name, s, RECORDS / s, MOCK_RECORDS / m))
    base, mock_base = results[0][2], results[0][3]
    print("\n[transactions throughput] %d records of %d bytes, %d partitions, acks=all, linger.ms 5; "
          "mock: %d records" % (RECORDS, VALUE_BYTES, PARTITIONS, MOCK_RECORDS))
    for name, s, rate, mock_rate in results:
        print("  %-42s %6.2f s  %8.0f records/s  ratio to plain %.2f   mock %8.0f records/s  ratio %.2f"
              % (name, s, rate, rate / base, mock_rate, mock_rate / mock_base))
    # Everything committed is readable with read_committed.
    got = read_to_end(broker.bootstrap, topics[-1], PARTITIONS, "read_committed", timeout_s=120)
    assert len(got) == RECORDS
