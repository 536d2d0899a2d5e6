"""Helpers for the `runnel` command-line tool's tests (test_cli_*.py).

The tool is found next to the broker: $RUNNEL if set, else the `runnel`
binary in $RUNNELD's directory (the Makefile builds both into $(BUILD)).
Every run is bounded by a timeout and returns the exit code with stdout and
stderr as text. Nothing here is a test; pytest collects this module and
finds none.
"""

import json
import os
import subprocess
import uuid

import pytest

RUN_TIMEOUT_S = 30


def runnel_path():
    path = os.environ.get("RUNNEL") or os.path.join(os.path.dirname(os.environ.get("RUNNELD", "")), "runnel")
    if not os.path.isabs(path) or not os.access(path, os.X_OK):
        pytest.fail("no runnel binary at %r: build it (make) or set RUNNEL to its absolute path" % path,
                    pytrace=False)
    return path


class Result:
    def __init__(self, cmd, proc):
        self.cmd = cmd
        self.rc = proc.returncode
        self.out = proc.stdout.decode("utf-8", "replace")
        self.err = proc.stderr.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.out)

    def json_lines(self):
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]

    def __repr__(self):
        return "runnel exited %s\n  cmd: %s\n  stdout: %r\n  stderr: %r" % (
            self.rc, " ".join(self.cmd), self.out[-2000:], self.err[-2000:])


def runnel(target, *args, input=None, timeout=RUN_TIMEOUT_S, env=None):
    """Runs `runnel --brokers <target> ARGS`. target is a Broker, a
    bootstrap string, or None (no --brokers). input: str or bytes for stdin."""
    cmd = [runnel_path()]
    if target is not None:
        cmd += ["--brokers", target if isinstance(target, str) else target.bootstrap]
    cmd += list(args)
    e = dict(os.environ)
    e.pop("RUNNEL_BROKERS", None)
    e.update(env or {})
    if isinstance(input, str):
        input = input.encode()
    proc = subprocess.run(cmd, input=input if input is not None else b"", stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=timeout, env=e)
    return Result(cmd, proc)


def ok(r):
    """Asserts exit 0 and no sanitizer report; returns r."""
    assert r.rc == 0, r
    assert "runtime error:" not in r.err and "AddressSanitizer" not in r.err, r
    return r


def topic_name(prefix="cli"):
    return "%s-%s" % (prefix, uuid.uuid4().hex[:10])


def create_topic(broker, partitions=1, prefix="cli"):
    name = topic_name(prefix)
    ok(runnel(broker, "topic", "create", name, "-p", str(partitions)))
    return name


def api_supported(broker, *api_names):
    """True when the broker's ApiVersions lists every named API (asked with
    `runnel cluster info --output json`)."""
    r = ok(runnel(broker, "--output", "json", "cluster", "info"))
    apis = set()
    for ranges in r.json()["api_versions"].values():
        apis.update(x["api"] for x in ranges)
    return all(name in apis for name in api_names)


def require_apis(broker, *api_names):
    if not api_supported(broker, *api_names):
        pytest.skip("the broker does not serve %s yet (not in its ApiVersions)" % ", ".join(api_names))
