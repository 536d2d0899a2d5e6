"""Consumer groups with real clients: librdkafka (confluent-kafka-python),
kafka-python and kafkajs members of the same groups, each a separate
process, against a real runneld.

Every member is a subprocess running a small driver: this file run as a
script for confluent-kafka-python and kafka-python (`python3 test_groups.py
'<json args>'`), js/groups_member.js for kafkajs. A driver prints one JSON
line per event: assign / revoke (the partitions), batch (records handed to
the application, printed BEFORE they are committed), commit (the partitions
whose synchronous commit of that batch succeeded). SIGTERM makes it close()
(a graceful LeaveGroup); SIGKILL is a crash.

Exactly-once accounting: a record counts as consumed when its batch's
commit succeeded. A commit refused because of a rebalance leaves the
committed offset where it was, so the record is read again (by the same
member or the partition's next owner) and counted then. So with a correct
coordinator the counted records are exactly the produced ones, once each,
whatever rebalances happen; the only duplicates a crash allows are the
records of the crashed member's batch whose commit it never confirmed.
"""

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
JS_DIR = os.path.join(HERE, "js")
FAST = "group.initial.rebalance.delay.ms=0"


# ================================================================ the drivers (subprocess side)

def _emit(o):
    sys.stdout.write(json.dumps(o) + "\n")
    sys.stdout.flush()


def _drive_confluent(a, stop):
    from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
    conf = {"bootstrap.servers": a["bootstrap"], "group.id": a["group"], "auto.offset.reset": "earliest",
            "enable.auto.commit": False, "enable.auto.offset.store": False, "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 500, "enable.partition.eof": False}
    conf.update(a.get("conf", {}))
    c = Consumer(conf)
    cooperative = conf.get("partition.assignment.strategy") == "cooperative-sticky"

    def parts(ps):
        return [[p.topic, p.partition] for p in ps]

    def on_assign(consumer, ps):
        _emit({"ev": "assign", "parts": parts(ps), "incremental": cooperative})

    def on_revoke(consumer, ps):
        _emit({"ev": "revoke", "parts": parts(ps), "incremental": cooperative})

    def on_lost(consumer, ps):
        _emit({"ev": "lost", "parts": parts(ps), "incremental": cooperative})

    c.subscribe(a["topics"], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
    _emit({"ev": "ready"})
    batch_id = 0
    while not stop.is_set():
        msgs = c.consume(num_messages=a.get("max_batch", 500), timeout=0.2)
        recs = []
        for m in msgs:
            if m.error():
                if m.error().code() != KafkaError._PARTITION_EOF:
                    _emit({"ev": "error", "err": str(m.error())})
                continue
            recs.append([m.topic(), m.partition(), m.offset()])
        if not recs:
            continue
        _emit({"ev": "batch", "id": batch_id, "recs": recs})
        first, nxt = {}, {}
        for t, p, o in recs:
            first.setdefault((t, p), o)
            nxt[(t, p)] = max(nxt.get((t, p), 0), o + 1)
        ok, err = [], None
        try:
            res = c.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in nxt.items()], asynchronous=False)
            ok = [[tp.topic, tp.partition] for tp in res if tp.error is None]
            bad = [str(tp.error) for tp in res if tp.error is not None]
            err = bad[0] if bad else None
        except KafkaException as e:
            err = str(e)
        _emit({"ev": "commit", "id": batch_id, "ok": ok, "err": err})
        for (t, p), o in first.items():
            if [t, p] not in ok:  # read it again: our position must not pass an uncommitted record
                try:
                    c.seek(TopicPartition(t, p, o))
                except KafkaException:
                    pass
        batch_id += 1
        if a.get("sleep_s"):
            time.sleep(a["sleep_s"])
    c.close()


def _drive_kafka_python(a, stop):
    from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
    from kafka.consumer.subscription_state import ConsumerRebalanceListener
    from kafka.coordinator.assignors.range import RangePartitionAssignor
    from kafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
    from kafka.coordinator.assignors.sticky.sticky_assignor import StickyPartitionAssignor
    from kafka.errors import KafkaError
    assignors = {"range": RangePartitionAssignor, "roundrobin": RoundRobinPartitionAssignor,
                 "sticky": StickyPartitionAssignor}
    conf = dict(session_timeout_ms=10000, heartbeat_interval_ms=500, max_poll_interval_ms=20000)
    conf.update(a.get("conf", {}))
    if "strategies" in conf:
        conf["partition_assignment_strategy"] = [assignors[s] for s in conf.pop("strategies")]
    c = KafkaConsumer(bootstrap_servers=a["bootstrap"], group_id=a["group"], enable_auto_commit=False,
                      auto_offset_reset="earliest", client_id="runnel-kafka-python", **conf)

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            _emit({"ev": "revoke", "parts": [[tp.topic, tp.partition] for tp in revoked], "incremental": False})

        def on_partitions_assigned(self, assigned):
            _emit({"ev": "assign", "parts": [[tp.topic, tp.partition] for tp in assigned], "incremental": False})

    c.subscribe(a["topics"], listener=Listener())
    _emit({"ev": "ready"})
    batch_id = 0
    while not stop.is_set():
        got = c.poll(timeout_ms=200, max_records=a.get("max_batch", 500))
        recs = [[r.topic, r.partition, r.offset] for rs in got.values() for r in rs]
        if not recs:
            continue
        _emit({"ev": "batch", "id": batch_id, "recs": recs})
        first, nxt = {}, {}
        for t, p, o in recs:
            first.setdefault((t, p), o)
            nxt[(t, p)] = max(nxt.get((t, p), 0), o + 1)
        ok, err = [], None
        try:
            c.commit({TopicPartition(t, p): OffsetAndMetadata(o, "") for (t, p), o in nxt.items()})
            ok = [[t, p] for (t, p) in nxt]
        except KafkaError as e:  # CommitFailedError after a rebalance
            err = repr(e)
        _emit({"ev": "commit", "id": batch_id, "ok": ok, "err": err})
        if err:
            for (t, p), o in first.items():
                try:
                    c.seek(TopicPartition(t, p), o)
                except Exception:  # no longer assigned: its next owner reads from the committed offset
                    pass
        batch_id += 1
        if a.get("sleep_s"):
            time.sleep(a["sleep_s"])
    c.close()


def driver_main():
    a = json.loads(sys.argv[1])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if a["client"] == "confluent":
        _drive_confluent(a, stop)
    else:
        _drive_kafka_python(a, stop)
    _emit({"ev": "closed"})


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    driver_main()
    sys.exit(0)


# ================================================================ the test side

from confluent_kafka import TopicPartition  # noqa: E402
from confluent_kafka.admin import NewTopic  # noqa: E402

from helpers import admin_call, confluent_consumer, confluent_produce, unique_topic  # noqa: E402
import test_groups_proto as gp  # noqa: E402


class Member:
    """One group member subprocess and the events it printed (each stamped
    with the time the test read it)."""

    def __init__(self, client, bootstrap, group, topics, name=None, **args):
        self.client = client
        self.name = name or client
        a = dict(args, bootstrap=bootstrap, group=group, topics=list(topics), client=client)
        if client == "kafkajs":
            assert os.path.isdir(os.path.join(JS_DIR, "node_modules", "kafkajs")), "kafkajs not installed"
            cmd = ["node", os.path.join(JS_DIR, "groups_member.js"), json.dumps(a)]
            env = dict(os.environ, KAFKAJS_NO_PARTITIONER_WARNING="1")
        else:
            cmd = [sys.executable, os.path.abspath(__file__), json.dumps(a)]
            env = dict(os.environ)
        self.stderr_path = "/tmp/runnel-groups-%s-%d.err" % (self.name, id(self))
        self.stderr = open(self.stderr_path, "w+b")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self.stderr,
                                     cwd=JS_DIR if client == "kafkajs" else HERE, env=env)
        self.events = []
        self.cv = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            ev["at"] = time.monotonic()
            with self.cv:
                self.events.append(ev)
                self.cv.notify_all()
        with self.cv:
            self.events.append({"ev": "exit", "at": time.monotonic()})
            self.cv.notify_all()

    def snapshot(self):
        with self.cv:
            return list(self.events)

    def wait_for(self, pred, timeout_s, what):
        """Waits until pred(events) is true; returns its value."""
        deadline = time.monotonic() + timeout_s
        with self.cv:
            while True:
                v = pred(self.events)
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%s: no %s within %.0f s; events: %s\nstderr: %s" % (
                        self.name, what, timeout_s, summarize(self.events), self.stderr_text()))
                self.cv.wait(min(left, 0.2))

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")[-3000:]
        except OSError:
            return ""

    def assignment(self, events=None):
        """The member's current partitions, from its assign/revoke events."""
        cur = set()
        for e in events if events is not None else self.snapshot():
            ps = {tuple(p) for p in e.get("parts", [])}
            if e["ev"] == "assign":
                cur = cur | ps if e["incremental"] else ps
            elif e["ev"] in ("revoke", "lost"):
                cur -= ps
        return cur

    def counted(self):
        """Records of every batch whose commit succeeded, per partition."""
        evs = self.snapshot()
        ok = {e["id"]: {tuple(p) for p in e["ok"]} for e in evs if e["ev"] == "commit"}
        out = []
        for e in evs:
            if e["ev"] == "batch":
                out += [tuple(r) for r in e["recs"] if (r[0], r[1]) in ok.get(e["id"], ())]
        return out

    def unconfirmed(self):
        """Records of batches with no commit answer (the member died first)."""
        evs = self.snapshot()
        answered = {e["id"] for e in evs if e["ev"] == "commit"}
        return [tuple(r) for e in evs if e["ev"] == "batch" and e["id"] not in answered for r in e["recs"]]

    def commit_errors(self):
        return [e["err"] for e in self.snapshot() if e["ev"] == "commit" and e["err"]]

    def terminate(self, timeout_s=20):
        """SIGTERM: the driver close()s (LeaveGroup) and exits 0."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("%s did not exit within %d s of SIGTERM\nstderr: %s" % (
                self.name, timeout_s, self.stderr_text()))
        assert rc == 0, "%s exited %s\nstderr: %s" % (self.name, rc, self.stderr_text())

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.reader.join(5)

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()
        try:
            os.unlink(self.stderr_path)
        except OSError:
            pass


def summarize(events):
    out = []
    for e in events[-40:]:
        if e["ev"] == "batch":
            out.append("batch#%d(%d)" % (e["id"], len(e["recs"])))
        elif e["ev"] == "commit":
            out.append("commit#%d%s" % (e["id"], "" if not e["err"] else "!" + e["err"][:60]))
        elif "parts" in e:
            out.append("%s%s" % (e["ev"], sorted(tuple(p) for p in e["parts"])))
        else:
            out.append(json.dumps({k: v for k, v in e.items() if k != "at"})[:200])
    return " ".join(out)


@pytest.fixture
def members():
    """Factory for Member subprocesses; all are killed at teardown."""
    started = []

    def make(*a, **kw):
        m = Member(*a, **kw)
        started.append(m)
        return m
    yield make
    for m in started:
        m.cleanup()
        if m.events:
            print("==== %s events: %s" % (m.name, summarize(m.events)))


def create_topic(bootstrap, topic, partitions):
    res = admin_call(bootstrap, "create_topics", [NewTopic(topic, partitions, 1)], request_timeout=10)
    assert res == {topic: None}, res


def produce_spread(bootstrap, topic, partitions, per_partition, start=0):
    """per_partition records to each partition; returns the (topic, p, offset) set they got."""
    recs = [{"value": b"v-%d-%d" % (p, i), "partition": p}
            for i in range(start, start + per_partition) for p in range(partitions)]
    msgs = confluent_produce(bootstrap, topic, recs)
    return {(topic, m.partition(), m.offset()) for m in msgs}


def wait_union(ms, want, timeout_s):
    """Waits until the members' counted records cover `want`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = set()
        for m in ms:
            got.update(m.counted())
        if want <= got:
            return
        time.sleep(0.2)
    got = set()
    for m in ms:
        got.update(m.counted())
    missing = sorted(want - got)
    raise AssertionError("%d of %d records not consumed within %.0f s (first missing: %s)\n%s" % (
        len(missing), len(want), timeout_s, missing[:10],
        "\n".join("%s: %s\nstderr: %s" % (m.name, summarize(m.events), m.stderr_text()) for m in ms)))


def assert_exactly_once(ms, want, extra_allowed=()):
    counts = collections.Counter()
    for m in ms:
        counts.update(m.counted())
    dups = {r: n for r, n in counts.items() if n > 1 and r not in extra_allowed}
    assert not dups, "records counted more than once: %d, e.g. %s" % (len(dups), sorted(dups.items())[:10])
    assert set(counts) == want, "unexpected records: %s" % sorted(set(counts) - want)[:10]


def committed_offsets(bootstrap, group, topic, partitions):
    c = confluent_consumer(bootstrap, **{"group.id": group})
    try:
        res = c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return {tp.partition: tp.offset for tp in res}
    finally:
        c.close()


def wait_assignments(ms, want_parts, timeout_s, what="a complete assignment"):
    """Waits until the members' current assignments are disjoint and cover want_parts."""
    deadline = time.monotonic() + timeout_s
    while True:
        cur = {m: m.assignment() for m in ms}
        union = set().union(*cur.values())
        disjoint = sum(len(v) for v in cur.values()) == len(union)
        if disjoint and union == want_parts and all(cur.values()):
            return cur
        if time.monotonic() > deadline:
            raise AssertionError("no %s within %.0f s: %s\n%s" % (
                what, timeout_s, {m.name: sorted(v) for m, v in cur.items()},
                "\n".join("%s: %s" % (m.name, summarize(m.events)) for m in ms)))
        time.sleep(0.1)


# ---------------------------------------------------------------- 1. three clients, one group

@pytest.mark.timeout(150)
def test_three_clients_share_a_topic_and_consume_every_record_exactly_once(start_broker, members):
    b = start_broker(FAST)
    topic, group = unique_topic("t3"), unique_topic("g3")
    create_topic(b.bootstrap, topic, 6)
    # Half the records before anyone joins: the first member starts alone and
    # partitions move (with their committed offsets) as the others join.
    want = produce_spread(b.bootstrap, topic, 6, 2500)
    rd = members("confluent", b.bootstrap, group, [topic], name="librdkafka", max_batch=200, sleep_s=0.02,
                 conf={"partition.assignment.strategy": "roundrobin"})
    kp = members("kafka-python", b.bootstrap, group, [topic], name="kafka-python", max_batch=200, sleep_s=0.02,
                 conf={"strategies": ["roundrobin"]})
    js = members("kafkajs", b.bootstrap, group, [topic], name="kafkajs", maxBatch=200, sleepMs=20)
    all_parts = {(topic, p) for p in range(6)}
    cur = wait_assignments([rd, kp, js], all_parts, 60, "assignment over the three clients")
    assert sorted(len(v) for v in cur.values()) == [2, 2, 2], cur
    want |= produce_spread(b.bootstrap, topic, 6, 2500, start=2500)
    assert len(want) == 30000
    wait_union([rd, kp, js], want, 90)
    for m in (rd, kp, js):
        m.terminate()
    assert_exactly_once([rd, kp, js], want)
    for m in (rd, kp, js):
        assert any(r[0] == topic for r in m.counted()), "%s consumed nothing" % m.name
    assert committed_offsets(b.bootstrap, group, topic, 6) == {p: 5000 for p in range(6)}


# ---------------------------------------------------------------- 2. a consumer killed with SIGKILL

@pytest.mark.timeout(120)
def test_sigkilled_consumer_partitions_move_after_session_timeout_without_gaps(start_broker, members):
    b = start_broker(FAST)
    topic, group = unique_topic("tk"), unique_topic("gk")
    create_topic(b.bootstrap, topic, 6)
    want = produce_spread(b.bootstrap, topic, 6, 1500)
    conf = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
    # Slow consumers (100 records per 0.1 s each) so the kill lands mid-stream.
    survivor = members("confluent", b.bootstrap, group, [topic], name="survivor", max_batch=100, sleep_s=0.1,
                       conf=conf)
    victim = members("confluent", b.bootstrap, group, [topic], name="victim", max_batch=100, sleep_s=0.1, conf=conf)
    parts = {(topic, p) for p in range(6)}
    cur = wait_assignments([survivor, victim], parts, 30)
    victim_parts = cur[victim]
    victim.wait_for(lambda evs: sum(1 for e in evs if e["ev"] == "commit" and e["ok"]) >= 3, 30,
                    "three committed batches")
    victim.kill()
    killed_at = time.monotonic()
    at = survivor.wait_for(
        lambda evs: next((e["at"] for e in evs if e["ev"] == "assign" and e["at"] > killed_at and
                          victim_parts <= survivor.assignment([x for x in evs if x["at"] <= e["at"]])), None),
        30, "assignment of the killed member's partitions")
    took = at - killed_at
    assert took < 6 + 8, "reassigned %.1f s after the kill; session timeout is 6 s" % took
    assert took > 3, "reassigned %.1f s after a SIGKILL: before the session could expire?" % took
    wait_union([survivor, victim], want, 60)
    survivor.terminate()
    # No gaps, and the only records read twice are the killed member's last,
    # unconfirmed batch (processed, commit never answered).
    assert_exactly_once([survivor, victim], want, extra_allowed=set(victim.unconfirmed()))
    assert committed_offsets(b.bootstrap, group, topic, 6) == {p: 1500 for p in range(6)}


# ---------------------------------------------------------------- 3. graceful leave

@pytest.mark.parametrize("client", ["confluent", "kafka-python", "kafkajs"])
def test_graceful_leave_rebalances_at_once(start_broker, members, client):
    b = start_broker(FAST)
    topic, group = unique_topic("tl"), unique_topic("gl")
    create_topic(b.bootstrap, topic, 6)
    session_s = 30
    stay = members("confluent", b.bootstrap, group, [topic], name="stay",
                   conf={"session.timeout.ms": session_s * 1000, "heartbeat.interval.ms": 300,
                         "partition.assignment.strategy": "roundrobin"})
    kw = {"conf": {"session_timeout_ms": session_s * 1000, "heartbeat_interval_ms": 300,
                   "strategies": ["roundrobin"]}} if client == "kafka-python" else \
        {"sessionTimeout": session_s * 1000, "heartbeatInterval": 300} if client == "kafkajs" else \
        {"conf": {"session.timeout.ms": session_s * 1000, "heartbeat.interval.ms": 300,
                  "partition.assignment.strategy": "roundrobin"}}
    leaver = members(client, b.bootstrap, group, [topic], name="leaver-" + client, **kw)
    parts = {(topic, p) for p in range(6)}
    wait_assignments([stay, leaver], parts, 40)
    t0 = time.monotonic()
    leaver.terminate()
    at = stay.wait_for(lambda evs: next((e["at"] for e in evs if e["ev"] == "assign" and e["at"] > t0 and
                                         stay.assignment([x for x in evs if x["at"] <= e["at"]]) == parts), None),
                       session_s, "all partitions after the other member's close()")
    took = at - t0
    assert took < 5, "rebalance %.1f s after LeaveGroup (session timeout %d s)" % (took, session_s)
    (g,) = [gp.describe(b.port, group)]
    assert len(g["members"]) == 1


# ---------------------------------------------------------------- 4. cooperative-sticky

def test_cooperative_sticky_second_member_takes_only_what_moves(start_broker, members):
    b = start_broker(FAST)
    topic, group = unique_topic("tc"), unique_topic("gc")
    create_topic(b.bootstrap, topic, 6)
    conf = {"partition.assignment.strategy": "cooperative-sticky", "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 300}
    first = members("confluent", b.bootstrap, group, [topic], name="first", conf=conf)
    parts = {(topic, p) for p in range(6)}
    wait_assignments([first], parts, 30)
    t_second = time.monotonic()
    second = members("confluent", b.bootstrap, group, [topic], name="second", conf=conf)
    cur = wait_assignments([first, second], parts, 30)
    assert len(cur[first]) == 3 and len(cur[second]) == 3, cur
    evs = [e for e in first.snapshot() if e["at"] > t_second]
    revokes = [e for e in evs if e["ev"] in ("revoke", "lost")]
    assert revokes, "first member revoked nothing: %s" % summarize(evs)
    assert all(e["incremental"] for e in first.snapshot() if e["ev"] in ("assign", "revoke"))
    revoked = set().union(*({tuple(p) for p in e["parts"]} for e in revokes))
    # Incremental: only the 3 partitions that move are revoked, never all 6,
    # and the first member never has them taken and handed back.
    assert revoked == cur[second], (revoked, cur)
    assert not [e for e in evs if e["ev"] == "assign" and e["parts"]], \
        "first member was re-assigned partitions: %s" % summarize(evs)
    assert not [e for e in evs if e["ev"] == "lost"]
    g = gp.describe(b.port, group)
    assert g["state"] == "Stable" and g["protocol"] == "cooperative-sticky"


# ---------------------------------------------------------------- 5. static membership

def test_static_member_restart_within_session_timeout_keeps_partitions_without_rebalance(start_broker, members):
    b = start_broker(FAST)
    topic, group = unique_topic("ts"), unique_topic("gs")
    create_topic(b.bootstrap, topic, 6)

    def conf(iid):
        return {"group.instance.id": iid, "session.timeout.ms": 15000, "heartbeat.interval.ms": 300,
                "partition.assignment.strategy": "range"}
    a = members("confluent", b.bootstrap, group, [topic], name="static-a", conf=conf("inst-a"))
    other = members("confluent", b.bootstrap, group, [topic], name="static-b", conf=conf("inst-b"))
    parts = {(topic, p) for p in range(6)}
    cur = wait_assignments([a, other], parts, 30)
    before = gp.describe(b.port, group)
    assert before["state"] == "Stable"
    by_instance = {m["instance_id"]: m for m in before["members"]}
    assert set(by_instance) == {"inst-a", "inst-b"}
    a.kill()  # librdkafka sends no LeaveGroup for a static member anyway; a crash is the harder case
    t0 = time.monotonic()
    a2 = members("confluent", b.bootstrap, group, [topic], name="static-a2", conf=conf("inst-a"))
    a2.wait_for(lambda evs: any(e["ev"] == "assign" for e in evs), 20, "assignment after restart")
    assert time.monotonic() - t0 < 15
    assert a2.assignment() == cur[a], "restarted static member got %s, had %s" % (a2.assignment(), cur[a])
    time.sleep(3)  # any rebalance the restart caused would reach the other member by now
    after = gp.describe(b.port, group)
    assert after["state"] == "Stable"
    by_instance2 = {m["instance_id"]: m for m in after["members"]}
    assert set(by_instance2) == {"inst-a", "inst-b"}
    assert by_instance2["inst-a"]["member_id"] != by_instance["inst-a"]["member_id"]
    assert by_instance2["inst-b"]["member_id"] == by_instance["inst-b"]["member_id"]
    for iid in ("inst-a", "inst-b"):
        assert gp.parse_assignment(by_instance2[iid]["assignment"]) == \
            gp.parse_assignment(by_instance[iid]["assignment"])
    evs = [e for e in other.snapshot() if e["at"] > t0 and e["ev"] in ("assign", "revoke", "lost")]
    assert not evs, "the other member saw a rebalance: %s" % summarize(evs)
    # The generation did not move either: the old generation still heartbeats... as itself.
    with gp.GroupConn(b.port) as c:
        assert c.heartbeat_v3(group, 0, by_instance["inst-a"]["member_id"], "inst-a") == gp.FENCED_INSTANCE_ID


# ---------------------------------------------------------------- 6. broker SIGKILL

def test_committed_offsets_survive_broker_sigkill(start_broker):
    from kafka import KafkaConsumer, OffsetAndMetadata
    from kafka import TopicPartition as KTP
    b = start_broker(FAST)
    topic = unique_topic("tr")
    create_topic(b.bootstrap, topic, 6)
    produce_spread(b.bootstrap, topic, 6, 50)
    groups = [unique_topic("gr") for _ in range(5)]
    want = {}
    for gi, g in enumerate(groups):
        c = confluent_consumer(b.bootstrap, **{"group.id": g})
        try:
            offs = [TopicPartition(topic, p, 1 + gi * 7 + p) for p in range(6)]
            c.commit(offsets=offs, asynchronous=False)
        finally:
            c.close()
        want[g] = {p: 1 + gi * 7 + p for p in range(6)}
    # kafka-python commits with metadata strings, which must survive too.
    kg = unique_topic("grk")
    kc = KafkaConsumer(bootstrap_servers=b.bootstrap, group_id=kg, enable_auto_commit=False)
    try:
        kc.commit({KTP(topic, p): OffsetAndMetadata(10 + p, "meta-%d" % p) for p in range(6)})
    finally:
        kc.close()
    # Then overwrite some: the latest commit wins after replay.
    c = confluent_consumer(b.bootstrap, **{"group.id": groups[0]})
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 42)], asynchronous=False)
    finally:
        c.close()
    want[groups[0]][0] = 42
    b.restart(kill9=True)
    for g in groups:
        assert committed_offsets(b.bootstrap, g, topic, 6) == want[g], g
    from kafka.admin import KafkaAdminClient
    ka = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        got = ka.list_consumer_group_offsets(kg)
    finally:
        ka.close()
    assert {tp.partition: (om.offset, om.metadata) for tp, om in got.items() if tp.topic == topic} == \
        {p: (10 + p, "meta-%d" % p) for p in range(6)}
    # A group consumer resumes exactly at the committed offsets.
    c = confluent_consumer(b.bootstrap, **{"group.id": groups[1]})
    try:
        c.subscribe([topic])
        first = {}
        deadline = time.monotonic() + 30
        while len(first) < 6 and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            first.setdefault(m.partition(), m.offset())
        assert first == want[groups[1]]
    finally:
        c.close()


# ---------------------------------------------------------------- 7. describe, list, delete

def test_describe_list_and_delete_groups_with_admin_clients(start_broker, members):
    from kafka.admin import KafkaAdminClient
    from kafka.errors import GroupIdNotFoundError, NoError, NonEmptyGroupError
    b = start_broker(FAST)
    topic, group = unique_topic("td"), unique_topic("gd")
    create_topic(b.bootstrap, topic, 4)
    m1 = members("confluent", b.bootstrap, group, [topic], name="d1",
                 conf={"client.id": "desc-one", "partition.assignment.strategy": "range"})
    m2 = members("kafka-python", b.bootstrap, group, [topic], name="d2", conf={"strategies": ["range"]})
    parts = {(topic, p) for p in range(4)}
    cur = wait_assignments([m1, m2], parts, 30)
    empty_group = unique_topic("ge")
    c = confluent_consumer(b.bootstrap, **{"group.id": empty_group})
    try:
        c.commit(offsets=[TopicPartition(topic, 0, 1)], asynchronous=False)
    finally:
        c.close()
    ka = KafkaAdminClient(bootstrap_servers=b.bootstrap)
    try:
        (d,) = ka.describe_consumer_groups([group])
        assert d.state == "Stable" and d.protocol_type == "consumer" and d.protocol == "range"
        assert len(d.members) == 2
        assert {m.client_id for m in d.members} == {"desc-one", "runnel-kafka-python"}
        got = {}
        for m in d.members:
            assert list(m.member_metadata.subscription) == [topic]
            for t, ps in m.member_assignment.assignment:
                for p in ps:
                    assert (t, p) not in got
                    got[(t, p)] = m.client_id
        assert set(got) == parts
        assert {tp for tp, cid in got.items() if cid == "desc-one"} == cur[m1]
        listed = dict(ka.list_consumer_groups())
        assert listed.get(group) == "consumer" and empty_group in listed
        # DeleteGroups: a group with members is refused, an Empty one goes (offsets too).
        res = dict(ka.delete_consumer_groups([group, empty_group, unique_topic("nosuch")]))
        # kafka-python 2.0.2 returns error classes (NoError for success)
        assert res[group] is NonEmptyGroupError, res
        assert res[empty_group] is NoError, res
        (gone,) = [v for k, v in res.items() if k not in (group, empty_group)]
        assert gone is GroupIdNotFoundError, res
        assert empty_group not in dict(ka.list_consumer_groups())
        assert committed_offsets(b.bootstrap, empty_group, topic, 1) == {0: -1001}
        # Once both members left, the group is Empty and can be deleted.
        m1.terminate()
        m2.terminate()
        (d,) = ka.describe_consumer_groups([group])
        assert d.state == "Empty" and not d.members
        assert dict(ka.delete_consumer_groups([group]))[group] is NoError
        assert group not in dict(ka.list_consumer_groups())
    finally:
        ka.close()
    # The old AdminClient.list_groups of librdkafka (ListGroups + DescribeGroups) sees the same.
    from helpers import admin
    assert all(g.id != group for g in admin(b.bootstrap).list_groups(timeout=10))


# ---------------------------------------------------------------- 8. assignors

ASSIGNORS = [("confluent", "range"), ("confluent", "roundrobin"), ("confluent", "cooperative-sticky"),
             ("kafka-python", "range"), ("kafka-python", "roundrobin"), ("kafka-python", "sticky")]


@pytest.mark.parametrize("client,strategy", ASSIGNORS, ids=["%s-%s" % a for a in ASSIGNORS])
def test_assignor_gives_complete_disjoint_assignment(start_broker, members, client, strategy):
    b = start_broker("group.initial.rebalance.delay.ms=500")
    t1, t2, group = unique_topic("ta"), unique_topic("tb"), unique_topic("ga")
    create_topic(b.bootstrap, t1, 7)
    create_topic(b.bootstrap, t2, 3)
    if client == "confluent":
        kw = {"conf": {"partition.assignment.strategy": strategy, "heartbeat.interval.ms": 300}}
    else:
        kw = {"conf": {"strategies": [strategy], "heartbeat_interval_ms": 300}}
    ms = [members(client, b.bootstrap, group, [t1, t2], name="%s-%d" % (strategy, i), **kw) for i in range(3)]
    parts = {(t1, p) for p in range(7)} | {(t2, p) for p in range(3)}
    cur = wait_assignments(ms, parts, 40)
    sizes = sorted(len(v) for v in cur.values())
    assert sizes in ([3, 3, 4],) or strategy == "range", sizes
    if strategy == "range":  # per topic: 7 -> 3,2,2 and 3 -> 1,1,1
        assert sizes == [3, 3, 4], sizes
    # The coordinator's view (DescribeGroups) is the same complete, disjoint assignment.
    deadline = time.monotonic() + 10
    while True:
        g = gp.describe(b.port, group)
        seen = [(t, p) for m in g["members"] for t, ps in gp.parse_assignment(m["assignment"]).items() for p in ps]
        if g["state"] == "Stable" and len(seen) == len(set(seen)) and set(seen) == parts:
            break
        assert time.monotonic() < deadline, g
        time.sleep(0.2)
    assert g["protocol"] == strategy
