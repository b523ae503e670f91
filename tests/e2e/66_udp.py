"""UDP input: datagrams of line protocol for udpdb/udprp/udpprecision, routed, timestamped and queued as
HTTP writes are; bad lines counted; a backend outage survived through the queue."""

import socket
import time

import requests
from prometheus_client.parser import text_string_to_metric_families

from helpers import DroppingBackend, free_port, wait_until


def metric(p, name, **labels):
    text = requests.get(p.url + "/metrics", timeout=5).text
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def points(influxd, measurement):
    res = influxd.query("SELECT * FROM %s" % measurement, db="u", epoch="s")["results"][0]
    return res.get("series", [{}])[0].get("values", [])


def send(port, payload):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(payload.encode(), ("127.0.0.1", port))


def test_udp_routed_timestamped_counted_and_queued(redis, influxd, proxy):
    a, b = influxd(), influxd()
    for x in (a, b):
        x.create_db("u")
    udp_port = free_port()
    backends = {"a": {"url": a.url, "checkinterval": 200, "rewriteinterval": 300},
                "b": {"url": b.url, "checkinterval": 200, "rewriteinterval": 300}}
    p = proxy(redis, backends, {"cpu": ["a"], "_default_": ["a", "b"]},
              node_fields={"udpaddr": "127.0.0.1:%d" % udp_port, "udpdb": "u", "udpprecision": "s",
                           "udpreadbuffer": 1048576})
    wait_until(lambda: all(p.meta()["backendStatus"].values()), 10, what="backends healthy")

    before = time.time()
    send(udp_port, "cpu,host=x v=1 100\nmem,host=x v=2 200\nnot line protocol\ndisk v=3\n")
    wait_until(lambda: points(a, "disk") and points(b, "disk"), 5, what="datagram delivered")
    after = time.time()
    assert points(a, "cpu") == [[100, "x", 1]] and points(b, "cpu") == []
    assert points(a, "mem") == [[200, "x", 2]] and points(b, "mem") == [[200, "x", 2]]
    # no timestamp: the receive time in udpprecision (seconds), the same on both replicas
    ta, tb = points(a, "disk")[0][0], points(b, "disk")[0][0]
    assert ta == tb and int(before) <= ta <= int(after) + 1
    assert metric(p, "influxdb_proxy_udp_datagrams_total") == 1
    assert metric(p, "influxdb_proxy_udp_points_total", result="routed") == 3
    assert metric(p, "influxdb_proxy_udp_points_total", result="unparsable") == 1

    # b down: its share is queued, and replayed when it is back
    b.kill()
    wait_until(lambda: p.meta()["backendStatus"]["b"] is False, 3, what="b down")
    for i in range(20):
        send(udp_port, "mem,host=y v=%d %d\n" % (i, 1000 + i))
    wait_until(lambda: len(points(a, "mem")) == 21, 5, what="a stores while b is down")
    wait_until(lambda: p.meta()["queues"]["b"]["records"] == 20, 5, what="b's share queued")
    b.start()
    wait_until(lambda: len(points(b, "mem")) == 21, 15, what="b's queue replayed")
    assert points(a, "mem") == points(b, "mem")
    assert p.alive()


def test_udp_datagram_over_maxrowlimit_goes_upstream_in_pieces(redis, influxd, proxy):
    """A datagram of 25 lines for a backend with maxrowlimit 10 reaches it as three writes, and a backend that is
    down gets the three pieces queued and replayed."""
    a, b = influxd(), influxd()
    for x in (a, b):
        x.create_db("u")
    udp_port = free_port()
    p = proxy(redis, {"a": {"url": a.url, "maxrowlimit": 10, "checkinterval": 200, "rewriteinterval": 300},
                      "b": {"url": b.url, "maxrowlimit": 10, "checkinterval": 200, "rewriteinterval": 300}},
              {"_default_": ["a", "b"]}, node_fields={"udpaddr": "127.0.0.1:%d" % udp_port, "udpdb": "u"})
    wait_until(lambda: all(p.meta()["backendStatus"].values()), 10, what="backends healthy")
    b.kill()
    wait_until(lambda: p.meta()["backendStatus"]["b"] is False, 3, what="b down")
    before = a.write_requests()
    send(udp_port, "".join("m,n=%d v=%d %d\n" % (i, i, 10**9 + i) for i in range(25)))
    wait_until(lambda: len(points(a, "m")) == 25, 5, what="the datagram stored by a")
    assert a.write_requests() - before == 3
    wait_until(lambda: p.meta()["queues"]["b"]["records"] == 3, 5, what="b's three pieces queued")
    b.start()
    wait_until(lambda: len(points(b, "m")) == 25, 15, what="b's queue replayed")
    assert points(a, "m") == points(b, "m")


def test_udp_pieces_go_up_in_order_and_behind_one_not_taken(redis, proxy):
    """A datagram in three pieces, for a backend that takes 0.1 s to answer, takes the first piece and drops the
    connection on the second: the pieces go up one at a time, the second and third are queued (the third not sent
    around the second), and the replay brings the backend every line in the datagram's order."""
    fake = DroppingBackend(drop={"1"}, hold=0.1)
    try:
        udp_port = free_port()
        p = proxy(redis, {"F": {"url": fake.url, "maxrowlimit": 10, "checkinterval": 200, "rewriteinterval": 300,
                                "timeout": 2000}}, {"_default_": ["F"]},
                  node_fields={"udpaddr": "127.0.0.1:%d" % udp_port, "udpdb": "u"})
        wait_until(lambda: p.meta()["backendStatus"]["F"] is True, 10, what="F healthy")
        want = ["m,p=%d v=%d %d" % (i // 10, i, 10**9 + i) for i in range(25)]
        send(udp_port, "\n".join(want) + "\n")
        wait_until(lambda: p.meta()["queues"]["F"]["records"] == 2, 5, what="the second and third pieces queued")
        assert fake.lines == want[:10]
        fake.drop.clear()  # the backend is back
        wait_until(lambda: p.meta()["queues"]["F"]["records"] == 0, 10, interval=0.2, what="the queue replayed")
        assert fake.lines == want
        assert all(nxt[0] >= prev[1] for prev, nxt in zip(fake.spans, fake.spans[1:])), fake.spans
    finally:
        fake.close()


def test_udpaddr_without_udpdb_is_refused(redis, influxd, proxy):
    a = influxd()
    p = proxy(redis, {"a": {"url": a.url}}, {"_default_": ["a"]},
              node_fields={"udpaddr": "127.0.0.1:%d" % free_port()}, start=False)
    p.spawn()
    assert p.wait(10) == 1
    assert 'field "udpdb": required with udpaddr' in p.stderr()
