"""`runnel bench produce|consume|e2e` against a real runneld and the mock cluster (small runs)."""

from test_cli_helpers import ok, runnel

LAT_KEYS = {"p50", "p95", "p99", "p99_9", "max"}


def check_latency(lat):
    assert set(lat) == LAT_KEYS
    assert 0 <= lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["p99_9"] <= lat["max"]


def test_produce_then_consume_json(broker):
    p = ok(runnel(broker, "--output", "json", "bench", "produce", "--records", "20000", "--partitions", "2",
                  "--quiet")).json()
    assert p["mode"] == "produce" and p["ok"] == 20000 and p["failed"] == 0 and p["error"] is None
    assert p["partitions"] == 2 and p["records_per_s"] > 0
    check_latency(p["ack_latency_ms"])
    c = ok(runnel(broker, "--output", "json", "bench", "consume", "--quiet")).json()
    assert c["mode"] == "consume" and c["records"] == 20000 and c["ok"] == 20000 and c["mb_per_s"] > 0


def test_produce_text_summary_and_live_line(broker):
    r = ok(runnel(broker, "bench", "produce", "--records", "3000", "--rate", "2000", "--acks", "all",
                  "--producers", "2"))
    assert r.out.startswith("produce %s: 3000 records of 100 B in " % broker.bootstrap)
    assert "2 producers, acks=all" in r.out
    assert "ack latency ms: p50 " in r.out and " p99.9 " in r.out
    assert "rec/s" in r.err  # the live line, once a second


def test_e2e_measures_latency_from_record_timestamps(broker):
    d = ok(runnel(broker, "--output", "json", "bench", "e2e", "--records", "2000", "--rate", "2000",
                  "--quiet")).json()
    assert d["ok"] == 2000 and d["error"] is None
    check_latency(d["e2e_latency_ms"])
    assert d["e2e_latency_ms"]["max"] < 5000


def test_consume_of_missing_topic_fails_with_exit_1(broker):
    r = runnel(broker, "bench", "consume", "--topic", "nothing-here")
    assert r.rc == 1, r
    assert "topic 'nothing-here' does not exist" in r.err or "is empty" in r.err


def test_mock_cluster_baseline():
    p = ok(runnel("mock", "--output", "json", "bench", "produce", "--records", "10000", "--quiet")).json()
    assert p["target"] == "mock" and p["ok"] == 10000
    c = ok(runnel("mock", "--output", "json", "bench", "consume", "--records", "5000", "--quiet")).json()
    assert c["target"] == "mock" and c["ok"] == 5000


def test_bad_option_is_a_usage_error():
    r = runnel("mock", "bench", "produce", "--records", "-5")
    assert r.rc == 2, r
    r = runnel("mock", "bench", "sideways")
    assert r.rc == 2, r
