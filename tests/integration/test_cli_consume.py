"""`runnel consume` against a real runneld."""

import signal
import subprocess
import time

from test_cli_helpers import create_topic, ok, runnel, runnel_path


def topic_with(broker, lines, partitions=1, **kw):
    t = create_topic(broker, partitions=partitions)
    ok(runnel(broker, "produce", t, "--partition", "0", input="".join(x + "\n" for x in lines)))
    return t


def test_exit_at_end_prints_values_from_the_beginning(broker):
    t = topic_with(broker, ["a", "b", "c"])
    r = ok(runnel(broker, "consume", t, "--exit-at-end"))
    assert r.out == "a\nb\nc\n"


def test_exit_at_end_on_an_empty_topic_prints_nothing(broker):
    t = create_topic(broker, partitions=3)
    r = ok(runnel(broker, "consume", t, "-e"))
    assert r.out == ""


def test_count_stops_after_n_records(broker):
    t = topic_with(broker, ["a", "b", "c"])
    r = ok(runnel(broker, "consume", t, "-n", "2"))
    assert r.out == "a\nb\n"


def test_offset_absolute(broker):
    t = topic_with(broker, ["a", "b", "c", "d"])
    assert ok(runnel(broker, "consume", t, "--offset", "2", "-e")).out == "c\nd\n"


def test_offset_relative_to_end(broker):
    t = topic_with(broker, ["a", "b", "c", "d"])
    assert ok(runnel(broker, "consume", t, "--offset", "-1", "-e")).out == "d\n"


def test_offset_end_waits_for_new_records(broker):
    t = topic_with(broker, ["old"])
    p = subprocess.Popen([runnel_path(), "--brokers", broker.bootstrap, "consume", t, "--offset", "end", "-n", "1"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(1.5)
        ok(runnel(broker, "produce", t, input="new\n"))
        out, err = p.communicate(timeout=20)
    finally:
        p.kill()
    assert p.returncode == 0, err
    assert out == b"new\n"


def test_offset_by_timestamp(broker):
    t = create_topic(broker)
    ok(runnel(broker, "produce", t, "--format", "%T %v",
              input="1000 a\n2000 b\n3000 c\n"))
    assert ok(runnel(broker, "consume", t, "--offset", "@2000", "-e")).out == "b\nc\n"
    assert ok(runnel(broker, "consume", t, "--offset", "@2500", "-e")).out == "c\n"
    assert ok(runnel(broker, "consume", t, "--offset", "@9000", "-e")).out == ""


def test_partition_option_reads_only_that_partition(broker):
    t = create_topic(broker, partitions=2)
    ok(runnel(broker, "produce", t, "--format", "%p %v", input="0 a\n1 b\n0 c\n"))
    assert ok(runnel(broker, "consume", t, "-p", "1", "-e")).out == "b\n"


def test_format_template(broker):
    t = create_topic(broker)
    ok(runnel(broker, "produce", t, "--format", "%T %k:%v", "--header", "h=1", input="1234 key:val\n"))
    r = ok(runnel(broker, "consume", t, "-e", "--format", "%t %p %o %T %k=%v %K %S [%h] 100%%\\n"))
    assert r.out == "%s 0 0 1234 key=val 3 3 [h=1] 100%%\n" % t


def test_json_output(broker):
    t = create_topic(broker)
    ok(runnel(broker, "produce", t, "--key-separator", ":", input='k:v "quoted"\n'))
    r = ok(runnel(broker, "consume", t, "-e", "--output", "json"))
    (d,) = r.json_lines()
    assert d["key"] == "k" and d["value"] == 'v "quoted"' and d["offset"] == 0 and d["headers"] == {}


def test_several_topics(broker):
    t1 = topic_with(broker, ["a"])
    t2 = topic_with(broker, ["b"])
    r = ok(runnel(broker, "consume", t1, t2, "-e", "--format", "%t=%v\\n"))
    assert sorted(r.out.splitlines()) == sorted(["%s=a" % t1, "%s=b" % t2])


def test_read_committed_is_accepted(broker):
    t = topic_with(broker, ["a"])
    assert ok(runnel(broker, "consume", t, "--isolation", "read_committed", "-e")).out == "a\n"


def test_ctrl_c_exits_cleanly(broker):
    t = topic_with(broker, ["a"])
    p = subprocess.Popen([runnel_path(), "--brokers", broker.bootstrap, "consume", t],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        line = p.stdout.readline()
        assert line == b"a\n"
        p.send_signal(signal.SIGINT)
        p.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        p.kill()
    assert p.returncode == 0, p.stderr.read()


def test_unknown_topic_fails_with_exit_1(broker):
    r = runnel(broker, "consume", "x", "-e")
    assert r.rc == 1, r
    assert r.err.strip() == "runnel: topic 'x' does not exist"


def test_bad_offset_is_a_usage_error(broker):
    r = runnel(broker, "consume", "t", "--offset", "yesterday")
    assert r.rc == 2, r
    assert "--offset must be beginning, end, N, -N or @TIMESTAMP_MS" in r.err


def test_unknown_format_conversion_is_a_usage_error(broker):
    r = runnel(broker, "consume", "t", "--format", "%q")
    assert r.rc == 2, r
    assert "unknown conversion '%q'" in r.err
