"""Real clients querying through the daemon: the `influx` CLI, Debian's python3-influxdb and the requests
Grafana's InfluxQL data source sends. Each request is also sent straight to R, an influxd holding all
the data of the cluster, and the two answers are compared.

Keymaps: cpu -> A, mem -> B, _default_ -> A,B. The points are written through the daemon to db q,
and the same lines straight to R; databases are created in the same order everywhere.
"""

import itertools
import json
import subprocess

import pytest
import requests
from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError

from helpers import query_raw

INFLUX = "/usr/bin/influx"
T0 = 1700000000  # s; the points fill the hour [T0, T0 + 3600)
GRAFANA_RANGE = "time >= %dms and time <= %dms" % (T0 * 1000, (T0 + 3600) * 1000)


def dataset():
    out = []
    for i in range(60):
        t = T0 + 60 * i
        for h in range(3):
            out.append("cpu,host=h%d,region=r%d value=%s %d" % (h, h % 2, 0.5 * i + h, t))
            out.append("mem,host=h%d used=%di %d" % (h, 100 * h + i, t))
        out.append("disk,host=h0,path=/ free=%s %d" % (90.0 - i * 0.75, t))
    out.append('net,host=h1 rx=1i,note="a \\"quoted\\" word" %d' % T0)
    return "\n".join(out) + "\n"


class Cluster:
    _ids = itertools.count()

    def new_db_name(self, prefix):
        return "%s%d" % (prefix, next(self._ids))


@pytest.fixture(scope="module")
def cl(redis_mod, influxd_mod, proxy_mod, tmp_path_factory):
    c = Cluster()
    c.a, c.b, c.r = influxd_mod(), influxd_mod(), influxd_mod()
    for i in (c.a, c.b, c.r):
        i.create_db("q")
    c.proxy = proxy_mod(redis_mod, {"A": {"url": c.a.url}, "B": {"url": c.b.url}},
                        {"cpu": ["A"], "mem": ["B"], "_default_": ["A", "B"]})
    c.url = c.proxy.url
    c.tmp = tmp_path_factory.mktemp("query-clients")
    body = dataset()
    r = requests.post(c.url + "/write", params={"db": "q", "precision": "s"}, data=body.encode(), timeout=30)
    assert r.status_code == 204, r.text
    assert c.r.write(body, "q", precision="s").status_code == 204
    c.proxy_port = c.proxy.port
    c.r_port = int(c.r.url.rpartition(":")[2])
    return c


def dbs_of(influxd):
    return [v[0] for v in query_raw(influxd.url, "SHOW DATABASES").json()["results"][0]["series"][0]["values"]]


def same_bytes(got, want):
    assert got.status_code == want.status_code, (got.status_code, got.text[:2000], want.status_code, want.text[:2000])
    assert got.headers.get("Content-Type") == want.headers.get("Content-Type"), (got.headers, want.headers)
    assert got.content == want.content, (got.text[:3000], want.text[:3000])


# ---- the influx CLI ---------------------------------------------------------------------------------------------


def influx(port, *args, timeout=30):
    return subprocess.run([INFLUX, "-host", "127.0.0.1", "-port", str(port)] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def both_cli(cl, *args):
    """(through the daemon, straight to R) for the same CLI invocation."""
    return influx(cl.proxy_port, *args), influx(cl.r_port, *args)


def same_cli(got, want):
    assert got.returncode == want.returncode, (got, want)
    assert got.stdout == want.stdout, (got.stdout[:3000], want.stdout[:3000])
    assert got.stderr == want.stderr, (got.stderr, want.stderr)


CLI_QUERIES = [
    ("SELECT * FROM cpu WHERE host = 'h1'", ()),
    ("SELECT * FROM cpu WHERE host = 'h1'", ("-format", "json")),
    ("SELECT * FROM cpu WHERE host = 'h1'", ("-format", "csv", "-precision", "ms")),
    ("SELECT * FROM mem WHERE used > 150", ("-precision", "rfc3339")),
    ("SELECT mean(value) FROM cpu GROUP BY time(10m), host", ("-format", "json", "-pretty")),
    ("SELECT * FROM cpu WHERE host = 'h0' LIMIT 3; SELECT * FROM mem WHERE host = 'h2' LIMIT 3", ()),
    ("SELECT * FROM net", ("-format", "csv")),
    ("SHOW MEASUREMENTS", ()),
    ("SHOW MEASUREMENTS", ("-format", "json")),
    ("SHOW TAG VALUES WITH KEY = host", ()),
    ("SHOW FIELD KEYS", ("-format", "csv")),
    ("SHOW SERIES", ()),
    ("SHOW RETENTION POLICIES", ()),
    ("SELECT * FROM cpu WHERE host = 'nobody'", ()),
    ("SELECT nosuchfunc(value) FROM cpu", ()),
]


@pytest.mark.parametrize("q,extra", CLI_QUERIES, ids=["%s %s" % (q, " ".join(e)) for q, e in CLI_QUERIES])
def test_cli_execute(cl, q, extra):
    got, want = both_cli(cl, "-database", "q", "-execute", q, *extra)
    same_cli(got, want)


def test_cli_show_databases(cl):
    got, want = both_cli(cl, "-execute", "SHOW DATABASES")
    assert got.returncode == 0, got
    same_cli(got, want)


def test_cli_forbidden_statement_is_an_error(cl):
    got = influx(cl.proxy_port, "-database", "q", "-execute", "DROP MEASUREMENT cpu")
    assert got.returncode != 0, got
    assert "DROP MEASUREMENT cpu" in got.stderr, got
    ans = query_raw(cl.a.url, "SELECT count(value) FROM cpu", db="q").json()
    assert ans["results"][0]["series"][0]["values"][0][1] == 180


def test_cli_import_with_ddl(cl):
    """A file with a # DDL section (CREATE DATABASE, CREATE RETENTION POLICY) and points: the CLI's output
    and what a query then answers are influxd's."""
    name = cl.new_db_name("imp")
    text = ("# DDL\nCREATE DATABASE %s\nCREATE RETENTION POLICY two ON %s DURATION 2h REPLICATION 1\n\n"
            "# DML\n# CONTEXT-DATABASE: %s\n# CONTEXT-RETENTION-POLICY: autogen\n" % (name, name, name))
    text += "".join("cpu,host=i%d value=%d %d\nmem,host=i%d used=%di %d\ndisk free=%d %d\n"
                    % (k, k, (T0 + k) * 10**9, k, k, (T0 + k) * 10**9, k, (T0 + k) * 10**9) for k in range(5))
    path = cl.tmp / ("%s.txt" % name)
    path.write_text(text)
    got, want = both_cli(cl, "-import", "-path", path)
    assert got.returncode == 0, got
    assert "Processed 2 commands" in got.stdout and "Processed 15 inserts" in got.stdout, got

    def norm(s):  # the log lines begin with a date and time
        return [line.split(" ", 2)[-1] if line[:2] == "20" else line for line in s.splitlines()]

    assert norm(got.stdout) == norm(want.stdout) and norm(got.stderr) == norm(want.stderr), (got, want)
    for i in (cl.a, cl.b):
        assert name in dbs_of(i)
    for q in ("SELECT * FROM cpu", "SELECT * FROM mem", "SELECT * FROM disk", "SHOW MEASUREMENTS",
              "SHOW RETENTION POLICIES", "SELECT * FROM cpu; SELECT * FROM mem"):
        g, w = both_cli(cl, "-database", name, "-execute", q)
        same_cli(g, w)
    assert "i4" in influx(cl.proxy_port, "-database", name, "-execute", "SELECT * FROM mem").stdout


# ---- python3-influxdb --------------------------------------------------------------------------------------------


def client(port, db="q", **kw):
    return InfluxDBClient(host="127.0.0.1", port=port, database=db, timeout=10, retries=1, **kw)


PY_QUERIES = [
    ("SELECT * FROM cpu WHERE host = 'h2'", {}),
    ("SELECT * FROM cpu WHERE host = 'h2'", {"epoch": "ms"}),
    ("SELECT max(used) FROM mem GROUP BY host", {}),
    ("SELECT * FROM cpu WHERE host = $h AND value > $v", {"bind_params": {"h": "h1", "v": 20}}),
    ("SELECT * FROM cpu WHERE host = 'h0'; SELECT * FROM mem WHERE host = 'h0'", {"epoch": "s"}),
    ("SHOW TAG KEYS", {}),
    ("SHOW TAG VALUES FROM mem WITH KEY = host", {}),
]


def raws(res):
    return [r.raw for r in res] if isinstance(res, list) else res.raw


@pytest.mark.parametrize("q,kw", PY_QUERIES, ids=[q for q, _ in PY_QUERIES])
def test_python_client_query(cl, q, kw):
    got = client(cl.proxy_port).query(q, **kw)
    want = client(cl.r_port).query(q, **kw)
    assert raws(got) == raws(want)
    assert raws(got) != {} and raws(got) != []


def test_python_client_chunked_query(cl):
    # chunked answers are read as JSON lines (the client's default msgpack cannot read them)
    json_only = {"Accept": "application/json"}
    q = "SELECT * FROM cpu WHERE host = 'h1'"
    got = [r.raw for r in client(cl.proxy_port, headers=json_only).query(q, chunked=True, chunk_size=7)]
    want = [r.raw for r in client(cl.r_port, headers=json_only).query(q, chunked=True, chunk_size=7)]
    assert got == want
    assert len(got) == 9 and sum(len(r["series"][0]["values"]) for r in got) == 60


def test_python_client_helpers(cl):
    p, r = client(cl.proxy_port), client(cl.r_port)
    assert p.get_list_measurements() == r.get_list_measurements()
    assert p.get_list_retention_policies("q") == r.get_list_retention_policies("q")
    assert p.get_list_series("q") == r.get_list_series("q")
    assert p.get_list_database() == r.get_list_database()


def test_python_client_ping(cl):
    version = client(cl.proxy_port).ping()
    assert isinstance(version, str) and version != ""


def test_python_client_create_database(cl):
    name = cl.new_db_name("py")
    p, r = client(cl.proxy_port), client(cl.r_port)
    p.create_database(name)
    r.create_database(name)
    for i in (cl.a, cl.b):
        assert name in dbs_of(i)
    assert p.get_list_database() == r.get_list_database()
    assert {"name": name} in p.get_list_database()
    # and it takes points routed by measurement
    pts = [{"measurement": "cpu", "tags": {"host": "z"}, "time": T0, "fields": {"value": 1.0}},
           {"measurement": "mem", "tags": {"host": "z"}, "time": T0, "fields": {"used": 2}}]
    assert p.write_points(pts, time_precision="s", database=name)
    assert r.write_points(pts, time_precision="s", database=name)
    q = "SELECT * FROM cpu; SELECT * FROM mem"
    assert raws(p.query(q, database=name)) == raws(r.query(q, database=name))


def test_python_client_forbidden_statement(cl):
    with pytest.raises(InfluxDBClientError) as e:
        client(cl.proxy_port).query("DROP MEASUREMENT mem")
    assert e.value.code == 400
    assert "DROP MEASUREMENT" in str(e.value).upper()
    ans = query_raw(cl.b.url, "SELECT count(used) FROM mem", db="q").json()
    assert ans["results"][0]["series"][0]["values"][0][1] == 180


# ---- Grafana's InfluxQL data source ---------------------------------------------------------------------------
#
# Grafana sends GET /query?db=…&epoch=ms&q=… (HTTP method GET), or POST /query?db=…&epoch=ms with q in an
# application/x-www-form-urlencoded body (HTTP method POST). $timeFilter expands to ms epochs. The data
# source's health check ("Save & test") runs `SHOW measurements`; the query editor lists measurements,
# tag keys, field keys and tag values; template variables often use SHOW TAG VALUES without FROM.

GRAFANA = [
    'SELECT mean("value") FROM "cpu" WHERE %s GROUP BY time(1m) fill(null)' % GRAFANA_RANGE,
    'SELECT mean("value") FROM "autogen"."cpu" WHERE ("host" =~ /^h1$/) AND %s GROUP BY time(5m), "host" fill(none)'
    % GRAFANA_RANGE,
    'SELECT last("used") FROM "mem" WHERE %s GROUP BY time(10m) fill(previous)' % GRAFANA_RANGE,
    'SELECT mean("value") FROM "cpu" WHERE %s GROUP BY time(1m) fill(null);'
    'SELECT mean("used") FROM "mem" WHERE %s GROUP BY time(1m) fill(null)' % (GRAFANA_RANGE, GRAFANA_RANGE),
    'SELECT derivative(mean("free"), 1m) FROM "disk" WHERE %s GROUP BY time(2m) fill(null)' % GRAFANA_RANGE,
    "SHOW measurements",
    "SHOW MEASUREMENTS WITH MEASUREMENT =~ /(?i)m/ LIMIT 100",
    "SHOW MEASUREMENTS LIMIT 100",
    'SHOW TAG KEYS FROM "cpu"',
    'SHOW FIELD KEYS FROM "cpu"',
    'SHOW TAG VALUES FROM "cpu" WITH KEY = "host"',
    'SHOW TAG VALUES FROM "cpu" WITH KEY = "region" WHERE "host" = \'h1\'',
    'SHOW TAG VALUES WITH KEY = "host"',
    "SHOW TAG KEYS",
    'SHOW RETENTION POLICIES on "q"',
    "SHOW DATABASES",
]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("q", GRAFANA)
def test_grafana_request(cl, q, method):
    def send(url):
        if method == "GET":
            return requests.get(url + "/query", params={"db": "q", "epoch": "ms", "q": q}, timeout=10)
        return requests.post(url + "/query", params={"db": "q", "epoch": "ms"}, data={"q": q}, timeout=10)

    want = send(cl.r.url)
    assert want.status_code == 200 and "error" not in want.text, want.text
    got = send(cl.url)
    same_bytes(got, want)


def test_grafana_health_check_sees_every_measurement(cl):
    r = requests.get(cl.url + "/query", params={"db": "q", "epoch": "ms", "q": "SHOW measurements"}, timeout=10)
    assert r.status_code == 200, r.text
    names = [v[0] for v in json.loads(r.text)["results"][0]["series"][0]["values"]]
    assert names == ["cpu", "disk", "mem", "net"]
