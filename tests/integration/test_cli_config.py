"""`runnel config get|set` and `runnel topic alter-config` against a real runneld."""

from test_cli_helpers import create_topic, ok, require_apis, runnel


def test_get_shows_broker_configs_with_their_source(broker):
    r = ok(runnel(broker, "config", "get", "num.partitions", "log.retention.ms"))
    rows = [line.split() for line in r.out.splitlines()]
    assert rows[0] == ["NAME", "VALUE", "SOURCE"]
    assert ["log.retention.ms", "604800000", "DEFAULT_CONFIG"] in rows
    assert rows[1][0] == "log.retention.ms" and rows[2][0] == "num.partitions"


def test_get_json_is_an_object(broker):
    d = ok(runnel(broker, "--output", "json", "config", "get")).json()
    assert d["log.retention.ms"] == "604800000"
    assert len(d) > 10


def test_get_unknown_key_fails_with_exit_1(broker):
    r = runnel(broker, "config", "get", "no.such.key")
    assert r.rc == 1, r
    assert r.err.strip() == "runnel: broker 1 has no config 'no.such.key'"


def test_set_changes_and_keeps_other_dynamic_configs(broker):
    require_apis(broker, "AlterConfigs")
    r = ok(runnel(broker, "config", "set", "log.retention.ms=3600000"))
    assert r.out == "broker 1: set log.retention.ms=3600000\n"
    ok(runnel(broker, "config", "set", "message.max.bytes=2000000"))
    d = ok(runnel(broker, "--output", "json", "config", "get", "log.retention.ms", "message.max.bytes")).json()
    assert d == {"log.retention.ms": "3600000", "message.max.bytes": "2000000"}


def test_set_delete_restores_the_default(broker):
    require_apis(broker, "AlterConfigs")
    ok(runnel(broker, "config", "set", "log.retention.ms=3600000"))
    ok(runnel(broker, "config", "set", "--delete", "log.retention.ms"))
    d = ok(runnel(broker, "--output", "json", "config", "get", "log.retention.ms")).json()
    assert d == {"log.retention.ms": "604800000"}


def test_set_static_config_is_refused(broker):
    require_apis(broker, "AlterConfigs")
    r = runnel(broker, "config", "set", "num.network.threads=4")
    assert r.rc == 1, r
    assert r.err.startswith("runnel: alter configs of broker '1': ")


def test_set_without_key_value_is_a_usage_error(broker):
    r = runnel(broker, "config", "set", "log.retention.ms")
    assert r.rc == 2, r
    assert "expected KEY=VALUE, got 'log.retention.ms'" in r.err


def test_topic_alter_config_sets_and_deletes_keeping_the_rest(broker):
    require_apis(broker, "AlterConfigs")
    t = create_topic(broker)
    r = ok(runnel(broker, "topic", "alter-config", t, "--set", "retention.ms=1000", "--set", "cleanup.policy=compact"))
    assert r.out == "topic '%s': set retention.ms=1000\ntopic '%s': set cleanup.policy=compact\n" % (t, t)
    ok(runnel(broker, "topic", "alter-config", t, "--delete", "cleanup.policy"))
    configs = ok(runnel(broker, "--output", "json", "topic", "describe", t)).json()["configs"]
    assert configs == {"retention.ms": "1000"}


def test_topic_alter_config_on_unknown_topic_fails_with_exit_1(broker):
    r = runnel(broker, "topic", "alter-config", "x", "--set", "retention.ms=1")
    assert r.rc == 1, r
    assert r.err.strip() == "runnel: topic 'x' does not exist"


def test_topic_alter_config_bad_value_fails_with_exit_1(broker):
    require_apis(broker, "AlterConfigs")
    t = create_topic(broker)
    r = runnel(broker, "topic", "alter-config", t, "--set", "retention.ms=soon")
    assert r.rc == 1, r
    assert r.err.startswith("runnel: alter configs of topic '%s': " % t)
