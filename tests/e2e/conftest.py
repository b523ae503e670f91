"""Fixtures of the end-to-end tests: real redis-server, influxd and influxdb-proxy processes.

Run with the system interpreter:  /usr/bin/python3 -m pytest tests/e2e
The daemon is <repo>/build/proxy/influxdb-proxy unless INFLUXDB_PROXY_BIN names another binary.

Function-scoped fixtures (redis, influxd, proxy) give a test its own processes; the *_mod variants are
shared by the tests of one module that only read. Every process is stopped at teardown, also when the
test fails, and again at the end of the session if anything survived.
"""

import atexit
import os
import signal
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import helpers  # noqa: E402

atexit.register(helpers.stop_all)


# ---- per-test time limit (pytest-timeout is not in Debian's base set) ---------------------------------


def pytest_addoption(parser):
    parser.addini("e2e_timeout", "seconds each test phase (setup, call, teardown) may take", default="120")


class PhaseTimeout(Exception):
    pass


def _with_alarm(item, phase):
    seconds = int(item.config.getini("e2e_timeout"))

    def on_alarm(signum, frame):
        raise PhaseTimeout("%s of %s took more than %ds" % (phase, item.nodeid, seconds))

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    return old


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    old = _with_alarm(item, "setup")
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    old = _with_alarm(item, "call")
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    old = _with_alarm(item, "teardown")
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def _on_sigterm(signum, frame):
    # Turn SIGTERM into an interrupt so fixture teardown and atexit stop the servers.
    raise KeyboardInterrupt("SIGTERM")


def pytest_configure(config):
    signal.signal(signal.SIGTERM, _on_sigterm)


def pytest_sessionfinish(session, exitstatus):
    helpers.stop_all()


# ---- factories -----------------------------------------------------------------------------------------


class Factory:
    """Creates processes in numbered subdirectories of one temp dir and stops them all on close()."""

    def __init__(self, tmpdir):
        self.tmpdir = Path(tmpdir)
        self.procs = []

    def _dir(self, kind):
        d = self.tmpdir / ("%s-%d" % (kind, len(self.procs)))
        d.mkdir(parents=True, exist_ok=True)
        return d

    def close(self):
        for p in reversed(self.procs):
            p.stop()


class RedisFactory(Factory):
    def __call__(self, password=None):
        r = helpers.RedisServer(self._dir("redis"), password=password)
        self.procs.append(r)
        return r.start()


class InfluxdFactory(Factory):
    def __call__(self, dbs=(), https=None, env=None):
        """A started influxd; creates the databases named in @dbs. @https, @env: see helpers.Influxd."""
        i = helpers.Influxd(self._dir("influxd"), https=https, env=env)
        self.procs.append(i)
        i.start()
        for db in dbs:
            i.create_db(db)
        return i


class ProxyFactory(Factory):
    """proxy(redis, backends, keymaps, ...) writes the config with config.py and starts a node.

    The node's listenaddr (a free 127.0.0.1 port) and datadir (in the temp dir) are filled in unless
    @node_fields sets them. With write=False nothing is written: the caller has put the config into
    Redis itself and passes listen_port. Extra daemon arguments go in @args."""

    def __call__(self, redis, backends=None, keymaps=None, node="l1", node_fields=None, default_node=None,
                 other_nodes=None, write=True, listen_port=None, args=(), start=True):
        if not os.access(helpers.proxy_bin(), os.X_OK):
            pytest.fail("influxdb-proxy binary not found at %s (build it, or set INFLUXDB_PROXY_BIN)" %
                        helpers.proxy_bin())
        workdir = self._dir("proxy")
        fields = dict(node_fields or {})
        if listen_port is None:
            listen_port = free_port_for_listen(fields)
        fields.setdefault("listenaddr", "127.0.0.1:%d" % listen_port)
        fields.setdefault("datadir", str(workdir / "data"))
        if write:
            nodes = dict(other_nodes or {})
            nodes[node] = fields
            helpers.write_config(redis, self.tmpdir, backends, keymaps, nodes, default_node)
        extra = list(args)
        if redis.password:
            extra += ["-redis-pwd", redis.password]
        p = helpers.Proxy(workdir, redis.addr, node, listen_port, extra)
        self.procs.append(p)
        return p.start() if start else p

    def run_expect_fail(self, args, timeout=15):
        """Runs the daemon with @args, expecting it to exit; returns (status, stderr)."""
        if not os.access(helpers.proxy_bin(), os.X_OK):
            pytest.fail("influxdb-proxy binary not found at %s" % helpers.proxy_bin())
        rc, _, err = helpers.run_proxy(args, self._dir("run"), timeout)
        return rc, err

    def run(self, args, timeout=15):
        """Runs the daemon with @args until it exits; returns (status, stdout, stderr)."""
        if not os.access(helpers.proxy_bin(), os.X_OK):
            pytest.fail("influxdb-proxy binary not found at %s" % helpers.proxy_bin())
        return helpers.run_proxy(args, self._dir("run"), timeout)

    def close(self):
        """Stops the nodes; a sanitizer report in a node's stderr (a sanitizer build: memory error, undefined
        behaviour, or memory still allocated at a clean exit) fails the test that ran it."""
        super().close()
        reports = []
        for p in self.procs:
            report = helpers.sanitizer_report(p.stderr())
            if report:
                reports.append("%s:\n%s" % (p.stderr_path, report))
        if reports:
            pytest.fail("sanitizer report in the daemon's stderr:\n" + "\n".join(reports), pytrace=False)


def free_port_for_listen(fields):
    addr = fields.get("listenaddr")
    if addr:
        return int(addr.rpartition(":")[2])
    return helpers.free_port()


def _factory(cls, tmpdir):
    f = cls(tmpdir)
    try:
        yield f
    finally:
        f.close()


@pytest.fixture
def port():
    """A free port on 127.0.0.1."""
    return helpers.free_port()


@pytest.fixture
def redis_factory(tmp_path):
    yield from _factory(RedisFactory, tmp_path / "redis")


@pytest.fixture
def redis(redis_factory):
    """A fresh redis-server for this test (.addr, .port, .client(db))."""
    return redis_factory()


@pytest.fixture(scope="module")
def redis_mod(tmp_path_factory):
    """One redis-server shared by the tests of a module."""
    f = RedisFactory(tmp_path_factory.mktemp("redis-mod"))
    try:
        yield f()
    finally:
        f.close()


@pytest.fixture
def influxd(tmp_path):
    """Factory: influxd() starts a fresh influxd; stop()/kill()/start() on the same ports and data."""
    yield from _factory(InfluxdFactory, tmp_path / "influxd")


@pytest.fixture(scope="module")
def influxd_mod(tmp_path_factory):
    yield from _factory(InfluxdFactory, tmp_path_factory.mktemp("influxd-mod"))


@pytest.fixture
def proxy(tmp_path):
    """Factory for influxdb-proxy nodes; see ProxyFactory."""
    yield from _factory(ProxyFactory, tmp_path / "proxy")


@pytest.fixture(scope="module")
def proxy_mod(tmp_path_factory):
    yield from _factory(ProxyFactory, tmp_path_factory.mktemp("proxy-mod"))
