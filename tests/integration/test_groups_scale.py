"""Scale measurement (not a pass/fail timing test): 1,000 groups x 10 members
heartbeating while librdkafka (build/rnbench) produces and consumes.

Skipped unless RUNNEL_SCALE=1 (marked `scale`). Run it with

    RUNNEL_SCALE=1 RUNNELD=$PWD/build/runneld tests/integration/run.sh -k scale -s

It needs build/rnbench (`make build/rnbench`). The members are raw-socket
clients (JoinGroup v5 with the KIP-394 round trip, SyncGroup v3, Heartbeat v3
every 3 s, session 30 s), one TCP connection each, driven by asyncio in a
separate process: this file run as a script. The figures (broker CPU from
/proc/PID/stat, produce and fetch rates from rnbench --json) are printed as
one JSON line "SCALE {...}" and written to $RUNNEL_SCALE_OUT when set;
docs/groups.md records a run.

Checked: every member reaches a stable generation and stays in it while the
benchmark runs (no member expired, no rebalance), and produce/fetch
throughput with the groups is at least half of the throughput without them
(a loose bound: the load generator shares the machine's cores).
"""

import asyncio
import json
import os
import random
import signal
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import kproto  # noqa: E402
from kproto import array, bytes_, i16, i32, string  # noqa: E402

GROUPS = int(os.environ.get("RUNNEL_SCALE_GROUPS", "1000"))
MEMBERS = int(os.environ.get("RUNNEL_SCALE_MEMBERS", "10"))
HEARTBEAT_S = 3.0
SESSION_MS = 30000
REBALANCE_MS = 60000


# ================================================================ the load generator (subprocess)

def _subscription(topics):
    return i16(0) + array([string(t) for t in topics]) + bytes_(b"")


def _assignment(parts):
    return i16(0) + array([string(t) + array([i32(p) for p in ps]) for t, ps in parts.items()]) + bytes_(b"")


class Stats:
    def __init__(self):
        self.in_stable = 0
        self.heartbeats = 0
        self.joins = 0
        self.rebalances = 0
        self.errors = {}

    def err(self, where, code):
        k = "%s:%s" % (where, code)
        self.errors[k] = self.errors.get(k, 0) + 1


async def _member(port, group, stats, stop, connect_sem):
    async with connect_sem:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    cid = 0

    async def call(api, version, body):
        nonlocal cid
        cid += 1
        payload = kproto.request_header(api, version, cid, "scale") + body
        writer.write(struct.pack(">i", len(payload)) + payload)
        size = struct.unpack(">i", await reader.readexactly(4))[0]
        r = kproto.Reader(await reader.readexactly(size))
        assert r.i32() == cid
        return r

    member_id, topics = "", ["scale-topic"]
    proto = [string("range") + bytes_(_subscription(topics))]
    while not stop.is_set():
        body = (string(group) + i32(SESSION_MS) + i32(REBALANCE_MS) + string(member_id) + string(None) +
                string("consumer") + array(proto))
        r = await call(11, 5, body)
        r.i32()
        err, gen = r.i16(), r.i32()
        r.string()  # protocol
        r.string()  # leader (every member sends the same assignments; only the leader's count)
        mid = r.string()
        members = r.array(lambda rr: (rr.string(), rr.string(), rr.bytes_()))
        stats.joins += 1
        if err == 79:
            member_id = mid
            continue
        if err:
            stats.err("join", err)
            if err == 25:
                member_id = ""
            await asyncio.sleep(0.5)
            continue
        member_id = mid
        assigns = [string(m) + bytes_(_assignment({"scale-topic": [i]})) for i, (m, _, _) in enumerate(members)]
        body = string(group) + i32(gen) + string(member_id) + string(None) + array(assigns)
        r = await call(14, 3, body)
        r.i32()
        err = r.i16()
        if err:
            if err != 27:
                stats.err("sync", err)
            if err == 25:
                member_id = ""
            continue
        stats.in_stable += 1
        try:
            await asyncio.sleep(random.uniform(0, HEARTBEAT_S))
            while not stop.is_set():
                r = await call(12, 3, string(group) + i32(gen) + string(member_id) + string(None))
                r.i32()
                err = r.i16()
                stats.heartbeats += 1
                if err:
                    if err == 27:
                        stats.rebalances += 1
                    else:
                        stats.err("heartbeat", err)
                        if err == 25:
                            member_id = ""
                    break
                await asyncio.sleep(HEARTBEAT_S)
        finally:
            stats.in_stable -= 1
    writer.close()


async def _generate(port):
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    stats = Stats()
    sem = asyncio.Semaphore(200)
    tasks = []
    for g in range(GROUPS):
        for _ in range(MEMBERS):
            tasks.append(asyncio.ensure_future(_member(port, "scale-group-%d" % g, stats, stop, sem)))
        if g % 50 == 49:
            await asyncio.sleep(0.05)
    while not stop.is_set():
        sys.stdout.write(json.dumps({"in_stable": stats.in_stable, "heartbeats": stats.heartbeats,
                                     "joins": stats.joins, "rebalances": stats.rebalances,
                                     "errors": stats.errors, "t": time.monotonic()}) + "\n")
        sys.stdout.flush()
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except asyncio.TimeoutError:
            pass
        dead = [t for t in tasks if t.done() and t.exception()]
        if dead:
            sys.stdout.write(json.dumps({"crashed": len(dead), "first": repr(dead[0].exception())}) + "\n")
            sys.stdout.flush()
            tasks = [t for t in tasks if t not in dead]
    for t in tasks:
        t.cancel()


if __name__ == "__main__":
    asyncio.run(_generate(int(sys.argv[1])))
    sys.exit(0)


# ================================================================ the measurement (pytest side)

import threading  # noqa: E402

import pytest  # noqa: E402

import test_groups_proto as gp  # noqa: E402

pytestmark = [pytest.mark.scale,
              pytest.mark.skipif(os.environ.get("RUNNEL_SCALE") != "1",
                                 reason="scale measurement: set RUNNEL_SCALE=1 to run")]

RNBENCH = os.environ.get("RNBENCH", os.path.join(HERE, "..", "..", "build", "rnbench"))
RECORDS = int(os.environ.get("RUNNEL_SCALE_RECORDS", "3000000"))
ROUNDS = int(os.environ.get("RUNNEL_SCALE_ROUNDS", "3"))


def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rnbench(*args, timeout_s=300):
    p = subprocess.run([RNBENCH, *args, "--json", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout_s)
    assert p.returncode == 0, "rnbench %s: %s" % (args, p.stderr.decode(errors="replace")[-2000:])
    line = [x for x in p.stdout.decode().splitlines() if x.startswith("{")][-1]
    return json.loads(line)


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def bench(broker, name):
    """ROUNDS rounds; the median of each figure, and every round."""
    rounds = [bench_round(broker, "%s-%d" % (name, i)) for i in range(ROUNDS)]
    out = {"rounds": rounds}
    for k in ("produce", "consume"):
        out[k] = {key: median([r[k][key] for r in rounds])
                  for key in ("records_per_s", "mb_per_s", "lat_p50_ms", "lat_p99_ms") if key in rounds[0][k]}
    for key in ("produce_broker_cpu_s", "consume_broker_cpu_s", "produce_wall_s", "consume_wall_s"):
        out[key] = median([r[key] for r in rounds])
    return out


def bench_round(broker, topic):
    """produce RECORDS x 100 B (acks=all), then consume them; broker CPU for each."""
    c0 = proc_cpu(broker.pid)
    t0 = time.monotonic()
    prod = rnbench("produce", "--bootstrap", broker.bootstrap, "--topic", topic, "--records", str(RECORDS),
                   "--record-size", "100", "--acks", "all", "--partitions", "6")
    c1, t1 = proc_cpu(broker.pid), time.monotonic()
    cons = rnbench("consume", "--bootstrap", broker.bootstrap, "--topic", topic, "--records", str(RECORDS),
                   "--record-size", "100", "--partitions", "6")
    c2, t2 = proc_cpu(broker.pid), time.monotonic()
    d = subprocess.run([RNBENCH, "delete", "--bootstrap", broker.bootstrap, "--topic", topic], timeout=60,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert d.returncode == 0, d.stderr
    return {"produce": prod, "consume": cons, "produce_broker_cpu_s": round(c1 - c0, 2),
            "produce_wall_s": round(t1 - t0, 2), "consume_broker_cpu_s": round(c2 - c1, 2),
            "consume_wall_s": round(t2 - t1, 2)}


class Generator:
    def __init__(self, port):
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), str(port)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.last = {}
        self.crashes = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.proc.stdout:
            d = json.loads(line)
            if "crashed" in d:
                self.crashes.append(d)
            else:
                self.last = d

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.mark.timeout(900)
def test_scale_1000_groups_of_10_heartbeating_members(start_broker):
    assert os.access(RNBENCH, os.X_OK), "build/rnbench missing: make build/rnbench"
    b = start_broker()  # default group.initial.rebalance.delay.ms (3 s): each group's 10 members join at once
    base = bench(b, "scale-base")
    gen = Generator(b.port)
    try:
        total = GROUPS * MEMBERS
        t0 = time.monotonic()
        while gen.last.get("in_stable", 0) < total:
            assert gen.proc.poll() is None, gen.proc.stderr.read().decode(errors="replace")[-3000:]
            assert time.monotonic() - t0 < 300, "only %s of %d members stable after 300 s" % (gen.last, total)
            time.sleep(1)
        settle_s = round(time.monotonic() - t0, 1)
        time.sleep(HEARTBEAT_S * 2)
        # Idle: the groups alone (what the coordinator and its heartbeats cost).
        idle_s = 20.0
        h0, c0 = gen.last["heartbeats"], proc_cpu(b.pid)
        g0 = proc_cpu(gen.proc.pid)
        time.sleep(idle_s)
        h1, c1 = gen.last["heartbeats"], proc_cpu(b.pid)
        g1 = proc_cpu(gen.proc.pid)
        rebalances0 = gen.last["rebalances"]
        loaded = bench(b, "scale-groups")
        after = dict(gen.last)
        (d,) = [gp.describe(b.port, "scale-group-%d" % (GROUPS // 2))]
        result = {
            "groups": GROUPS, "members_per_group": MEMBERS, "heartbeat_interval_s": HEARTBEAT_S,
            "time_to_all_stable_s": settle_s,
            "idle_heartbeats_per_s": round((h1 - h0) / idle_s, 1),
            "idle_broker_cpu_pct": round(100 * (c1 - c0) / idle_s, 1),
            "idle_generator_cpu_pct": round(100 * (g1 - g0) / idle_s, 1),
            "rebalances_during_bench": after["rebalances"] - rebalances0,
            "errors": after["errors"],
            "without_groups": base, "with_groups": loaded,
            "produce_ratio": round(loaded["produce"]["records_per_s"] / base["produce"]["records_per_s"], 3)
            if base["produce"].get("records_per_s") else None,
            "consume_ratio": round(loaded["consume"]["records_per_s"] / base["consume"]["records_per_s"], 3)
            if base["consume"].get("records_per_s") else None,
        }
        print("SCALE " + json.dumps(result))
        if os.environ.get("RUNNEL_SCALE_OUT"):
            with open(os.environ["RUNNEL_SCALE_OUT"], "w") as f:
                json.dump(result, f, indent=1)
        assert not gen.crashes, gen.crashes
        assert d["state"] == "Stable" and len(d["members"]) == MEMBERS, d
        assert after["in_stable"] == total, after
        assert result["rebalances_during_bench"] == 0, result
        for k in ("produce", "consume"):
            for key in ("records_per_s", "mb_per_s"):
                assert loaded[k][key] >= 0.5 * base[k][key], (k, key, base[k][key], loaded[k][key])
    finally:
        gen.stop()
