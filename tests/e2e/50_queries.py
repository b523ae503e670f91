"""The query path (SPEC §7) through the real daemon to real influxd backends.

Shared cluster: backends A and B hold different data (keymaps cpu -> A, mem -> B, big -> A,
wo -> AW (A, writeonly), B, ovr -> AO (A with db=other), _default_ -> A,B), written through the
daemon; a third influxd R, the reference, holds all of it (the same lines written straight to it),
so R answers every statement as one influxd holding the union of the cluster would. Databases are
created in the same order on A, B and R.

Routed statements are compared byte for byte with the backend that must answer them; merged SHOWs
and assembled multi-statement answers with R. Tests that kill backends build their own small
cluster.
"""

import http.client
import json
import signal
import socket
import time
import urllib.parse

import pytest
import requests

from helpers import (cpu_seconds, http_request, influxd_query_requests, proc_status_kb, query_raw, read_responses,
                     read_to_close, wait_until)

T0 = 1700000000  # seconds; every point has an explicit timestamp
DBS = ("q", "probe", "other", "big")


def dataset():
    """Line protocol (precision s) written through the daemon to db q, and straight to R."""
    out = []
    for i in range(60):
        t = T0 + 60 * i
        for h in range(4):
            out.append("cpu,host=h%d,region=r%d value=%s,idle=%di %d" % (h, h % 2, 0.25 * i + h, 100 - i, t))
            out.append("mem,host=h%d used=%di,free=%s %d" % (h, 1000 * h + i, 1.5 * i, t))
        for h in range(3):
            out.append("disk,host=h%d,path=/ free=%s %d" % (h, 10.5 + i + h, t))
        for h in range(2):
            out.append("net,host=h%d,iface=eth0 rx=%di,tx=%di %d" % (h, i * 7, i * 3, t))
    out.append("we\\ ird,k\\ ey=v\\,1 f=1 %d" % T0)
    out.append('wo,host=h0 v=1i,s="a<b>&c" %d' % T0)
    out.append("ovr,host=h0 v=5i %d" % T0)
    return "\n".join(out) + "\n"


class Cluster:
    pass


@pytest.fixture(scope="module")
def cl(redis_mod, influxd_mod, proxy_mod):
    c = Cluster()
    c.a, c.b, c.r = influxd_mod(), influxd_mod(), influxd_mod()
    for db in DBS:
        for i in (c.a, c.b, c.r):
            i.create_db(db)
    c.backends = {
        "A": {"url": c.a.url, "checkinterval": 500},
        "B": {"url": c.b.url, "checkinterval": 500},
        "AW": {"url": c.a.url, "writeonly": True, "checkinterval": 500},
        "AO": {"url": c.a.url, "db": "other", "checkinterval": 500},
    }
    c.keymaps = {"cpu": ["A"], "mem": ["B"], "big": ["A"], "wo": ["AW", "B"], "ovr": ["AO"],
                 "_default_": ["A", "B"]}
    c.proxy = proxy_mod(redis_mod, c.backends, c.keymaps, node_fields={"queryforbid": "(?i)from\\s+\"?secret"})
    c.url = c.proxy.url
    body = dataset()
    r = requests.post(c.url + "/write", params={"db": "q", "precision": "s"}, data=body.encode(), timeout=30)
    assert r.status_code == 204, r.text
    assert c.r.write(body, "q", precision="s").status_code == 204
    # probe: the same measurement with different values on A and B shows which backend answered
    assert c.a.write("disk,host=p v=1i %d\nwo,host=p v=1i %d\n" % (T0, T0), "probe", precision="s").status_code == 204
    assert c.b.write("disk,host=p v=2i %d\nwo,host=p v=2i %d\n" % (T0, T0), "probe", precision="s").status_code == 204
    return c


def pq(cl, q, db="q", **kw):
    """The request through the daemon."""
    return query_raw(cl.url, q, db=db, **kw)


def same_bytes(got, want):
    """The daemon's answer is the influxd's answer, byte for byte, with its status and Content-Type."""
    assert got.status_code == want.status_code, (got.status_code, got.text[:2000], want.status_code, want.text[:2000])
    assert got.headers.get("Content-Type") == want.headers.get("Content-Type"), (got.headers, want.headers)
    assert got.content == want.content, (got.text[:3000], want.text[:3000])
    assert got.headers.get("X-Influxdb-Version", "") != ""


def same_json(got, want):
    assert got.status_code == want.status_code, (got.status_code, got.text[:2000], want.status_code, want.text[:2000])
    assert got.headers.get("Content-Type", "").startswith("application/json"), got.headers
    assert json.loads(got.text) == json.loads(want.text), (got.text[:3000], want.text[:3000])


def series_of(resp, index=0):
    res = resp.json()["results"][index]
    assert "error" not in res, res
    return res.get("series", [])


def query_counts(*influxds):
    return [influxd_query_requests(i) for i in influxds]


# ---- routed statements: answered by the backend holding the measurement ------------------------------------

ROUTED = [
    ("SELECT * FROM cpu", "a"),
    ('SELECT "value", idle FROM "cpu" WHERE host = \'h1\' AND time >= %ds' % (T0 + 600), "a"),
    ("SELECT mean(value), max(idle) FROM cpu WHERE time >= %ds AND time < %ds GROUP BY time(10m), host fill(none)"
     % (T0, T0 + 3600), "a"),
    ("SELECT * FROM mem", "b"),
    ("SELECT count(used) FROM q.autogen.mem GROUP BY *", "b"),
    ("SELECT * FROM q..mem WHERE host =~ /h[23]/ ORDER BY time DESC LIMIT 3", "b"),
    ("SELECT * FROM disk", "a"),
    ('SELECT * FROM "we ird"', "a"),
    ("SELECT * FROM /^cpu$/", "a"),
    ("SELECT max(m) FROM (SELECT mean(value) AS m FROM cpu GROUP BY host)", "a"),
    ("SELECT * FROM wo", "b"),
    ("SHOW TAG KEYS FROM cpu", "a"),
    ("SHOW FIELD KEYS FROM mem", "b"),
    ('SHOW TAG VALUES FROM "mem" WITH KEY = "host"', "b"),
    ("SHOW SERIES FROM cpu WHERE region = 'r1'", "a"),
]


@pytest.mark.parametrize("q,who", ROUTED, ids=[q for q, _ in ROUTED])
def test_routed_statement_answered_by_its_backend(cl, q, who):
    want = query_raw(getattr(cl, who).url, q, db="q")
    assert want.status_code == 200 and '"series"' in want.text, want.text
    got = pq(cl, q)
    same_bytes(got, want)
    # R holds the union: the routed answer is also the cluster's answer
    same_bytes(got, query_raw(cl.r.url, q, db="q"))


def test_first_backend_of_the_keymap_answers(cl):
    # probe holds different values on A and B: disk (_default_ = A,B) comes from A
    got = pq(cl, "SELECT * FROM disk", db="probe")
    same_bytes(got, query_raw(cl.a.url, "SELECT * FROM disk", db="probe"))
    assert series_of(got)[0]["values"][0][-1] == 1


def test_writeonly_backend_never_answers(cl):
    # wo -> AW (writeonly, on A), B: B answers although AW comes first
    before = query_counts(cl.a)
    got = pq(cl, "SELECT * FROM wo", db="probe")
    same_bytes(got, query_raw(cl.b.url, "SELECT * FROM wo", db="probe"))
    assert series_of(got)[0]["values"][0][-1] == 2
    assert query_counts(cl.a) == before


def test_db_override_backend_gets_its_own_database(cl):
    # ovr -> AO (A, db=other): the line written to q went to A's other, and the query goes there too
    want = query_raw(cl.a.url, "SELECT * FROM ovr", db="other")
    assert series_of(want)[0]["values"] == [["2023-11-14T22:13:20Z", "h0", 5]]
    same_bytes(pq(cl, "SELECT * FROM ovr"), want)
    assert series_of(query_raw(cl.a.url, "SELECT * FROM ovr", db="q")) == []


def test_missing_database_answer_passed_through(cl):
    q = "SELECT * FROM cpu"
    same_bytes(pq(cl, q, db="nosuchdb"), query_raw(cl.a.url, q, db="nosuchdb"))
    same_bytes(pq(cl, q, db=None), query_raw(cl.a.url, q))
    same_bytes(pq(cl, "SHOW TAG KEYS", db=None), query_raw(cl.r.url, "SHOW TAG KEYS"))


def test_retention_policy_parameter(cl):
    q = "SELECT * FROM mem WHERE host = 'h1'"
    same_bytes(pq(cl, q, rp="autogen"), query_raw(cl.b.url, q, db="q", rp="autogen"))
    same_bytes(pq(cl, q, rp="nosuch"), query_raw(cl.b.url, q, db="q", rp="nosuch"))


def test_statement_error_answer_passed_through(cl):
    q = "SELECT nosuchfunc(value) FROM cpu"
    want = query_raw(cl.a.url, q, db="q")
    assert want.status_code == 200 and "error" in want.json()["results"][0], want.text
    same_bytes(pq(cl, q), want)


@pytest.mark.parametrize("q", ["SELECT * FROM cpu, mem", "SELECT * FROM /^(cpu|mem)$/",
                               "SELECT * FROM cpu; SELECT * FROM cpu, mem"])
def test_statement_spanning_backend_sets_is_refused(cl, q):
    before = query_counts(cl.a, cl.b)
    r = pq(cl, q)
    assert r.status_code == 400, r.text
    assert r.headers.get("Content-Type", "").startswith("application/json")
    err = r.json()["error"]
    assert "SELECT * FROM cpu, mem" in err or "/^(cpu|mem)$/" in err, err
    assert query_counts(cl.a, cl.b) == before


# ---- merged SHOW statements: the union, as one influxd holding everything answers ---------------------------

FANOUT = [
    "SHOW MEASUREMENTS",
    "SHOW MEASUREMENTS LIMIT 2",
    "SHOW MEASUREMENTS LIMIT 3 OFFSET 2",
    "SHOW MEASUREMENTS OFFSET 4",
    "SHOW MEASUREMENTS WITH MEASUREMENT =~ /e/",
    "SHOW MEASUREMENTS WITH MEASUREMENT =~ /^(cpu|mem|net)$/ LIMIT 2 OFFSET 1",
    "SHOW MEASUREMENTS WHERE host = 'h3'",
    "SHOW DATABASES",
    "SHOW RETENTION POLICIES ON q",
    "SHOW TAG KEYS",
    "SHOW TAG KEYS LIMIT 1",
    "SHOW FIELD KEYS",
    'SHOW TAG VALUES WITH KEY = "host"',
    'SHOW TAG VALUES WITH KEY IN ("host", "region") WHERE host != \'h0\'',
    'SHOW TAG VALUES WITH KEY = "host" LIMIT 2 OFFSET 1',
    "SHOW SERIES",
    "SHOW SERIES LIMIT 5 OFFSET 3",
    "SHOW SERIES WHERE host = 'h2'",
    # FROM measurements that no single backend holds (cpu on A, mem on B): fanned out and merged as well
    "SHOW TAG KEYS FROM cpu, mem",
    "SHOW TAG KEYS FROM /^(cpu|mem)$/ LIMIT 1",
    "SHOW TAG KEYS FROM /o/",
    'SHOW TAG VALUES FROM /^(cpu|mem|disk)$/ WITH KEY = "host" LIMIT 2 OFFSET 1',
    "SHOW FIELD KEYS FROM cpu, mem",
    "SHOW SERIES FROM /^(cpu|mem)$/ WHERE host = 'h2'",
    "SHOW SERIES FROM cpu, mem LIMIT 5 OFFSET 3",
]


@pytest.mark.parametrize("q", FANOUT)
def test_merged_show_equals_reference(cl, q):
    want = query_raw(cl.r.url, q, db="q")
    assert want.status_code == 200, want.text
    got = pq(cl, q)
    same_json(got, want)
    assert got.content == want.content, (got.text[:3000], want.text[:3000])


def test_merged_show_reaches_both_backends(cl):
    # the union needs both: cpu lives on A only, mem on B only
    names = [v[0] for v in series_of(pq(cl, "SHOW MEASUREMENTS"))[0]["values"]]
    assert "cpu" in names and "mem" in names and "we ird" in names


def test_merged_show_pretty_and_without_db_param(cl):
    q = "SHOW MEASUREMENTS; SHOW TAG VALUES WITH KEY = host"
    same_bytes(pq(cl, q, pretty="true"), query_raw(cl.r.url, q, db="q", pretty="true"))
    same_bytes(query_raw(cl.url, "SHOW DATABASES"), query_raw(cl.r.url, "SHOW DATABASES"))


def test_db_named_in_the_statement_maps_to_the_override(cl):
    for q in ("SHOW MEASUREMENTS ON q", "SHOW SERIES ON q", "SELECT * FROM q.autogen.ovr", "SELECT * FROM q..ovr"):
        want = query_raw(cl.r.url, q, db="q")
        assert "ovr" in want.text
        same_bytes(pq(cl, q), want)


# ---- rejected statements: 400, nothing executed anywhere -----------------------------------------------------

FORBIDDEN = [
    ("DROP MEASUREMENT cpu", "DROP MEASUREMENT"),
    ("DROP DATABASE q", "DROP DATABASE"),
    ("DROP SERIES FROM mem", "DROP SERIES"),
    ("DROP RETENTION POLICY autogen ON q", "DROP RETENTION POLICY"),
    ("DELETE FROM cpu WHERE time < now()", "DELETE"),
    ("GRANT ALL PRIVILEGES TO bob", "GRANT"),
    ("REVOKE ALL PRIVILEGES FROM bob", "REVOKE"),
    ("ALTER RETENTION POLICY autogen ON q DURATION 1h", "ALTER"),
    ("CREATE USER bob WITH PASSWORD 'x'", "CREATE USER"),
    ("SET PASSWORD FOR bob = 'y'", "SET PASSWORD"),
    ("KILL QUERY 1", "KILL"),
    ("SELECT * INTO cpu_copy FROM cpu", "INTO"),
    ("SELECT mean(value) INTO q.autogen.cpu_copy FROM cpu GROUP BY time(1h)", "INTO"),
    ("SELECT * FROM cpu; DROP MEASUREMENT mem", "DROP MEASUREMENT"),
    ("CREATE DATABASE never_made; DROP DATABASE q", "DROP DATABASE"),
    ("SELECT * FROM mem;DELETE FROM mem", "DELETE"),
]


@pytest.mark.parametrize("q,needle", FORBIDDEN, ids=[q for q, _ in FORBIDDEN])
def test_forbidden_statement_rejected_before_anything_runs(cl, q, needle):
    before = query_counts(cl.a, cl.b)
    r = pq(cl, q)
    assert r.status_code == 400, r.text
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    err = r.json()["error"]
    assert needle.lower() in err.lower(), err
    assert r.headers.get("X-Influxdb-Error") == err
    assert query_counts(cl.a, cl.b) == before
    # nothing changed: the data, the databases, no INTO target
    assert len(series_of(query_raw(cl.a.url, "SELECT count(value) FROM cpu", db="q"))) == 1
    assert len(series_of(query_raw(cl.b.url, "SELECT count(used) FROM mem", db="q"))) == 1
    for i in (cl.a, cl.b):
        dbs = [v[0] for v in series_of(query_raw(i.url, "SHOW DATABASES"))[0]["values"]]
        assert "q" in dbs and "never_made" not in dbs
        names = [v[0] for v in series_of(query_raw(i.url, "SHOW MEASUREMENTS", db="q"))[0]["values"]]
        assert "cpu_copy" not in names
    assert series_of(query_raw(cl.a.url, "SELECT count(value) FROM cpu", db="q"))[0]["values"][0][1] == 240


@pytest.mark.parametrize("q", ["SELECT * FROM secret", 'SELECT * FROM "secret" WHERE time > 0',
                               "SELECT * FROM cpu; select value from  secret"])
def test_queryforbid_pattern_rejects(cl, q):
    before = query_counts(cl.a, cl.b)
    r = pq(cl, q)
    assert r.status_code == 400, r.text
    assert "secret" in r.json()["error"], r.text
    assert query_counts(cl.a, cl.b) == before


def test_unparsable_statement_rejected(cl):
    before = query_counts(cl.a, cl.b)
    for q in ("SELEC * FROM cpu", "SELECT * FROM cpu; SELECT FROM", "SELECT * FROM \"cpu"):
        r = pq(cl, q)
        assert r.status_code == 400, (q, r.text)
        assert r.json()["error"] != ""
    assert query_counts(cl.a, cl.b) == before


@pytest.mark.parametrize("q", ["SELEC * FROM cpu", "select * from cpu; selec 1", "SELECT * FROM cpu;\r\n  \"foo\" x",
                               "SELECT 'é' FROM cpu; FOO", "\u00a0\u2003 from cpu", "-- c\n /* c */ 10s", "<> x",
                               "SELECT * FROM cpu; 'str'", "\"x\\q\" y", "\xff", "SELECT * FROM cpu; $p", "\"unterminated"])
def test_statement_no_keyword_starts_is_influxds_error(cl, q):
    """A statement that starts with no statement keyword: influxd's own words, the token as its scanner names it and its
    place in the query (the whole request refused, nothing run)."""
    before = query_counts(cl.a, cl.b)
    got, want = pq(cl, q), query_raw(cl.r.url, q, db="q")
    assert want.status_code == 400 and "error parsing query: found" in want.json()["error"], want.text
    same_bytes(got, want)
    assert got.headers.get("X-Influxdb-Error") == want.headers.get("X-Influxdb-Error")
    assert query_counts(cl.a, cl.b) == before


@pytest.mark.parametrize("q", ["", " \t\n "])
def test_missing_q_is_influxd_error(cl, q):
    got = query_raw(cl.url, q, db="q")
    want = query_raw(cl.a.url, q, db="q")
    assert got.status_code == want.status_code == 400
    assert got.json() == want.json()


@pytest.mark.parametrize("q", ["-- c\rSHOW DATABASES", "SHOW DATABASES -- c\r;SHOW MEASUREMENTS"])
def test_line_comment_ends_at_a_lone_cr_as_in_influxd(cl, q):
    """influxd's reader takes a lone CR for a line end: what follows a comment on such a line is run, not skipped."""
    same_bytes(pq(cl, q), query_raw(cl.r.url, q, db="q"))


@pytest.mark.parametrize("q", [";", "-- nothing here", "/* nor here */ ;;"])
@pytest.mark.parametrize("chunked", [None, "true"])
def test_no_statement_is_influxds_empty_answer(cl, q, chunked):
    """A q of comments and semicolons only: influxd runs nothing and answers 200 with {} (nothing when chunked)."""
    params = {"chunked": chunked} if chunked else {}
    want = query_raw(cl.a.url, q, db="q", **params)
    assert want.status_code == 200
    got = query_raw(cl.url, q, db="q", **params)
    assert got.status_code == 200 and got.content == want.content, (got.text, want.text)
    assert got.headers.get("Content-Type") == want.headers.get("Content-Type")


# ---- several statements ------------------------------------------------------------------------------------

MULTI = [
    "SELECT * FROM cpu; SELECT * FROM mem",
    "SELECT mean(value) FROM cpu; SHOW MEASUREMENTS; SELECT max(used) FROM mem GROUP BY host",
    "SHOW DATABASES; SHOW TAG KEYS FROM mem; SELECT * FROM wo",
    "SELECT * FROM cpu WHERE host = 'nobody'; SELECT * FROM mem WHERE host = 'h1'",
]


@pytest.mark.parametrize("q", MULTI)
def test_statements_on_different_backends_assembled(cl, q):
    want = query_raw(cl.r.url, q, db="q")
    got = pq(cl, q)
    same_json(got, want)
    ids = [res["statement_id"] for res in got.json()["results"]]
    assert ids == list(range(len(ids)))
    assert got.content == want.content, (got.text[:3000], want.text[:3000])


def test_statements_after_a_failed_one_are_not_run(cl):
    q = "SELECT * FROM mem WHERE host = 'h0'; SELECT nosuchfunc(value) FROM cpu; SELECT count(free) FROM disk"
    want = query_raw(cl.r.url, q, db="q").json()["results"]
    assert len(want) == 2 and "error" in want[1], want
    got = pq(cl, q)
    assert got.status_code == 200, got.text
    res = got.json()["results"]
    assert res[0] == want[0]
    assert [r["statement_id"] for r in res] == [0, 1], res
    assert "error" in res[1] and "series" not in res[1], res


def test_statements_on_the_same_backend_forwarded_whole(cl):
    q = "SELECT * FROM cpu; SELECT * FROM disk; SHOW TAG KEYS FROM cpu"
    before = query_counts(cl.a, cl.b)
    got = pq(cl, q)
    same_bytes(got, query_raw(cl.a.url, q, db="q"))
    # one request to A (plus the one just made to compare), none to B
    after = query_counts(cl.a, cl.b)
    assert after == [before[0] + 2, before[1]]
    assert [res["statement_id"] for res in got.json()["results"]] == [0, 1, 2]


@pytest.mark.parametrize("q", ["SELECT * FROM cpu WHERE host = 'h1'; SELECT * FROM mem WHERE host = 'h1'",
                               "SHOW MEASUREMENTS; SHOW FIELD KEYS"])
def test_pretty_assembled(cl, q):
    same_bytes(pq(cl, q, pretty="true"), query_raw(cl.r.url, q, db="q", pretty="true"))


@pytest.mark.parametrize("q", ["SELECT * FROM cpu WHERE host = 'h1'", "SELECT * FROM cpu LIMIT 1; SELECT * FROM disk LIMIT 1"])
def test_pretty_forwarded_whole(cl, q):
    same_bytes(pq(cl, q, pretty="true"), query_raw(cl.r.url, q, db="q", pretty="true"))


@pytest.mark.parametrize("epoch", ["ms", "s", "ns", "h"])
def test_epoch(cl, epoch):
    q = "SELECT * FROM cpu WHERE host = 'h2'"
    same_bytes(pq(cl, q, epoch=epoch), query_raw(cl.a.url, q, db="q", epoch=epoch))
    q2 = q + "; SELECT * FROM mem WHERE host = 'h2'"
    same_bytes(pq(cl, q2, epoch=epoch), query_raw(cl.r.url, q2, db="q", epoch=epoch))


def test_post_form(cl):
    for q in ("SELECT * FROM mem WHERE host = 'h0'", "SELECT * FROM cpu LIMIT 2; SELECT * FROM mem LIMIT 2",
              "SHOW MEASUREMENTS"):
        want = query_raw(cl.r.url, q, db="q", method="POST", form=True, epoch="ms")
        got = pq(cl, q, method="POST", form=True, epoch="ms")
        same_bytes(got, want)
    # parameters in the URL of a POST (no form body) work as with influxd
    q = "SELECT * FROM mem WHERE host = 'h3'"
    same_bytes(pq(cl, q, method="POST"), query_raw(cl.r.url, q, db="q", method="POST"))


def raw_query(base, qs, body=None):
    """/query?@qs sent as it is (requests would re-escape a malformed escape), by GET, or by POST with @body as a form:
    (status, Content-Type, body)."""
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        if body is None:
            c.request("GET", "/query?" + qs)
        else:
            c.request("POST", "/query?" + qs, body=body.encode(),
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = c.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()
    finally:
        c.close()


def test_parameters_as_influxd_reads_them(cl):
    """Query strings and form bodies read as influxd reads them: the first pair of a name wins, a pair holding a ';'
    or a malformed escape does not count (a later pair of that name does), a name in the form body wins over the
    URL's, '+' is a space; the same answer as influxd's, byte for byte."""
    sel = urllib.parse.quote("SELECT * FROM mem WHERE host = 'h1'")
    other = urllib.parse.quote("SELECT * FROM cpu WHERE host = 'h2'")
    cases = [
        "db=q&q=%s&q=%s" % (sel, other),
        "q=%s;x&db=q&q=%s" % (other, sel),
        "q=%%zz%s&db=q&q=%s" % (other, sel),
        "db=nope&db=q&q=%s" % sel,
        "db=q&q=SELECT+*+FROM+mem+WHERE+host+%3D+%27h1%27&epoch=ms&epoch=s",
        "db=q&q=%s&pretty=true&pretty=false" % sel,
        "db=q&q=%s&%%gg=1&chunked=true&chunk_size=1" % sel,
        "db=q;&q=%s" % sel,
        "d%%62=q&q=%s" % sel,
    ]
    for qs in cases:
        got, want = raw_query(cl.url, qs), raw_query(cl.r.url, qs)
        assert got == want, (qs, got, want)
    # a form body against the URL, both ways
    for url_qs, body in (("q=%s&db=q" % other, "q=%s" % sel), ("db=nope&epoch=ms", "db=q&q=%s&db=x" % sel),
                         ("q=%s" % sel, "q=%s;&db=q" % other), ("q=%s&db=q" % sel, "")):
        got, want = raw_query(cl.url, url_qs, body), raw_query(cl.r.url, url_qs, body)
        assert got == want, (url_qs, body, got, want)


def test_long_get_query(cl):
    """A GET whose statement is tens of KiB long (Grafana's many-valued template variables) goes upstream whole, in
    the URL as it came: the same answer as influxd's, for a routed statement and for statements on two backends."""
    hosts = " OR ".join("host = 'h%d'" % (i % 4 if i % 50 == 0 else 1000 + i) for i in range(2000))
    q = "SELECT * FROM cpu WHERE time >= %ds AND (%s)" % (T0 + 3000, hosts)
    assert len(q) > 30000
    r = pq(cl, q)
    same_bytes(r, query_raw(cl.a.url, q, db="q"))
    assert len(series_of(r)[0]["values"]) > 0
    q2 = q + "; " + q.replace("FROM cpu", "FROM mem")
    same_json(pq(cl, q2), query_raw(cl.r.url, q2, db="q"))


def test_bound_parameters(cl):
    """`params` (bound parameters, JSON) reach the backend with the statement, by GET and by POST form."""
    q = "SELECT * FROM cpu WHERE host = $host AND idle > $idle"
    params = '{"host": "h2", "idle": 70}'
    want = query_raw(cl.a.url, q, db="q", params=params)
    assert len(series_of(want)[0]["values"]) > 0
    same_bytes(pq(cl, q, params=params), want)
    same_bytes(pq(cl, q, method="POST", form=True, params=params),
               query_raw(cl.a.url, q, db="q", method="POST", form=True, params=params))


def test_chunked_routed_select_passed_through(cl):
    q = "SELECT * FROM cpu WHERE host = 'h0'"
    want = query_raw(cl.a.url, q, db="q", chunked="true", chunk_size="7")
    assert want.text.count("\n") > 3, want.text
    same_bytes(pq(cl, q, chunked="true", chunk_size="7"), want)


def test_chunked_statements_on_different_backends(cl):
    q = "SELECT * FROM cpu WHERE host = 'h0' LIMIT 2; SELECT * FROM mem WHERE host = 'h0' LIMIT 2"
    want = query_raw(cl.r.url, q, db="q", chunked="true")
    assert want.text.count("\n") == 2, want.text
    same_bytes(pq(cl, q, chunked="true"), want)


@pytest.mark.parametrize("q,params", [
    ("SHOW MEASUREMENTS", {"chunked": "true"}),
    ("SHOW MEASUREMENTS", {"chunked": "true", "chunk_size": "2"}),
    ("SHOW TAG KEYS", {"chunked": "true", "chunk_size": "1"}),
    ('SHOW TAG VALUES WITH KEY = "host" LIMIT 2', {"chunked": "true"}),
    ("SHOW FIELD KEYS", {"chunked": "true"}),
    ("SHOW FIELD KEYS FROM cpu, mem", {"chunked": "true", "chunk_size": "1"}),
    ("SHOW SERIES", {"chunked": "true", "chunk_size": "7"}),
    ("SHOW SERIES WHERE host = 'h9'", {"chunked": "true", "chunk_size": "7"}),
    ("SHOW SERIES LIMIT 5", {"chunked": "true", "chunk_size": "abc"}),
    ("SHOW TAG KEYS; SELECT * FROM cpu WHERE host = 'h1' LIMIT 2; SHOW SERIES", {"chunked": "true", "chunk_size": "9"}),
    ("SELECT * FROM cpu WHERE host = 'h1' LIMIT 5; SHOW MEASUREMENTS; SELECT used FROM mem GROUP BY host LIMIT 3",
     {"chunked": "true", "chunk_size": "2"}),
    ("SHOW TAG KEYS", {"chunked": "1"}),
    ("SHOW DATABASES", {"pretty": "1"}),
])
def test_chunked_merged_show(cl, q, params):
    """chunked=true as influxd frames it: SHOW TAG KEYS|TAG VALUES one result object per series, SHOW FIELD KEYS|SERIES
    in pieces of chunk_size rows marked partial; chunked and pretty only when exactly "true"."""
    same_bytes(pq(cl, q, **params), query_raw(cl.r.url, q, db="q", **params))


def test_accept_msgpack_passed_through(cl):
    q = "SELECT * FROM mem WHERE host = 'h1'"
    h = {"Accept": "application/x-msgpack"}
    want = query_raw(cl.b.url, q, db="q", headers=h)
    assert want.headers.get("Content-Type") == "application/x-msgpack", want.headers
    same_bytes(pq(cl, q, headers=h), want)


def test_gzip_answer_passed_through(cl):
    q = "SELECT * FROM cpu"
    h = {"Accept-Encoding": "gzip"}
    want = requests.get(cl.a.url + "/query", params={"q": q, "db": "q"}, headers=h, stream=True, timeout=10)
    got = requests.get(cl.url + "/query", params={"q": q, "db": "q"}, headers=h, stream=True, timeout=10)
    assert want.headers.get("Content-Encoding") == "gzip"
    assert got.headers.get("Content-Encoding") == "gzip", got.headers
    assert got.raw.read(decode_content=True) == want.raw.read(decode_content=True)


# ---- CREATE DATABASE / RETENTION POLICY on every backend ----------------------------------------------------


def dbs_of(influxd):
    return [v[0] for v in series_of(query_raw(influxd.url, "SHOW DATABASES"))[0]["values"]]


def test_create_database_on_every_backend(cl):
    got = pq(cl, 'CREATE DATABASE "made_here"', db=None, method="POST")
    want = query_raw(cl.r.url, 'CREATE DATABASE "made_here"', method="POST")
    same_bytes(got, want)
    assert "made_here" in dbs_of(cl.a) and "made_here" in dbs_of(cl.b)
    # AO (A with db=other) got its own name: nothing else was created
    assert dbs_of(cl.a) == dbs_of(cl.r) == dbs_of(cl.b)
    same_bytes(pq(cl, "SHOW DATABASES", db=None), query_raw(cl.r.url, "SHOW DATABASES"))


def test_create_retention_policy_on_every_backend(cl):
    q = 'CREATE RETENTION POLICY "short" ON "q" DURATION 2h REPLICATION 1'
    same_bytes(pq(cl, q, db=None, method="POST"), query_raw(cl.r.url, q, method="POST"))
    want = query_raw(cl.r.url, "SHOW RETENTION POLICIES ON q")
    for i in (cl.a, cl.b):
        same_bytes(query_raw(i.url, "SHOW RETENTION POLICIES ON q"), want)
    same_bytes(pq(cl, "SHOW RETENTION POLICIES ON q"), want)
    # AO's copy of the statement named its own database
    rps = [v[0] for v in series_of(query_raw(cl.a.url, "SHOW RETENTION POLICIES ON other"))[0]["values"]]
    assert "short" in rps


def test_create_database_by_get_warns_as_influxd(cl):
    q = 'CREATE DATABASE "made_by_get"'
    got = pq(cl, q, db=None)
    want = query_raw(cl.r.url, q)
    same_bytes(got, want)


def test_create_database_mixed_with_a_select(cl):
    q = "CREATE DATABASE mixed_made; SELECT * FROM mem WHERE host = 'h0'"
    want = query_raw(cl.r.url, q, db="q", method="POST")
    got = pq(cl, q, method="POST")
    same_json(got, want)
    assert "mixed_made" in dbs_of(cl.a) and "mixed_made" in dbs_of(cl.b)


# ---- a big answer -------------------------------------------------------------------------------------------


def test_big_result_complete(cl):
    """About 50 MB of JSON from one SELECT comes back whole and identical to influxd's, streamed: the
    daemon's peak RSS stays under 64 MB."""
    pad = "x" * 10000
    for part in range(10):
        body = "".join('big,k=k%d s="%s%05d",n=%di %d\n' % (i % 10, pad, i, i, T0 + i)
                       for i in range(part * 500, (part + 1) * 500))
        assert cl.a.write(body, "big", precision="s").status_code == 204
    q = "SELECT * FROM big"
    # identity: the backend sends the 50 MB as they are (requests asks for gzip by default, which
    # influxd would use, and which the daemon passes through compressed)
    h = {"Accept-Encoding": "identity"}
    want = query_raw(cl.a.url, q, db="big", headers=h, timeout=120)
    assert want.status_code == 200 and len(want.content) > 50 * 10**6, len(want.content)
    assert "Content-Encoding" not in want.headers
    hwm0 = proc_status_kb(cl.proxy.pid, "VmHWM")
    t = time.monotonic()
    got = pq(cl, q, db="big", headers=h, timeout=120)
    took = time.monotonic() - t
    hwm1 = proc_status_kb(cl.proxy.pid, "VmHWM")
    print("\nbig result: %d bytes in %.2f s; daemon VmHWM %s kB before, %s kB after"
          % (len(got.content), took, hwm0, hwm1))
    assert got.status_code == 200
    assert hwm1 < 64 * 1024, "peak RSS %d kB while passing a %d-byte answer" % (hwm1, len(got.content))
    assert "Content-Encoding" not in got.headers
    assert len(got.content) == len(want.content)
    assert got.content == want.content
    assert len(got.json()["results"][0]["series"][0]["values"]) == 5000
    # the same through gzip, as most clients ask for it
    got = pq(cl, q, db="big", headers={"Accept-Encoding": "gzip"}, timeout=120)
    assert got.headers.get("Content-Encoding") == "gzip"
    assert got.content == want.content


def test_big_result_to_a_slow_client_is_not_buffered(cl):
    """A client that reads a 50 MB answer slowly (a small receive buffer, 256 KB every 20 ms) holds the daemon back
    from reading the backend: the daemon's RSS stays bounded while the answer trickles out, and the answer is whole."""
    import socket as sk

    big = query_raw(cl.a.url, "SELECT count(n) FROM big", db="big").json()["results"][0]
    if "series" not in big:  # test_big_result_complete writes the data; alone, this test writes it
        pad = "x" * 10000
        for part in range(10):
            body = "".join('big,k=k%d s="%s%05d",n=%di %d\n' % (i % 10, pad, i, i, T0 + i)
                           for i in range(part * 500, (part + 1) * 500))
            assert cl.a.write(body, "big", precision="s").status_code == 204
    s = sk.socket()
    s.setsockopt(sk.SOL_SOCKET, sk.SO_RCVBUF, 64 * 1024)
    s.connect(("127.0.0.1", cl.proxy.port))
    s.sendall(b"GET /query?db=big&q=SELECT+*+FROM+big HTTP/1.1\r\nHost: x\r\nAccept-Encoding: identity\r\n"
              b"Connection: close\r\n\r\n")
    rss0 = proc_status_kb(cl.proxy.pid, "VmRSS")
    parts, peak = [], 0
    while True:
        d = s.recv(256 * 1024)
        if not d:
            break
        parts.append(d)
        peak = max(peak, proc_status_kb(cl.proxy.pid, "VmRSS"))
        time.sleep(0.02)
    s.close()
    got = b"".join(parts)
    head, _, body = got.partition(b"\r\n\r\n")
    print("\nslow client: %d bytes; daemon VmRSS %d kB before, peak %d kB" % (len(body), rss0, peak))
    assert head.startswith(b"HTTP/1.1 200"), head
    assert len(body) > 50 * 10**6
    assert peak - rss0 < 32 * 1024, "RSS grew by %d kB while a slow client read the answer" % (peak - rss0)


# ---- failover and backends that are down ---------------------------------------------------------------------


class Small:
    pass


def small_cluster(redis, influxd, proxy, check_ms=2000, timeoutquery=1500, db="f"):
    """X and Y with different values for m and wo in @db; _default_ -> X,Y; wo -> XW (X writeonly), Y."""
    s = Small()
    s.x, s.y = influxd(dbs=(db,)), influxd(dbs=(db,))
    assert s.x.write("m,host=x v=1i %d\nwo,host=x v=1i %d\n" % (T0, T0), db, precision="s").status_code == 204
    assert s.y.write("m,host=y v=2i %d\nwo,host=y v=2i %d\n" % (T0, T0), db, precision="s").status_code == 204
    s.proxy = proxy(redis, {"X": {"url": s.x.url, "checkinterval": check_ms, "timeoutquery": timeoutquery},
                            "Y": {"url": s.y.url, "checkinterval": check_ms, "timeoutquery": timeoutquery},
                            "XW": {"url": s.x.url, "writeonly": True, "checkinterval": check_ms}},
                    {"_default_": ["X", "Y"], "wo": ["XW", "Y"]})
    s.db = db
    return s


def host_of(resp):
    assert resp.status_code == 200, resp.text
    return series_of(resp)[0]["values"][0][1]


def healthy(proxy, name):
    return proxy.meta()["backendStatus"][name]


def test_failover_to_the_next_backend(redis, influxd, proxy):
    s = small_cluster(redis, influxd, proxy)
    p, db = s.proxy, s.db
    wait_until(lambda: healthy(p, "X") and healthy(p, "Y"), 10, what="X and Y healthy")
    assert host_of(pq_url(p, "SELECT * FROM m", db)) == "x"
    assert host_of(pq_url(p, "SELECT * FROM wo", db)) == "y"

    # X killed: answered by Y at once, before the health check has noticed
    s.x.kill()
    assert healthy(p, "X") is True
    assert host_of(pq_url(p, "SELECT * FROM m", db)) == "y"
    # and the same after it has noticed
    wait_until(lambda: healthy(p, "X") is False, 15, what="X seen down")
    assert host_of(pq_url(p, "SELECT * FROM m", db)) == "y"
    assert host_of(pq_url(p, "SELECT * FROM m; SELECT * FROM wo", db)) == "y"

    # X back: it answers again
    s.x.start()
    wait_until(lambda: healthy(p, "X") is True, 15, what="X back up")
    assert host_of(pq_url(p, "SELECT * FROM m", db)) == "x"

    # Y killed: wo has no queryable backend left (XW is writeonly), m still has X
    s.y.kill()
    r = pq_url(p, "SELECT * FROM wo", db)
    assert r.status_code == 503, r.text
    assert "wo" in r.json()["error"], r.text
    assert host_of(pq_url(p, "SELECT * FROM m", db)) == "x"

    # the cluster-wide SHOWs are answered by what is left
    wait_until(lambda: healthy(p, "Y") is False, 15, what="Y seen down")
    for q in ("SHOW MEASUREMENTS", "SHOW SERIES"):
        same_bytes(pq_url(p, q, db), query_raw(s.x.url, q, db=db))

    # none left
    s.x.kill()
    for _ in range(2):
        r = pq_url(p, "SELECT * FROM m", db)
        assert r.status_code == 503, r.text
        assert r.headers.get("Content-Type", "").startswith("application/json")
        assert '"m"' in r.json()["error"] or " m" in r.json()["error"], r.text
        wait_until(lambda: healthy(p, "X") is False and healthy(p, "Y") is False, 15, what="both seen down")


def pq_url(p, q, db, **kw):
    return query_raw(p.url, q, db=db, **kw)


def test_failover_on_timeout(redis, influxd, proxy):
    s = small_cluster(redis, influxd, proxy, check_ms=5000, timeoutquery=1000)
    p = s.proxy
    wait_until(lambda: healthy(p, "X") and healthy(p, "Y"), 10, what="X and Y healthy")
    s.x.signal(signal.SIGSTOP)
    try:
        t = time.monotonic()
        r = pq_url(p, "SELECT * FROM m", s.db)
        took = time.monotonic() - t
    finally:
        s.x.signal(signal.SIGCONT)
    assert host_of(r) == "y"
    assert 0.9 <= took < 4, took


def test_create_database_queued_for_a_backend_that_is_down(redis, influxd, proxy):
    s = small_cluster(redis, influxd, proxy, check_ms=300)
    p = s.proxy
    wait_until(lambda: healthy(p, "X") and healthy(p, "Y"), 10, what="X and Y healthy")
    s.y.kill()
    wait_until(lambda: healthy(p, "Y") is False, 10, what="Y seen down")
    r = query_raw(p.url, "CREATE DATABASE late", method="POST")
    assert r.status_code == 200, r.text
    assert r.json() == {"results": [{"statement_id": 0}]}
    assert "late" in dbs_of(s.x)
    assert p.meta()["queues"]["Y"]["records"] >= 1
    w = requests.post(p.url + "/write", params={"db": "late", "precision": "s"},
                      data=("m,host=l v=3i %d\n" % T0).encode(), timeout=10)
    assert w.status_code == 204, w.text
    s.y.start()
    wait_until(lambda: p.meta()["queues"]["Y"]["records"] == 0, 20, what="Y's queue replayed")
    assert "late" in dbs_of(s.y)
    q = "SELECT * FROM m"
    same_bytes(query_raw(s.y.url, q, db="late"), query_raw(s.x.url, q, db="late"))
    assert host_of(query_raw(s.y.url, q, db="late")) == "l"


def test_create_database_with_db_override(redis, influxd, proxy):
    x, y = influxd(), influxd()
    p = proxy(redis, {"X": {"url": x.url}, "YO": {"url": y.url, "db": "own"}},
              {"ovr": ["YO"], "_default_": ["X"]})
    r = query_raw(p.url, 'CREATE DATABASE "made"', method="POST")
    assert r.status_code == 200 and r.json() == {"results": [{"statement_id": 0}]}, r.text
    assert "made" in dbs_of(x) and "own" not in dbs_of(x)
    assert "own" in dbs_of(y) and "made" not in dbs_of(y)
    assert y.write("ovr,host=o v=7i %d\n" % T0, "own", precision="s").status_code == 204
    same_bytes(query_raw(p.url, "SELECT * FROM ovr", db="made"), query_raw(y.url, "SELECT * FROM ovr", db="own"))




def test_node_zone_first(redis, influxd, proxy):
    x, y = influxd(dbs=("z",)), influxd(dbs=("z",))
    assert x.write("m,host=x v=1i %d\n" % T0, "z", precision="s").status_code == 204
    assert y.write("m,host=y v=2i %d\n" % T0, "z", precision="s").status_code == 204
    p = proxy(redis, {"X": {"url": x.url, "zone": "east"}, "Y": {"url": y.url, "zone": "west"}},
              {"_default_": ["X", "Y"]}, node_fields={"zone": "west"})
    assert host_of(pq_url(p, "SELECT * FROM m", "z")) == "y"
    y.kill()
    assert host_of(pq_url(p, "SELECT * FROM m", "z")) == "x"


# ---- a backend answering 5xx, a backend replaying its queue ------------------------------------------------


class FakeBackend:
    """An HTTP server in this process: /ping answers 204 (after @ping_delay seconds), /query answers @status with
    an InfluxDB-style JSON error; it counts the /query requests it got and keeps each one's method, path and body."""

    def __init__(self, status, ping_delay=0.0):
        import http.server
        import socketserver
        import threading

        fake = self
        self.queries = 0
        self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self):
                if self.path.startswith("/ping"):
                    time.sleep(ping_delay)
                    self.send_response(204)
                    self.send_header("X-Influxdb-Version", "1.6.7")
                    self.end_headers()
                    return
                n = int(self.headers.get("Content-Length") or 0)
                fake.seen.append((self.command, self.path, self.rfile.read(n)))
                fake.queries += 1
                body = b'{"error":"fake backend failure"}\n'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Influxdb-Error", "fake backend failure")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_HEAD = answer

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_backend():
    made = []

    def make(status, ping_delay=0.0):
        f = FakeBackend(status, ping_delay)
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()


class CutBackend:
    """A backend that goes away in the middle of its answers: /ping answers 204; /query gets a 200 head and the first
    @sent bytes of a longer JSON answer (Content-Length, or chunked with @chunked), then the connection is closed."""

    def __init__(self, sent, chunked=False):
        import threading

        self.sent, self.chunked, self.queries = sent, chunked, 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        self.threading = threading
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        buf = b""
        with c:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    buf += d
                head, _, buf = buf.partition(b"\r\n\r\n")
                if head.split(b" ")[1].startswith(b"/ping"):
                    c.sendall(b"HTTP/1.1 204 No Content\r\nX-Influxdb-Version: 1.6.7\r\n\r\n")
                    continue
                self.queries += 1
                body = (b'{"results":[{"statement_id":0,"series":[{"name":"m","columns":["time","v"],"values":['
                        + b"[1,1]," * (self.sent // 6))[:self.sent]
                if self.chunked:
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                              + (b"%x\r\n%s\r\n" % (len(body), body) if body else b""))
                else:
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                              % (2 * len(body) + 100, body))
                time.sleep(0.1)
                return

    def close(self):
        self.sock.close()


@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("sent", [0, 100000])
def test_backend_gone_before_the_answer_is_passed_on_fails_over(redis, influxd, proxy, sent, chunked):
    """The first backend sends a 200 head and part of its answer, too little for the daemon to have begun passing it
    on, then goes away: the next backend answers the query in full."""
    cut = CutBackend(sent, chunked)
    try:
        y = influxd(dbs=["cf"])
        assert y.write("m,host=y v=2i %d\n" % T0, "cf", precision="s").status_code == 204
        p = proxy(redis, {"C": {"url": cut.url}, "Y": {"url": y.url}}, {"_default_": ["C", "Y"]})
        wait_until(lambda: healthy(p, "C") and healthy(p, "Y"), 10, what="C and Y healthy")
        assert host_of(pq_url(p, "SELECT * FROM m", "cf")) == "y"
        assert cut.queries == 1
    finally:
        cut.close()


@pytest.mark.parametrize("chunked", [False, True])
def test_backend_gone_mid_answer_breaks_the_clients_answer(redis, proxy, chunked):
    """A backend goes away after 2 MB of an answer the daemon has begun passing on: the client's answer ends without
    its last chunk (an error for any HTTP client), never as a complete answer; the daemon goes on serving."""
    cut = CutBackend(2 * 10**6, chunked)
    try:
        p = proxy(redis, {"C": {"url": cut.url}}, {"_default_": ["C"]})
        wait_until(lambda: healthy(p, "C"), 10, what="C healthy")
        s = socket.create_connection(("127.0.0.1", p.port))
        s.sendall(b"GET /query?db=d&q=SELECT+*+FROM+m HTTP/1.1\r\nHost: x\r\n\r\n")
        head, _, body = read_to_close(s).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 "), head
        assert b"transfer-encoding: chunked" in head.lower(), head
        assert len(body) > 10**6 and not body.endswith(b"\r\n0\r\n\r\n"), body[-100:]
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            requests.get(p.url + "/query", params={"db": "d", "q": "SELECT * FROM m"}, timeout=10).content
        assert requests.get(p.url + "/ping", timeout=5).status_code == 204
    finally:
        cut.close()


@pytest.mark.parametrize("chunked", [False, True])
def test_merged_show_leaves_out_a_backend_cut_mid_answer(redis, influxd, proxy, chunked):
    """A merged SHOW whose answer from one backend ends before it is complete is answered from the other backends'
    answers, never from the cut one's part; when every answer is cut, the result is an error naming the backends."""
    cut = CutBackend(300, chunked)
    try:
        y = influxd(dbs=["cf"])
        assert y.write("m1,host=y v=2i %d\nm2 v=1 %d\n" % (T0, T0), "cf", precision="s").status_code == 204
        p = proxy(redis, {"C": {"url": cut.url}, "Y": {"url": y.url}}, {"m1": ["C"], "_default_": ["Y"]})
        wait_until(lambda: healthy(p, "C") and healthy(p, "Y"), 10, what="C and Y healthy")
        for q in ("SHOW MEASUREMENTS", "SHOW TAG KEYS"):
            same_bytes(pq_url(p, q, "cf"), query_raw(y.url, q, db="cf"))
        assert cut.queries == 2
    finally:
        cut.close()


@pytest.mark.parametrize("chunked", [False, True])
def test_merged_show_with_every_answer_cut_is_an_error(redis, proxy, chunked):
    """A merged SHOW whose every backend answer ends before it is complete gets an error result naming them."""
    cuts = [CutBackend(300, chunked), CutBackend(0, chunked)]
    try:
        p = proxy(redis, {"C": {"url": cuts[0].url}, "D": {"url": cuts[1].url}}, {"m1": ["C"], "_default_": ["D"]})
        wait_until(lambda: healthy(p, "C") and healthy(p, "D"), 10, what="C and D healthy")
        r = pq_url(p, "SHOW MEASUREMENTS", "cf")
        assert r.status_code == 200, r.text
        res = r.json()["results"]
        assert len(res) == 1 and "series" not in res[0], r.text
        assert "C" in res[0]["error"] and "D" in res[0]["error"], r.text
        assert cuts[0].queries == 1 and cuts[1].queries == 1
    finally:
        for c in cuts:
            c.close()


def test_first_query_after_start_finds_the_backend_healthy(redis, proxy, fake_backend):
    """A node takes requests only once its first health checks have answered: a backend slow to answer its first
    ping is not "no healthy backend" for the queries that come right after start-up."""
    slow = fake_backend(400, ping_delay=0.4)
    p = proxy(redis, {"S": {"url": slow.url}}, {"_default_": ["S"]})
    r = pq_url(p, "SELECT * FROM m", "f")
    assert r.status_code == 400, r.text  # the backend's own answer, passed through
    assert slow.queries == 1


def test_failover_on_5xx_but_not_on_4xx(redis, influxd, proxy, fake_backend):
    bad, refusing, y = fake_backend(503), fake_backend(400), influxd(dbs=("f",))
    assert y.write("m,host=y v=2i %d\n" % T0, "f", precision="s").status_code == 204
    p = proxy(redis, {"BAD": {"url": bad.url}, "NO": {"url": refusing.url}, "Y": {"url": y.url}},
              {"m": ["BAD", "Y"], "n": ["NO", "Y"], "_default_": ["Y"]})
    wait_until(lambda: all(p.meta()["backendStatus"].values()), 10, what="every backend healthy")
    # a 5xx sends the query on to the next backend
    same_bytes(pq_url(p, "SELECT * FROM m", "f"), query_raw(y.url, "SELECT * FROM m", db="f"))
    assert bad.queries == 1
    # a 4xx is the answer: passed through as it came
    r = pq_url(p, "SELECT * FROM n", "f")
    assert r.status_code == 400, r.text
    assert r.json() == {"error": "fake backend failure"}
    assert r.headers.get("X-Influxdb-Error") == "fake backend failure"
    assert refusing.queries == 1


def test_query_goes_upstream_with_the_clients_method(redis, proxy, fake_backend):
    """A GET query goes upstream as a GET with the statement in the URL, as the client sent it (influxd treats a GET
    as read-only and warns about writes in it; it also parses no form body); a POST goes upstream as a POST form."""
    f = fake_backend(400)
    p = proxy(redis, {"F": {"url": f.url}}, {"_default_": ["F"]})
    q = "SELECT * FROM m WHERE t = 'a b'"
    assert pq_url(p, q, "f").status_code == 400
    assert pq_url(p, q, "f", method="POST").status_code == 400
    (m1, path1, body1), (m2, path2, body2) = f.seen
    assert (m1, body1) == ("GET", b""), f.seen
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(path1).query) == {"db": ["f"], "q": [q]}, path1
    assert m2 == "POST" and urllib.parse.parse_qs(body2.decode()) == {"q": [q]}, f.seen
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(path2).query) == {"db": ["f"]}, path2


def test_backend_replaying_its_queue_is_not_queried(redis, influxd, proxy):
    s = small_cluster(redis, influxd, proxy, check_ms=200)
    p, db = s.proxy, s.db
    wait_until(lambda: healthy(p, "X") and healthy(p, "Y"), 10, what="X and Y healthy")
    s.x.kill()
    wait_until(lambda: healthy(p, "X") is False, 10, what="X seen down")
    # enough queued points for X that its replay takes a while
    for part in range(40):
        body = "".join("fill,k=k%d v=%di %d\n" % (i % 50, i, T0 + i) for i in range(part * 5000, (part + 1) * 5000))
        w = requests.post(p.url + "/write", params={"db": db, "precision": "s"}, data=body.encode(), timeout=30)
        assert w.status_code == 204, w.text
    assert p.meta()["queues"]["X"]["records"] > 0
    s.x.start()

    def replaying():
        m = p.meta()
        q = m["queues"]["X"]
        return m["backendStatus"]["X"] is True and q["records"] > 0 and q["replaying"]

    wait_until(replaying, 15, interval=0.01, what="X up and replaying its queue")
    assert host_of(pq_url(p, "SELECT * FROM m", db)) == "y"
    wait_until(lambda: p.meta()["queues"]["X"]["records"] == 0, 60, what="X's queue replayed")
    assert host_of(pq_url(p, "SELECT * FROM m", db)) == "x"
    assert series_of(query_raw(s.x.url, "SELECT count(v) FROM fill", db=db))[0]["values"][0][1] == 200000


def test_request_pipelined_while_a_query_is_pending(redis, influxd, proxy):
    """A request that arrives on the connection while a query waits for its backend is answered after it, in
    order; the daemon does not spin meanwhile."""
    x = influxd(dbs=("pq",))
    assert x.write("m,host=x v=1i %d\n" % T0, "pq", precision="s").status_code == 204
    p = proxy(redis, {"X": {"url": x.url}}, {"_default_": ["X"]})
    wait_until(lambda: healthy(p, "X") is True, 10, what="X healthy")
    want = query_raw(x.url, "SELECT * FROM m", db="pq").content
    s = socket.create_connection(("127.0.0.1", p.port))
    x.signal(signal.SIGSTOP)
    try:
        s.sendall(http_request("GET", "/query?db=pq&q=SELECT+*+FROM+m"))
        time.sleep(0.2)
        cpu0 = cpu_seconds(p.pid)
        s.sendall(http_request("GET", "/query?db=pq&q=SELECT+v+FROM+m"))
        time.sleep(0.5)
        busy = cpu_seconds(p.pid) - cpu0
    finally:
        x.signal(signal.SIGCONT)
    got = read_responses(s, 2)
    s.close()
    assert got[0] == (200, want)
    assert got[1] == (200, query_raw(x.url, "SELECT v FROM m", db="pq").content)
    assert busy < 0.25, "the daemon used %.2f s of CPU in 0.5 s while the answer was pending" % busy


def test_backend_named_by_host_name(redis, influxd, proxy):
    """A backend URL with a host name: resolved off the loop, every address tried in turn (localhost may be ::1
    first, where influxd does not listen), and the connection kept for the next queries."""
    x = influxd(dbs=("hn",))
    assert x.write("m,host=x v=1i %d\n" % T0, "hn", precision="s").status_code == 204
    p = proxy(redis, {"X": {"url": "http://localhost:%d" % x.http_port}}, {"_default_": ["X"]})
    wait_until(lambda: healthy(p, "X") is True, 10, what="X healthy")
    want = query_raw(x.url, "SELECT * FROM m", db="hn")
    for _ in range(3):
        same_bytes(pq_url(p, "SELECT * FROM m", "hn"), want)
    r = pq_url(p, "SHOW MEASUREMENTS", "hn")
    assert r.status_code == 200 and "m" in r.text, r.text
