"""Runs each kafkajs test (js/*.test.js) with node against a fresh broker.

A script passes when it exits 0 within its hard timeout. Records a script
announces on `EXPECT {json}` lines are then read back with librdkafka and
compared, so what kafkajs wrote is checked by another client.
Scripts named *.groups.test.js need consumer groups and are marked `groups`.
"""

import glob
import json
import os
import subprocess

import pytest

from helpers import confluent_consume

JS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "js")
NODE_TIMEOUT_S = 50


def scripts():
    out = []
    for path in sorted(glob.glob(os.path.join(JS_DIR, "*.test.js"))):
        name = os.path.basename(path)
        marks = [pytest.mark.groups] if name.endswith(".groups.test.js") else []
        out.append(pytest.param(path, id=name, marks=marks))
    return out


def as_bytes(v):
    return None if v is None else v.encode()


@pytest.mark.parametrize("script", scripts())
def test_kafkajs_script_passes(broker, script):
    assert os.path.isdir(os.path.join(JS_DIR, "node_modules", "kafkajs")), \
        "kafkajs is not installed in %s: run scripts/deps.sh" % JS_DIR
    env = dict(os.environ, RUNNEL_BOOTSTRAP=broker.bootstrap, KAFKAJS_NO_PARTITIONER_WARNING="1")
    try:
        p = subprocess.run(["node", script], cwd=JS_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=NODE_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        pytest.fail("node %s did not finish within %d s\nstdout:\n%s\nstderr:\n%s" % (
            os.path.basename(script), NODE_TIMEOUT_S, (e.stdout or b"").decode(errors="replace"),
            (e.stderr or b"").decode(errors="replace")), pytrace=False)
    stdout, stderr = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    assert p.returncode == 0, "node %s exited %d\nstdout:\n%s\nstderr:\n%s" % (
        os.path.basename(script), p.returncode, stdout, stderr)
    for line in stdout.splitlines():
        if not line.startswith("EXPECT "):
            continue
        exp = json.loads(line[len("EXPECT "):])
        want = exp["records"]
        got = confluent_consume(broker.bootstrap, exp["topic"], len(want), partition=exp["partition"])
        assert [(m.offset(), m.key(), m.value()) for m in got] == \
            [(r["offset"], as_bytes(r["key"]), as_bytes(r["value"])) for r in want]
        assert [m.headers() or [] for m in got] == [[(k, as_bytes(v)) for k, v in r["headers"]] for r in want]
