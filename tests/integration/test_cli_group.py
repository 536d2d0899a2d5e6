"""`runnel group ...` and `runnel consume --group` against a real runneld.

Each test first asks the broker's ApiVersions (through `runnel cluster info`)
and skips, saying which API is missing, while runneld lacks consumer groups.
"""

import signal
import subprocess
import time

import pytest

from test_cli_helpers import create_topic, ok, require_apis, runnel, runnel_path, topic_name

GROUP_APIS = ("FindCoordinator", "JoinGroup", "SyncGroup", "Heartbeat", "LeaveGroup", "OffsetCommit",
              "OffsetFetch", "ListGroups", "DescribeGroups", "DeleteGroups")


@pytest.fixture
def gbroker(start_broker):
    b = start_broker("group.initial.rebalance.delay.ms=0")
    require_apis(b, *GROUP_APIS)
    return b


def topic_with_group(broker, partitions=2, records=10, consumed=4):
    """A topic with `records` records in partition 0 and a group that consumed
    `consumed` of them (and left: the group is Empty)."""
    t = create_topic(broker, partitions=partitions)
    ok(runnel(broker, "produce", t, "--partition", "0", input="".join("r%d\n" % i for i in range(records))))
    g = topic_name("grp")
    r = ok(runnel(broker, "consume", t, "--group", g, "-n", str(consumed)))
    assert r.out == "".join("r%d\n" % i for i in range(consumed))
    return t, g


def describe(broker, g):
    return ok(runnel(broker, "--output", "json", "group", "describe", g)).json()


def test_consume_with_group_commits_what_it_printed(gbroker):
    t, g = topic_with_group(gbroker)
    r = ok(runnel(gbroker, "consume", t, "--group", g, "-n", "2"))
    assert r.out == "r4\nr5\n"


def test_list_shows_the_group(gbroker):
    t, g = topic_with_group(gbroker)
    r = ok(runnel(gbroker, "group", "list"))
    assert [g, "Empty", "consumer"] in [line.split() for line in r.out.splitlines()]
    assert {"group": g, "state": "Empty", "type": "consumer"} in ok(
        runnel(gbroker, "--output", "json", "group", "list")).json()


def test_describe_shows_committed_offset_log_end_and_lag(gbroker):
    t, g = topic_with_group(gbroker)
    d = describe(gbroker, g)
    assert d["state"] == "Empty" and d["members"] == []
    assert {"topic": t, "partition": 0, "committed": 4, "log_end": 10, "lag": 6, "member": None} in d["offsets"]
    assert d["total_lag"] == 6
    r = ok(runnel(gbroker, "group", "describe", g))
    assert [t, "0", "4", "10", "6", "-"] in [line.split() for line in r.out.splitlines()]
    assert "Total lag: 6" in r.out


def test_describe_unknown_group_fails_with_exit_1(gbroker):
    r = runnel(gbroker, "group", "describe", "no-such-group")
    assert r.rc == 1, r
    assert r.err.strip() == "runnel: group 'no-such-group' does not exist"


def test_reset_offsets_without_execute_is_a_dry_run(gbroker):
    t, g = topic_with_group(gbroker)
    r = ok(runnel(gbroker, "group", "reset-offsets", g, "--topic", t, "--to", "earliest"))
    rows = [line.split() for line in r.out.splitlines()]
    assert ["TOPIC", "PARTITION", "CURRENT", "NEW"] in rows
    assert [t, "0", "4", "0"] in rows
    assert "dry run: nothing changed; add --execute to apply" in r.out
    assert {"topic": t, "partition": 0, "committed": 4, "log_end": 10, "lag": 6, "member": None} in \
        describe(gbroker, g)["offsets"]


@pytest.mark.parametrize("to,expected", [
    (["earliest"], 0), (["latest"], 10), (["offset", "7"], 7), (["offset", "99"], 10), (["shift", "-3"], 1),
    (["shift", "2"], 6),
])
def test_reset_offsets_execute_moves_the_committed_offset(gbroker, to, expected):
    t, g = topic_with_group(gbroker)
    r = ok(runnel(gbroker, "group", "reset-offsets", g, "--topic", "%s:0" % t, "--to", *to, "--execute"))
    assert "reset 1 offset of group '%s'" % g in r.out
    offs = {o["partition"]: o["committed"] for o in describe(gbroker, g)["offsets"]}
    assert offs[0] == expected


def test_reset_offsets_to_timestamp(gbroker):
    t = create_topic(gbroker)
    ok(runnel(gbroker, "produce", t, "--format", "%T %v", input="1000 a\n2000 b\n3000 c\n"))
    g = topic_name("grp")
    ok(runnel(gbroker, "consume", t, "--group", g, "-n", "3"))
    ok(runnel(gbroker, "group", "reset-offsets", g, "--topic", t, "--to", "timestamp", "2000", "--execute"))
    assert ok(runnel(gbroker, "consume", t, "--group", g, "-n", "2")).out == "b\nc\n"


def test_reset_offsets_on_an_active_group_is_refused(gbroker):
    t, g = topic_with_group(gbroker)
    p = subprocess.Popen([runnel_path(), "--brokers", gbroker.bootstrap, "consume", t, "--group", g],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while describe(gbroker, g)["state"] != "Stable":
            assert time.monotonic() < deadline, "the consumer never joined"
            time.sleep(0.2)
        r = runnel(gbroker, "group", "reset-offsets", g, "--topic", t, "--to", "earliest", "--execute")
        assert r.rc == 1, r
        assert r.err.startswith("runnel: group '%s' is active (state Stable, 1 member)" % g), r
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=15)
        finally:
            p.kill()
    # Not reset to 0: only the consumer's own commits moved it (4 or more).
    assert describe(gbroker, g)["offsets"][0]["committed"] >= 4


def test_delete_removes_the_group(gbroker):
    t, g = topic_with_group(gbroker)
    r = ok(runnel(gbroker, "group", "delete", g))
    assert r.out == "deleted group '%s'\n" % g
    assert g not in ok(runnel(gbroker, "group", "list")).out


def test_delete_unknown_group_fails_with_exit_1(gbroker):
    r = runnel(gbroker, "group", "delete", "no-such-group")
    assert r.rc == 1, r
    assert "group 'no-such-group' does not exist" in r.err


def test_reset_offsets_needs_to_and_topic(broker):
    r = runnel(broker, "group", "reset-offsets", "g", "--topic", "t")
    assert r.rc == 2 and "--to is required" in r.err, r
    r = runnel(broker, "group", "reset-offsets", "g", "--to", "earliest")
    assert r.rc == 2 and "--topic is required" in r.err, r
    r = runnel(broker, "group", "reset-offsets", "g", "--topic", "t", "--to", "sideways")
    assert r.rc == 2 and "--to must be earliest, latest, offset N, timestamp MS or shift N" in r.err, r
