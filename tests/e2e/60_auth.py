"""Client authentication (SPEC §4 node username/password, §5 Auth) and backend credentials.

The reference is a real influxd with `[http] auth-enabled = true`: every credential case is sent to it
and to a proxy node whose username/password are the same as an influxd user's, and the answers must be
the same: status, body, WWW-Authenticate, X-Influxdb-Error. The proxy's backend is that same influxd,
reached with another user's credentials, so successful requests also show the backend credentials work.

Paths: /write and /query as influxd; /meta and /metrics need credentials; /ping and /health are open.
Secrets never appear in /meta nor in the daemon's log, also with write and query tracing on.
"""

import base64
import json
import subprocess
import urllib.parse

import pytest
import requests

import helpers

USER = "alice"
PW = "s3cr:et &+pw"  # a colon (Basic splits at the first one), a space and URL-special characters
BUSER = "relay"
BPW = "Bk-9f2c-pw"  # the proxy's credentials on the backend
DB = "authdb"
LINE = "cpu,host=a value=1 1600000000000000000"


def qenc(s):
    return urllib.parse.quote(s, safe="")


def basic(user, pw, scheme="Basic"):
    return "%s %s" % (scheme, base64.b64encode(("%s:%s" % (user, pw)).encode()).decode())


# id -> (raw query-string part with credentials, Authorization header or None)
CASES = {
    "none": ("", None),
    "u_only": ("u=" + USER, None),
    "p_only": ("p=" + qenc(PW), None),
    "p_empty": ("u=%s&p=" % USER, None),
    "u_empty": ("u=&p=" + qenc(PW), None),
    "qs_wrong_user": ("u=mallory&p=" + qenc(PW), None),
    "qs_wrong_password": ("u=%s&p=nope" % USER, None),
    "qs_password_prefix": ("u=%s&p=%s" % (USER, qenc(PW[:-1])), None),
    "qs_right": ("u=%s&p=%s" % (USER, qenc(PW)), None),
    "qs_right_escaped_user": ("u=%%61%s&p=%s" % (USER[1:], qenc(PW)), None),
    "qs_plus_is_space": ("u=%s&p=%s" % (USER, PW.replace(" ", "+").replace("&", "%26").replace("+pw", "%2Bpw")), None),
    "qs_bad_escape_skipped": ("u=%s&p=x%%zz&p=%s" % (USER, qenc(PW)), None),
    "qs_bad_escape_only": ("u=%s&p=%s%%zz" % (USER, qenc(PW)), None),
    "qs_first_value_wins": ("u=%s&p=nope&p=%s" % (USER, qenc(PW)), None),
    "qs_semicolon": ("u=%s;p=%s" % (USER, qenc(PW)), None),
    "basic_right": ("", basic(USER, PW)),
    "basic_lowercase_scheme": ("", basic(USER, PW, "basic")),
    "basic_wrong_password": ("", basic(USER, "nope")),
    "basic_wrong_user": ("", basic("mallory", PW)),
    "basic_empty_user": ("", basic("", PW)),
    "basic_empty_password": ("", basic(USER, "")),
    "basic_no_colon": ("", "Basic " + base64.b64encode(USER.encode()).decode()),
    "basic_not_base64": ("", "Basic !!!notbase64"),
    "basic_unpadded": ("", basic(USER, "x").rstrip("=")),
    "basic_two_spaces": ("", basic(USER, PW).replace(" ", "  ")),
    "basic_empty": ("", "Basic "),
    "bearer": ("", "Bearer abc.def.ghi"),
    "bearer_three_words": ("", "Bearer a b"),
    "token": ("", "Token %s:%s" % (USER, PW)),
    "digest": ("", "Digest username=alice"),
    "qs_wrong_beats_basic_right": ("u=%s&p=nope" % USER, basic(USER, PW)),
    "qs_incomplete_falls_to_basic": ("u=%s&p=" % USER, basic(USER, PW)),
    "qs_right_beats_basic_wrong": ("u=%s&p=%s" % (USER, qenc(PW)), basic(USER, "nope")),
}


# ---- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ref(tmp_path_factory):
    """The reference influxd (auth enabled), also the proxy's backend."""
    i = helpers.AuthInfluxd(tmp_path_factory.mktemp("auth-influxd"), USER, PW)
    try:
        i.start()
        i.create_db(DB)
        i.query("CREATE USER \"%s\" WITH PASSWORD '%s' WITH ALL PRIVILEGES" % (BUSER, BPW))
        yield i
    finally:
        i.stop()


def node_fields(**kw):
    return dict({"username": USER, "password": PW, "writetracing": True, "querytracing": True}, **kw)


def backends(ref, username=BUSER, password=BPW):
    return {"b1": {"url": ref.url, "username": username, "password": password}}


KEYMAPS = {"_default_": ["b1"]}


@pytest.fixture(scope="module")
def px(redis_mod, proxy_mod, ref):
    return proxy_mod(redis_mod, backends(ref), KEYMAPS, node="auth1", node_fields=node_fields())


# ---- requests ------------------------------------------------------------------------------------------


def send(base, kind, case):
    """Sends the request @kind (query_get, query_form, write) with credential case @case to @base."""
    creds, auth = CASES[case]
    headers = {"Authorization": auth} if auth is not None else {}
    if kind == "query_get":
        qs = "q=SHOW+DATABASES" + ("&" + creds if creds else "")
        return requests.get("%s/query?%s" % (base, qs), headers=headers, timeout=10)
    if kind == "query_form":
        url = "%s/query%s" % (base, "?" + creds if creds else "")
        return requests.post(url, data={"q": "SHOW DATABASES"}, headers=headers, timeout=10)
    qs = "db=" + DB + ("&" + creds if creds else "")
    return requests.post("%s/write?%s" % (base, qs), data=LINE, headers=headers, timeout=10)


def answer(r):
    body = r.text
    if r.status_code == 200:
        body = json.loads(body)  # the same JSON; influxd sends it chunked, the proxy with a length
    # (influxd also labels its empty 204 answers application/json; that is not this module's business)
    ctype = r.headers.get("Content-Type") if r.status_code >= 400 else None
    return (r.status_code, body, r.headers.get("WWW-Authenticate"), r.headers.get("X-Influxdb-Error"), ctype)


@pytest.mark.parametrize("kind", ["query_get", "query_form", "write"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_same_answer_as_influxd(ref, px, kind, case):
    want = answer(send(ref.url, kind, case))
    got = answer(send(px.url, kind, case))
    assert got == want
    assert want[0] in (200, 204, 401)  # the case exercises authentication, not something else


def test_the_cases_cover_every_influxd_text(ref):
    seen = {send(ref.url, "query_get", c).text for c in CASES}
    for msg in ("unable to parse authentication credentials", "username required", "authorization failed",
                "bearer auth disabld"):
        assert '{"error":"%s"}\n' % msg in seen


def test_form_body_credentials_are_not_read(ref, px):
    """influxd 1.6 reads u/p from the URL only; a form body holding them is as good as nothing."""
    form = {"q": "SHOW DATABASES", "u": USER, "p": PW}
    want = requests.post(ref.url + "/query", data=form, timeout=10)
    got = requests.post(px.url + "/query", data=form, timeout=10)
    assert want.status_code == 401
    assert answer(got) == answer(want)


def test_401_headers(px):
    r = requests.get(px.url + "/query", params={"q": "SHOW DATABASES"}, timeout=10)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="InfluxDB"'
    assert r.headers["Content-Type"] == "application/json"
    assert "X-Influxdb-Error" not in r.headers  # influxd sends the challenge instead on a 401
    assert r.headers["X-Influxdb-Version"].startswith("1.")
    assert r.text == '{"error":"unable to parse authentication credentials"}\n'


def test_writes_land_with_client_and_backend_credentials(ref, px):
    line = "authland,host=x value=42 1600000000000000000"
    r = requests.post(px.url + "/write", params={"db": DB}, data=line, auth=(USER, PW), timeout=10)
    assert r.status_code == 204, r.text
    res = ref.query("SELECT value FROM authland", db=DB)
    assert res["results"][0]["series"][0]["values"] == [["2020-09-13T12:26:40Z", 42]]
    r = requests.get(px.url + "/query", params={"q": "SELECT value FROM authland", "db": DB, "u": USER, "p": PW},
                     timeout=10)
    assert r.status_code == 200 and r.json() == res


# ---- which paths need credentials ----------------------------------------------------------------------


def test_ping_is_open(ref, px):
    for base in (ref.url, px.url):
        assert requests.get(base + "/ping", timeout=10).status_code == 204
        assert requests.head(base + "/ping", timeout=10).status_code == 204
    assert requests.get(px.url + "/ping", params={"verbose": "true"}, timeout=10).status_code == 200


def test_health_is_open(px):
    r = requests.get(px.url + "/health", timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pass"


@pytest.mark.parametrize("path", ["/meta", "/metrics"])
def test_introspection_needs_credentials(px, path):
    r = requests.get(px.url + path, timeout=10)
    assert (r.status_code, r.text) == (401, '{"error":"unable to parse authentication credentials"}\n')
    r = requests.get(px.url + path, auth=(USER, "nope"), timeout=10)
    assert (r.status_code, r.text) == (401, '{"error":"authorization failed"}\n')
    assert requests.get(px.url + path, auth=(USER, PW), timeout=10).status_code == 200
    assert requests.get(px.url + path, params={"u": USER, "p": PW}, timeout=10).status_code == 200


@pytest.mark.parametrize("method,path", [("GET", "/write"), ("PUT", "/write"), ("PUT", "/query"),
                                         ("DELETE", "/query")])
def test_wrong_method_is_405_before_authentication(ref, px, method, path):
    assert requests.request(method, ref.url + path, timeout=10).status_code == 405
    assert requests.request(method, px.url + path, timeout=10).status_code == 405


def test_unknown_path_is_404_without_credentials(ref, px):
    assert requests.get(ref.url + "/nothing-here", timeout=10).status_code == 404
    assert requests.get(px.url + "/nothing-here", timeout=10).status_code == 404


# ---- node configurations -------------------------------------------------------------------------------


def test_node_without_password_needs_no_credentials(redis, proxy, ref):
    p = proxy(redis, backends(ref), KEYMAPS, node_fields={"username": USER})
    for case in ("none", "basic_not_base64", "bearer", "qs_wrong_password"):
        assert send(p.url, "query_get", case).status_code == 200, case
        assert send(p.url, "write", case).status_code == 204, case
    assert requests.get(p.url + "/meta", timeout=10).status_code == 200


def test_node_without_username_checks_the_password_only(redis, proxy, ref):
    p = proxy(redis, backends(ref), KEYMAPS, node_fields={"password": PW})
    assert requests.get(p.url + "/meta", auth=("anyone", PW), timeout=10).status_code == 200
    r = requests.get(p.url + "/meta", auth=("anyone", "nope"), timeout=10)
    assert (r.status_code, r.text) == (401, '{"error":"authorization failed"}\n')
    r = requests.get(p.url + "/meta", auth=("", PW), timeout=10)
    assert (r.status_code, r.text) == (401, '{"error":"username required"}\n')


def test_wrong_backend_credentials_refusal_goes_back_unchanged(redis, proxy, ref):
    """Every backend refusing a write → its answer goes back as it is and nothing is queued (SPEC §6);
    a 4xx query answer is passed through."""
    p = proxy(redis, backends(ref, password="wrong"), KEYMAPS, node_fields=node_fields())
    direct = requests.post(ref.url + "/write", params={"db": DB, "u": BUSER, "p": "wrong"}, data=LINE, timeout=10)
    r = requests.post(p.url + "/write", params={"db": DB}, data=LINE, auth=(USER, PW), timeout=10)
    assert (r.status_code, r.text) == (direct.status_code, direct.text) == (401, '{"error":"authorization failed"}\n')
    # the client's u/p are valid on the backend too: they must not be passed on (they would win there)
    r = requests.post(p.url + "/write", params={"db": DB, "u": USER, "p": PW}, data=LINE, timeout=10)
    assert (r.status_code, r.text) == (401, '{"error":"authorization failed"}\n')
    meta = requests.get(p.url + "/meta", auth=(USER, PW), timeout=10).json()
    assert meta["queues"]["b1"]["records"] == 0
    for params in ({"q": "SELECT * FROM cpu", "db": DB}, {"q": "SELECT * FROM cpu", "db": DB, "u": USER, "p": PW}):
        r = requests.get(p.url + "/query", params=params, auth=(USER, PW), timeout=10)
        assert (r.status_code, r.text) == (401, '{"error":"authorization failed"}\n')


# ---- secrets stay secret -------------------------------------------------------------------------------


def secret_forms(s):
    return {s, qenc(s), urllib.parse.quote_plus(s), base64.b64encode(s.encode()).decode()}


def test_secrets_not_in_meta_nor_log(redis, proxy, ref):
    p = proxy(redis, backends(ref), KEYMAPS, node_fields=node_fields())
    guess = "Guess-77ab"
    for case in sorted(CASES):
        for kind in ("query_get", "query_form", "write"):
            send(p.url, kind, case)
    requests.get(p.url + "/query", params={"q": "SHOW DATABASES", "u": USER, "p": guess}, timeout=10)
    requests.post(p.url + "/write", params={"db": "nodb", "u": USER, "p": PW}, data=LINE, timeout=10)
    requests.post(p.url + "/write", params={"db": DB, "u": USER, "p": PW}, data="bad line", timeout=10)
    meta = requests.get(p.url + "/meta", auth=(USER, PW), timeout=10)
    assert meta.status_code == 200
    metrics = requests.get(p.url + "/metrics", auth=(USER, PW), timeout=10)
    p.stop()
    log = p.stderr() + p.stdout()
    assert "query db=" in log and "write db=" in log  # tracing was on
    for secret in (PW, BPW, guess, "nope"):
        for form in secret_forms(secret):
            assert form not in meta.text, (secret, form)
            assert form not in metrics.text, (secret, form)
            assert form not in log, (secret, form, [ln for ln in log.splitlines() if form in ln])


# ---- clients -------------------------------------------------------------------------------------------


def influx_cli(url, *args):
    port = url.rpartition(":")[2]
    res = subprocess.run(["influx", "-host", "127.0.0.1", "-port", port, "-format", "json"] + list(args),
                         capture_output=True, text=True, timeout=30)
    return res.returncode, res.stdout + res.stderr


def test_influx_cli_same_as_influxd(ref, px):
    for creds in ([], ["-username", USER, "-password", "nope"], ["-username", USER, "-password", PW]):
        want = influx_cli(ref.url, *creds, "-execute", "SHOW DATABASES")
        got = influx_cli(px.url, *creds, "-execute", "SHOW DATABASES")
        assert got == want, creds
    assert DB in want[1]


def test_python_client(px):
    from influxdb import InfluxDBClient

    port = int(px.url.rpartition(":")[2])
    ok = InfluxDBClient("127.0.0.1", port, USER, PW, DB)
    ok.write_points([{"measurement": "pyauth", "fields": {"value": 3}, "time": 1600000000000000000}])
    assert list(ok.query("SELECT value FROM pyauth").get_points()) == [{"time": "2020-09-13T12:26:40Z", "value": 3}]
    bad = InfluxDBClient("127.0.0.1", port, USER, "nope", DB)
    with pytest.raises(Exception) as e:
        bad.query("SHOW DATABASES")
    assert "authorization failed" in str(e.value)
