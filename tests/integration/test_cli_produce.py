"""`runnel produce` against a real runneld (checked by reading back with `runnel consume`)."""

from test_cli_helpers import create_topic, ok, require_apis, runnel

FMT = "%p|%o|%k|%v|%h\\n"


def read_back(broker, topic, *extra):
    r = ok(runnel(broker, "consume", topic, "-e", "--format", FMT, *extra))
    return sorted(line.split("|") for line in r.out.splitlines())


def test_lines_become_records(broker):
    t = create_topic(broker)
    r = ok(runnel(broker, "produce", t, input="one\ntwo\nthree\n"))
    assert r.out == "produced 3 records to '%s'\n" % t
    assert read_back(broker, t) == [["0", "0", "", "one", ""], ["0", "1", "", "two", ""],
                                    ["0", "2", "", "three", ""]]


def test_last_line_without_newline_is_a_record(broker):
    t = create_topic(broker)
    ok(runnel(broker, "produce", t, input="a\nb"))
    assert [x[3] for x in read_back(broker, t)] == ["a", "b"]


def test_key_separator_splits_key_and_value(broker):
    t = create_topic(broker)
    ok(runnel(broker, "produce", t, "--key-separator", ":", input="k1:v:1\nk2:v2\n"))
    assert read_back(broker, t) == [["0", "0", "k1", "v:1", ""], ["0", "1", "k2", "v2", ""]]


def test_record_without_key_separator_is_reported_and_exit_1(broker):
    t = create_topic(broker)
    r = runnel(broker, "produce", t, "--key-separator", ":", input="k1:v1\nnokey\n")
    assert r.rc == 1, r
    assert "record 2: no key separator; skipped" in r.err
    assert r.out == "produced 1 record to '%s', 1 failed\n" % t


def test_delimiter_replaces_newline(broker):
    t = create_topic(broker)
    ok(runnel(broker, "produce", t, "--delimiter", "\\0", input=b"multi\nline\0second\0"))
    r = ok(runnel(broker, "consume", t, "-e", "--output", "json"))
    assert [d["value"] for d in r.json_lines()] == ["multi\nline", "second"]


def test_headers_are_added_to_every_record(broker):
    t = create_topic(broker)
    ok(runnel(broker, "produce", t, "--header", "src=cli", "--header", "v=1", input="a\nb\n"))
    assert [x[4] for x in read_back(broker, t)] == ["src=cli,v=1", "src=cli,v=1"]


def test_partition_option_chooses_the_partition(broker):
    t = create_topic(broker, partitions=3)
    ok(runnel(broker, "produce", t, "--partition", "2", input="a\nb\n"))
    assert [x[0] for x in read_back(broker, t)] == ["2", "2"]


def test_partition_out_of_range_fails_with_exit_1(broker):
    t = create_topic(broker, partitions=2)
    r = runnel(broker, "produce", t, "--partition", "5", input="a\n")
    assert r.rc == 1, r
    assert r.err.strip() == "runnel: topic '%s' has 2 partitions; partition 5 does not exist" % t


def test_format_template_parses_partition_timestamp_key_value_headers(broker):
    t = create_topic(broker, partitions=2)
    ok(runnel(broker, "produce", t, "--format", "%p %T %k=%v [%h]", input="1 1700000000000 k=v w [a=1,b=2]\n"))
    r = ok(runnel(broker, "consume", t, "-e", "--output", "json"))
    assert r.json_lines() == [{"topic": t, "partition": 1, "offset": 0, "timestamp": 1700000000000,
                               "key": "k", "value": "v w", "headers": {"a": "1", "b": "2"}}]


def test_record_not_matching_the_format_is_reported(broker):
    t = create_topic(broker)
    r = runnel(broker, "produce", t, "--format", "%k=%v", input="a=1\nnope\n")
    assert r.rc == 1, r
    assert "record 2: does not match --format; skipped" in r.err


def test_acks_and_compression_are_accepted(broker):
    t = create_topic(broker)
    for args in (["--acks", "0"], ["--acks", "1"], ["--acks", "all"],
                 ["--compression", "gzip"], ["--compression", "lz4"], ["--compression", "zstd"],
                 ["--compression", "snappy"]):
        ok(runnel(broker, "produce", t, *args, input="x\n"))
    r = ok(runnel(broker, "consume", t, "-e"))
    assert r.out == "x\n" * 7


def test_idempotent_producer(broker):
    require_apis(broker, "InitProducerId")
    t = create_topic(broker)
    ok(runnel(broker, "produce", t, "--idempotent", input="a\nb\n"))
    assert ok(runnel(broker, "consume", t, "-e")).out == "a\nb\n"


def test_json_summary(broker):
    t = create_topic(broker)
    r = ok(runnel(broker, "produce", t, "--output", "json", input="a\nb\n"))
    assert r.json() == {"topic": t, "records": 2, "produced": 2, "failed": 0}


def test_many_records(broker):
    t = create_topic(broker, partitions=3)
    ok(runnel(broker, "produce", t, input="".join("r%d\n" % i for i in range(20000))))
    d = ok(runnel(broker, "--output", "json", "topic", "describe", t)).json()
    assert sum(p["high"] for p in d["partitions"]) == 20000


def test_unknown_topic_fails_with_exit_1(broker):
    r = runnel(broker, "produce", "x", input="a\n")
    assert r.rc == 1, r
    assert r.err.strip() == "runnel: topic 'x' does not exist"


def test_bad_acks_is_a_usage_error(broker):
    r = runnel(broker, "produce", "t", "--acks", "2")
    assert r.rc == 2, r
    assert "--acks must be 0, 1 or all" in r.err


def test_bad_compression_is_a_usage_error(broker):
    r = runnel(broker, "produce", "t", "--compression", "brotli")
    assert r.rc == 2, r
    assert "compression.codec=brotli" in r.err
