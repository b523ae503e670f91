"""config.py against a real redis-server: what it writes, how (one transaction, SCAN, PUBLISH), what it
refuses, and its read-only modes."""

import copy
import threading
import time

import pytest

from helpers import RELOAD_CHANNEL, config_file_text, run_config_py, wait_until, write_config

BACKENDS = {
    "a": {
        "url": "http://127.0.0.1:18086",
        "db": "dba",
        "zone": "z1",
        "interval": 0,
        "timeout": 5000,
        "timeoutquery": "60000",
        "maxrowlimit": 500,
        "checkinterval": 250,
        "rewriteinterval": 3000,
        "writeonly": False,
        "username": "ua",
        "password": "secret-a",
        "gzip": True,
        "insecure": 0,
    },
    "b": {"url": "https://influx-b.example:8086/", "writeonly": "1"},
}
KEYMAPS = {"cpu": ["a"], "mem": ["b", "a"], "_default_": ["a", "b"]}
NODES = {
    "l1": {
        "listenaddr": "127.0.0.1:6666",
        "nexts": "a, b",
        "threads": 0,
        "fsync": "always",
        "writetracing": True,
        "password": "node-secret",
        "udpaddr": ":8089",
        "udpprecision": "ms",
    },
    "l2": {"listenaddr": ":6667", "zone": "z2"},
}
DEFAULT_NODE = {"interval": 10, "idletimeout": "30", "queuemaxmb": 64, "maxbodymb": 5, "querytracing": False}

EXPECTED = {
    "b:a": {
        "url": "http://127.0.0.1:18086",
        "db": "dba",
        "zone": "z1",
        "interval": "0",
        "timeout": "5000",
        "timeoutquery": "60000",
        "maxrowlimit": "500",
        "checkinterval": "250",
        "rewriteinterval": "3000",
        "writeonly": "0",
        "username": "ua",
        "password": "secret-a",
        "gzip": "1",
        "insecure": "0",
    },
    "b:b": {"url": "https://influx-b.example:8086/", "writeonly": "1"},
    "n:l1": {
        "listenaddr": "127.0.0.1:6666",
        "nexts": "a, b",
        "threads": "0",
        "fsync": "always",
        "writetracing": "1",
        "password": "node-secret",
        "udpaddr": ":8089",
        "udpprecision": "ms",
    },
    "n:l2": {"listenaddr": ":6667", "zone": "z2"},
    "default_node": {"interval": "10", "idletimeout": "30", "queuemaxmb": "64", "maxbodymb": "5",
                     "querytracing": "0"},
}


def full_config():
    return copy.deepcopy((BACKENDS, KEYMAPS, NODES, DEFAULT_NODE))


def snapshot(client):
    """Every key of the database with its type and value."""
    out = {}
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == "hash":
            out[key] = client.hgetall(key)
        elif kind == "list":
            out[key] = client.lrange(key, 0, -1)
        else:
            out[key] = client.get(key) if kind == "string" else kind
    return out


def run_file(redis, tmp_path, config, *extra):
    path = tmp_path / ("cfg-%d.py" % time.monotonic_ns())
    path.write_text(config_file_text(*config))
    return run_config_py(["--redis", redis.addr, "--file", path] + list(extra))


class Subscriber:
    """Collects messages published on the reload channel, from before config.py runs."""

    def __init__(self, client):
        self.pubsub = client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(RELOAD_CHANNEL)
        self.pubsub.get_message(timeout=1)
        wait_until(lambda: dict(client.pubsub_numsub(RELOAD_CHANNEL)).get(RELOAD_CHANNEL, 0) >= 1, 5,
                   what="subscription to %s" % RELOAD_CHANNEL)

    def messages(self, wait):
        got = []
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            m = self.pubsub.get_message(timeout=0.1)
            if m is not None and m["type"] == "message":
                got.append(m)
        return got

    def close(self):
        self.pubsub.close()


# ---- writing ---------------------------------------------------------------------------------------------


def test_writes_exactly_the_dicts(redis, tmp_path):
    res = run_file(redis, tmp_path, full_config())
    assert res.returncode == 0, res.stderr
    c = redis.client()
    for key, fields in EXPECTED.items():
        assert c.type(key) == "hash", key
        assert c.hgetall(key) == fields, key
    assert c.lrange("m:cpu", 0, -1) == ["a"]
    assert c.lrange("m:mem", 0, -1) == ["b", "a"]
    assert c.lrange("m:_default_", 0, -1) == ["a", "b"]
    assert set(snapshot(c)) == set(EXPECTED) | {"m:cpu", "m:mem", "m:_default_"}
    summary = [line for line in res.stdout.splitlines() if line.strip()]
    assert len(summary) == 1, res.stdout
    assert "2 backends" in summary[0] and "3 keymaps" in summary[0] and "2 nodes" in summary[0]
    assert res.stderr == ""


def test_rewrite_replaces_keys_and_removes_stale_ones(redis, tmp_path):
    c = redis.client()
    c.hset("b:a", mapping={"url": "http://old:1", "foo": "stale field"})
    c.hset("b:gone", mapping={"url": "http://gone:1"})
    c.rpush("m:cpu", "gone", "a", "b")
    c.rpush("m:oldmeasurement", "gone")
    c.hset("n:oldnode", mapping={"listenaddr": ":1"})
    c.hset("default_node", mapping={"fsync": "no"})
    # Not ours: other applications' keys and live-proxy registrations stay.
    c.set("unrelated", "x")
    c.hset("bx", mapping={"k": "v"})
    c.set("p:l1:127.0.0.1:6666", "1", ex=60)
    backends, keymaps, nodes, _ = full_config()
    res = run_file(redis, tmp_path, (backends, keymaps, nodes, {}))
    assert res.returncode == 0, res.stderr
    snap = snapshot(c)
    assert snap["b:a"] == EXPECTED["b:a"]
    assert snap["m:cpu"] == ["a"]
    for key in ("b:gone", "m:oldmeasurement", "n:oldnode", "default_node"):
        assert key not in snap, key
    assert snap["unrelated"] == "x" and snap["bx"] == {"k": "v"} and snap["p:l1:127.0.0.1:6666"] == "1"
    assert "4 stale keys" in res.stdout, res.stdout


def test_one_transaction_scan_not_keys_then_publish(redis, tmp_path):
    """MONITOR sees every write between MULTI and EXEC, stale keys found with SCAN, then PUBLISH."""
    c = redis.client()
    c.hset("n:stale", mapping={"listenaddr": ":1"})
    commands = []
    ready = threading.Event()

    def monitor():
        with redis.client().monitor() as m:
            ready.set()
            for cmd in m.listen():
                commands.append(cmd["command"])
                if cmd["command"].upper().startswith("PUBLISH"):
                    return

    t = threading.Thread(target=monitor, daemon=True)
    t.start()
    assert ready.wait(5)
    time.sleep(0.2)
    res = run_file(redis, tmp_path, full_config())
    assert res.returncode == 0, res.stderr
    t.join(10)
    assert not t.is_alive(), commands
    verbs = [cmd.split(" ", 1)[0].upper() for cmd in commands]
    assert "KEYS" not in verbs
    assert "SCAN" in verbs
    assert verbs.count("MULTI") == 1 and verbs.count("EXEC") == 1, verbs
    start, end = verbs.index("MULTI"), verbs.index("EXEC")
    writes = [i for i, v in enumerate(verbs) if v in ("DEL", "HSET", "HMSET", "RPUSH", "UNLINK")]
    assert writes and all(start < i < end for i in writes), list(zip(verbs, commands))
    assert verbs[-1] == "PUBLISH" and end < len(verbs) - 1
    assert RELOAD_CHANNEL in commands[-1]
    deleted = [cmd for cmd in commands[start:end] if cmd.upper().startswith(("DEL", "UNLINK")) and "n:stale" in cmd]
    assert deleted, commands


def test_publishes_reload_after_writing(redis, tmp_path):
    sub = Subscriber(redis.client())
    try:
        res = run_file(redis, tmp_path, full_config())
        assert res.returncode == 0, res.stderr
        msgs = sub.messages(2)
    finally:
        sub.close()
    assert len(msgs) == 1, msgs
    assert msgs[0]["channel"] == RELOAD_CHANNEL and msgs[0]["data"] != ""
    # The config is complete by the time subscribers hear about it.
    assert redis.client().hgetall("b:a") == EXPECTED["b:a"]
    assert "1 subscriber" in res.stdout, res.stdout


def test_db_option_selects_database(redis, tmp_path):
    res = run_file(redis, tmp_path, full_config(), "--db", "3")
    assert res.returncode == 0, res.stderr
    assert redis.client(0).dbsize() == 0
    assert redis.client(3).hgetall("b:a") == EXPECTED["b:a"]


def test_password_option(redis_factory, tmp_path):
    r = redis_factory(password="pw-123")
    res = run_file(r, tmp_path, full_config())
    assert res.returncode == 1
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "redis" in res.stderr and r.addr in res.stderr
    res = run_file(r, tmp_path, full_config(), "--password", "pw-123")
    assert res.returncode == 0, res.stderr
    assert r.client().hgetall("n:l2") == EXPECTED["n:l2"]


def test_builtin_sample_config_is_valid(redis):
    res = run_config_py(["--redis", redis.addr])
    assert res.returncode == 0, res.stderr
    c = redis.client()
    assert c.hget("b:local", "url") == "http://127.0.0.1:8086"
    assert c.hget("b:local2", "url") == "http://127.0.0.1:8087"
    assert c.lrange("m:cpu", 0, -1) == ["local"]
    assert c.lrange("m:mem", 0, -1) == ["local2"]
    assert c.lrange("m:_default_", 0, -1) == ["local", "local2"]
    assert c.hget("n:l1", "listenaddr") == "127.0.0.1:6666"


# ---- read-only modes --------------------------------------------------------------------------------------


def test_dry_run_writes_nothing_and_prints_the_plan(redis, tmp_path):
    c = redis.client()
    c.hset("n:stale", mapping={"listenaddr": ":1"})
    before = snapshot(c)
    sub = Subscriber(c)
    try:
        res = run_file(redis, tmp_path, full_config(), "--dry-run")
        msgs = sub.messages(0.5)
    finally:
        sub.close()
    assert res.returncode == 0, res.stderr
    assert snapshot(c) == before
    assert msgs == []
    out = res.stdout
    assert "MULTI" in out and "EXEC" in out
    assert "RPUSH m:mem b a" in out
    assert "HSET b:b url https://influx-b.example:8086/ writeonly 1" in out
    assert "DEL n:stale" in out
    assert "secret-a" not in out and "node-secret" not in out


def test_dry_run_does_not_need_redis(tmp_path, port):
    path = tmp_path / "cfg.py"
    path.write_text(config_file_text(*full_config()))
    res = run_config_py(["--redis", "127.0.0.1:%d" % port, "--file", path, "--dry-run"])
    assert res.returncode == 0, res.stderr
    assert "RPUSH m:cpu a" in res.stdout


def test_show_prints_what_redis_holds(redis, tmp_path):
    write_config(redis, tmp_path, *full_config())
    before = snapshot(redis.client())
    res = run_config_py(["--redis", redis.addr, "--show"])
    assert res.returncode == 0, res.stderr
    out = res.stdout
    for key in ("b:a", "b:b", "m:cpu", "m:mem", "m:_default_", "n:l1", "n:l2", "default_node"):
        assert key in out, key
    assert "http://127.0.0.1:18086" in out and "rewriteinterval" in out and "a, b" in out
    assert "secret-a" not in out and "node-secret" not in out and "******" in out
    assert snapshot(redis.client()) == before


def test_show_empty_redis(redis):
    res = run_config_py(["--redis", redis.addr, "--show"])
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() != ""
    assert redis.client().dbsize() == 0


def test_help():
    res = run_config_py(["--help"])
    assert res.returncode == 0
    for opt in ("--redis", "--password", "--db", "--dry-run", "--show", "--file"):
        assert opt in res.stdout, opt


# ---- failures -----------------------------------------------------------------------------------------------


def test_redis_down_is_one_clear_line(tmp_path, port):
    path = tmp_path / "cfg.py"
    path.write_text(config_file_text(*full_config()))
    for extra in ([], ["--show"]):
        res = run_config_py(["--redis", "127.0.0.1:%d" % port, "--file", path] + extra)
        assert res.returncode == 1
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1, res.stderr
        assert "redis" in lines[0] and "127.0.0.1:%d" % port in lines[0]
        assert "Traceback" not in res.stderr


def test_file_missing_names(redis, tmp_path):
    path = tmp_path / "cfg.py"
    path.write_text("BACKENDS = {}\nKEYMAPS = {}\n")
    res = run_config_py(["--redis", redis.addr, "--file", path])
    assert res.returncode == 1
    assert "NODES" in res.stderr and "DEFAULT_NODE" in res.stderr
    assert redis.client().dbsize() == 0


def _set(section, key, field, value):
    def mutate(cfg):
        target = cfg[section][key] if key is not None else cfg[section]
        if field is None:
            cfg[section][key] = value
        else:
            target[field] = value
    return mutate


def _delete(section, key, field):
    def mutate(cfg):
        del cfg[section][key][field]
    return mutate


B, K, N, D = 0, 1, 2, 3

INVALID = [
    # (id, mutation, strings every one of which must appear in one stderr line)
    ("url-missing", _delete(B, "a", "url"), ['b:a field "url"']),
    ("url-scheme", _set(B, "a", "url", "ftp://x:1"), ['b:a field "url"']),
    ("url-no-host", _set(B, "a", "url", "http://"), ['b:a field "url"']),
    ("url-port-only", _set(B, "a", "url", "http://:8086"), ['b:a field "url"']),
    ("unknown-backend-field", _set(B, "a", "foo", "1"), ['b:a has unknown field "foo"']),
    ("non-numeric", _set(B, "a", "timeout", "abc"), ['b:a field "timeout"']),
    ("negative", _set(B, "a", "interval", -1), ['b:a field "interval"']),
    ("float", _set(B, "a", "maxrowlimit", 1.5), ['b:a field "maxrowlimit"']),
    ("signed-string", _set(B, "a", "timeout", "+5"), ['b:a field "timeout"']),
    ("timeout-zero", _set(B, "a", "timeout", 0), ['b:a field "timeout"']),
    ("timeoutquery-zero", _set(B, "a", "timeoutquery", 0), ['b:a field "timeoutquery"']),
    ("checkinterval-zero", _set(B, "a", "checkinterval", "0"), ['b:a field "checkinterval"']),
    ("rewriteinterval-zero", _set(B, "a", "rewriteinterval", 0), ['b:a field "rewriteinterval"']),
    ("maxrowlimit-zero", _set(B, "a", "maxrowlimit", 0), ['b:a field "maxrowlimit"']),
    ("bool-2", _set(B, "a", "writeonly", 2), ['b:a field "writeonly"']),
    ("bool-yes", _set(B, "b", "gzip", "yes"), ['b:b field "gzip"']),
    ("bool-none-string", _set(B, "b", "insecure", "true"), ['b:b field "insecure"']),
    ("keymap-unknown-backend", _set(K, "cpu", None, ["a", "x"]), ['m:cpu names unknown backend "x"']),
    ("keymap-empty", _set(K, "cpu", None, []), ["m:cpu"]),
    ("keymap-not-list", _set(K, "cpu", None, "a"), ["m:cpu"]),
    ("keymap-duplicate", _set(K, "mem", None, ["a", "a"]), ["m:mem", '"a"']),
    ("listenaddr-no-port", _set(N, "l1", "listenaddr", "localhost"), ['n:l1 field "listenaddr"']),
    ("listenaddr-big-port", _set(N, "l1", "listenaddr", "127.0.0.1:99999"), ['n:l1 field "listenaddr"']),
    ("listenaddr-empty", _set(N, "l1", "listenaddr", ""), ['n:l1 field "listenaddr"']),
    ("fsync", _set(N, "l1", "fsync", "sometimes"), ['n:l1 field "fsync"']),
    ("nexts-unknown", _set(N, "l1", "nexts", "a,zz"), ['n:l1 field "nexts"', '"zz"']),
    ("threads-65", _set(N, "l1", "threads", 65), ['n:l1 field "threads"']),
    ("queuemaxmb-zero", _set(N, "l2", "queuemaxmb", 0), ['n:l2 field "queuemaxmb"']),
    ("maxbodymb-zero", _set(N, "l2", "maxbodymb", "0"), ['n:l2 field "maxbodymb"']),
    ("udpprecision", _set(N, "l1", "udpprecision", "sec"), ['n:l1 field "udpprecision"']),
    ("unknown-node-field", _set(N, "l2", "loglevel", "debug"), ['n:l2 has unknown field "loglevel"']),
    ("default-node-bad-number", _set(D, None, "idletimeout", "10s"), ['default_node field "idletimeout"']),
    ("default-node-unknown", _set(D, None, "bar", 1), ['default_node has unknown field "bar"']),
]


@pytest.mark.parametrize("mutate,expected", [pytest.param(m, e, id=i) for i, m, e in INVALID])
def test_invalid_config_is_refused_and_nothing_written(redis, tmp_path, mutate, expected):
    c = redis.client()
    c.set("sentinel", "untouched")
    cfg = [copy.deepcopy(x) for x in full_config()]
    mutate(cfg)
    sub = Subscriber(c)
    try:
        res = run_file(redis, tmp_path, cfg)
        msgs = sub.messages(0.3)
    finally:
        sub.close()
    assert res.returncode == 1, res.stdout
    lines = res.stderr.splitlines()
    assert any(all(s in line for s in expected) for line in lines), res.stderr
    assert "Traceback" not in res.stderr
    assert snapshot(c) == {"sentinel": "untouched"}
    assert msgs == []


def test_every_problem_is_reported_at_once(redis, tmp_path):
    backends, keymaps, nodes, default_node = full_config()
    backends["a"]["url"] = "gopher://a"
    backends["a"]["timeout"] = "ten"
    backends["b"]["colour"] = "blue"
    keymaps["cpu"] = ["nope"]
    nodes["l1"]["fsync"] = "never"
    default_node["threads"] = 100
    res = run_file(redis, tmp_path, (backends, keymaps, nodes, default_node))
    assert res.returncode == 1
    expected = [['b:a field "url"'], ['b:a field "timeout"'], ['b:b has unknown field "colour"'],
                ['m:cpu names unknown backend "nope"'], ['n:l1 field "fsync"'], ['default_node field "threads"']]
    lines = res.stderr.splitlines()
    for want in expected:
        matching = [line for line in lines if all(s in line for s in want)]
        assert len(matching) == 1, (want, res.stderr)
    assert redis.client().dbsize() == 0


def test_accepted_edge_values(redis, tmp_path):
    backends, keymaps, nodes, default_node = full_config()
    backends["a"]["interval"] = "0"
    backends["b"]["writeonly"] = False
    nodes["l1"]["threads"] = 64
    nodes["l1"]["listenaddr"] = ":6666"
    nodes["l1"]["fsync"] = "no"
    nodes["l2"]["nexts"] = ""
    res = run_file(redis, tmp_path, (backends, keymaps, nodes, default_node))
    assert res.returncode == 0, res.stderr
    c = redis.client()
    assert c.hget("b:a", "interval") == "0"
    assert c.hget("b:b", "writeonly") == "0"
    assert c.hgetall("n:l1")["threads"] == "64"
    assert c.hget("n:l1", "listenaddr") == ":6666"


def test_node_without_fields_needs_default_node(redis, tmp_path):
    """Redis cannot hold an empty hash: such a node would silently not exist."""
    backends, keymaps, nodes, _ = full_config()
    nodes["l3"] = {}
    res = run_file(redis, tmp_path, (backends, keymaps, nodes, {}))
    assert res.returncode == 1
    assert [line for line in res.stderr.splitlines() if "n:l3" in line], res.stderr
    assert redis.client().dbsize() == 0
    res = run_file(redis, tmp_path, (backends, keymaps, nodes, {"listenaddr": ":7000"}))
    assert res.returncode == 0, res.stderr
    assert not redis.client().exists("n:l3")
    assert redis.client().hgetall("default_node") == {"listenaddr": ":7000"}
