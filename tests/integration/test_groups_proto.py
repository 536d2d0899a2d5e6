"""Consumer groups at the wire level: raw JoinGroup / SyncGroup / Heartbeat /
LeaveGroup / OffsetCommit / ListGroups / DescribeGroups frames (kproto's
framing), for the error codes real clients never provoke on purpose:

    INVALID_SESSION_TIMEOUT (26)  session timeout below group.min.session.timeout.ms
    MEMBER_ID_REQUIRED (79)       first JoinGroup v4+ of a dynamic member (KIP-394)
    UNKNOWN_MEMBER_ID (25)        Heartbeat / SyncGroup from a member the group does not know
    ILLEGAL_GENERATION (22)       Heartbeat / SyncGroup / OffsetCommit with a stale generation
    REBALANCE_IN_PROGRESS (27)    Heartbeat of a member while the group prepares a rebalance
    FENCED_INSTANCE_ID (82)       the old incarnation of a static member after its replacement
    INCONSISTENT_GROUP_PROTOCOL (23)  a member sharing no protocol with the group
    GROUP_MAX_SIZE_REACHED (81)   one member more than group.max.size

The RawMember class is also the scale test's heartbeating member
(test_groups_scale.py). Fixed versions, none flexible except ListGroups v4:
JoinGroup v5, SyncGroup v3, Heartbeat v3, LeaveGroup v3, OffsetCommit v7,
DescribeGroups v4, FindCoordinator v2.
"""

import time


import kproto
from kproto import array, bytes_, compact_array, compact_string, i8, i16, i32, i64, string, NO_TAGS
from helpers import unique_topic

API_OFFSET_COMMIT = 8
API_OFFSET_FETCH = 9
API_FIND_COORDINATOR = 10
API_JOIN_GROUP = 11
API_HEARTBEAT = 12
API_LEAVE_GROUP = 13
API_SYNC_GROUP = 14
API_DESCRIBE_GROUPS = 15
API_LIST_GROUPS = 16
API_DELETE_GROUPS = 42

ILLEGAL_GENERATION = 22
INCONSISTENT_GROUP_PROTOCOL = 23
UNKNOWN_MEMBER_ID = 25
INVALID_SESSION_TIMEOUT = 26
REBALANCE_IN_PROGRESS = 27
NON_EMPTY_GROUP = 68
GROUP_ID_NOT_FOUND = 69
MEMBER_ID_REQUIRED = 79
GROUP_MAX_SIZE_REACHED = 81
FENCED_INSTANCE_ID = 82


# ---------------------------------------------------------------- consumer protocol

def subscription(topics, user_data=b""):
    """ConsumerProtocolSubscription v0: version, topics, user data."""
    return i16(0) + array([string(t) for t in topics]) + bytes_(user_data)


def assignment(parts, user_data=b""):
    """ConsumerProtocolAssignment v0 from {topic: [partitions]}."""
    return i16(0) + array([string(t) + array([i32(p) for p in ps]) for t, ps in sorted(parts.items())]) + \
        bytes_(user_data)


def parse_assignment(data):
    """{topic: [partitions]} from ConsumerProtocolAssignment bytes (any version)."""
    if not data:
        return {}
    r = kproto.Reader(data)
    r.i16()
    out = {}
    for _ in range(r.i32()):
        t = r.string()
        out[t] = [r.i32() for _ in range(r.i32())]
    return out


# ---------------------------------------------------------------- requests

class GroupConn(kproto.Conn):
    """A raw connection with the group requests."""

    def find_coordinator_v2(self, key, key_type=0):
        cid = self.send_request(API_FIND_COORDINATOR, 2, string(key) + i8(key_type))
        r = self.recv_response(cid)
        r.i32()
        err = r.i16()
        r.string()
        return err, r.i32(), r.string(), r.i32()

    def send_join_v5(self, group, member_id="", instance_id=None, session_ms=10000, rebalance_ms=10000,
                     protocols=(("range", None),), topics=("t",), protocol_type="consumer"):
        body = (string(group) + i32(session_ms) + i32(rebalance_ms) + string(member_id) + string(instance_id) +
                string(protocol_type) +
                array([string(name) + bytes_(meta if meta is not None else subscription(topics))
                       for name, meta in protocols]))
        return self.send_request(API_JOIN_GROUP, 5, body)

    def recv_join_v5(self, cid):
        r = self.recv_response(cid)
        r.i32()
        out = {"error": r.i16(), "generation": r.i32(), "protocol": r.string(), "leader": r.string(),
               "member_id": r.string()}

        def member(rr):
            return (rr.string(), rr.string(), rr.bytes_())
        out["members"] = r.array(member)
        return out

    def join_v5(self, group, **kw):
        return self.recv_join_v5(self.send_join_v5(group, **kw))

    def send_sync_v3(self, group, generation, member_id, assignments=None, instance_id=None):
        items = [string(m) + bytes_(a) for m, a in (assignments or {}).items()]
        body = string(group) + i32(generation) + string(member_id) + string(instance_id) + array(items)
        return self.send_request(API_SYNC_GROUP, 3, body)

    def recv_sync_v3(self, cid):
        r = self.recv_response(cid)
        r.i32()
        return r.i16(), r.bytes_()

    def sync_v3(self, group, generation, member_id, assignments=None, instance_id=None):
        return self.recv_sync_v3(self.send_sync_v3(group, generation, member_id, assignments, instance_id))

    def send_heartbeat_v3(self, group, generation, member_id, instance_id=None):
        body = string(group) + i32(generation) + string(member_id) + string(instance_id)
        return self.send_request(API_HEARTBEAT, 3, body)

    def recv_heartbeat_v3(self, cid):
        r = self.recv_response(cid)
        r.i32()
        return r.i16()

    def heartbeat_v3(self, group, generation, member_id, instance_id=None):
        return self.recv_heartbeat_v3(self.send_heartbeat_v3(group, generation, member_id, instance_id))

    def leave_v3(self, group, members):
        """members: [(member_id, instance_id)]; returns (error, [(member_id, instance_id, error)])."""
        body = string(group) + array([string(m) + string(i) for m, i in members])
        cid = self.send_request(API_LEAVE_GROUP, 3, body)
        r = self.recv_response(cid)
        r.i32()
        err = r.i16()
        return err, r.array(lambda rr: (rr.string(), rr.string(), rr.i16()))

    def offset_commit_v7(self, group, generation, member_id, offsets, instance_id=None):
        """offsets: {topic: {partition: offset}}; returns {(topic, partition): error}."""
        topics = [string(t) + array([i32(p) + i64(o) + i32(-1) + string("") for p, o in sorted(ps.items())])
                  for t, ps in sorted(offsets.items())]
        body = string(group) + i32(generation) + string(member_id) + string(instance_id) + array(topics)
        cid = self.send_request(API_OFFSET_COMMIT, 7, body)
        r = self.recv_response(cid)
        r.i32()
        out = {}
        for _ in range(r.i32()):
            t = r.string()
            for _ in range(r.i32()):
                p = r.i32()
                out[(t, p)] = r.i16()
        return out

    def list_groups_v4(self, states=()):
        """ListGroups v4 (flexible) with a state filter; returns (error, [(group, protocol_type, state)])."""
        body = compact_array([compact_string(s) for s in states]) + NO_TAGS
        cid = self.send_request(API_LIST_GROUPS, 4, body, flexible=True)
        r = self.recv_response(cid, flexible_header=True)
        r.i32()
        err = r.i16()

        def group(rr):
            g = (rr.compact_string(), rr.compact_string(), rr.compact_string())
            rr.tags()
            return g
        groups = r.compact_array(group)
        return err, groups

    def describe_groups_v4(self, groups):
        """Returns [{error, group, state, protocol_type, protocol, members: [{...}]}]."""
        cid = self.send_request(API_DESCRIBE_GROUPS, 4, array([string(g) for g in groups]) + i8(0))
        r = self.recv_response(cid)
        r.i32()

        def member(rr):
            return {"member_id": rr.string(), "instance_id": rr.string(), "client_id": rr.string(),
                    "client_host": rr.string(), "metadata": rr.bytes_(), "assignment": rr.bytes_()}

        def group(rr):
            g = {"error": rr.i16(), "group": rr.string(), "state": rr.string(), "protocol_type": rr.string(),
                 "protocol": rr.string()}
            g["members"] = rr.array(member)
            rr.i32()
            return g
        return r.array(group)


def describe(port, group):
    with GroupConn(port) as c:
        (g,) = c.describe_groups_v4([group])
        return g


# ---------------------------------------------------------------- a raw member

class RawMember:
    """A dynamic (or static) member driven by hand: KIP-394 join, sync, heartbeat."""

    def __init__(self, port, group, topics=("t",), session_ms=10000, rebalance_ms=10000, instance_id=None,
                 protocols=None):
        self.conn = GroupConn(port, timeout_s=30)
        self.group = group
        self.topics = topics
        self.session_ms = session_ms
        self.rebalance_ms = rebalance_ms
        self.instance_id = instance_id
        self.protocols = protocols or (("range", None),)
        self.member_id = ""
        self.generation = -1
        self.leader = None
        self.members = []

    def close(self):
        self.conn.close()

    def send_join(self):
        return self.conn.send_join_v5(self.group, member_id=self.member_id, instance_id=self.instance_id,
                                      session_ms=self.session_ms, rebalance_ms=self.rebalance_ms,
                                      protocols=self.protocols, topics=self.topics)

    def recv_join(self, cid):
        j = self.conn.recv_join_v5(cid)
        if j["error"] in (0, MEMBER_ID_REQUIRED):
            self.member_id = j["member_id"]
        if j["error"] == 0:
            self.generation = j["generation"]
            self.leader = j["leader"]
            self.members = j["members"]
        return j

    def join(self):
        """Joins, doing the MEMBER_ID_REQUIRED round trip when asked; returns the JoinGroup answer."""
        j = self.recv_join(self.send_join())
        if j["error"] == MEMBER_ID_REQUIRED:
            j = self.recv_join(self.send_join())
        return j

    def sync(self, assignments=None):
        if assignments is None and self.leader == self.member_id:
            assignments = {m: b"" for m, _, _ in self.members}
        return self.conn.sync_v3(self.group, self.generation, self.member_id, assignments, self.instance_id)

    def heartbeat(self):
        return self.conn.heartbeat_v3(self.group, self.generation, self.member_id, self.instance_id)

    def leave(self):
        return self.conn.leave_v3(self.group, [(self.member_id, self.instance_id)])


def join_all(members):
    """Starts every member's JoinGroup at once (each on its own connection),
    then collects the answers: the rebalance completes with all of them."""
    cids = {}
    for m in members:
        cids[m] = m.send_join()
    out = {}
    for m in members:
        j = m.recv_join(cids[m])
        if j["error"] == MEMBER_ID_REQUIRED:
            cids[m] = m.send_join()
        else:
            out[m] = j
    for m in members:
        if m not in out:
            out[m] = m.recv_join(cids[m])
    return out


def sync_all(members):
    """Sends every member's SyncGroup (the leader's with an assignment for
    all) and returns {member: (error, assignment bytes)}."""
    cids = {}
    for m in members:
        a = {mid: assignment({"t": [i]}) for i, (mid, _, _) in enumerate(m.members)} \
            if m.leader == m.member_id else None
        cids[m] = m.conn.send_sync_v3(m.group, m.generation, m.member_id, a, m.instance_id)
    return {m: m.conn.recv_sync_v3(cids[m]) for m in members}


def stable_group(port, group, n, **kw):
    members = [RawMember(port, group, **kw) for _ in range(n)]
    answers = join_all(members)
    assert all(j["error"] == 0 for j in answers.values()), answers
    syncs = sync_all(members)
    assert all(e == 0 for e, _ in syncs.values()), syncs
    return members


# A short initial delay, not 0: members that join "at once" on separate
# connections must land in one generation. With 0, the first member's
# KIP-394 rejoin can complete a generation of one before the second
# member's first JoinGroup is processed (Kafka does the same), which made
# stable_group() flaky under ASan.
FAST = ("group.initial.rebalance.delay.ms=300",)


# ---------------------------------------------------------------- tests

def test_join_below_min_session_timeout_is_invalid_session_timeout(start_broker):
    b = start_broker(*FAST, "group.min.session.timeout.ms=6000")
    with GroupConn(b.port) as c:
        j = c.join_v5(unique_topic("g"), session_ms=5999)
        assert j["error"] == INVALID_SESSION_TIMEOUT, j
        j = c.join_v5(unique_topic("g"), session_ms=1800001)  # above group.max.session.timeout.ms
        assert j["error"] == INVALID_SESSION_TIMEOUT, j


def test_first_join_v4_plus_gets_member_id_required_then_joins_with_it(start_broker):
    b = start_broker(*FAST)
    group = unique_topic("g")
    m = RawMember(b.port, group)
    try:
        first = m.recv_join(m.send_join())
        assert first["error"] == MEMBER_ID_REQUIRED and first["member_id"], first
        second = m.recv_join(m.send_join())
        assert second["error"] == 0, second
        assert second["member_id"] == first["member_id"]
        assert second["leader"] == first["member_id"]
        assert second["generation"] >= 1
        assert [mid for mid, _, _ in second["members"]] == [first["member_id"]]
    finally:
        m.close()


def test_heartbeat_from_unknown_member_is_unknown_member_id(start_broker):
    b = start_broker(*FAST)
    group = unique_topic("g")
    (m,) = stable_group(b.port, group, 1)
    try:
        assert m.heartbeat() == 0
        with GroupConn(b.port) as c:
            assert c.heartbeat_v3(group, m.generation, "no-such-member") == UNKNOWN_MEMBER_ID
            assert c.heartbeat_v3(unique_topic("nogroup"), 1, "no-such-member") == UNKNOWN_MEMBER_ID
            err, _ = c.sync_v3(group, m.generation, "no-such-member")
            assert err == UNKNOWN_MEMBER_ID
    finally:
        m.close()


def test_wrong_generation_is_illegal_generation(start_broker):
    b = start_broker(*FAST)
    group = unique_topic("g")
    topic = unique_topic("t")
    from helpers import confluent_produce
    confluent_produce(b.bootstrap, topic, [{"value": b"x"}], partition=0)
    (m,) = stable_group(b.port, group, 1)
    try:
        assert m.heartbeat() == 0
        gen = m.generation
        assert m.conn.heartbeat_v3(group, gen + 1, m.member_id) == ILLEGAL_GENERATION
        assert m.conn.heartbeat_v3(group, gen - 1, m.member_id) == ILLEGAL_GENERATION
        err, _ = m.conn.sync_v3(group, gen - 1, m.member_id, {m.member_id: b""})
        assert err == ILLEGAL_GENERATION
        res = m.conn.offset_commit_v7(group, gen - 1, m.member_id, {topic: {0: 1}})
        assert res == {(topic, 0): ILLEGAL_GENERATION}
        res = m.conn.offset_commit_v7(group, gen, m.member_id, {topic: {0: 1}})
        assert res == {(topic, 0): 0}
        # A stand-alone commit (generation -1, no member) into a group with members is refused.
        res = m.conn.offset_commit_v7(group, -1, "", {topic: {0: 1}})
        assert res[(topic, 0)] in (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION), res
    finally:
        m.close()


def test_second_member_join_makes_heartbeat_answer_rebalance_in_progress(start_broker):
    b = start_broker(*FAST)
    group = unique_topic("g")
    (a,) = stable_group(b.port, group, 1)
    c = RawMember(b.port, group)
    try:
        first = c.recv_join(c.send_join())
        assert first["error"] == MEMBER_ID_REQUIRED
        cid = c.send_join()  # parks: the group now prepares a rebalance
        deadline = time.monotonic() + 5
        err = a.heartbeat()
        while err == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
            err = a.heartbeat()
        assert err == REBALANCE_IN_PROGRESS
        ja = a.join()  # a rejoins: the rebalance completes with both
        jc = c.recv_join(cid)
        assert ja["error"] == 0 and jc["error"] == 0, (ja, jc)
        assert ja["generation"] == jc["generation"] == 2
        assert ja["leader"] == jc["leader"] == a.member_id  # the old leader keeps leading
        assert sorted(m for m, _, _ in ja["members"]) == sorted([a.member_id, c.member_id])
        assert jc["members"] == []
        syncs = sync_all([a, c])
        assert parse_assignment(syncs[a][1]) == {"t": [0]} or parse_assignment(syncs[a][1]) == {"t": [1]}
        assert {tuple(parse_assignment(s[1])["t"]) for s in syncs.values()} == {(0,), (1,)}
    finally:
        a.close()
        c.close()


def test_static_member_replacement_fences_old_member_id(start_broker):
    b = start_broker(*FAST)
    group = unique_topic("g")
    old = RawMember(b.port, group, instance_id="static-1")
    try:
        j = old.join()  # static members get no MEMBER_ID_REQUIRED round trip
        assert j["error"] == 0, j
        err, _ = old.sync()
        assert err == 0
        gen = old.generation
        new = RawMember(b.port, group, instance_id="static-1")
        try:
            jn = new.join()
            assert jn["error"] == 0, jn
            assert jn["member_id"] != old.member_id
            assert jn["generation"] == gen, "same subscription: no rebalance, same generation"
            assert old.heartbeat() == FENCED_INSTANCE_ID
            assert new.heartbeat() == 0
            err, _ = old.conn.sync_v3(group, gen, old.member_id, instance_id="static-1")
            assert err == FENCED_INSTANCE_ID
            res = old.conn.offset_commit_v7(group, gen, old.member_id, {"x": {0: 1}}, instance_id="static-1")
            assert set(res.values()) <= {FENCED_INSTANCE_ID, 3}, res  # 3: no such topic "x" is also fine
            err, members = old.leave()
            assert members and members[0][2] == FENCED_INSTANCE_ID, (err, members)
        finally:
            new.close()
    finally:
        old.close()


def test_member_without_a_common_protocol_is_inconsistent_group_protocol(start_broker):
    b = start_broker(*FAST)
    group = unique_topic("g")
    (a,) = stable_group(b.port, group, 1)
    c = RawMember(b.port, group, protocols=(("roundrobin", None),))
    try:
        j = c.join()
        assert j["error"] == INCONSISTENT_GROUP_PROTOCOL, j
    finally:
        a.close()
        c.close()


def test_group_max_size(start_broker):
    b = start_broker(*FAST, "group.max.size=2")
    group = unique_topic("g")
    members = stable_group(b.port, group, 2)
    extra = RawMember(b.port, group)
    try:
        j = extra.join()
        assert j["error"] == GROUP_MAX_SIZE_REACHED, j
    finally:
        extra.close()
        for m in members:
            m.close()


def test_session_expiry_removes_a_silent_member(start_broker):
    b = start_broker(*FAST, "group.min.session.timeout.ms=1000")
    group = unique_topic("g")
    # 3 s, not less: on a loaded 2-core machine the second member's SyncGroup
    # can trail the join by more than a very short session and expire it first.
    members = stable_group(b.port, group, 2, session_ms=3000)
    alive, silent = members
    try:
        t0 = time.monotonic()
        rebalanced = False
        while time.monotonic() - t0 < 15:
            err = alive.heartbeat()
            if err == REBALANCE_IN_PROGRESS:
                rebalanced = True
                break
            assert err == 0
            time.sleep(0.2)
        assert rebalanced, "no rebalance within 15 s of a 3 s session timeout"
        assert time.monotonic() - t0 >= 2.0
        j = alive.join()
        assert j["error"] == 0 and [m for m, _, _ in j["members"]] == [alive.member_id]
        assert silent.heartbeat() == UNKNOWN_MEMBER_ID
    finally:
        for m in members:
            m.close()


def test_list_groups_state_filter_and_describe(start_broker):
    b = start_broker(*FAST)
    stable = unique_topic("gs")
    members = stable_group(b.port, stable, 2)
    empty = unique_topic("ge")
    try:
        # An empty group exists once it has committed offsets.
        from helpers import confluent_produce
        topic = unique_topic("t")
        confluent_produce(b.bootstrap, topic, [{"value": b"x"}], partition=0)
        with GroupConn(b.port) as c:
            assert c.offset_commit_v7(empty, -1, "", {topic: {0: 1}}) == {(topic, 0): 0}
            err, all_groups = c.list_groups_v4()
            assert err == 0
            got = {g: (pt, st) for g, pt, st in all_groups}
            assert got[stable] == ("consumer", "Stable")
            assert got[empty][1] == "Empty"
            err, only_stable = c.list_groups_v4(["Stable"])
            assert err == 0 and [g for g, _, _ in only_stable] == [stable]
            err, only_empty = c.list_groups_v4(["empty"])  # Kafka matches states case-insensitively
            assert err == 0 and [g for g, _, _ in only_empty] == [empty]
            err, none = c.list_groups_v4(["Dead"])
            assert err == 0 and none == []
            (d,) = c.describe_groups_v4([stable])
            assert d["error"] == 0 and d["state"] == "Stable" and d["protocol"] == "range"
            assert sorted(m["member_id"] for m in d["members"]) == sorted(m.member_id for m in members)
            got = sorted(tuple(parse_assignment(m["assignment"])["t"]) for m in d["members"])
            assert got == [(0,), (1,)]
            (d,) = c.describe_groups_v4([unique_topic("nosuch")])
            assert d["error"] == 0 and d["state"] == "Dead" and d["members"] == []
    finally:
        for m in members:
            m.close()
