"""Fixtures that run a real runneld for each test.

`broker` starts one with default configuration; `start_broker(*overrides)`
starts one with extra `--override key=value` settings. Each broker gets a
free 127.0.0.1 port and its own data directory, and must exit with status 0
within 10 s of SIGTERM at teardown: clean shutdown is part of what is tested.
Its stdout and stderr go to a file that is printed when the test fails.

RUNNELD must hold the broker's absolute path (the Makefile sets it). With
RUNNEL_SAN=1 (run.sh sets it for an ASan build) the broker runs with leak
detection, and any sanitizer report in its output fails the test.
"""

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
TEST_TIMEOUT_S = 60  # fallback when pytest-timeout is missing (pytest.ini sets the same)
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


def pytest_addoption(parser, pluginmanager):
    if not pluginmanager.hasplugin("timeout"):
        parser.addini("timeout", "per-test timeout in seconds (fallback for pytest-timeout)", default=str(TEST_TIMEOUT_S))
        parser.addini("timeout_method", "ignored: the fallback always uses SIGALRM")


def pytest_collection_modifyitems(config, items):
    """Scale measurements are long and not pass/fail checks: opt in with RUNNEL_SCALE=1."""
    if os.environ.get("RUNNEL_SCALE") == "1":
        return
    skip = pytest.mark.skip(reason="scale measurement; set RUNNEL_SCALE=1 to run")
    for item in items:
        if "scale" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _alarm_timeout(request):
    """Per-test SIGALRM timeout, only when the pytest-timeout plugin is absent."""
    if request.config.pluginmanager.hasplugin("timeout"):
        yield
        return
    seconds = int(request.config.getini("timeout") or TEST_TIMEOUT_S)

    def on_alarm(signum, frame):
        pytest.fail("test exceeded %d s" % seconds, pytrace=True)

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# ---------------------------------------------------------------- the broker

def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """In the child: get SIGKILL when pytest dies, so no broker outlives a
    run killed by run.sh's timeout."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def describe_status(rc):
    if rc is not None and rc < 0:
        return "signal %s" % signal.Signals(-rc).name
    return "status %s" % rc


def sanitizer_enabled():
    return os.environ.get("RUNNEL_SAN") == "1"


class Broker:
    """A runneld process on 127.0.0.1:<port> with data in <datadir>."""

    def __init__(self, binary, workdir, overrides):
        self.binary = binary
        self.workdir = workdir
        self.datadir = os.path.join(workdir, "data")
        os.makedirs(self.datadir)
        self.stderr_path = os.path.join(workdir, "runneld.log")
        self.overrides = list(overrides)
        self.port = free_port()
        self.bootstrap = "127.0.0.1:%d" % self.port
        self.proc = None
        self.starts = 0
        self.exit_expected = False  # set when the tests stop or kill it

    @property
    def pid(self):
        return self.proc.pid

    def command(self):
        cmd = [self.binary,
               "--override", "listeners=PLAINTEXT://127.0.0.1:%d" % self.port,
               "--override", "log.dirs=%s" % self.datadir]
        for o in self.overrides:
            cmd += ["--override", o]
        return cmd

    def log_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def start(self):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        env = dict(os.environ)
        if sanitizer_enabled():
            env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
            env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.starts += 1
        self.exit_expected = False
        with open(self.stderr_path, "ab") as log:
            log.write(("---- start #%d: %s\n" % (self.starts, " ".join(self.command()))).encode())
            log.flush()
            self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=env, cwd=self.workdir, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self.exit_expected = True
                pytest.fail("runneld exited with %s during start-up; its output:\n%s"
                            % (describe_status(rc), self.log_text()), pytrace=False)
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail("runneld did not accept connections on port %d within %.0f s; its output:\n%s"
                            % (self.port, START_TIMEOUT_S, self.log_text()), pytrace=False)
            time.sleep(0.02)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL and reap. No shutdown code runs."""
        self.exit_expected = True
        if self.running():
            self.proc.kill()
        if self.proc is not None:
            self.proc.wait()

    def stop(self):
        """SIGTERM; the broker must exit with status 0 within STOP_TIMEOUT_S.
        Fails too when it had already died on its own."""
        if self.proc is None:
            return None
        if not self.running():
            if self.exit_expected:
                return self.proc.returncode
            self.exit_expected = True
            rc = self.proc.returncode
            hint = ""
            if rc == 0 or rc == -signal.SIGTERM or rc == -signal.SIGKILL:
                hint = " (the test did not stop it: another process signalled it, e.g. a pkill/killall)"
            pytest.fail("runneld died during the test: %s%s; its output:\n%s"
                        % (describe_status(rc), hint, self.log_text()), pytrace=False)
        self.exit_expected = True
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("runneld did not exit within %.0f s of SIGTERM; its output:\n%s"
                        % (STOP_TIMEOUT_S, self.log_text()), pytrace=False)
        if rc != 0:
            pytest.fail("runneld exited with %s after SIGTERM (clean shutdown must exit 0); its output:\n%s"
                        % (describe_status(rc), self.log_text()), pytrace=False)
        return rc

    def restart(self, kill9=False):
        """Stops (SIGKILL when kill9, else a checked clean SIGTERM) and starts
        again on the same port with the same data directory."""
        if kill9:
            self.kill()
        else:
            self.stop()
        return self.start()

    def cpu_seconds(self):
        """User + system CPU time the broker has used (all threads)."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        return ticks / os.sysconf("SC_CLK_TCK")

    def check_sanitizer_output(self):
        text = self.log_text()
        for marker in SANITIZER_MARKERS:
            if marker in text:
                pytest.fail("sanitizer report (%r) in runneld output:\n%s" % (marker, text), pytrace=False)


def _runneld_path():
    path = os.environ.get("RUNNELD")
    if not path:
        pytest.fail("RUNNELD is not set: it must be the absolute path of the runneld binary "
                    "(run `make integration`, or RUNNELD=$PWD/build/runneld tests/integration/run.sh)",
                    pytrace=False)
    if not os.path.isabs(path) or not os.access(path, os.X_OK):
        pytest.fail("RUNNELD=%s is not an absolute path to an executable" % path, pytrace=False)
    return path


@pytest.fixture
def start_broker():
    """Factory: start_broker("key=value", ...) starts a broker with those
    overrides; every broker it started is stopped and checked at teardown."""
    binary = _runneld_path()
    brokers = []

    def start(*overrides):
        workdir = tempfile.mkdtemp(prefix="runnel-it-")
        b = Broker(binary, workdir, overrides)
        brokers.append(b)
        return b.start()

    yield start

    errors = []
    for b in brokers:
        try:
            b.stop()
        except BaseException as e:  # pytest.fail raises an Exception subclass we still want reported
            errors.append(str(e))
        finally:
            b.kill()
        try:
            if sanitizer_enabled():
                b.check_sanitizer_output()
        except BaseException as e:
            errors.append(str(e))
        # Shown by pytest only when the test fails.
        text = b.log_text()
        print("==== runneld output (%s, last 200 lines) ====" % b.bootstrap)
        print("\n".join(text.splitlines()[-200:]))
        shutil.rmtree(b.workdir, ignore_errors=True)
    if errors:
        pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture
def broker(start_broker):
    """A broker with default configuration."""
    return start_broker()
