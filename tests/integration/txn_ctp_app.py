#!/usr/bin/env python3
"""A consume-transform-produce application with exactly-once semantics,
run as a separate process by test_transactions_ctp.py (which SIGKILLs and
restarts it, and kills the broker under it).

    txn_ctp_app.py BOOTSTRAP INPUT OUTPUT GROUP TRANSACTIONAL_ID TXN_SIZE DWELL_MS

It reads INPUT with a consumer group (static member, isolation.level
read_committed, no auto commit), and for every TXN_SIZE records (or fewer
when the input runs dry) runs one transaction: produce each record
transformed (value b"out:" + input value, same key) to OUTPUT, then
send_offsets_to_transaction(positions), then commit_transaction. It
pauses DWELL_MS between writing the records and committing (processing
time: the window where the supervisor's kills land).

The producer is initialised (init_transactions) BEFORE the consumer joins
the group: InitProducerId fences an earlier incarnation with the same
transactional.id and waits until its open transaction is aborted or its
commit finished, so the committed offsets the consumer then fetches are
final.

Anything unexpected (abortable or fatal error, a rebalance in the middle of
a transaction) aborts if possible and exits with status 3: the supervisor
starts a new incarnation, which resumes from the committed offsets. The
process exits 0 once every input partition's committed position has reached
its end offset (the input is written completely before the app starts).

stdout (line-buffered), one event per line, read by the supervisor:
    READY                     init_transactions done, group joined
    PRODUCED <txn> <n>        the records of transaction <txn> are written (flushed)
    COMMITTED <txn> <total>   committed; <total> = sum of committed positions
    DONE <total>
    ERROR <text>
"""

import os
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

ERROR_EXIT = 3


def say(*words):
    sys.stdout.write(" ".join(str(w) for w in words) + "\n")
    sys.stdout.flush()


def die(text):
    say("ERROR", text.replace("\n", " "))
    os._exit(ERROR_EXIT)


def main():
    bootstrap, input_topic, output_topic, group, txn_id, txn_size, dwell_ms = sys.argv[1:8]
    txn_size, dwell_ms = int(txn_size), int(dwell_ms)

    def on_error(err):
        if err.fatal():
            die("fatal client error: %s" % err)

    producer = Producer({
        "bootstrap.servers": bootstrap, "transactional.id": txn_id, "transaction.timeout.ms": 60000,
        "linger.ms": 5, "acks": "all", "message.timeout.ms": 60000, "request.timeout.ms": 10000,
        "reconnect.backoff.ms": 100, "reconnect.backoff.max.ms": 500, "retry.backoff.ms": 100,
        "error_cb": on_error})
    try:
        producer.init_transactions(60)
    except KafkaException as e:
        die("init_transactions: %s" % e.args[0])

    rebalanced = [False]

    def on_assign(consumer, parts):
        rebalanced[0] = True

    def on_revoke(consumer, parts):
        rebalanced[0] = True

    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": group, "group.instance.id": txn_id + "-member",
        "isolation.level": "read_committed", "enable.auto.commit": False, "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest", "session.timeout.ms": 30000, "heartbeat.interval.ms": 500,
        "max.poll.interval.ms": 60000, "reconnect.backoff.ms": 100, "reconnect.backoff.max.ms": 500,
        "error_cb": on_error})
    consumer.subscribe([input_topic], on_assign=on_assign, on_revoke=on_revoke)

    # End offsets of the (complete, non-transactional) input.
    meta = consumer.list_topics(input_topic, timeout=30)
    parts = sorted(meta.topics[input_topic].partitions)
    ends = {}
    for p in parts:
        _low, high = consumer.get_watermark_offsets(TopicPartition(input_topic, p), timeout=30, cached=False)
        ends[p] = high

    # Wait for the assignment (one member: all partitions).
    deadline = time.monotonic() + 60
    pending = []
    while len(consumer.assignment()) < len(parts):
        if time.monotonic() > deadline:
            die("no full assignment within 60 s: %s" % consumer.assignment())
        for m in consumer.consume(num_messages=txn_size, timeout=0.2):
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    die("consumer error: %s" % m.error())
            else:
                pending.append(m)
    say("READY")

    def committed_total():
        tps = consumer.committed([TopicPartition(input_topic, p) for p in parts], timeout=30)
        return {tp.partition: max(tp.offset, 0) for tp in tps}

    done_at = committed_total()
    if all(done_at[p] >= ends[p] for p in parts):
        say("DONE", sum(done_at.values()))
        os._exit(0)

    dwell_s = dwell_ms / 1000.0
    txn_no = 0
    idle_since = None
    while True:
        # Gather up to txn_size records.
        rebalanced[0] = False  # a rebalance from here to the commit spoils the transaction
        batch = pending
        pending = []
        t_end = time.monotonic() + 0.5
        while len(batch) < txn_size and time.monotonic() < t_end:
            for m in consumer.consume(num_messages=txn_size - len(batch), timeout=0.1):
                if m.error():
                    if m.error().code() != KafkaError._PARTITION_EOF:
                        die("consumer error: %s" % m.error())
                else:
                    batch.append(m)
        if not batch:
            # Nothing more to read: has every partition been committed up to its end?
            # (position() is no help: it is -1001 for a partition nothing was
            # read from since the assignment.)
            if all(done_at[p] >= ends[p] for p in parts):
                say("DONE", sum(done_at.values()))
                consumer.close()
                os._exit(0)
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 30:
                die("no input for 30 s, committed %s, ends %s" % (done_at, ends))
            continue
        idle_since = None
        txn_no += 1
        try:
            producer.begin_transaction()
            for m in batch:
                while True:
                    try:
                        producer.produce(output_topic, key=m.key(), value=b"out:" + m.value())
                        break
                    except BufferError:
                        producer.poll(0.05)
                producer.poll(0)
            producer.flush(60)  # the records are in the partitions: a kill from here leaves them to abort
            say("PRODUCED", txn_no, len(batch))
            time.sleep(dwell_s)  # "processing": the supervisor's kills land here, inside the transaction
            # Next offset to read of every partition this transaction read.
            nxt = {}
            for m in batch:
                nxt[m.partition()] = max(nxt.get(m.partition(), 0), m.offset() + 1)
            offsets = [TopicPartition(input_topic, p, o) for p, o in sorted(nxt.items())]
            producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 30)
            if rebalanced[0]:
                raise RuntimeError("rebalance during the transaction")
            while True:
                try:
                    producer.commit_transaction(60)
                    break
                except KafkaException as e:
                    if e.args[0].retriable():
                        continue
                    raise
        except (KafkaException, RuntimeError) as e:
            err = e.args[0]
            if isinstance(err, KafkaError) and err.txn_requires_abort():
                try:
                    producer.abort_transaction(30)
                except KafkaException:
                    pass
                die("transaction %d aborted: %s" % (txn_no, err))
            if isinstance(err, str):
                try:
                    producer.abort_transaction(30)
                except KafkaException:
                    pass
            die("transaction %d failed: %s" % (txn_no, err))
        for p, o in nxt.items():
            done_at[p] = max(done_at[p], o)
        say("COMMITTED", txn_no, sum(done_at.values()))


if __name__ == "__main__":
    main()
