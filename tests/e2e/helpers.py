"""Processes and small utilities of the end-to-end rig.

Every server (redis-server, influxd, influxdb-proxy) runs on a free 127.0.0.1 port in a temp dir, in
its own session, with its output captured to files; it is stopped by PID (TERM, then KILL). Every
process started here is remembered, so the session can stop whatever a failing test left behind.
"""

import json
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis as redis_py
import requests

REPO = Path(__file__).resolve().parents[2]
PYTHON = "/usr/bin/python3"
CONFIG_PY = REPO / "config.py"
RELOAD_CHANNEL = "influxdb-proxy:reload"


def proxy_bin():
    return os.environ.get("INFLUXDB_PROXY_BIN", str(REPO / "build" / "proxy" / "influxdb-proxy"))


def project_version():
    m = re.search(r"version:\s*'([^']+)'", (REPO / "meson.build").read_text())
    return m.group(1)


_given_ports = set()


def free_port():
    """A port nothing listens on now and that this run has not handed out before."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _given_ports:
            _given_ports.add(port)
            return port
    raise RuntimeError("no free port")


def wait_until(pred, timeout, interval=0.05, what="condition"):
    """Polls pred() until it returns a true value (returned) or timeout seconds pass (AssertionError)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = pred()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))
        time.sleep(interval)


_all_procs = []


def stop_all():
    """Stops every process this run started that is still alive (session teardown, atexit)."""
    for p in list(_all_procs):
        p.stop()


class Proc:
    """One child process with stdout/stderr captured to files in @workdir."""

    def __init__(self, name, argv, workdir, env=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.env = env
        self.popen = None
        self.starts = 0

    @property
    def stdout_path(self):
        return self.workdir / ("%s.stdout" % self.name)

    @property
    def stderr_path(self):
        return self.workdir / ("%s.stderr" % self.name)

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    def spawn(self):
        assert not self.alive(), "%s is already running" % self.name
        self.starts += 1
        mode = "ab" if self.starts > 1 else "wb"
        with open(self.stdout_path, mode) as out, open(self.stderr_path, mode) as err:
            self.popen = subprocess.Popen(self.argv, cwd=self.workdir, stdout=out, stderr=err,
                                          stdin=subprocess.DEVNULL, env=self.env, start_new_session=True)
        if self not in _all_procs:
            _all_procs.append(self)

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig):
        if self.alive():
            os.kill(self.popen.pid, sig)

    def wait(self, timeout=10):
        """Waits for the process to exit; returns its status. Raises subprocess.TimeoutExpired."""
        return self.popen.wait(timeout=timeout)

    def stop(self, timeout=5):
        """SIGTERM, then SIGKILL after @timeout seconds. Returns the exit status (None if never run)."""
        if self.popen is None:
            return None
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(timeout=10)
        return self.popen.returncode

    def kill(self):
        """SIGKILL and reap."""
        if self.alive():
            self.signal(signal.SIGKILL)
            self.popen.wait(timeout=10)
        return self.popen.returncode if self.popen else None

    def stdout(self):
        return self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""

    def stderr(self):
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def exited_message(self):
        return "%s exited with status %s; stderr:\n%s" % (self.name, self.popen.returncode, self.stderr()[-4000:])


SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", ": runtime error: ")


def sanitizer_report(text):
    """The first sanitizer report in a process's stderr (from its first line to 60 lines on), or None."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if any(m in line for m in SANITIZER_MARKS):
            return "\n".join(lines[i:i + 60])
    return None


# ---- redis-server -------------------------------------------------------------------------------------


class RedisServer(Proc):
    def __init__(self, workdir, password=None):
        self.port = free_port()
        self.password = password
        argv = ["redis-server", "--bind", "127.0.0.1", "--port", self.port, "--save", "", "--appendonly", "no",
                "--dir", workdir, "--daemonize", "no"]
        if password:
            argv += ["--requirepass", password]
        super().__init__("redis", argv, workdir)
        self.addr = "127.0.0.1:%d" % self.port
        self._clients = {}

    def client(self, db=0):
        """A redis-py client (str replies) for database @db."""
        if db not in self._clients:
            self._clients[db] = redis_py.Redis(host="127.0.0.1", port=self.port, db=db, password=self.password,
                                               decode_responses=True, socket_timeout=5)
        return self._clients[db]

    def start(self):
        self.spawn()

        def ready():
            if not self.alive():
                raise AssertionError(self.exited_message())
            try:
                return self.client().ping()
            except redis_py.exceptions.ConnectionError:
                return False

        wait_until(ready, 10, what="redis-server on %s" % self.addr)
        return self

    def stop(self, timeout=5):
        for c in self._clients.values():
            c.close()
        self._clients.clear()
        return super().stop(timeout)


# ---- influxd -------------------------------------------------------------------------------------------

INFLUXD_CONF = """\
reporting-disabled = true
bind-address = "127.0.0.1:{bind_port}"

[meta]
  dir = "{dir}/meta"

[data]
  dir = "{dir}/data"
  wal-dir = "{dir}/wal"
  query-log-enabled = false

[http]
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false
{https}

[monitor]
  store-enabled = false

[continuous_queries]
  enabled = false

[logging]
  level = "warn"
"""


class Influxd(Proc):
    """A real influxd 1.x; start() may be called again after stop()/kill(): same ports, same data. With @https
    = (certificate file, key file) it serves HTTPS only (its URL says so; this helper does not verify it). @env: more
    settings as influxd's environment variables (INFLUXDB_HTTP_MAX_BODY_SIZE...)."""

    def __init__(self, workdir, https=None, env=None):
        self.http_port = free_port()
        self.bind_port = free_port()
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        conf = workdir / "influxdb.conf"
        tls = ""
        if https:
            tls = '  https-enabled = true\n  https-certificate = "%s"\n  https-private-key = "%s"\n' % https
        conf.write_text(INFLUXD_CONF.format(dir=workdir, http_port=self.http_port, bind_port=self.bind_port, https=tls))
        env = dict(os.environ, INFLUXDB_DATA_QUERY_LOG_ENABLED="false", **(env or {}))
        super().__init__("influxd", ["influxd", "run", "-config", conf], workdir, env=env)
        self.url = "%s://127.0.0.1:%d" % ("https" if https else "http", self.http_port)
        self.verify = not https

    def ping_status(self):
        try:
            return requests.get(self.url + "/ping", timeout=1, verify=self.verify).status_code
        except requests.RequestException:
            return None

    def start(self, timeout=30):
        self.spawn()

        def ready():
            if not self.alive():
                raise AssertionError(self.exited_message())
            return self.ping_status() == 204

        wait_until(ready, timeout, what="influxd on %s" % self.url)
        return self

    def query(self, q, db=None, **params):
        """Runs @q; returns the decoded JSON answer (raises on a non-2xx status)."""
        params = dict(params, q=q)
        if db is not None:
            params["db"] = db
        r = requests.post(self.url + "/query", params=params, timeout=10, verify=self.verify)
        r.raise_for_status()
        return r.json()

    def write(self, body, db, precision=None, **params):
        """POSTs line protocol; returns the requests.Response."""
        params = dict(params, db=db)
        if precision:
            params["precision"] = precision
        return requests.post(self.url + "/write", params=params, data=body.encode(), timeout=10, verify=self.verify)

    def create_db(self, db):
        self.query('CREATE DATABASE "%s"' % db)

    def write_requests(self):
        """How many write requests influxd has taken (its httpd statistics)."""
        d = requests.get(self.url + "/debug/vars", timeout=10, verify=self.verify).json()
        return next(v["values"].get("writeReq", 0) for k, v in d.items() if k.startswith("httpd"))


class DroppingBackend:
    """An HTTP server in this process standing for a backend that goes away in the middle of a client's write: /ping
    answers 204; a /write whose body holds a line of a piece listed in `drop` gets its connection closed without an
    answer, any other is kept (its lines in `lines`, in arrival order) and answered 204 after `hold` seconds.
    `spans` has (arrived, answered) monotonic times of each kept write, in arrival order."""

    def __init__(self, drop, hold=0):
        import http.server
        import socketserver
        import threading

        fake = self
        self.drop = set(drop)
        self.lines = []
        self.writes = 0
        self.spans = []
        lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                arrived = time.monotonic()
                lines = body.splitlines()
                if any(ln.split(",p=")[1].split(" ")[0] in fake.drop for ln in lines):
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                with lock:
                    fake.lines.extend(lines)
                    fake.writes += 1
                time.sleep(fake.hold)
                with lock:
                    fake.spans.append((arrived, time.monotonic()))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_HEAD = do_GET

        class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
            daemon_threads = True

        self.hold = hold
        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ---- config.py -----------------------------------------------------------------------------------------


def config_file_text(backends, keymaps, nodes, default_node):
    return "BACKENDS = %r\nKEYMAPS = %r\nNODES = %r\nDEFAULT_NODE = %r\n" % (backends, keymaps, nodes, default_node)


def run_config_py(args, timeout=30):
    """Runs config.py with @args; returns subprocess.CompletedProcess (text output)."""
    return subprocess.run([PYTHON, str(CONFIG_PY)] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, cwd=str(REPO))


def write_config(redis, workdir, backends, keymaps, nodes=None, default_node=None, extra_args=(), check=True):
    """Writes the four dicts into @redis through config.py --file; returns the CompletedProcess.
    With @check, a non-zero exit fails the test with config.py's stderr."""
    path = Path(workdir) / ("config-%d.py" % time.monotonic_ns())
    path.write_text(config_file_text(backends, keymaps, nodes or {}, default_node or {}))
    args = ["--redis", redis.addr, "--file", path]
    if redis.password:
        args += ["--password", redis.password]
    res = run_config_py(args + list(extra_args))
    if check and res.returncode != 0:
        raise AssertionError("config.py failed (%d):\n%s%s" % (res.returncode, res.stdout, res.stderr))
    return res


# ---- influxdb-proxy ------------------------------------------------------------------------------------


class Proxy(Proc):
    """The daemon, started with -redis/-node and extra arguments, in its own temp dir."""

    def __init__(self, workdir, redis_addr, node, listen_port, extra_args=()):
        argv = [proxy_bin(), "-redis", redis_addr, "-node", node] + list(extra_args)
        super().__init__("proxy-" + node, argv, workdir)
        self.node = node
        self.port = listen_port
        self.url = "http://127.0.0.1:%d" % listen_port

    def start(self, timeout=20):
        self.spawn()

        def ready():
            if not self.alive():
                raise AssertionError(self.exited_message())
            try:
                return requests.get(self.url + "/ping", timeout=1).status_code == 204
            except requests.RequestException:
                return False

        wait_until(ready, timeout, what="influxdb-proxy on %s" % self.url)
        return self

    def get(self, path, **kw):
        kw.setdefault("timeout", 10)
        return requests.get(self.url + path, **kw)

    def meta(self):
        r = self.get("/meta")
        assert r.status_code == 200, r.text
        return r.json()


def run_proxy(args, workdir, timeout=15):
    """Runs the daemon with @args and waits for it to exit; returns (status, stdout, stderr). A daemon
    that is still running after @timeout seconds is killed and the test fails."""
    p = Proc("proxy-run-%d" % time.monotonic_ns(), [proxy_bin()] + list(args), workdir)
    p.spawn()
    try:
        rc = p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        raise AssertionError("influxdb-proxy %s did not exit within %ss; stderr:\n%s" % (args, timeout, p.stderr()))
    finally:
        if p in _all_procs and not p.alive():
            _all_procs.remove(p)
    return rc, p.stdout(), p.stderr()


def json_of(response):
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    return json.loads(response.text)


# ---- queries (50_queries.py, 51_query_clients.py) ------------------------------------------------------


def query_raw(url, q, db=None, method="GET", form=False, headers=None, timeout=30, **params):
    """Sends one /query request to @url (an influxd's or the daemon's base URL); returns the
    requests.Response. GET puts every parameter in the URL; POST with @form sends q (and db) as an
    application/x-www-form-urlencoded body and the other parameters in the URL, as Grafana does."""
    params = dict(params)
    body = None
    if form:
        body = {"q": q}
        if db is not None:
            body["db"] = db
    else:
        params["q"] = q
        if db is not None:
            params["db"] = db
    return requests.request(method, url + "/query", params=params, data=body, headers=headers or {},
                            timeout=timeout)


def influxd_query_requests(influxd):
    """How many /query requests @influxd has served (its httpd queryReq counter in /debug/vars)."""
    v = requests.get(influxd.url + "/debug/vars", timeout=5).json()
    for key, stat in v.items():
        if key.startswith("httpd"):
            return stat["values"]["queryReq"]
    raise AssertionError("no httpd statistics in %s/debug/vars" % influxd.url)


def proc_status_kb(pid, field):
    """A VmRSS/VmHWM-style field of /proc/PID/status in kB (None when the process is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


# ---- influxd with authentication (60_auth.py) ----------------------------------------------------------


class AuthInfluxd(Influxd):
    """An influxd with `[http] auth-enabled = true` and one admin user (@username, @password), created by
    start() while no user exists yet (influxd allows that one statement without credentials)."""

    def __init__(self, workdir, username, password):
        super().__init__(workdir)
        self.username = username
        self.password = password
        conf = Path(workdir) / "influxdb.conf"
        conf.write_text(conf.read_text().replace("  log-enabled = false\n",
                                                 "  log-enabled = false\n  auth-enabled = true\n"))

    def start(self, timeout=30):
        super().start(timeout)
        q = "CREATE USER \"%s\" WITH PASSWORD '%s' WITH ALL PRIVILEGES" % (self.username, self.password)
        r = requests.post(self.url + "/query", params={"q": q}, auth=(self.username, self.password), timeout=10)
        assert r.status_code == 200, r.text
        return self

    def query(self, q, db=None, **params):
        return super().query(q, db, u=self.username, p=self.password, **params)

    def write(self, body, db, precision=None, **params):
        return super().write(body, db, precision, u=self.username, p=self.password, **params)


def http_request(method, path, body=b""):
    return (b"%s %s HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n" % (method.encode(), path.encode(), len(body))
            + body)


def read_responses(sock, n, timeout=10):
    """The next @n HTTP/1.1 responses on @sock (each with a Content-Length, or none for 204): [(status, body)]."""
    sock.settimeout(timeout)
    buf, out = b"", []
    while len(out) < n:
        head_end = buf.find(b"\r\n\r\n")
        if head_end >= 0:
            head = buf[:head_end].decode("latin-1").split("\r\n")
            length = 0
            for h in head[1:]:
                k, _, v = h.partition(":")
                if k.strip().lower() == "content-length":
                    length = int(v)
            if len(buf) >= head_end + 4 + length:
                out.append((int(head[0].split()[1]), buf[head_end + 4:head_end + 4 + length]))
                buf = buf[head_end + 4 + length:]
                continue
        chunk = sock.recv(65536)
        assert chunk, "connection closed after %d of %d answers" % (len(out), n)
        buf += chunk
    return out


def read_to_close(sock, timeout=10):
    """Everything @sock receives until the peer closes it."""
    sock.settimeout(timeout)
    got = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return got
        got += chunk


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
