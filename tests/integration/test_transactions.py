"""Transactions with librdkafka (confluent-kafka-python) and raw requests:
what read_committed and read_uncommitted consumers see, the last stable
offset, fencing of zombie producers, transaction timeouts, and the
coordinator's state across broker restarts (issue 7).

librdkafka's abort_transaction() purges the records it has not sent yet, so
the tests flush() before aborting when the aborted records must reach the
partition (to check that read_committed skips them).
"""

import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

import kproto
from helpers import confluent_producer, unique_topic
from recovery_util import create_topic
from txn_util import (READ_COMMITTED, READ_UNCOMMITTED, TRANSACTIONAL_ID_NOT_FOUND, describe_transactions,
                      fetch_v4, list_offsets_v2, list_transactions, produce_all, read_to_end, txn_producer,
                      values_of, wait_for)

LATEST = -1


def vals(prefix, n, start=0):
    return [b"%s-%d" % (prefix, i) for i in range(start, start + n)]


def committed_txn(p, topic, values, partition=0):
    p.begin_transaction()
    produce_all(p, topic, values, partition=partition)
    p.commit_transaction(30)


def open_txn(p, topic, values, partition=0):
    """Begins a transaction, writes values and waits until they are in the partition."""
    p.begin_transaction()
    produce_all(p, topic, values, partition=partition)
    assert p.flush(30) == 0


def lso(broker, topic, partition=0):
    err, off = list_offsets_v2(broker.port, topic, partition, LATEST, READ_COMMITTED)
    assert err == 0, err
    return off


def hw(broker, topic, partition=0):
    err, off = list_offsets_v2(broker.port, topic, partition, LATEST, READ_UNCOMMITTED)
    assert err == 0, err
    return off


@pytest.fixture
def topic(broker):
    t = unique_topic("txn")
    create_topic(broker.bootstrap, t)
    return t


# ---------------------------------------------------------------- visibility

def test_aborted_transaction_invisible_to_read_committed_visible_to_read_uncommitted(broker, topic):
    p = txn_producer(broker.bootstrap, unique_topic("tid"))
    p.init_transactions(30)
    committed_txn(p, topic, vals(b"c", 10))
    open_txn(p, topic, vals(b"a", 7))  # flushed: the records are in the partition
    p.abort_transaction(30)
    committed_txn(p, topic, vals(b"c", 10, start=10))
    open_txn(p, topic, vals(b"a", 3, start=7))
    p.abort_transaction(30)

    got = values_of(read_to_end(broker.bootstrap, topic, 1, "read_committed"))
    assert got == vals(b"c", 20)
    got = values_of(read_to_end(broker.bootstrap, topic, 1, "read_uncommitted"))
    assert got == vals(b"c", 10) + vals(b"a", 7) + vals(b"c", 10, start=10) + vals(b"a", 3, start=7)

    # The raw answer: data of both aborted transactions comes with the
    # AbortedTransactions list; four markers close the four transactions.
    r = fetch_v4(broker.port, topic, 0, 0, READ_COMMITTED)
    assert r["error"] == 0
    assert r["high_watermark"] == r["last_stable_offset"] == 30 + 4
    firsts = sorted(first for _pid, first in r["aborted"])
    # c0-9 at 0-9, commit 10, a0-6 at 11-17, abort 18, c10-19 at 19-28, commit 29, a7-9 at 30-32, abort 33
    assert firsts == [11, 30], r["aborted"]
    assert len({pid for pid, _ in r["aborted"]}) == 1
    r = fetch_v4(broker.port, topic, 0, 0, READ_UNCOMMITTED)
    assert r["aborted"] == []  # only read_committed gets the list
    assert r["last_stable_offset"] == 34


def test_last_stable_offset_stops_at_the_open_transaction_until_it_commits(broker, topic):
    p = txn_producer(broker.bootstrap, unique_topic("tid"))
    p.init_transactions(30)
    committed_txn(p, topic, vals(b"c", 10))  # offsets 0-9, commit marker at 10
    assert lso(broker, topic) == hw(broker, topic) == 11

    open_txn(p, topic, vals(b"o", 5))  # offsets 11-15, open
    # A non-transactional record after the open transaction's first offset.
    plain = confluent_producer(broker.bootstrap)
    produce_all(plain, topic, [b"plain-0"], partition=0)
    assert plain.flush(30) == 0

    assert hw(broker, topic) == 17
    assert lso(broker, topic) == 11  # ListOffsets(latest, read_committed) stops at the first open offset
    r = fetch_v4(broker.port, topic, 0, 0, READ_COMMITTED)
    assert r["last_stable_offset"] == 11 and r["high_watermark"] == 17
    assert all(off < 11 for off, _k, _v in r["records"]), r["records"]
    r = fetch_v4(broker.port, topic, 0, 11, READ_COMMITTED, max_wait_ms=200)
    assert r["records"] == []
    assert values_of(read_to_end(broker.bootstrap, topic, 1, "read_committed", settle_s=0.5)) == vals(b"c", 10)
    assert values_of(read_to_end(broker.bootstrap, topic, 1, "read_uncommitted")) == \
        vals(b"c", 10) + vals(b"o", 5) + [b"plain-0"]

    p.commit_transaction(30)  # marker at 17
    assert lso(broker, topic) == hw(broker, topic) == 18
    assert values_of(read_to_end(broker.bootstrap, topic, 1, "read_committed")) == \
        vals(b"c", 10) + vals(b"o", 5) + [b"plain-0"]


def test_read_committed_consumer_waiting_at_the_lso_gets_the_records_at_commit(broker, topic):
    """A consumer parked at the LSO of an open transaction receives its
    records once it commits (and not before)."""
    p = txn_producer(broker.bootstrap, unique_topic("tid"))
    p.init_transactions(30)
    open_txn(p, topic, vals(b"o", 5))
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "unused", "enable.auto.commit": False,
                  "isolation.level": "read_committed", "fetch.wait.max.ms": 100})
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        early = [m for m in c.consume(num_messages=100, timeout=1.5) if not m.error()]
        assert early == []
        p.commit_transaction(30)
        got = []
        deadline = time.monotonic() + 15
        while len(got) < 5 and time.monotonic() < deadline:
            got += [m.value() for m in c.consume(num_messages=100, timeout=0.2) if not m.error()]
        assert got == vals(b"o", 5)
    finally:
        c.close()


# ---------------------------------------------------------------- fencing and timeouts

def test_second_producer_with_the_same_transactional_id_fences_the_first(broker, topic):
    tid = unique_topic("tid")
    fatal = []
    p1 = txn_producer(broker.bootstrap, tid, error_cb=lambda e: fatal.append(e) if e.fatal() else None)
    p1.init_transactions(30)
    open_txn(p1, topic, vals(b"zombie", 5))
    pid1 = describe_transactions(broker.port, [tid])[tid]["producer_id"]
    epoch1 = describe_transactions(broker.port, [tid])[tid]["epoch"]

    p2 = txn_producer(broker.bootstrap, tid)
    p2.init_transactions(30)  # fences p1; the coordinator aborts p1's open transaction
    d = describe_transactions(broker.port, [tid])[tid]
    assert d["producer_id"] == pid1 and d["epoch"] > epoch1
    assert d["state"] in ("Empty", "CompleteAbort"), d

    # The zombie's next produce and commit fail with a fatal fenced error.
    with pytest.raises(KafkaException) as ei:
        produce_all(p1, topic, vals(b"zombie", 5, start=5), partition=0)
        p1.flush(10)
        p1.commit_transaction(15)
    err = ei.value.args[0]
    assert err.fatal(), err
    assert err.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH), err

    committed_txn(p2, topic, vals(b"live", 5))
    assert values_of(read_to_end(broker.bootstrap, topic, 1, "read_committed")) == vals(b"live", 5)
    assert values_of(read_to_end(broker.bootstrap, topic, 1, "read_uncommitted")) == \
        vals(b"zombie", 5) + vals(b"live", 5)


def test_transaction_past_its_timeout_is_aborted_by_the_coordinator(broker, topic):
    tid = unique_topic("tid")
    p = txn_producer(broker.bootstrap, tid, **{"transaction.timeout.ms": 2000, "message.timeout.ms": 2000})
    p.init_transactions(30)
    open_txn(p, topic, vals(b"silent", 5))  # offsets 0-4
    epoch = describe_transactions(broker.port, [tid])[tid]["epoch"]
    assert lso(broker, topic) == 0
    assert describe_transactions(broker.port, [tid])[tid]["state"] == "Ongoing"

    # The producer goes silent; the coordinator aborts after 2 s (checked every second).
    d = wait_for(lambda: (lambda d: d if d["state"] == "CompleteAbort" else None)(
        describe_transactions(broker.port, [tid])[tid]), 10, "the coordinator to abort the transaction")
    assert d["epoch"] > epoch, "the timed-out producer's epoch must be bumped (fenced)"
    assert lso(broker, topic) == hw(broker, topic) == 6  # 5 records + abort marker
    assert values_of(read_to_end(broker.bootstrap, topic, 1, "read_committed")) == []
    assert values_of(read_to_end(broker.bootstrap, topic, 1, "read_uncommitted")) == vals(b"silent", 5)
    r = fetch_v4(broker.port, topic, 0, 0, READ_COMMITTED)
    assert [first for _pid, first in r["aborted"]] == [0]

    # The producer wakes up: its commit cannot succeed.
    with pytest.raises(KafkaException):
        p.commit_transaction(10)
    assert values_of(read_to_end(broker.bootstrap, topic, 1, "read_committed")) == []


# ---------------------------------------------------------------- restarts

@pytest.mark.parametrize("kill9", [False, True], ids=["sigterm", "sigkill"])
@pytest.mark.timeout(90)
def test_coordinator_state_survives_a_broker_restart(broker, kill9):
    """Before the restart: one committed transaction, one aborted, and two
    open ones. After it: ListTransactions/DescribeTransactions show the same
    states, the open transactions still hold the LSO back, the aborted
    one stays invisible; then one open transaction is committed by its
    (surviving) producer and the other aborted by a new producer with the
    same transactional id."""
    topics = {k: unique_topic("txn-" + k) for k in ("committed", "aborted", "resumed", "fenced")}
    for t in topics.values():
        create_topic(broker.bootstrap, t)
    tids = {k: unique_topic("tid-" + k) for k in topics}
    prods = {}
    for k in topics:
        prods[k] = txn_producer(broker.bootstrap, tids[k], **{
            "reconnect.backoff.ms": 100, "reconnect.backoff.max.ms": 500, "retry.backoff.ms": 100})
        prods[k].init_transactions(30)
    committed_txn(prods["committed"], topics["committed"], vals(b"c", 10))
    open_txn(prods["aborted"], topics["aborted"], vals(b"a", 10))
    prods["aborted"].abort_transaction(30)
    open_txn(prods["resumed"], topics["resumed"], vals(b"r", 10))
    open_txn(prods["fenced"], topics["fenced"], vals(b"f", 10))

    want_states = {"committed": "CompleteCommit", "aborted": "CompleteAbort", "resumed": "Ongoing",
                   "fenced": "Ongoing"}

    def check_states():
        err, listed = list_transactions(broker.port)
        assert err == 0
        desc = describe_transactions(broker.port, list(tids.values()))
        for k, want in want_states.items():
            assert listed[tids[k]][1] == want, (k, listed.get(tids[k]))
            assert desc[tids[k]]["state"] == want, (k, desc[tids[k]])
            assert desc[tids[k]]["producer_id"] == listed[tids[k]][0]
        for k in ("resumed", "fenced"):
            assert desc[tids[k]]["partitions"] == [(topics[k], 0)]
            assert desc[tids[k]]["start_ms"] > 0
        err, ongoing = list_transactions(broker.port, states=["Ongoing"])
        assert err == 0 and set(ongoing) >= {tids["resumed"], tids["fenced"]}
        assert tids["committed"] not in ongoing
        return desc

    before = check_states()
    broker.restart(kill9=kill9)
    after = check_states()
    for k in tids:
        assert (after[tids[k]]["producer_id"], after[tids[k]]["epoch"]) == \
            (before[tids[k]]["producer_id"], before[tids[k]]["epoch"]), k

    # Partition state after the restart: LSO held by the open transactions,
    # aborted data still skipped.
    assert lso(broker, topics["resumed"]) == 0 and hw(broker, topics["resumed"]) == 10
    assert lso(broker, topics["fenced"]) == 0
    assert values_of(read_to_end(broker.bootstrap, topics["committed"], 1, "read_committed")) == vals(b"c", 10)
    assert values_of(read_to_end(broker.bootstrap, topics["aborted"], 1, "read_committed")) == []
    assert values_of(read_to_end(broker.bootstrap, topics["aborted"], 1, "read_uncommitted")) == vals(b"a", 10)

    # The surviving producer finishes its transaction.
    produce_all(prods["resumed"], topics["resumed"], vals(b"r", 5, start=10), partition=0)
    prods["resumed"].commit_transaction(30)
    assert values_of(read_to_end(broker.bootstrap, topics["resumed"], 1, "read_committed")) == vals(b"r", 15)

    # A new incarnation of the other one fences it: its transaction is aborted.
    newp = txn_producer(broker.bootstrap, tids["fenced"])
    newp.init_transactions(30)
    assert lso(broker, topics["fenced"]) == hw(broker, topics["fenced"]) == 11
    assert values_of(read_to_end(broker.bootstrap, topics["fenced"], 1, "read_committed")) == []
    want_states.update(resumed="CompleteCommit", fenced="Empty")
    check_states_after = describe_transactions(broker.port, list(tids.values()))
    for k, want in want_states.items():
        assert check_states_after[tids[k]]["state"] == want, (k, check_states_after[tids[k]])

    # And all of it again after one more restart of the same kind.
    broker.restart(kill9=kill9)
    d = describe_transactions(broker.port, list(tids.values()))
    assert {k: d[tids[k]]["state"] for k in tids} == want_states
    assert values_of(read_to_end(broker.bootstrap, topics["resumed"], 1, "read_committed")) == vals(b"r", 15)
    assert values_of(read_to_end(broker.bootstrap, topics["fenced"], 1, "read_committed")) == []
    assert values_of(read_to_end(broker.bootstrap, topics["aborted"], 1, "read_committed")) == []
    assert lso(broker, topics["fenced"]) == 11


def test_describe_transactions_of_an_unknown_id(broker):
    d = describe_transactions(broker.port, ["no-such-transactional-id"])
    assert d["no-such-transactional-id"]["error"] == TRANSACTIONAL_ID_NOT_FOUND


def offset_fetch_v7(port, group, topic, partition, require_stable):
    """OffsetFetch v7 (flexible) of one partition. Returns (error, offset)."""
    body = (kproto.compact_string(group)
            + kproto.compact_array([kproto.compact_string(topic) + kproto.compact_array([kproto.i32(partition)])
                                    + kproto.NO_TAGS])
            + kproto.i8(1 if require_stable else 0) + kproto.NO_TAGS)
    with kproto.Conn(port) as c:
        cid = c.send_request(9, 7, body, flexible=True)
        r = c.recv_response(cid, flexible_header=True)
    r.i32()  # throttle
    topics = r.compact_array(lambda r: (r.compact_string(), r.compact_array(
        lambda r: (r.i32(), r.i64(), r.i32(), r.compact_string(), r.i16(), r.tags())), r.tags()))
    assert r.i16() == 0
    (_name, parts, _), = topics
    (_idx, offset, _epoch, _meta, err, _), = parts
    return err, offset


def test_offset_fetch_require_stable_waits_for_the_transaction(broker, topic):
    """KIP-447: while a transaction holds an offset for the group, OffsetFetch
    with RequireStable answers UNSTABLE_OFFSET_COMMIT (88); without it, the
    last committed offset. After the commit both see the new offset; after
    an abort, the old one."""
    group = unique_topic("grp-stable")
    c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 5)], asynchronous=False)
        meta = c.consumer_group_metadata()
        p = txn_producer(broker.bootstrap, unique_topic("tid-stable"))
        p.init_transactions(30)
        for commit, want in ((True, 42), (False, 42)):
            p.begin_transaction()
            produce_all(p, topic, [b"x"], partition=0)
            p.send_offsets_to_transaction([TopicPartition(topic, 0, 42 if commit else 77)], meta, 30)
            before = 5 if commit else 42
            assert offset_fetch_v7(broker.port, group, topic, 0, True) == (88, -1)
            assert offset_fetch_v7(broker.port, group, topic, 0, False) == (0, before)
            if commit:
                p.commit_transaction(30)
            else:
                p.abort_transaction(30)
            assert offset_fetch_v7(broker.port, group, topic, 0, True) == (0, want)
            assert offset_fetch_v7(broker.port, group, topic, 0, False) == (0, want)
    finally:
        c.close()


def test_connections_closed_while_their_txn_request_runs_off_the_worker(broker, topic):
    """Transaction requests run on offload threads (they wait for fsyncs).
    A client that sends one and disconnects at once leaves the broker with
    a request queued, running or answered-but-unsent: each is dropped
    cleanly (under ASan this checks the cancel paths), and the coordinator
    still works afterwards."""
    tid = unique_topic("tid-closed")
    body = kproto.string(tid) + kproto.i32(60000)  # InitProducerId v1
    for _ in range(200):
        c = kproto.Conn(broker.port)
        c.send_request(22, 1, body)
        c.close()
    with kproto.Conn(broker.port) as c:
        cid = c.send_request(22, 1, body)
        r = c.recv_response(cid)
    r.i32()  # throttle
    assert r.i16() == 0
    p = txn_producer(broker.bootstrap, tid)
    p.init_transactions(30)
    committed_txn(p, topic, vals(b"after", 5))
    assert values_of(read_to_end(broker.bootstrap, topic, 1, "read_committed")) == vals(b"after", 5)
