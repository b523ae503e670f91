"""Real InfluxDB clients writing through the daemon: the `influx` CLI (INSERT and -import) and Debian's
python3-influxdb. Each write is also made straight to an influxd, into a reference database, and what
the two stored (and what the client reported) is compared.

Keymaps: cpu -> A, _default_ -> A,B. The reference databases live on A.
"""

import gzip
import itertools
import json
import subprocess
import time

import pytest
from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError

from helpers import free_port

INFLUX = "/usr/bin/influx"


class Cluster:
    _ids = itertools.count()

    def fresh_db(self, prefix="w"):
        """A new database name, created on A and B."""
        name = "%s%d" % (prefix, next(self._ids))
        for i in (self.a, self.b):
            i.create_db(name)
        return name

    def pair(self):
        """(database for writes through the proxy, reference database on A)."""
        return self.fresh_db(), self.fresh_db("ref")


@pytest.fixture(scope="module")
def cl(redis_mod, influxd_mod, proxy_mod, tmp_path_factory):
    c = Cluster()
    c.a, c.b = influxd_mod(), influxd_mod()
    c.tmp = tmp_path_factory.mktemp("clients")
    c.proxy = proxy_mod(redis_mod, {"A": {"url": c.a.url}, "B": {"url": c.b.url}},
                        {"cpu": ["A"], "_default_": ["A", "B"]},
                        node_fields={"listenaddr": "127.0.0.1:%d" % free_port()})
    c.proxy_port = c.proxy.port
    c.a_port = int(c.a.url.rpartition(":")[2])
    return c


def stored(influxd, db, rp=None):
    """{measurement: sorted [(time_ns, {column: value})]} of @db (None columns dropped)."""
    src = '"%s"./.*/' % rp if rp else "/.*/"
    ans = influxd.query("SELECT * FROM %s" % src, db=db, epoch="ns")
    out = {}
    for res in ans["results"]:
        assert "error" not in res, res
        for s in res.get("series", []):
            rows = []
            for v in s["values"]:
                row = {k: x for k, x in zip(s["columns"], v) if x is not None}
                rows.append((row.pop("time"), row))
            out[s["name"]] = sorted(rows, key=lambda r: (r[0], sorted(r[1].items())))
    return out


def without_times(data):
    return {m: sorted((sorted(r.items()) for _, r in rows)) for m, rows in data.items()}


def check_replicas(cl, db, want):
    """What A and B hold in @db after lines that influxd stored as @want went through the proxy."""
    assert stored(cl.a, db) == want
    assert stored(cl.b, db) == {m: rows for m, rows in want.items() if m != "cpu"}


# ---- the influx CLI ---------------------------------------------------------------------------------------------


def influx(port, *args, timeout=30):
    res = subprocess.run([INFLUX, "-host", "127.0.0.1", "-port", str(port)] + [str(a) for a in args],
                         capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return res


def both_cli(cl, db, ref, *args):
    """Runs the CLI with @args against influxd (database @ref) and the proxy (database @db); returns the
    two CompletedProcess objects. `{db}` in an argument stands for the database name."""
    want = influx(cl.a_port, *[str(a).replace("{db}", ref) for a in args])
    got = influx(cl.proxy_port, *[str(a).replace("{db}", db) for a in args])
    return got, want


def same_cli_result(got, want, db, ref):
    assert got.returncode == want.returncode, (got, want)
    # the import log lines start with a timestamp; compare what follows it
    def norm(text, name):
        return [line.split(" ", 2)[-1] if line[:2] == "20" else line for line in text.replace(name, "DB").splitlines()]

    assert norm(got.stdout, db) == norm(want.stdout, ref), (got.stdout, want.stdout)
    assert norm(got.stderr, db) == norm(want.stderr, ref), (got.stderr, want.stderr)


def test_cli_insert_without_timestamp(cl):
    db, ref = cl.pair()
    t0 = time.time_ns()
    got, want = both_cli(cl, db, ref, "-database", "{db}", "-execute", "INSERT cpu,host=a value=1")
    t1 = time.time_ns()
    assert got.returncode == 0, got
    same_cli_result(got, want, db, ref)
    assert without_times(stored(cl.a, db)) == without_times(stored(cl.a, ref))
    (t, row), = stored(cl.a, db)["cpu"]
    assert t0 <= t <= t1 and row == {"host": "a", "value": 1}
    assert stored(cl.b, db) == {}


def test_cli_insert_default_measurement_reaches_both_replicas(cl):
    db, ref = cl.pair()
    got, want = both_cli(cl, db, ref, "-database", "{db}", "-execute", 'INSERT disk,host=a free=1i,label="x y"')
    assert got.returncode == 0, got
    same_cli_result(got, want, db, ref)
    a = stored(cl.a, db)
    assert a == stored(cl.b, db)
    assert without_times(a) == without_times(stored(cl.a, ref)) == {"disk": [[("free", 1), ("host", "a"),
                                                                             ("label", "x y")]]}


@pytest.mark.parametrize("precision,ts", [("s", 1600000000), ("ms", 1600000000123), ("u", 1600000000123456),
                                          ("ns", 1600000000123456789), ("h", 444444)])
def test_cli_insert_with_precision(cl, precision, ts):
    db, ref = cl.pair()
    got, want = both_cli(cl, db, ref, "-database", "{db}", "-precision", precision, "-execute",
                         "INSERT cpu,host=a value=1 %d\nINSERT disk free=2 %d" % (ts, ts))
    assert got.returncode == 0, got
    same_cli_result(got, want, db, ref)
    ref_data = stored(cl.a, ref)
    assert set(ref_data) == {"cpu", "disk"}
    check_replicas(cl, db, ref_data)


def test_cli_insert_into_retention_policy(cl):
    db, ref = cl.pair()
    for i in (cl.a, cl.b):
        for d in (db, ref):
            i.query('CREATE RETENTION POLICY "two" ON "%s" DURATION 2h REPLICATION 1' % d)
    now_s = int(time.time())
    got, want = both_cli(cl, db, ref, "-database", "{db}", "-precision", "s", "-execute",
                         "INSERT INTO two disk free=3 %d" % now_s)
    assert got.returncode == 0, got
    same_cli_result(got, want, db, ref)
    assert stored(cl.a, db, "two") == stored(cl.b, db, "two") == stored(cl.a, ref, "two") == {
        "disk": [(now_s * 10**9, {"free": 3})]}
    assert stored(cl.a, db) == {}


# With -execute the CLI prints "ERR: <body>" and still exits 0.
@pytest.mark.parametrize("statement", ["INSERT cpu value=", "INSERT cpu", "INSERT disk free=1 12x"])
def test_cli_insert_invalid_line_reports_influxds_error(cl, statement):
    db, ref = cl.pair()
    got, want = both_cli(cl, db, ref, "-database", "{db}", "-execute", statement)
    assert want.stdout.startswith('ERR: {"error":"unable to parse'), want
    same_cli_result(got, want, db, ref)
    assert stored(cl.a, db) == {} and stored(cl.b, db) == {}


def test_cli_insert_into_missing_database(cl):
    got = influx(cl.proxy_port, "-database", "nosuchcli", "-execute", "INSERT disk free=1")
    want = influx(cl.a_port, "-database", "nosuchcli", "-execute", "INSERT disk free=1")
    assert want.stdout.startswith('ERR: {"error":"database not found: \\"nosuchcli\\""}'), want
    same_cli_result(got, want, "", "")


def import_file(cl, name, db, text, compressed=False):
    path = cl.tmp / name
    data = text.replace("{db}", db).encode()
    path.write_bytes(gzip.compress(data) if compressed else data)
    return path


DML = """# DML
# CONTEXT-DATABASE: {db}
# CONTEXT-RETENTION-POLICY: autogen
cpu,host=a value=1 1600000000000000000
cpu,host=b value=2 1600000001000000000
# a comment between points
disk,host=a free=10i,label="x, y" 1600000000000000000

mem,host=a used=0.5 1600000002000000000
"""


@pytest.mark.parametrize("compressed", [False, True])
def test_cli_import_dml(cl, compressed):
    db, ref = cl.pair()
    mine = import_file(cl, "dml-%s.txt" % db, db, DML, compressed)
    theirs = import_file(cl, "dml-%s.txt" % ref, ref, DML, compressed)
    extra = ["-compressed"] if compressed else []
    want = influx(cl.a_port, "-import", "-path", theirs, *extra)
    got = influx(cl.proxy_port, "-import", "-path", mine, *extra)
    assert got.returncode == 0, got
    assert "Processed 4 inserts" in got.stdout and "Failed 0 inserts" in got.stdout, got
    same_cli_result(got, want, db, ref)
    ref_data = stored(cl.a, ref)
    assert set(ref_data) == {"cpu", "disk", "mem"}
    check_replicas(cl, db, ref_data)


def test_cli_import_with_precision(cl):
    db, ref = cl.pair()
    text = "# DML\n# CONTEXT-DATABASE: {db}\ncpu value=1 1600000000\ndisk free=2 1600000001\n"
    mine, theirs = import_file(cl, "p-%s.txt" % db, db, text), import_file(cl, "p-%s.txt" % ref, ref, text)
    want = influx(cl.a_port, "-import", "-path", theirs, "-precision", "s")
    got = influx(cl.proxy_port, "-import", "-path", mine, "-precision", "s")
    assert got.returncode == 0, got
    same_cli_result(got, want, db, ref)
    ref_data = stored(cl.a, ref)
    assert ref_data["cpu"] == [(1600000000 * 10**9, {"value": 1})]
    check_replicas(cl, db, ref_data)


def test_cli_import_with_bad_lines_reports_them_as_influxd(cl):
    db, ref = cl.pair()
    text = "# DML\n# CONTEXT-DATABASE: {db}\ncpu value=1 1600000000000000000\nbroken\ndisk free=2 1600000001000000000\n"
    mine, theirs = import_file(cl, "b-%s.txt" % db, db, text), import_file(cl, "b-%s.txt" % ref, ref, text)
    want = influx(cl.a_port, "-import", "-path", theirs)
    got = influx(cl.proxy_port, "-import", "-path", mine)
    assert want.returncode != 0, want
    same_cli_result(got, want, db, ref)
    ref_data = stored(cl.a, ref)
    assert set(ref_data) == {"cpu", "disk"}
    check_replicas(cl, db, ref_data)


def test_cli_import_with_ddl(cl):
    """The # DDL section goes through /query (CREATE DATABASE on every backend), then the points."""
    name = "ddl%d" % next(Cluster._ids)
    text = "# DDL\nCREATE DATABASE {db}\n# DML\n# CONTEXT-DATABASE: {db}\ndisk free=1 1600000000000000000\n"
    got = influx(cl.proxy_port, "-import", "-path", import_file(cl, "ddl-%s.txt" % name, name, text))
    assert got.returncode == 0, got
    assert "Processed 1 commands" in got.stdout and "Processed 1 inserts" in got.stdout, got
    for i in (cl.a, cl.b):
        assert stored(i, name) == {"disk": [(1600000000 * 10**9, {"free": 1})]}


# ---- python3-influxdb --------------------------------------------------------------------------------------------


def client(port, db, **kw):
    c = InfluxDBClient(host="127.0.0.1", port=port, database=db, timeout=10, retries=1, **kw)
    sent = []
    c._session.hooks["response"].append(lambda r, *a, **k: sent.append(r.request))
    return c, sent


POINTS = {
    "s": [{"measurement": "cpu", "tags": {"host": "a"}, "time": 1600000000, "fields": {"value": 0.5}},
          {"measurement": "disk", "tags": {"host": "a", "path": "/var lib"}, "time": 1600000001,
           "fields": {"free": 10, "label": 'say "hi"', "ok": True}},
          {"measurement": "mem", "time": 1600000002, "fields": {"used": 3}}],
    "ms": [{"measurement": "cpu", "tags": {"host": "b"}, "time": 1600000000123, "fields": {"value": 1.25}},
           {"measurement": "disk", "time": 1600000000456, "fields": {"free": 7}}],
}


@pytest.mark.parametrize("use_gzip", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("precision", ["s", "ms"])
def test_python_client_write_points(cl, precision, use_gzip):
    db, ref = cl.pair()
    direct, _ = client(cl.a_port, ref, gzip=use_gzip)
    assert direct.write_points(POINTS[precision], time_precision=precision) is True
    c, sent = client(cl.proxy_port, db, gzip=use_gzip)
    assert c.write_points(POINTS[precision], time_precision=precision) is True
    assert len(sent) == 1
    assert sent[0].headers.get("Content-Encoding") == ("gzip" if use_gzip else None)
    ref_data = stored(cl.a, ref)
    assert len(ref_data) == len(POINTS[precision])
    check_replicas(cl, db, ref_data)


@pytest.mark.parametrize("use_gzip", [False, True], ids=["plain", "gzip"])
def test_python_client_points_without_time_share_one_time(cl, use_gzip):
    db = cl.fresh_db()
    c, _ = client(cl.proxy_port, db, gzip=use_gzip)
    t0 = time.time_ns()
    assert c.write_points([{"measurement": "disk", "fields": {"free": 1}},
                           {"measurement": "disk", "tags": {"h": "x"}, "fields": {"free": 2}}]) is True
    t1 = time.time_ns()
    a = stored(cl.a, db)
    assert a == stored(cl.b, db)
    assert [r for _, r in a["disk"]] == [{"free": 1}, {"free": 2, "h": "x"}]
    assert all(t0 <= t <= t1 for t, _ in a["disk"])


def test_python_client_batches(cl):
    db, ref = cl.pair()
    pts = [{"measurement": "disk" if i % 2 else "cpu", "tags": {"n": str(i)}, "time": 1600000000 + i,
            "fields": {"v": i}} for i in range(250)]
    direct, _ = client(cl.a_port, ref)
    assert direct.write_points(pts, time_precision="s", batch_size=100) is True
    c, sent = client(cl.proxy_port, db, gzip=True)
    assert c.write_points(pts, time_precision="s", batch_size=100) is True
    assert len(sent) == 3
    check_replicas(cl, db, stored(cl.a, ref))


# The client asks for msgpack: influxd then answers errors in msgpack, which the client turns back into
# compact JSON, while the proxy answers JSON (SPEC §5), passed on as sent. The decoded errors must agree.
def client_error(e):
    return e.value.code, json.loads(e.value.content)


def test_python_client_line_protocol_errors_as_influxd(cl):
    db, ref = cl.pair()
    lines = ["cpu value=1 1600000000", "broken", "disk free=2 1600000001"]
    errors = {}
    for name, port, d in (("direct", cl.a_port, ref), ("proxy", cl.proxy_port, db)):
        c, _ = client(port, d)
        with pytest.raises(InfluxDBClientError) as e:
            c.write_points(lines, time_precision="s", protocol="line")
        errors[name] = client_error(e)
    assert errors["proxy"] == errors["direct"]
    assert errors["proxy"] == (400, {"error": "partial write: unable to parse 'broken': missing fields dropped=0"})
    check_replicas(cl, db, stored(cl.a, ref))


def test_python_client_missing_database_as_influxd(cl):
    errors = {}
    for name, port in (("direct", cl.a_port), ("proxy", cl.proxy_port)):
        c, _ = client(port, "nosuchpy")
        with pytest.raises(InfluxDBClientError) as e:
            c.write_points([{"measurement": "disk", "fields": {"free": 1}}])
        errors[name] = client_error(e)
    assert errors["proxy"] == errors["direct"] == (404, {"error": 'database not found: "nosuchpy"'})


def test_python_client_ping_sees_a_version(cl):
    c, _ = client(cl.proxy_port, None)
    assert c.ping() not in (None, "")
