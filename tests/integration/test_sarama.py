"""The Go client sarama against runneld.

Debian packages sarama 1.22 (golang-github-shopify-sarama-dev) with all its
dependencies under /usr/share/gocode/src, so go/sarama_check is built
offline in GOPATH mode (GO111MODULE=off, GOPATH=/usr/share/gocode:<tmp>),
once per session, into a temporary directory with its own GOCACHE. The
build has its own time limit (BUILD_TIMEOUT_S): these tests are timed by
pytest-timeout on the test function only (func_only), and each run of the
program is bounded by RUN_TIMEOUT_S.

The program runs one scenario (admin, sync, async-<codec>, group) against a
fresh broker and prints one JSON line per check. Each scenario runs once per
(sarama Config.Version, scenario), on the first test that needs it; every
check is then its own test. sarama 1.22 sends no ApiVersions request: it
picks request versions from Config.Version alone, so it runs twice: with
2.2.0 (sarama.MaxVersion, the newest it knows) and 0.11.0.0 (the oldest
whose Produce v3 / Fetch v4 the broker serves; Kafka 4 has the same
minimums). Its requests pass through a relay in the program (the broker
advertises the relay's port) that records the (api key, version) of every
request; test_sarama_api_versions_served checks them against
`runneld --api-versions` and prints them.
"""

import json
import logging
import os
import re
import shutil
import socket
import subprocess

import pytest

log = logging.getLogger("runnel-tests")

HERE = os.path.dirname(os.path.abspath(__file__))
GO_SRC = os.path.join(HERE, "go", "sarama_check")
GOCODE = "/usr/share/gocode"
SARAMA_SRC = os.path.join(GOCODE, "src", "github.com", "Shopify", "sarama")
BUILD_TIMEOUT_S = 240
RUN_TIMEOUT_S = 45  # the program's own bound is 5 s less

VERSIONS = ["2.2.0", "0.11.0.0"]
CODECS = ["none", "gzip", "snappy", "lz4"]

ADMIN = ["describe_cluster", "create_topic", "create_topic_duplicate", "create_topic_bad_replication_factor",
         "describe_topics", "list_topics", "create_partitions", "create_partitions_decrease", "describe_config",
         "alter_config", "delete_records", "delete_topic", "delete_topic_unknown"]
SYNC = ["sync_send_message", "sync_send_messages", "consume_oldest_p0", "consume_oldest_p1", "consume_from_offset",
        "get_offset_oldest_newest", "get_offset_by_timestamp", "get_offset_future_timestamp",
        "consume_unknown_partition", "consume_offset_out_of_range"]
ASYNC = ["async_produce", "consume_verify", "get_offset_newest"]
GROUP = ["rebalance_two_members", "consume_exactly_once", "describe_groups_stable", "list_groups",
         "committed_offsets_active", "members_close", "describe_groups_empty", "committed_offsets_after_close",
         "resume_from_committed", "delete_topic"]

# Checks the broker fails today, each for a known broker bug: strict, so
# that the test reports XPASS (a failure) once the bug is fixed and the
# entry must go. The checks themselves assert Kafka's behaviour.
# Checks that once failed because of broker bugs, kept as xfail(strict)
# markers until fixed. Both are fixed (max timestamp recomputed at produce,
# zstd refused below Produce v7), so this is empty.
KNOWN_BROKER_BUGS = {}

pytestmark = pytest.mark.timeout(60, func_only=True)


def _scenario_checks(version):
    out = []
    for c in ADMIN:
        if c.startswith("create_partitions") and version == "0.11.0.0":
            continue  # CreatePartitions is Kafka 1.0: sarama refuses to send it for 0.11
        out.append(("admin", c))
    out += [("sync", c) for c in SYNC]
    for codec in CODECS:
        out += [("async-" + codec, c) for c in ASYNC]
    out.append(("async-zstd", "async_produce_zstd_v3_rejected"))
    out += [("group", c) for c in GROUP]
    return out


def _params():
    params = []
    for v in VERSIONS:
        for scenario, check in _scenario_checks(v):
            marks = [pytest.mark.groups] if scenario == "group" else []
            if check in KNOWN_BROKER_BUGS:
                marks.append(pytest.mark.xfail(reason=KNOWN_BROKER_BUGS[check], strict=True))
            params.append(pytest.param(v, scenario, check, id="%s-%s-%s" % (v, scenario, check), marks=marks))
    return params


# ---------------------------------------------------------------- build

@pytest.fixture(scope="session")
def sarama_check_bin(tmp_path_factory):
    """Builds go/sarama_check once per session (bounded by BUILD_TIMEOUT_S)."""
    go = shutil.which("go")
    if go is None or not os.path.isdir(SARAMA_SRC):
        pytest.fail("go or sarama missing (golang-go, golang-github-shopify-sarama-dev): run scripts/deps.sh",
                    pytrace=False)
    tmp = tmp_path_factory.mktemp("sarama-build")
    gopath = tmp / "gopath"
    gopath.mkdir()
    out = str(tmp / "sarama_check")
    env = dict(os.environ, GO111MODULE="off", GOPATH="%s:%s" % (GOCODE, gopath), GOCACHE=str(tmp / "gocache"),
               GOFLAGS="", GOENV="off", GOPROXY="off", CGO_ENABLED="1")
    try:
        p = subprocess.run([go, "build", "-o", out, "."], cwd=GO_SRC, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        pytest.fail("go build of %s did not finish within %d s:\n%s" % (GO_SRC, BUILD_TIMEOUT_S,
                    (e.output or b"").decode(errors="replace")), pytrace=False)
    if p.returncode != 0:
        pytest.fail("go build of %s failed (%d):\n%s" % (GO_SRC, p.returncode, p.stdout.decode(errors="replace")),
                    pytrace=False)
    return out


# ---------------------------------------------------------------- running a scenario

def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Run:
    def __init__(self, version, scenario, rc, lines, stderr, broker_log):
        self.version, self.scenario, self.rc = version, scenario, rc
        self.checks = {}
        self.other = []
        for raw in lines:
            try:
                o = json.loads(raw)
            except ValueError:
                self.other.append(raw)
                continue
            self.checks.setdefault(o.get("check"), o)
        self.stderr = stderr
        self.broker_log = broker_log

    def failed(self):
        return [(k, v.get("error")) for k, v in self.checks.items() if not v.get("ok")]

    def context(self):
        tail = "\n".join(self.stderr.splitlines()[-60:])
        return ("sarama_check %s %s exited %s; failed checks: %s\nother output: %s\nstderr (last 60 lines):\n%s"
                % (self.version, self.scenario, self.rc, self.failed(), self.other[:5], tail))


_runs = {}


def _run(binary, start_broker, version, scenario):
    key = (version, scenario)
    if key in _runs:
        return _runs[key]
    relay = _free_port()
    broker = start_broker("advertised.listeners=PLAINTEXT://127.0.0.1:%d" % relay)
    cmd = [binary, "-broker", broker.bootstrap, "-proxy", "127.0.0.1:%d" % relay, "-version", version,
           "-scenario", scenario, "-timeout", "%ds" % (RUN_TIMEOUT_S - 5), "-v"]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=RUN_TIMEOUT_S)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = "timeout (%d s)" % RUN_TIMEOUT_S, e.stdout or b"", e.stderr or b""
    run = Run(version, scenario, rc, out.decode(errors="replace").splitlines(), err.decode(errors="replace"),
              broker.log_text())
    versions = run.checks.get("api_versions", {}).get("detail")
    log.info("sarama %s %s: request versions %s", version, scenario, json.dumps(versions, sort_keys=True))
    _runs[key] = run
    return run


@pytest.mark.parametrize("version,scenario,check", _params())
def test_sarama(sarama_check_bin, start_broker, version, scenario, check):
    run = _run(sarama_check_bin, start_broker, version, scenario)
    got = run.checks.get(check)
    assert got is not None, "check %s not reported\n%s" % (check, run.context())
    assert got["ok"], "%s: %s\n%s" % (check, got.get("error"), run.context())


# ---------------------------------------------------------------- request versions

def _served_versions():
    """{api name: (min, max)} from `runneld --api-versions`."""
    # Leak detection off: this only reads the table (under ASan a leak report
    # would turn the exit status to 1 and lose the buffered stdout).
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    p = subprocess.run([os.environ["RUNNELD"], "--api-versions"], stdout=subprocess.PIPE, timeout=10, check=True,
                       env=env)
    out = {}
    for m in re.finditer(r"^\|\s*\d+\s*\|\s*(\w+)\s*\|\s*(\d+)-(\d+)\s*\|", p.stdout.decode(), re.M):
        out[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return out


@pytest.mark.parametrize("version", VERSIONS)
def test_sarama_api_versions_served(sarama_check_bin, start_broker, version, capsys):
    """Every request sarama sent (all scenarios) is an API and version the
    broker advertises; prints the table of what sarama used."""
    served = _served_versions()
    assert served, "could not parse runneld --api-versions"
    used = {}
    for scenario in ["admin", "sync", "group"] + ["async-" + c for c in CODECS + ["zstd"]]:
        run = _run(sarama_check_bin, start_broker, version, scenario)
        seen = run.checks.get("api_versions", {}).get("detail")
        assert seen, "no request versions recorded for %s\n%s" % (scenario, run.context())
        for api, vs in seen.items():
            for v, n in vs.items():
                used.setdefault(api, {}).setdefault(int(v), 0)
                used[api][int(v)] += n
    table = ", ".join("%s v%s" % (api, "/".join(str(v) for v in sorted(vs))) for api, vs in sorted(used.items()))
    with capsys.disabled():
        print("\nsarama 1.22 with Config.Version %s used: %s" % (version, table))
    bad = ["%s v%d" % (api, v) for api, vs in used.items() for v in vs
           if api not in served or not served[api][0] <= v <= served[api][1]]
    assert not bad, "sarama sent requests the broker does not advertise: %s (served: %s)" % (bad, served)
