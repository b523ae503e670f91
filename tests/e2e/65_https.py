"""HTTPS on the listener (SPEC §4 node field `httpscert`): one PEM with the certificate (and its chain)
and the private key, like the relay's ssl-combined-pem.

A test CA, an intermediate CA and server certificates for 127.0.0.1 (IP SAN) are made with the openssl
command at test time (EC keys, so it is fast). Clients trust only the root: the node must send the
chain from the PEM. Checked: curl over HTTP/1.1 and HTTP/2 (ALPN), TLS 1.2 and 1.3, session
resumption, requests, the influx CLI and the Python client; writes land in influxd and queries answer
through HTTPS; plain HTTP on the HTTPS port is dropped and the node keeps serving. A bad httpscert
(missing, a directory, garbage, no key, no certificate, an encrypted key, a key of another
certificate) stops the daemon at startup with status 1 and one line naming the file.
"""

import json
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

import helpers

DB = "tlsdb"
KEYMAPS = {"_default_": ["b1"]}


# ---- a small PKI made with the openssl command ---------------------------------------------------------


def openssl(*args, cwd):
    res = subprocess.run(["openssl"] + [str(a) for a in args], cwd=str(cwd), capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 0, "openssl %s:\n%s%s" % (" ".join(map(str, args)), res.stdout, res.stderr)
    return res.stdout


def ec_key(d, name):
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name, cwd=d)
    return d / name


def sign(d, name, key, issuer_cert, issuer_key, ext):
    """A certificate for @key signed by @issuer_*; @ext is the text of its v3 extensions section."""
    (d / (name + ".ext")).write_text("[v3]\n" + ext)
    openssl("req", "-new", "-key", key, "-subj", "/CN=" + name, "-out", name + ".csr", cwd=d)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", issuer_cert, "-CAkey", issuer_key, "-CAcreateserial",
            "-days", "2", "-sha256", "-extfile", name + ".ext", "-extensions", "v3", "-out", name + ".crt", cwd=d)
    return d / (name + ".crt")


SERVER_EXT = ("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
              "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n")
CA_EXT = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"


class Pki:
    pass


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    p = Pki()
    root_key = ec_key(d, "root.key")
    openssl("req", "-x509", "-new", "-key", root_key, "-subj", "/CN=test root", "-days", "2", "-sha256",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            "-out", "root.crt", cwd=d)
    p.ca = d / "root.crt"
    inter_key = ec_key(d, "inter.key")
    inter = sign(d, "inter", inter_key, p.ca, root_key, CA_EXT)
    server_key = ec_key(d, "server.key")
    server = sign(d, "server", server_key, inter, inter_key, SERVER_EXT)
    other_key = ec_key(d, "other.key")

    def pem(name, *parts):
        path = d / name
        path.write_text("".join(Path(x).read_text() for x in parts))
        return path

    # The key first, then the leaf, then the chain: order must not matter.
    p.combined = pem("combined.pem", server_key, server, inter)
    p.key, p.chain = server_key, pem("chain.pem", server, inter)
    p.no_key = pem("nokey.pem", server, inter)
    p.no_cert = pem("nocert.pem", server_key)
    p.wrong_key = pem("wrongkey.pem", server, inter, other_key)
    p.garbage = d / "garbage.pem"
    p.garbage.write_bytes(b"\x00\x01not a certificate at all\n" * 20)
    openssl("pkey", "-in", server_key, "-aes-128-cbc", "-passout", "pass:secret", "-out", "enc.key", cwd=d)
    p.encrypted = pem("encrypted.pem", server, inter, d / "enc.key")
    p.directory = d / "adir.pem"
    p.directory.mkdir()
    p.missing = d / "missing.pem"
    return p


# ---- one HTTPS node shared by the tests that only use it -----------------------------------------------


def wait_https_ready(p, ca, timeout=20):
    def ready():
        if not p.alive():
            raise AssertionError(p.exited_message())
        try:
            return requests.get(p.url + "/ping", verify=str(ca), timeout=1).status_code == 204
        except requests.RequestException:
            return False

    helpers.wait_until(ready, timeout, what="influxdb-proxy on %s" % p.url)


@pytest.fixture(scope="module")
def backend(influxd_mod):
    return influxd_mod(dbs=[DB])


@pytest.fixture(scope="module")
def node(redis_mod, proxy_mod, backend, pki):
    backends = {"b1": {"url": backend.url, "checkinterval": 500}}
    p = proxy_mod(redis_mod, backends, KEYMAPS, node="tls1", node_fields={"httpscert": str(pki.combined),
                                                                         "threads": 2}, start=False)
    p.url = "https://127.0.0.1:%d" % p.port
    p.spawn()
    wait_https_ready(p, pki.ca)
    return p


def curl(*args):
    res = subprocess.run(["curl", "-sS", "--max-time", "10"] + [str(a) for a in args], capture_output=True,
                         text=True, timeout=30)
    return res.returncode, res.stdout, res.stderr


def stored(influxd, measurement):
    series = influxd.query("SELECT * FROM %s" % measurement, db=DB)["results"][0].get("series", [])
    return series[0]["values"] if series else []


# ---- clients over HTTPS --------------------------------------------------------------------------------


@pytest.mark.parametrize("flag,version", [("--http1.1", "1.1"), ("--http2", "2")])
def test_curl_ping_negotiates_protocol(node, pki, flag, version):
    rc, out, err = curl("--cacert", pki.ca, flag, "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                        node.url + "/ping")
    assert rc == 0, err
    assert out == "%s 204" % version


@pytest.mark.parametrize("flag,version", [("--http1.1", "1.1"), ("--http2", "2")])
def test_curl_write_and_query(node, pki, backend, flag, version):
    m = "curl_h" + version.replace(".", "")
    rc, out, err = curl("--cacert", pki.ca, flag, "-w", "%{http_version} %{http_code}", "--data-binary",
                        "%s,host=a value=7 1600000000000000000" % m, node.url + "/write?db=" + DB)
    assert rc == 0, err
    assert out == "%s 204" % version
    helpers.wait_until(lambda: stored(backend, m), 10, what="the point in influxd")
    assert stored(backend, m) == [["2020-09-13T12:26:40Z", "a", 7]]
    rc, out, err = curl("--cacert", pki.ca, flag, "-G", "--data-urlencode", "q=SELECT value FROM " + m,
                        node.url + "/query?db=" + DB)
    assert rc == 0, err
    assert json.loads(out)["results"][0]["series"][0]["values"] == [["2020-09-13T12:26:40Z", 7]]


@pytest.mark.parametrize("tls", [["--tlsv1.2", "--tls-max", "1.2"], ["--tlsv1.3"]])
def test_tls_versions(node, pki, tls):
    rc, out, err = curl("--cacert", pki.ca, *tls, "-o", "/dev/null", "-w", "%{http_code}", node.url + "/ping")
    assert rc == 0, err
    assert out == "204"


def test_untrusted_certificate_is_refused_by_clients(node):
    rc, _, err = curl("-o", "/dev/null", node.url + "/ping")
    assert rc == 60, err  # curl: peer certificate cannot be authenticated
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(node.url + "/ping", timeout=5)


def test_chain_is_sent(node, pki):
    out = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % node.port, "-CAfile", str(pki.ca),
                          "-showcerts", "-verify_return_error"], input="", capture_output=True, text=True,
                         timeout=30).stdout
    assert "Verify return code: 0 (ok)" in out
    assert "CN = server" in out and "CN = inter" in out


def test_tls12_session_is_resumed(node, pki):
    out = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % node.port, "-CAfile", str(pki.ca),
                          "-tls1_2", "-reconnect"], input="", capture_output=True, text=True, timeout=60).stdout
    assert out.count("Reused, TLSv1.2") >= 5, out[-2000:]


def test_requests_write_and_query(node, pki, backend):
    # verify= on each call: a Session's verify loses to REQUESTS_CA_BUNDLE from the environment.
    s = requests.Session()
    ca = str(pki.ca)
    r = s.post(node.url + "/write", params={"db": DB}, data=b"req_https,host=b value=3 1600000000000000000",
               verify=ca, timeout=10)
    assert r.status_code == 204, r.text
    assert stored(backend, "req_https") == [["2020-09-13T12:26:40Z", "b", 3]]
    r = s.get(node.url + "/query", params={"db": DB, "q": "SELECT value FROM req_https"}, verify=ca, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["series"][0]["values"] == [["2020-09-13T12:26:40Z", 3]]
    assert s.get(node.url + "/health", verify=ca, timeout=10).status_code == 200


def test_python_client(node, pki):
    from influxdb import InfluxDBClient

    c = InfluxDBClient("127.0.0.1", node.port, database=DB, ssl=True, verify_ssl=str(pki.ca))
    c.write_points([{"measurement": "pyhttps", "fields": {"value": 5}, "time": 1600000000000000000}])
    assert list(c.query("SELECT value FROM pyhttps").get_points()) == [{"time": "2020-09-13T12:26:40Z", "value": 5}]


def test_influx_cli(node):
    res = subprocess.run(["influx", "-ssl", "-unsafeSsl", "-host", "127.0.0.1", "-port", str(node.port), "-format",
                          "json", "-execute", "SHOW DATABASES"], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    assert DB in res.stdout


# ---- plain HTTP on the HTTPS port ----------------------------------------------------------------------


def test_plain_http_is_dropped_and_node_keeps_serving(node, pki):
    plain = "http://127.0.0.1:%d/ping" % node.port
    for _ in range(3):
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.get(plain, timeout=5)
    # Bytes that are not a TLS record: the connection is closed, not left hanging.
    with socket.create_connection(("127.0.0.1", node.port), timeout=5) as s:
        s.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
        start = time.monotonic()
        try:
            while s.recv(4096):
                pass
        except ConnectionResetError:
            pass
        assert time.monotonic() - start < 5
    assert node.alive()
    assert requests.get(node.url + "/ping", verify=str(pki.ca), timeout=5).status_code == 204


def test_plain_node_stays_plain(redis, proxy, backend):
    """Without httpscert the listener speaks plain HTTP, and a TLS client gets no handshake."""
    p = proxy(redis, {"b1": {"url": backend.url}}, KEYMAPS)
    assert p.get("/ping").status_code == 204
    rc, _, _ = curl("-k", "https://127.0.0.1:%d/ping" % p.port)
    assert rc != 0


# ---- a bad httpscert stops the daemon at startup -------------------------------------------------------


BAD = {
    "missing": ("missing", ("No such file",)),
    "directory": ("directory", ("not a regular file",)),
    "garbage": ("garbage", ("no certificate",)),
    "no_key": ("no_key", ("no private key",)),
    "no_cert": ("no_cert", ("no certificate",)),
    "encrypted": ("encrypted", ("encrypted",)),
    "wrong_key": ("wrong_key", ("does not match",)),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_pem_is_a_clear_startup_error(redis, proxy, pki, case):
    attr, needles = BAD[case]
    path = str(getattr(pki, attr))
    p = proxy(redis, {"b1": {"url": "http://127.0.0.1:9"}}, KEYMAPS, node_fields={"httpscert": path}, start=False)
    p.spawn()
    try:
        rc = p.wait(15)
    except subprocess.TimeoutExpired:
        p.kill()
        raise AssertionError("the daemon did not exit with httpscert %s; stderr:\n%s" % (path, p.stderr()))
    lines = [ln for ln in p.stderr().splitlines() if ln.strip()]
    assert rc == 1, p.stderr()
    assert len(lines) == 1, lines
    assert path in lines[0] and "httpscert" in lines[0], lines
    for n in needles:
        assert n in lines[0], lines
    # It failed before listening: nothing answers on the port.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", p.port), timeout=2).close()


# ---- a backend served over HTTPS -----------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Unverified HTTPS request")
def test_https_backend(redis, influxd, proxy, pki):
    """A backend URL with https:// (insecure: the test CA is not in the system's store): writes reach it, queries
    are answered by it, the health check sees it up."""
    b = influxd(dbs=[DB], https=(pki.chain, pki.key))
    assert b.url.startswith("https://")
    p = proxy(redis, {"s": {"url": b.url, "insecure": True, "checkinterval": 300}}, {"_default_": ["s"]})
    helpers.wait_until(lambda: p.meta()["backendStatus"]["s"] is True, 10, what="the HTTPS backend healthy")
    w = requests.post(p.url + "/write", params={"db": DB}, data=b"tlsb,host=a value=3 1600000000000000000")
    assert w.status_code == 204, w.text
    assert stored(b, "tlsb") == [["2020-09-13T12:26:40Z", "a", 3]]
    r = requests.get(p.url + "/query", params={"db": DB, "q": "SELECT value FROM tlsb"}, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["results"][0]["series"][0]["values"] == [["2020-09-13T12:26:40Z", 3]]


def test_http2_write_given_up_while_it_lingers(redis, influxd, proxy, pki):
    """An HTTP/2 client that gives up while its write lingers (backend `interval`) takes its stream, and its lines,
    away: the batch left empty ends when its time comes, also when it was its lane's last, and the node goes on."""
    b = influxd(dbs=[DB])
    p = proxy(redis, {"b1": {"url": b.url, "interval": 400}}, KEYMAPS, node="tls3",
              node_fields={"httpscert": str(pki.combined), "threads": 1}, start=False)
    p.url = "https://127.0.0.1:%d" % p.port
    p.spawn()
    wait_https_ready(p, pki.ca)
    for k in range(3):
        rc, _, err = curl("--cacert", pki.ca, "--http2", "--max-time", "0.15", "--data-binary", "gone v=%d 1" % k,
                          p.url + "/write?db=" + DB)
        assert rc == 28, (rc, err)  # curl's timeout: it closed the connection while the write waited
        time.sleep(0.6)
        assert p.alive(), p.exited_message()
    rc, out, err = curl("--cacert", pki.ca, "--http2", "-w", "%{http_code}", "--data-binary", "after v=1 1",
                        p.url + "/write?db=" + DB)
    assert (rc, out) == (0, "204"), err
    assert stored(b, "gone") == [] and len(stored(b, "after")) == 1


def test_http2_clients_giving_up(redis, influxd, proxy, pki):
    """HTTP/2 clients that leave (their streams go at once, unlike HTTP/1.1 requests) in the middle of a streamed
    answer, while a query or a write waits for a stopped backend: the node cancels what they started and goes on."""
    b = influxd(dbs=[DB])
    pad = "x" * 2000
    body = "".join('big,k=k%d s="%s%05d",n=%di %d\n' % (i % 10, pad, i, i, 1600000000 + i) for i in range(5000))
    assert b.write(body, DB, precision="s").status_code == 204
    p = proxy(redis, {"b1": {"url": b.url}}, KEYMAPS, node="tls4",
              node_fields={"httpscert": str(pki.combined), "threads": 1}, start=False)
    p.url = "https://127.0.0.1:%d" % p.port
    p.spawn()
    wait_https_ready(p, pki.ca)
    big = p.url + "/query?db=%s&q=SELECT+*+FROM+big" % DB
    h2 = ("--cacert", pki.ca, "--http2", "--max-time", "0.3")
    for _ in range(4):  # about 10 MB, read at 200 kB/s: the answer is still streaming when curl gives up
        rc, _, err = curl(*h2, "--limit-rate", "200k", "-H", "Accept-Encoding: identity", "-o", "/dev/null", big)
        assert rc == 28, (rc, err)
        assert p.alive(), p.exited_message()
    b.signal(signal.SIGSTOP)
    try:
        for _ in range(3):
            rc, _, err = curl(*h2, "-o", "/dev/null", p.url + "/query?db=%s&q=SELECT+count(n)+FROM+big" % DB)
            assert rc == 28, (rc, err)
        rc, _, err = curl(*h2, "--data-binary", "waited v=1 1", p.url + "/write?db=" + DB)
        assert rc == 28, (rc, err)
        assert p.alive(), p.exited_message()
    finally:
        b.signal(signal.SIGCONT)
    rc, out, err = curl("--cacert", pki.ca, "--http2", "-w", "%{http_code}", "-o", "/dev/null", big)
    assert (rc, out) == (0, "200"), err
    assert p.alive(), p.exited_message()
