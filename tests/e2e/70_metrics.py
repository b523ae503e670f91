"""GET /metrics: Prometheus text format read by the Prometheus client's own parser, counters moving as
traffic flows, health and queue gauges following a backend that goes down and comes back."""

import socket

import requests
from prometheus_client.parser import text_string_to_metric_families

from helpers import wait_until

CHECK_MS = 300


def scrape(proxy):
    r = requests.get(proxy.url + "/metrics", timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_follow_traffic_and_health(redis, influxd, proxy):
    a, b = influxd(), influxd()
    for x in (a, b):
        x.create_db("m")
    backends = {"a": {"url": a.url, "checkinterval": CHECK_MS, "rewriteinterval": 300},
                "b": {"url": b.url, "checkinterval": CHECK_MS, "rewriteinterval": 300}}
    p = proxy(redis, backends, {"_default_": ["a", "b"]}, node_fields={"threads": 2})
    wait_until(lambda: all(p.meta()["backendStatus"].values()), 10, what="backends healthy")

    before = scrape(p)
    assert value(before, "influxdb_proxy_backend_up", backend="a") == 1
    assert value(before, "influxdb_proxy_build_info", version=p.meta()["node"]["version"]) == 1

    body = "".join("cpu,host=h%d v=%d %d\n" % (i, i, 1000 + i) for i in range(50))
    for _ in range(4):
        assert requests.post(p.url + "/write", params={"db": "m"}, data=body, timeout=10).status_code == 204
    r = requests.get(p.url + "/query", params={"db": "m", "q": "SELECT count(v) FROM cpu"}, timeout=10)
    assert r.status_code == 200
    requests.get(p.url + "/nowhere", timeout=5)

    after = scrape(p)
    assert value(after, "influxdb_proxy_http_requests_total", endpoint="write", status="204") - \
        value(before, "influxdb_proxy_http_requests_total", endpoint="write", status="204") == 4
    assert value(after, "influxdb_proxy_http_requests_total", endpoint="query", status="200") >= 1
    assert value(after, "influxdb_proxy_http_requests_total", endpoint="other", status="404") >= 1
    for name in ("a", "b"):
        assert value(after, "influxdb_proxy_backend_points_written_total", backend=name) == 200
        assert value(after, "influxdb_proxy_backend_points_in_total", backend=name) == 200
        assert value(after, "influxdb_proxy_backend_bytes_in_total", backend=name) == 4 * len(body)
        assert value(after, "influxdb_proxy_backend_bytes_written_total", backend=name) == 4 * len(body)
        assert value(after, "influxdb_proxy_upstream_write_duration_seconds_count", backend=name) >= 1
        assert value(after, "influxdb_proxy_upstream_write_duration_seconds_bucket", backend=name, le="+Inf") == \
            value(after, "influxdb_proxy_upstream_write_duration_seconds_count", backend=name)
    queried = sum(value(after, "influxdb_proxy_backend_queries_total", backend=n, result="ok") for n in "ab")
    assert queried == 1

    # b goes down: its health gauge drops, its writes go to the queue, the queue gauges show them
    b.kill()
    wait_until(lambda: value(scrape(p), "influxdb_proxy_backend_up", backend="b") == 0, 3, what="b down")
    assert requests.post(p.url + "/write", params={"db": "m"}, data=body, timeout=10).status_code == 204
    down = scrape(p)
    assert value(down, "influxdb_proxy_queue_records", backend="b") == 1
    assert value(down, "influxdb_proxy_queue_bytes", backend="b") > len(body)
    assert value(down, "influxdb_proxy_backend_points_queued_total", backend="b") == 50
    assert value(down, "influxdb_proxy_backend_points_in_total", backend="b") == 250
    assert value(down, "influxdb_proxy_queue_records", backend="a") == 0

    # back: replayed, the queue empties, the replay counter moves
    b.start()
    wait_until(lambda: value(scrape(p), "influxdb_proxy_queue_records", backend="b") == 0, 15, what="replay")
    back = scrape(p)
    assert value(back, "influxdb_proxy_backend_up", backend="b") == 1
    assert value(back, "influxdb_proxy_backend_records_replayed_total", backend="b") == 1
    assert value(back, "influxdb_proxy_queue_rejected_records", backend="b") == 0


def test_access_log_one_line_per_request_without_query_strings(redis, influxd, proxy, tmp_path):
    a = influxd()
    a.create_db("m")
    log = tmp_path / "access.log"
    p = proxy(redis, {"a": {"url": a.url}}, {"_default_": ["a"]}, args=["-access-log", str(log)])
    assert requests.post(p.url + "/write", params={"db": "m", "u": "joe", "p": "s3cret"}, data="cpu v=1 1",
                         timeout=5).status_code == 204
    requests.get(p.url + "/query", params={"db": "m", "q": "SELECT * FROM cpu", "p": "s3cret"}, timeout=5)
    requests.get(p.url + "/nowhere?p=s3cret", timeout=5)
    # a body over maxbodymb is refused by the HTTP layer before any handler runs: logged all the same
    with socket.create_connection(("127.0.0.1", p.port), timeout=5) as s:
        s.sendall(b"POST /write?db=m&p=s3cret HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 413 ")
    wanted = (" POST /write 204 ", " GET /query 200 ", " GET /nowhere 404 ", " POST /write 413 ")

    def logged():
        text = log.read_text() if log.exists() else ""
        return all(w in text for w in wanted)

    # (the start-up /ping checks are logged too, possibly after these: look for each line, not its place)
    wait_until(logged, 5, what="the three access lines")
    lines = log.read_text().splitlines()
    for w in wanted:
        assert sum(w in l for l in lines) == 1, w
    assert all(l.split()[1] == "127.0.0.1" for l in lines)
    text = log.read_text()
    assert "s3cret" not in text and "SELECT" not in text


def test_access_log_that_cannot_be_opened_is_refused(proxy, tmp_path):
    rc, err = proxy.run_expect_fail(["-access-log", str(tmp_path / "no" / "such" / "dir" / "x.log")])
    assert rc == 1 and "access log" in err and "No such file or directory" in err
