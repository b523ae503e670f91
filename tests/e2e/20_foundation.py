"""The daemon's foundation: it starts from the config config.py writes, shows it in /meta, refuses bad
configs with one line per problem, follows backend health, and answers /ping, /health and unknown
paths as InfluxDB clients expect."""

import os
import time

import pytest
import requests

from helpers import free_port, project_version, wait_until, write_config

CHECK_MS = 500

BACKEND_DEFAULTS = {
    "url": "",
    "db": "",
    "zone": "",
    "interval": 0,
    "timeout": 10000,
    "timeoutquery": 600000,
    "maxrowlimit": 10000,
    "checkinterval": 1000,
    "rewriteinterval": 10000,
    "writeonly": False,
    "username": "",
    "password": "",
    "gzip": False,
    "insecure": False,
}

NODE_FIELDS = ("listenaddr", "db", "zone", "nexts", "interval", "idletimeout", "writetracing", "querytracing",
               "username", "password", "datadir", "queuemaxmb", "fsync", "maxbodymb", "threads", "udpaddr", "udpdb",
               "udprp", "udpprecision", "httpscert", "queryforbid")


def check_influx_headers(r):
    assert r.headers.get("X-Influxdb-Version", "") != "", r.headers
    assert r.headers.get("X-Influxdb-Build", "") != "", r.headers


def stderr_lines(text):
    return [line for line in text.splitlines() if line.strip()]


def one_line_with(lines, *needles):
    """The lines containing every needle; a tuple needle matches when any of its strings is present."""
    def has(line, n):
        return any(x in line for x in n) if isinstance(n, tuple) else n in line

    return [line for line in lines if all(has(line, n) for n in needles)]


# ---- one cluster shared by the read-only tests -----------------------------------------------------------


class Cluster:
    pass


@pytest.fixture(scope="module")
def cluster(redis_mod, influxd_mod, proxy_mod, tmp_path_factory):
    c = Cluster()
    c.a = influxd_mod()
    c.b = influxd_mod()
    c.redis = redis_mod
    c.datadir = str(tmp_path_factory.mktemp("node-data"))
    c.listen_port = free_port()
    c.backends = {
        "full": {
            "url": c.a.url,
            "db": "dbfull",
            "zone": "z1",
            "interval": 5,
            "timeout": 4000,
            "timeoutquery": 30000,
            "maxrowlimit": 200,
            "checkinterval": CHECK_MS,
            "rewriteinterval": 2000,
            "writeonly": False,
            "username": "u1",
            "password": "backend-secret",
            "gzip": True,
            "insecure": True,
        },
        "min": {"url": c.b.url},
    }
    c.keymaps = {"cpu": ["full"], "mem": ["min", "full"], "_default_": ["full", "min"]}
    c.node_fields = {
        "listenaddr": "127.0.0.1:%d" % c.listen_port,
        "datadir": c.datadir,
        "zone": "z1",
        "nexts": "min",
        "interval": 5,
        "idletimeout": 20,
        "writetracing": True,
        "querytracing": False,
        "fsync": "always",
        "maxbodymb": 3,
        "threads": 2,
        "udpdb": "udp",
        "udprp": "autogen",
        "udpprecision": "s",
        "queryforbid": "(?i)from\\s+secret",
    }
    # Fields n:l1 does not set come from default_node; idletimeout is overridden by n:l1.
    c.default_node = {"idletimeout": 30, "queuemaxmb": 32}
    c.started_at = time.time()
    c.proxy = proxy_mod(redis_mod, c.backends, c.keymaps, node="l1", node_fields=c.node_fields,
                        default_node=c.default_node)
    return c


def wait_all_healthy(proxy, names, timeout=10):
    def ok():
        st = proxy.meta()["backendStatus"]
        return all(st.get(n) is True for n in names) and st

    return wait_until(ok, timeout, what="backends %s healthy" % names)


def test_meta_backends_equal_config_with_defaults(cluster):
    meta = cluster.proxy.meta()
    assert set(meta["backends"]) == {"full", "min"}
    for name, given in cluster.backends.items():
        want = dict(BACKEND_DEFAULTS, **given)
        want["password"] = "******" if given.get("password") else ""
        got = meta["backends"][name]
        for field, value in want.items():
            assert field in got, (name, field)
            assert got[field] == value and type(got[field]) is type(value), (name, field, got[field], value)
    assert "backend-secret" not in cluster.proxy.get("/meta").text


def test_meta_keymaps_in_order(cluster):
    assert cluster.proxy.meta()["measurementToBackends"] == cluster.keymaps


def test_meta_node(cluster):
    meta = cluster.proxy.meta()
    node = meta["node"]
    assert node["name"] == "l1"
    assert node["listen"] == cluster.node_fields["listenaddr"]
    assert project_version() in node["version"]
    assert isinstance(node["uptime_s"], int) and 0 <= node["uptime_s"] <= time.time() - cluster.started_at + 2
    assert isinstance(node["config_loaded_at"], int)
    assert cluster.started_at - 2 <= node["config_loaded_at"] <= time.time() + 1
    assert node["reload_error"] is None
    cfg = node["config"]
    want = {f: "" for f in NODE_FIELDS}
    want.update(cluster.node_fields)
    want.update(queuemaxmb=32, password="")
    for field in NODE_FIELDS:
        assert field in cfg, field
        if field == "datadir":
            assert os.path.realpath(cfg[field]) == os.path.realpath(want[field])
        else:
            assert cfg[field] == want[field] and type(cfg[field]) is type(want[field]), (field, cfg[field])


def test_meta_backend_status_and_health_pass(cluster):
    wait_all_healthy(cluster.proxy, ["full", "min"])
    r = cluster.proxy.get("/health")
    check_influx_headers(r)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "pass"
    assert {n: b["healthy"] for n, b in body["backends"].items()} == {"full": True, "min": True}


def test_meta_queues_and_proxies(cluster):
    meta = cluster.proxy.meta()
    assert isinstance(meta["proxies"], list)
    assert set(meta["queues"]) == {"full", "min"}
    for name, q in meta["queues"].items():
        for field in ("bytes", "records", "oldest_age_s", "rejected"):
            assert isinstance(q[field], int) and q[field] == 0, (name, field, q)
        assert q["replaying"] is False, (name, q)


def test_ping(cluster):
    r = cluster.proxy.get("/ping")
    assert r.status_code == 204 and r.content == b""
    check_influx_headers(r)
    r = requests.head(cluster.proxy.url + "/ping", timeout=5)
    assert r.status_code == 204
    check_influx_headers(r)
    r = cluster.proxy.get("/ping", params={"verbose": "true"})
    assert r.status_code == 200
    check_influx_headers(r)
    assert r.json()["version"] == r.headers["X-Influxdb-Version"]


CORS_HEADERS = ("Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
                "Access-Control-Expose-Headers")


@pytest.mark.parametrize("method,path,params,body", [
    ("OPTIONS", "/write", {}, None),
    ("OPTIONS", "/query", {}, None),
    ("GET", "/ping", {}, None),
    ("GET", "/query", {"q": "SHOW DATABASES"}, None),
    ("POST", "/write", {"db": "corsdb"}, b"no-fields-here\n"),
])
def test_cors_as_influxd(cluster, method, path, params, body):
    """A browser (Grafana's browser access mode, a dashboard querying from JavaScript) sends an Origin, and a preflight
    OPTIONS before a POST: answered as influxd answers them, with its CORS headers; none without an Origin."""
    assert cluster.a.query("CREATE DATABASE corsdb")["results"][0].get("error") is None
    hdrs = {"Origin": "http://dash.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization"}
    want = requests.request(method, cluster.a.url + path, params=params, data=body, headers=hdrs, timeout=5)
    got = requests.request(method, cluster.proxy.url + path, params=params, data=body, headers=hdrs, timeout=5)
    assert want.headers["Access-Control-Allow-Origin"] == "http://dash.example"
    assert got.status_code == want.status_code, (got.status_code, got.text, want.text)
    for h in CORS_HEADERS:
        assert got.headers.get(h) == want.headers.get(h), h
    if method == "OPTIONS":
        assert got.content == b"" and got.headers["Content-Length"] == "0"
    plain = requests.request(method, cluster.proxy.url + path, params=params, data=body, timeout=5)
    assert plain.status_code == want.status_code
    assert not any(h in plain.headers for h in CORS_HEADERS), plain.headers


@pytest.mark.parametrize("method,path", [("GET", "/nope"), ("POST", "/api/v2/nothing"), ("GET", "/pingx")])
def test_unknown_path_is_404_json(cluster, method, path):
    r = requests.request(method, cluster.proxy.url + path, timeout=5)
    assert r.status_code == 404
    check_influx_headers(r)
    assert r.headers["Content-Type"].startswith("application/json")
    assert isinstance(r.json()["error"], str) and r.json()["error"] != ""
    assert r.headers.get("X-Influxdb-Error", "") != ""


@pytest.mark.parametrize("flag", ["-version", "--version"])
def test_version_flag(proxy, flag):
    rc, out, err = proxy.run([flag])
    assert rc == 0, err
    assert out == "influxdb-proxy %s\n" % project_version()


def test_help_flag(proxy):
    rc, out, err = proxy.run(["-help"])
    assert rc == 0, err
    for opt in ("-redis", "-redis-pwd", "-redis-db", "-node", "-log-level", "-version"):
        assert opt in out, opt


# ---- startup failures -------------------------------------------------------------------------------------


def put_valid_config(client, listen_port):
    client.hset("b:x", mapping={"url": "http://127.0.0.1:1", "checkinterval": "1000"})
    client.rpush("m:cpu", "x")
    client.hset("n:l1", mapping={"listenaddr": "127.0.0.1:%d" % listen_port})


def nothing_listens(port):
    try:
        requests.get("http://127.0.0.1:%d/ping" % port, timeout=1)
    except requests.ConnectionError:
        return True
    return False


INVALID = [
    # (id, how to break the valid config, [needles that one stderr line must all contain], ...)
    ("unknown-backend-in-keymap", lambda c: c.rpush("m:cpu", "y"), [["m:cpu", '"y"']]),
    ("bad-url", lambda c: c.hset("b:x", "url", "ftp://nowhere"), [["b:x", '"url"']]),
    ("url-missing", lambda c: c.hdel("b:x", "url"), [["b:x", '"url"']]),
    ("non-numeric", lambda c: c.hset("b:x", "timeout", "abc"), [["b:x", '"timeout"', "abc"]]),
    ("zero-timeout", lambda c: c.hset("b:x", "checkinterval", "0"), [["b:x", '"checkinterval"']]),
    ("bad-bool", lambda c: c.hset("b:x", "gzip", "yes"), [["b:x", '"gzip"']]),
    ("unknown-field", lambda c: c.hset("b:x", "foo", "1"), [["b:x", '"foo"']]),
    ("unknown-backend-other-keymap", lambda c: c.rpush("m:mem", "zz"), [["m:mem", '"zz"']]),
    ("node-fsync", lambda c: c.hset("n:l1", "fsync", "sometimes"), [["n:l1", '"fsync"']]),
    ("node-nexts", lambda c: c.hset("n:l1", "nexts", "x,ghost"), [["n:l1", '"nexts"', "ghost"]]),
    ("node-listenaddr", lambda c: c.hset("n:l1", "listenaddr", "nohost"), [["n:l1", '"listenaddr"']]),
    # A bad default_node value may be reported against default_node or against the node that uses it.
    ("default-node-threads", lambda c: c.hset("default_node", "threads", "65"),
     [[("default_node", "n:l1"), '"threads"']]),
    ("all-at-once",
     lambda c: (c.rpush("m:cpu", "y"), c.hset("b:x", mapping={"url": "ftp://nowhere", "timeout": "abc"}),
                c.hset("b:w", "maxrowlimit", "-3")),
     [["m:cpu", '"y"'], ["b:x", '"url"'], ["b:x", '"timeout"'], ["b:w", '"url"'], ["b:w", '"maxrowlimit"']]),
]


@pytest.mark.parametrize("breaker,expected", [pytest.param(b, e, id=i) for i, b, e in INVALID])
def test_invalid_config_in_redis_is_refused(redis, proxy, breaker, expected):
    port = free_port()
    c = redis.client()
    put_valid_config(c, port)
    breaker(c)
    rc, err = proxy.run_expect_fail(["-redis", redis.addr, "-node", "l1"])
    assert rc == 1, err
    lines = stderr_lines(err)
    for needles in expected:
        assert len(one_line_with(lines, *needles)) == 1, (needles, err)
    assert "Segmentation" not in err and "Assertion" not in err
    assert nothing_listens(port)


def test_valid_config_written_straight_into_redis_starts(redis, proxy):
    """The control case of the test above: the same base config, unbroken, is accepted."""
    port = free_port()
    put_valid_config(redis.client(), port)
    p = proxy(redis, write=False, listen_port=port)
    assert p.meta()["measurementToBackends"] == {"cpu": ["x"]}


def test_redis_down_is_one_clear_line(proxy):
    port = free_port()
    addr = "127.0.0.1:%d" % port
    rc, err = proxy.run_expect_fail(["-redis", addr, "-node", "l1"])
    assert rc == 1
    lines = stderr_lines(err)
    assert len(lines) == 1, err
    assert "redis" in lines[0].lower() and addr in lines[0]


def test_missing_node_is_refused(redis, proxy, tmp_path):
    write_config(redis, tmp_path, {"x": {"url": "http://127.0.0.1:1"}}, {"_default_": ["x"]},
                 {"l1": {"listenaddr": "127.0.0.1:%d" % free_port()}}, {})
    rc, err = proxy.run_expect_fail(["-redis", redis.addr, "-node", "l9"])
    assert rc == 1
    assert one_line_with(stderr_lines(err), "n:l9"), err
    assert one_line_with(stderr_lines(err), '"l9"', "default_node"), err


def test_node_from_default_node_alone(redis, proxy, tmp_path, influxd):
    """A node with no n:<name> hash runs on default_node."""
    i = influxd()
    port = free_port()
    write_config(redis, tmp_path, {"x": {"url": i.url}}, {"_default_": ["x"]}, {},
                 {"listenaddr": "127.0.0.1:%d" % port, "datadir": str(tmp_path / "data"), "maxbodymb": 9})
    p = proxy(redis, write=False, node="other", listen_port=port)
    meta = p.meta()
    assert meta["node"]["name"] == "other"
    assert meta["node"]["config"]["maxbodymb"] == 9
    assert meta["node"]["config"]["fsync"] == "everysec"
    assert meta["node"]["config"]["queuemaxmb"] == 1024 and meta["node"]["config"]["threads"] == 0


def test_redis_password_db_and_double_dash_flags(redis_factory, proxy, tmp_path, influxd):
    r = redis_factory(password="pw-9")
    i = influxd()
    port = free_port()
    write_config(r, tmp_path, {"x": {"url": i.url}}, {"_default_": ["x"]},
                 {"n7": {"listenaddr": "127.0.0.1:%d" % port, "datadir": str(tmp_path / "d")}}, {},
                 extra_args=["--db", "2"])
    assert r.client(0).dbsize() == 0
    # Wrong database: nothing there for n7.
    rc, err = proxy.run_expect_fail(["--redis", r.addr, "--redis-pwd", "pw-9", "--node", "n7"])
    assert rc == 1 and "n7" in err, err
    p = proxy(r, write=False, node="n7", listen_port=port, args=["--redis-db", "2", "--log-level", "warn"])
    assert p.meta()["node"]["name"] == "n7"
    assert p.stop() == 0, p.stderr()


# ---- health ---------------------------------------------------------------------------------------------------


def test_backend_health_follows_the_backend(redis, influxd, proxy):
    a, b = influxd(), influxd()
    backends = {"a": {"url": a.url, "checkinterval": CHECK_MS}, "b": {"url": b.url, "checkinterval": CHECK_MS}}
    keymaps = {"cpu": ["a"], "_default_": ["a", "b"]}
    p = proxy(redis, backends, keymaps)
    wait_all_healthy(p, ["a", "b"])
    assert p.get("/health").status_code == 200

    a.kill()
    t0 = time.monotonic()
    wait_until(lambda: p.meta()["backendStatus"]["a"] is False, 5, interval=0.02, what="a unhealthy")
    took = time.monotonic() - t0
    assert took <= 2 * CHECK_MS / 1000 + 0.3, "backendStatus turned false after %.2fs" % took
    assert p.meta()["backendStatus"]["b"] is True

    r = p.get("/health")
    check_influx_headers(r)
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["status"] == "fail"
    assert body["backends"]["a"]["healthy"] is False and body["backends"]["b"]["healthy"] is True

    a.start()
    t0 = time.monotonic()
    wait_until(lambda: p.meta()["backendStatus"]["a"] is True, 5, interval=0.02, what="a healthy again")
    took = time.monotonic() - t0
    assert took <= 2 * CHECK_MS / 1000 + 0.3, "backendStatus turned true after %.2fs" % took
    r = p.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "pass", r.text


def test_health_fails_only_for_a_keymap_without_healthy_backend(redis, influxd, proxy):
    """Losing one replica of a two-backend set keeps /health passing."""
    a, b = influxd(), influxd()
    backends = {"a": {"url": a.url, "checkinterval": CHECK_MS}, "b": {"url": b.url, "checkinterval": CHECK_MS}}
    p = proxy(redis, backends, {"_default_": ["a", "b"]})
    wait_all_healthy(p, ["a", "b"])
    b.stop()
    wait_until(lambda: p.meta()["backendStatus"]["b"] is False, 5, what="b unhealthy")
    r = p.get("/health")
    assert r.status_code == 200 and r.json()["status"] == "pass", r.text
    assert r.json()["backends"]["b"]["healthy"] is False


# ---- the rig itself ----------------------------------------------------------------------------------------


def test_influxd_restart_keeps_ports_and_data(influxd):
    """Later scenarios rely on a restarted backend being the same server with the same points."""
    i = influxd(dbs=["rig"])
    r = i.write("m,t=a v=1i 1000000000\n", "rig")
    assert r.status_code == 204, r.text
    i.kill()
    assert i.ping_status() is None
    i.start()
    res = i.query("SELECT v FROM m", db="rig")
    assert res["results"][0]["series"][0]["values"] == [["1970-01-01T00:00:01Z", 1]]


class SwitchBackend:
    """An HTTP server in this process: /ping answers 204, /write answers `status` (204 keeps the body's lines; 0 closes
    the connection without an answer); with `down` set, every request gets its connection closed."""

    def __init__(self, status):
        import http.server
        import threading

        self.status, self.lines, self.writes, self.down = status, [], 0, False
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self, status, body=b""):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                if body:
                    self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if outer.down:
                    self.close_connection = True
                else:
                    self.answer(204)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.writes += 1
                if outer.down:
                    self.close_connection = True
                elif outer.status == 204:
                    outer.lines += body.decode().splitlines()
                    self.answer(204)
                elif outer.status == 0:
                    self.close_connection = True
                else:
                    self.answer(outer.status, b'{"error":"not now"}')

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_wall_clock_stepping_back_stops_no_timer(redis, proxy):
    """The system clock steps back an hour while the daemon runs (an NTP step, a VM resumed; tests/e2e/clockstep.c
    does it to the daemon alone): its timers and retry times run on. A replay failing before the step is tried
    again every rewriteinterval after it, and goes through once the backend takes writes; a backend that goes away
    after the step is seen down, and up again when it returns, within seconds, not an hour. Log lines carry the wall
    clock's time, an hour back; the uptime does not go back."""
    import datetime
    from pathlib import Path

    import helpers

    shim = Path(helpers.proxy_bin()).resolve().parent.parent / "tests" / "libclockstep.so"
    assert shim.exists(), "%s not built" % shim
    be = SwitchBackend(0)
    try:
        p = proxy(redis, {"D": {"url": be.url, "checkinterval": 200, "rewriteinterval": 300}}, {"_default_": ["D"]},
                  start=False)
        p.env = dict(os.environ, LD_PRELOAD=str(shim), CLOCKSTEP_AFTER_MS="4000", CLOCKSTEP_BACK_S="3600",
                     ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0")
        p.start()
        wait_until(lambda: p.meta()["backendStatus"]["D"] is True, 5, what="D healthy")
        # D takes no write: the write is queued and its replay fails, to be tried again after rewriteinterval
        r = requests.post(p.url + "/write", params={"db": "cs"}, data="m v=1 1000000000\n", timeout=10)
        assert r.status_code == 204, r.text
        wait_until(lambda: be.writes >= 3, 5, what="the replay tried again")
        time.sleep(4.5)  # past the step
        tries = be.writes
        wait_until(lambda: be.writes > tries, 3, what="the replay tried again after the step")
        be.status = 204
        wait_until(lambda: p.meta()["queues"]["D"]["records"] == 0, 3, what="the queue replayed after the step")
        assert be.lines == ["m v=1 1000000000"]
        # the health checks run on too
        be.down = True
        wait_until(lambda: p.meta()["backendStatus"]["D"] is False, 5, what="D seen down after the step")
        assert p.meta()["node"]["uptime_s"] < 600, p.meta()["node"]
    finally:
        be.close()
    stamps = [datetime.datetime.strptime(ln[:19], "%Y-%m-%dT%H:%M:%S") for ln in p.stderr().splitlines()
              if ln[:4].isdigit()]
    assert (stamps[0] - stamps[-1]).total_seconds() > 3500, (stamps[0], stamps[-1])
