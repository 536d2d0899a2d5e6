"""`runnel topic ...` against a real runneld."""

from test_cli_helpers import create_topic, ok, runnel, topic_name


def test_create_prints_the_topic_and_list_shows_its_partitions(broker):
    name = topic_name()
    r = ok(runnel(broker, "topic", "create", name, "-p", "3"))
    assert r.out == "created topic '%s'\n" % name
    r = ok(runnel(broker, "topic", "list"))
    lines = r.out.splitlines()
    assert lines[0].split() == ["TOPIC", "PARTITIONS", "REPLICAS"]
    assert [name, "3", "1"] in [line.split() for line in lines[1:]]


def test_list_json_is_an_array_of_topics(broker):
    name = create_topic(broker, partitions=2)
    r = ok(runnel(broker, "--output", "json", "topic", "list"))
    assert {"topic": name, "partitions": 2, "replicas": 1} in r.json()


def test_create_with_configs_shows_them_in_describe(broker):
    name = topic_name()
    ok(runnel(broker, "topic", "create", name, "-c", "retention.ms=3600000", "-c", "cleanup.policy=compact"))
    r = ok(runnel(broker, "topic", "describe", name, "--output", "json"))
    configs = r.json()["configs"]
    assert configs.get("retention.ms") == "3600000"
    assert configs.get("cleanup.policy") == "compact"


def test_create_existing_topic_fails_with_exit_1(broker):
    name = create_topic(broker)
    r = runnel(broker, "topic", "create", name)
    assert r.rc == 1, r
    assert r.err.strip() == "runnel: topic '%s' already exists" % name


def test_create_if_not_exists_accepts_an_existing_topic(broker):
    name = create_topic(broker)
    ok(runnel(broker, "topic", "create", name, "--if-not-exists"))


def test_describe_shows_leaders_replicas_isr_and_watermarks(broker):
    name = create_topic(broker, partitions=2)
    ok(runnel(broker, "produce", name, "--partition", "1", input="a\nb\nc\n"))
    r = ok(runnel(broker, "topic", "describe", name))
    lines = r.out.splitlines()
    assert lines[0] == "Topic: %s  Partitions: 2  Replicas: 1" % name
    rows = [line.split() for line in lines]
    assert ["PARTITION", "LEADER", "REPLICAS", "ISR", "LOW", "HIGH"] in rows
    assert ["0", "1", "1", "1", "0", "0"] in rows
    assert ["1", "1", "1", "1", "0", "3"] in rows
    assert "Configs (not default):" in lines


def test_describe_json_has_partitions_and_configs(broker):
    name = create_topic(broker, partitions=2)
    ok(runnel(broker, "produce", name, "--partition", "0", input="x\n"))
    d = ok(runnel(broker, "--output", "json", "topic", "describe", name)).json()
    assert d["topic"] == name and d["replicas"] == 1
    assert d["partitions"] == [
        {"partition": 0, "leader": 1, "replicas": [1], "isr": [1], "low": 0, "high": 1},
        {"partition": 1, "leader": 1, "replicas": [1], "isr": [1], "low": 0, "high": 0},
    ]
    assert isinstance(d["configs"], dict)


def test_describe_all_configs_includes_defaults(broker):
    name = create_topic(broker)
    d = ok(runnel(broker, "--output", "json", "topic", "describe", name, "--all-configs")).json()
    assert "retention.ms" in d["configs"]


def test_describe_unknown_topic_fails_with_exit_1(broker):
    r = runnel(broker, "topic", "describe", "x")
    assert r.rc == 1, r
    assert r.err.strip() == "runnel: topic 'x' does not exist"
    assert r.out == ""


def test_delete_removes_the_topic(broker):
    name = create_topic(broker)
    r = ok(runnel(broker, "topic", "delete", name))
    assert r.out == "deleted topic '%s'\n" % name
    r = ok(runnel(broker, "topic", "list"))
    assert name not in r.out


def test_delete_unknown_topic_fails_with_exit_1(broker):
    r = runnel(broker, "topic", "delete", "no-such-topic")
    assert r.rc == 1, r
    assert "topic 'no-such-topic' does not exist" in r.err


def test_add_partitions_grows_the_topic(broker):
    name = create_topic(broker, partitions=2)
    r = ok(runnel(broker, "topic", "add-partitions", name, "-p", "5"))
    assert r.out == "topic '%s' now has 5 partitions (was 2)\n" % name
    d = ok(runnel(broker, "--output", "json", "topic", "describe", name)).json()
    assert [p["partition"] for p in d["partitions"]] == [0, 1, 2, 3, 4]


def test_add_partitions_cannot_shrink(broker):
    name = create_topic(broker, partitions=3)
    r = runnel(broker, "topic", "add-partitions", name, "-p", "2")
    assert r.rc == 1, r
    assert "has 3 partitions" in r.err


def test_add_partitions_to_unknown_topic_fails_with_exit_1(broker):
    r = runnel(broker, "topic", "add-partitions", "x", "-p", "4")
    assert r.rc == 1, r
    assert r.err.strip() == "runnel: topic 'x' does not exist"


def test_create_without_a_name_is_a_usage_error(broker):
    r = runnel(broker, "topic", "create")
    assert r.rc == 2, r
    assert "a topic name is required" in r.err


def test_bad_partition_count_is_a_usage_error(broker):
    r = runnel(broker, "topic", "create", "t", "-p", "zero")
    assert r.rc == 2, r
    assert "--partitions must be an integer" in r.err
