"""`runnel cluster info` against a real runneld."""

from test_cli_helpers import ok, runnel


def test_info_shows_cluster_id_controller_brokers_and_api_versions(broker):
    r = ok(runnel(broker, "cluster", "info"))
    lines = r.out.splitlines()
    assert lines[0].startswith("Cluster ID:  ") and len(lines[0].split()[-1]) == 22
    assert lines[1] == "Controller:  1"
    assert ["1", "127.0.0.1", str(broker.port), "(controller)"] in [line.split() for line in lines]
    assert "API versions of broker 1:" in lines
    rows = {line.split()[0]: line.split()[1:] for line in lines if line.split()}
    assert rows["Produce"][0] == "0"
    assert rows["ApiVersions"][0] == "18"


def test_info_json_lists_every_api_the_broker_serves(broker):
    d = ok(runnel(broker, "--output", "json", "cluster", "info")).json()
    assert d["controller"] == 1
    assert d["brokers"] == [{"id": 1, "host": "127.0.0.1", "port": broker.port}]
    apis = {x["api"]: x for x in d["api_versions"]["1"]}
    for name in ("Produce", "Fetch", "ListOffsets", "Metadata", "ApiVersions", "CreateTopics",
                 "DeleteTopics", "CreatePartitions", "DescribeConfigs"):
        assert name in apis, name
        assert apis[name]["min"] <= apis[name]["max"]
