"""Exactly-once consume-transform-produce with confluent-kafka-python's
transactional API (librdkafka), under crashes (issue 7).

The application (txn_ctp_app.py, a separate process) reads INPUT (4
partitions, 100,000 records) with a consumer group, isolation
read_committed, and writes each record transformed to OUTPUT (4
partitions) in transactions of TXN_SIZE records, committing the consumed
offsets with send_offsets_to_transaction. While it runs, the test
  - SIGKILLs it APP_KILLS times, each time a few milliseconds after it has
    produced the records of a transaction (so the kill lands inside the
    transaction, or inside its commit), and starts it again with the same
    transactional.id: the new incarnation's InitProducerId fences the old
    one and the coordinator aborts its open transaction;
  - SIGKILLs the broker once, in the middle of a transaction too, at about
    half of the input, and starts it again at once.
The output read with read_committed must then hold every input record
exactly once: records in = records out, duplicates 0, missing 0. The
figures are printed (run with -s to see them).
"""

import os
import queue
import random
import signal
import subprocess
import sys
import ctypes
import threading
import time

import pytest

from helpers import confluent_produce, unique_topic
from txn_util import create_topics, describe_transactions, read_to_end

HERE = os.path.dirname(os.path.abspath(__file__))
APP = os.path.join(HERE, "txn_ctp_app.py")

RECORDS = 100_000
PARTITIONS = 4
TXN_SIZE = 300
DWELL_MS = 20  # the app's pause between writing a transaction's records and committing it
APP_KILLS = 5
RUN_DEADLINE_S = 200
MAX_ERROR_EXITS = 25

_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: no app outlives pytest


class App:
    """The application process; its stdout lines are queued as events."""

    def __init__(self, args, events):
        self.proc = subprocess.Popen([sys.executable, APP] + args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent)
        self.events = events
        self.lines = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.lines.append(line)
            self.events.put((self, line))
        self.events.put((self, None))  # EOF: the process is gone or going

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

    def alive(self):
        return self.proc.poll() is None


@pytest.mark.timeout(300)
def test_consume_transform_produce_exactly_once_across_app_and_broker_kills(start_broker):
    seed = int(os.environ.get("RUNNEL_TXN_SEED", random.randrange(1 << 30)))
    rnd = random.Random(seed)
    broker = start_broker("group.initial.rebalance.delay.ms=0")
    t0 = time.monotonic()
    in_topic, out_topic = unique_topic("ctp-in"), unique_topic("ctp-out")
    create_topics(broker.bootstrap, [in_topic, out_topic], partitions=PARTITIONS)
    records = [{"key": b"k%06d" % i, "value": b"%06d" % i} for i in range(RECORDS)]
    confluent_produce(broker.bootstrap, in_topic, records, conf={"linger.ms": 20, "batch.num.messages": 5000},
                      timeout_s=60)
    produced_s = time.monotonic() - t0

    events = queue.Queue()
    txn_id = unique_topic("ctp-txn")
    args = [broker.bootstrap, in_topic, out_topic, unique_topic("ctp-group"), txn_id, str(TXN_SIZE),
            str(DWELL_MS)]
    kill_states = {}  # coordinator state of the transactional id right after each app kill
    app = App(args, events)
    incarnations, app_kills, error_exits, broker_kills = 1, 0, 0, 0
    errors = []
    committed_txns = 0
    progress = 0
    produced_in_incarnation = 0
    kill_after = rnd.randint(2, 20)  # PRODUCED events of this incarnation before the kill
    broker_kill_at = RECORDS // 2
    done = None
    run_start = time.monotonic()
    try:
        while done is None:
            if time.monotonic() - run_start > RUN_DEADLINE_S:
                pytest.fail("the run did not finish within %d s: progress %d of %d, %d app kills, %d error exits, "
                            "broker kills %d; last app lines:\n%s" % (RUN_DEADLINE_S, progress, RECORDS, app_kills,
                                                                      error_exits, broker_kills,
                                                                      "\n".join(app.lines[-30:])))
            try:
                who, line = events.get(timeout=1.0)
            except queue.Empty:
                continue
            if who is not app:
                continue  # a killed incarnation's last lines
            if line is None:
                rc = app.proc.wait()
                if rc == 0:
                    pytest.fail("the app exited 0 without saying DONE:\n%s" % "\n".join(app.lines[-30:]))
                error_exits += 1
                assert error_exits <= MAX_ERROR_EXITS, "the app failed %d times; errors: %s; its last output:\n%s" % (
                    error_exits, errors, "\n".join(app.lines[-30:]))
                app = App(args, events)
                incarnations += 1
                produced_in_incarnation = 0
                continue
            word = line.split(" ", 1)[0]
            if word == "ERROR":
                errors.append(line)
            elif word == "COMMITTED":
                committed_txns += 1
                progress = int(line.split()[2])
            elif word == "DONE":
                done = int(line.split()[1])
            elif word == "PRODUCED":
                produced_in_incarnation += 1
                if broker_kills == 0 and progress >= broker_kill_at:
                    # The broker dies inside this transaction; the app lives on.
                    time.sleep(rnd.uniform(0, DWELL_MS / 1000))
                    broker.kill()
                    broker.start()
                    broker_kills += 1
                elif app_kills < APP_KILLS and produced_in_incarnation >= kill_after:
                    time.sleep(rnd.uniform(0, DWELL_MS * 1.25 / 1000))
                    app.kill()
                    app_kills += 1
                    # Where did the kill land? The coordinator's view before the next incarnation.
                    state = describe_transactions(broker.port, [txn_id])[txn_id]["state"]
                    kill_states[state] = kill_states.get(state, 0) + 1
                    app = App(args, events)
                    incarnations += 1
                    produced_in_incarnation = 0
                    kill_after = rnd.randint(2, 20)
    finally:
        app.kill()
    run_s = time.monotonic() - run_start

    assert app_kills == APP_KILLS and broker_kills == 1, (app_kills, broker_kills)
    assert done == RECORDS, "the app finished with committed positions summing to %d, not %d" % (done, RECORDS)

    committed = read_to_end(broker.bootstrap, out_topic, PARTITIONS, "read_committed", timeout_s=60)
    uncommitted = read_to_end(broker.bootstrap, out_topic, PARTITIONS, "read_uncommitted", timeout_s=60)
    want = {b"out:" + r["value"]: r["key"] for r in records}
    seen = {}
    wrong = []
    for m in committed:
        seen[m.value()] = seen.get(m.value(), 0) + 1
        if want.get(m.value()) != m.key():
            wrong.append((m.key(), m.value()))
    duplicates = sum(n - 1 for n in seen.values())
    missing = sum(1 for v in want if v not in seen)
    figures = [("records in", RECORDS), ("records out", len(committed)), ("duplicates", duplicates),
               ("missing", missing), ("unexpected records", len(wrong)),
               ("records of aborted transactions (read_uncommitted only)", len(uncommitted) - len(committed)),
               ("transactions committed", committed_txns), ("transaction size", TXN_SIZE),
               ("app SIGKILLs", app_kills),
               ("coordinator state at the kills", " ".join("%s=%d" % kv for kv in sorted(kill_states.items()))), ("app error exits (restarted)", error_exits),
               ("app incarnations", incarnations), ("broker SIGKILLs", broker_kills),
               ("seed", seed), ("input produce s", round(produced_s, 1)), ("run s", round(run_s, 1))]
    print("\n[exactly-once consume-transform-produce] " + ", ".join("%s: %s" % f for f in figures))
    if errors:
        print("app errors (each followed by a restart):\n  " + "\n  ".join(errors))
    assert kill_states.get("Ongoing", 0) >= 1, "no app kill landed inside a transaction: %s" % kill_states
    assert not wrong, "records that are not a transformed input record: %s" % wrong[:5]
    assert duplicates == 0, "%d duplicates in the committed output" % duplicates
    assert missing == 0, "%d input records missing from the committed output" % missing
    assert len(committed) == RECORDS
    assert len(uncommitted) >= len(committed)
    # read_committed must not contain anything read_uncommitted lacks.
    assert set(seen) <= set(m.value() for m in uncommitted)
