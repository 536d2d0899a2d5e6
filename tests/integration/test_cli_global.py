"""`runnel`'s global options, exit codes and errors."""

import time

from test_cli_helpers import ok, runnel


def test_help_lists_commands_and_exits_0():
    r = ok(runnel(None, "--help"))
    for cmd in ("topic", "config", "produce", "consume", "group", "cluster", "bench"):
        assert "\n  %s " % cmd in r.out
    assert "Examples:" in r.out


def test_every_command_has_help_with_examples():
    for args in (["topic", "create"], ["topic", "describe"], ["produce"], ["consume"], ["config", "set"],
                 ["group", "reset-offsets"], ["cluster"], ["bench", "produce"]):
        r = ok(runnel(None, *args, "--help"))
        assert r.out.startswith("usage: runnel "), args
        assert "Example" in r.out, args


def test_no_command_is_a_usage_error():
    r = runnel(None)
    assert r.rc == 2, r
    assert "usage: runnel" in r.err


def test_unknown_command_is_a_usage_error():
    r = runnel(None, "frobnicate")
    assert r.rc == 2, r
    assert r.err.startswith("runnel: unknown command 'frobnicate'")


def test_unknown_option_is_a_usage_error(broker):
    r = runnel(broker, "topic", "list", "--bogus")
    assert r.rc == 2, r
    assert r.err.startswith("runnel topic list: unknown option '--bogus'")


def test_malformed_x_is_a_usage_error(broker):
    r = runnel(broker, "-X", "no-equals-sign", "topic", "list")
    assert r.rc == 2, r
    assert "-X needs key=value, got 'no-equals-sign'" in r.err


def test_unknown_x_property_is_a_usage_error(broker):
    r = runnel(broker, "-X", "no.such.property=1", "topic", "list")
    assert r.rc == 2, r
    assert 'No such configuration property: "no.such.property"' in r.err


def test_x_property_is_passed_to_librdkafka(broker):
    ok(runnel(broker, "-X", "client.id=from-test", "-X", "socket.timeout.ms=5000", "topic", "list"))


def test_bad_output_format_is_a_usage_error(broker):
    r = runnel(broker, "--output", "yaml", "topic", "list")
    assert r.rc == 2, r
    assert "--output must be text or json" in r.err


def test_unreachable_broker_fails_within_the_timeout_with_a_clear_message():
    t0 = time.monotonic()
    r = runnel("127.0.0.1:1", "--timeout", "2", "topic", "list", timeout=15)
    elapsed = time.monotonic() - t0
    assert r.rc == 1, r
    assert elapsed < 6, elapsed
    assert r.err.startswith("runnel: cannot reach brokers 127.0.0.1:1: "), r
    assert "Connection refused" in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_unreachable_broker_fails_every_command_the_same_way():
    for args in (["produce", "t"], ["consume", "t", "-e"], ["cluster", "info"], ["topic", "describe", "t"],
                 ["config", "get"], ["group", "list"]):
        r = runnel("127.0.0.1:1", "--timeout", "1", *args, timeout=15)
        assert r.rc == 1, (args, r)
        assert "cannot reach brokers 127.0.0.1:1" in r.err, (args, r)


def test_brokers_come_from_the_environment(broker):
    r = ok(runnel(None, "topic", "list", env={"RUNNEL_BROKERS": broker.bootstrap}))
    assert r.out.startswith("TOPIC")


def test_global_options_work_after_the_command(broker):
    r = ok(runnel(None, "topic", "list", "--brokers", broker.bootstrap, "--output", "json"))
    assert r.out.startswith("[")
