#!/usr/bin/env python3
"""One producer of the crash-loop test (test_recovery_crashloop.py), run as a
subprocess so that each has its own librdkafka instance and GIL.

    crashloop_producer.py BOOTSTRAP TOPIC PARTITIONS WRITER CYCLE ACKFILE [RATE]

Produces with acks=all and no retries (each payload is sent at most once, so
no payload may ever appear twice in the log) until SIGTERM, at most RATE
records/s (default 4000: the check at the end reads everything back), to
partitions round-robin, payloads

    c<cycle:04d>-w<writer>-s<seq:09d>-<filler>

with seq counting up from 0 in each cycle, filler of a varying length (so
batches and segment rolls fall at varying places). Every delivery report
goes to ACKFILE as one line, flushed at once:

    A <partition> <offset> <payload>     acknowledged
    E <partition> <payload> <error>      failed (not acknowledged)

and "ready" is printed on stdout (flushed) after the first acknowledgement.
On SIGTERM: stops producing, drops what was never sent, waits (bounded) for
the reports of what was sent, writes "D <produced> <acked> <failed>" and
exits 0. Dies with its parent (PR_SET_PDEATHSIG).
"""

import ctypes
import random
import signal
import sys
import time

from confluent_kafka import KafkaException, Producer

PR_SET_PDEATHSIG = 1
FLUSH_AT_EXIT_S = 8.0


def main():
    bootstrap, topic, partitions, writer, cycle, ackfile = sys.argv[1:7]
    partitions = int(partitions)
    writer = int(writer)
    cycle = int(cycle)
    rate = float(sys.argv[7]) if len(sys.argv) > 7 else 4000.0
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))

    rng = random.Random(cycle * 1000 + writer)
    out = open(ackfile, "w")
    counts = {"acked": 0, "failed": 0}
    ready = []

    def on_delivery(err, msg):
        value = msg.value().decode()
        if err is None:
            out.write("A %d %d %s\n" % (msg.partition(), msg.offset(), value))
            counts["acked"] += 1
            if not ready:
                ready.append(1)
                sys.stdout.write("ready\n")
                sys.stdout.flush()
        else:
            out.write("E %d %s %s\n" % (msg.partition(), value, err.name()))
            counts["failed"] += 1
        out.flush()

    p = Producer({
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": False,
        "retries": 0,                   # at most once: a retry could store a payload twice
        "linger.ms": rng.choice([0, 1, 2, 5]),
        "batch.num.messages": rng.choice([50, 500, 10000]),
        "queue.buffering.max.messages": 20000,
        "message.timeout.ms": 10000,
        "socket.timeout.ms": 10000,
        "reconnect.backoff.ms": 10,
        "compression.type": "none",
    })
    seq = 0
    t0 = time.monotonic()
    while not stop:
        if seq >= rate * (time.monotonic() - t0):
            p.poll(0.001)
            continue
        value = "c%04d-w%d-s%09d-%s" % (cycle, writer, seq, "x" * rng.randrange(0, 200))
        try:
            p.produce(topic, value=value.encode(), partition=seq % partitions, on_delivery=on_delivery)
            seq += 1
        except BufferError:
            p.poll(0.005)
            continue
        except KafkaException as e:
            sys.stderr.write("produce: %s\n" % e)
            time.sleep(0.005)
        if seq % 64 == 0:
            p.poll(0)
    # Never-sent messages are reported as purged (failed), what is in flight
    # gets its report when the broker answers or the connection drops.
    try:
        p.purge(in_queue=True, in_flight=False, blocking=False)
    except (AttributeError, KafkaException):
        pass
    left = p.flush(FLUSH_AT_EXIT_S)
    out.write("D %d %d %d %d\n" % (seq, counts["acked"], counts["failed"], left))
    out.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
