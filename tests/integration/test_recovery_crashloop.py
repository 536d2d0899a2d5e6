"""Crash loop: producers run with acks=all while runneld is killed with
SIGKILL at a random moment, again and again, on one data directory. Nothing
the broker acknowledged may be lost, moved or duplicated.

Each cycle: start runneld on the data of the cycles before; start
PRODUCERS producer processes (crashloop_producer.py: confluent-kafka,
acks=all, no retries) writing unique payloads round-robin to a
PARTITIONS-partition topic with small segments (so crashes also fall around
segment rolls and their index writes), each recording every delivery
report; once both have had an acknowledgement, wait a random 50-500 ms,
kill -9 the broker, stop the producers. Every 10th cycle the broker is
stopped with SIGTERM instead, while the producers run (extra cycles, so
that clean shutdown and the start after it are in the loop too).

After each restart (cheap): every partition's high watermark is at least one
past the largest offset acknowledged in it. At the end (thorough): each
partition read from offset 0 to its high watermark with a CRC-checking
consumer, and
  - offsets are contiguous from 0 (the log is readable to the end),
  - every acknowledged record is at its acknowledged offset, with its payload,
  - no payload appears twice (producers never retry, so even an
    unacknowledged record may be stored at most once),
  - every record is one the producers sent, in the partition it was sent to,
  - per producer and partition, records are in the order they were sent,
    and cycles follow one another in every partition.

RUNNEL_CRASH_CYCLES (default 50) sets the number of kill -9 cycles;
RUNNEL_CRASH_SEED fixes the random delays; RUNNEL_CRASH_REPORT names a file
to which the figures are written (they are printed as well).
"""

import os
import random
import re
import select
import signal
import subprocess
import sys
import time

import pytest

from helpers import unique_topic
from recovery_util import create_topic, read_partition, watermarks

CYCLES = int(os.environ.get("RUNNEL_CRASH_CYCLES", "50"))
PARTITIONS = 3
PRODUCERS = 2
CLEAN_EVERY = 10              # every 10th cycle also stops the broker with SIGTERM
KILL_DELAY_S = (0.05, 0.5)    # after the producers' first acknowledgements
READY_TIMEOUT_S = 20.0        # producers' start + first acknowledgement
PRODUCER_EXIT_TIMEOUT_S = 15.0
# Per cycle about 1 s (2 s under ASan); the limit leaves room for slow machines.
TIMEOUT_S = 60 + 6 * (CYCLES + CYCLES // CLEAN_EVERY)

HERE = os.path.dirname(os.path.abspath(__file__))
PRODUCER = os.path.join(HERE, "crashloop_producer.py")
PAYLOAD = re.compile(r"^c(\d{4})-w(\d+)-s(\d{9})-x*$")


class Producers:
    """The producer processes of one cycle. stop() signals and reaps them;
    kill() (also at teardown) leaves none running."""

    def __init__(self, bootstrap, topic, cycle, workdir):
        self.procs = []
        self.ackfiles = []
        for w in range(PRODUCERS):
            ackfile = os.path.join(workdir, "acks-c%04d-w%d.txt" % (cycle, w))
            errfile = open(os.path.join(workdir, "producer-c%04d-w%d.err" % (cycle, w)), "wb")
            p = subprocess.Popen([sys.executable, PRODUCER, bootstrap, topic, str(PARTITIONS), str(w), str(cycle),
                                  ackfile], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errfile)
            errfile.close()
            self.procs.append(p)
            self.ackfiles.append(ackfile)

    def wait_ready(self, timeout_s):
        """True when every producer printed "ready" (had an acknowledgement)."""
        deadline = time.monotonic() + timeout_s
        pending = list(self.procs)
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([p.stdout for p in pending], [], [], left)
            for p in list(pending):
                if p.stdout in r:
                    line = p.stdout.readline()
                    if line.strip() == b"ready":
                        pending.remove(p)
                    elif not line:
                        return False  # exited
        return True

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                rc = p.wait(PRODUCER_EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError("a producer did not exit within %.0f s of SIGTERM" % PRODUCER_EXIT_TIMEOUT_S)
            assert rc == 0, "a producer exited with status %s" % rc

    def kill(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            if p.stdout:
                p.stdout.close()


def read_acks(path):
    """{(partition, offset): payload} acknowledged, and the set of
    (partition, payload) that failed, from one producer's report file."""
    acked, failed, done = {}, set(), False
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not line.endswith("\n"):
                raise AssertionError("%s: torn last line %r" % (path, line))
            if parts[0] == "A":
                acked[(int(parts[1]), int(parts[2]))] = parts[3]
            elif parts[0] == "E":
                failed.add((int(parts[1]), parts[2]))
            elif parts[0] == "D":
                done = True
    assert done, "%s: the producer did not finish its report" % path
    return acked, failed


@pytest.mark.timeout(TIMEOUT_S)
def test_crash_loop_loses_no_acknowledged_record(start_broker):
    seed = int(os.environ.get("RUNNEL_CRASH_SEED", str(random.randrange(1 << 30))))
    rng = random.Random(seed)
    b = start_broker("num.partitions=%d" % PARTITIONS, "log.segment.bytes=262144", "log.index.interval.bytes=4096")
    topic = unique_topic("crash")
    create_topic(b.bootstrap, topic, PARTITIONS)
    workdir = b.workdir

    acked = {}                  # (partition, offset) -> payload
    top_acked = [-1] * PARTITIONS
    failed = 0
    kills = cleans = 0
    delays = []
    t_start = time.monotonic()
    cycle = 0
    total_cycles = CYCLES + CYCLES // CLEAN_EVERY
    while cycle < total_cycles:
        clean = (cycle + 1) % (CLEAN_EVERY + 1) == 0
        if not b.running():
            b.start()
        # Cheap check after each restart: nothing acknowledged is past the end.
        for p in range(PARTITIONS):
            top = top_acked[p]
            lo, hi = watermarks(b.bootstrap, topic, p)
            assert lo == 0 and hi > top, (
                "cycle %d (seed %d): partition %d has watermarks (%d, %d) but offset %d was acknowledged"
                % (cycle, seed, p, lo, hi, top))
        prods = Producers(b.bootstrap, topic, cycle, workdir)
        try:
            assert prods.wait_ready(READY_TIMEOUT_S), (
                "cycle %d: producers had no acknowledgement within %.0f s" % (cycle, READY_TIMEOUT_S))
            delay = rng.uniform(*KILL_DELAY_S)
            delays.append(delay)
            time.sleep(delay)
            if clean:
                b.stop()  # checked: exit status 0 within 10 s
                cleans += 1
            else:
                b.kill()
                kills += 1
            prods.stop()
        finally:
            prods.kill()
        for path in prods.ackfiles:
            a, f = read_acks(path)
            for key, payload in a.items():
                assert key not in acked, ("cycle %d (seed %d): offset %s acknowledged twice: %s and %s"
                                          % (cycle, seed, key, acked[key], payload))
                acked[key] = payload
                top_acked[key[0]] = max(top_acked[key[0]], key[1])
            failed += len(f)
        cycle += 1

    b.start()
    t_loop = time.monotonic() - t_start
    stored = verify(b, topic, acked, seed)
    report = ("crash loop: %d kill -9 cycles + %d SIGTERM cycles in %.1f s (seed %d), "
              "%d records acknowledged, %d reported failed, %d stored, "
              "0 acknowledged records lost, kill delay %.0f-%.0f ms"
              % (kills, cleans, t_loop, seed, len(acked), failed, stored,
                 1000 * min(delays), 1000 * max(delays)))
    print(report)
    if os.environ.get("RUNNEL_CRASH_REPORT"):
        with open(os.environ["RUNNEL_CRASH_REPORT"], "a") as f:
            f.write(report + "\n")


def verify(b, topic, acked, seed):
    """The thorough check (see the module docstring). Returns the number of
    records stored."""
    seen = {}
    stored = 0
    for p in range(PARTITIONS):
        lo, hi = watermarks(b.bootstrap, topic, p)
        assert lo == 0
        records = read_partition(b.bootstrap, topic, p, hi, timeout_s=60)
        offsets = [o for o, _, _ in records]
        assert offsets == list(range(hi)), "partition %d: offsets not contiguous from 0 to %d (first gap near %s)" % (
            p, hi, next((i for i, o in enumerate(offsets) if o != i), len(offsets)))
        log = [v.decode() for _, v, _ in records]
        stored += len(log)
        lost = [(o, v) for (pp, o), v in sorted(acked.items()) if pp == p and (o >= hi or log[o] != v)]
        assert not lost, "seed %d: %d acknowledged records of partition %d lost or moved; first: %s (stored there: %s)" % (
            seed, len(lost), p, lost[:3], [log[o] if o < hi else None for o, _ in lost[:3]])
        last_seq = {}
        last_cycle = -1
        for o, v in enumerate(log):
            m = PAYLOAD.match(v)
            assert m, "partition %d offset %d: a payload no producer sent: %r" % (p, o, v[:80])
            c, w, s = int(m.group(1)), int(m.group(2)), int(m.group(3))
            assert s % PARTITIONS == p, "partition %d offset %d: %s was sent to partition %d" % (
                p, o, v[:30], s % PARTITIONS)
            assert v not in seen, "payload %s stored twice: %s and partition %d offset %d" % (v[:30], seen[v], p, o)
            seen[v] = (p, o)
            assert c >= last_cycle, "partition %d offset %d: cycle %d after cycle %d" % (p, o, c, last_cycle)
            last_cycle = c
            assert s > last_seq.get((c, w), -1), "partition %d offset %d: %s after seq %d of the same producer" % (
                p, o, v[:30], last_seq[(c, w)])
            last_seq[(c, w)] = s
    return stored
