"""Node registry: every node keeps p:<node>:<listen addr> alive in Redis, so each node's /meta lists the
live proxies of the cluster; a node that stops is gone (at once on SIGTERM, at expiry on SIGKILL); Redis
going away does not stop a node from serving."""

import time

import requests

from helpers import free_port, wait_until, write_config


def proxy_names(p):
    return sorted(x["name"] for x in p.meta()["proxies"])


def test_two_nodes_see_each_other_and_a_killed_one_expires(redis, influxd, proxy, tmp_path):
    a = influxd()
    a.create_db("r")
    backends = {"a": {"url": a.url}}
    keymaps = {"_default_": ["a"]}
    ports = {"n1": free_port(), "n2": free_port()}
    nodes = {n: {"listenaddr": "127.0.0.1:%d" % ports[n], "datadir": str(tmp_path / n)} for n in ports}
    write_config(redis, tmp_path, backends, keymaps, nodes)
    n1 = proxy(redis, node="n1", write=False, listen_port=ports["n1"])
    n2 = proxy(redis, node="n2", write=False, listen_port=ports["n2"])
    for p in (n1, n2):
        wait_until(lambda p=p: proxy_names(p) == ["n1", "n2"], 6, what="both nodes listed")
    entry = [x for x in n1.meta()["proxies"] if x["name"] == "n2"][0]
    assert entry["listen"].endswith(":%d" % n2.port)
    assert entry["version"] == n1.meta()["node"]["version"]
    assert abs(entry["last_seen"] - time.time()) < 10
    keys = sorted(redis.client().scan_iter("p:*"))
    assert keys == sorted(["p:n1:127.0.0.1:%d" % n1.port, "p:n2:127.0.0.1:%d" % n2.port])

    # SIGKILL: the key stays until it expires, then n2 is gone from n1's list
    n2.kill()
    wait_until(lambda: proxy_names(n1) == ["n1"], 15, what="n2 expired")


def test_sigterm_removes_the_key_and_redis_down_does_not_stop_serving(redis, influxd, proxy):
    a = influxd()
    a.create_db("r")
    p = proxy(redis, {"a": {"url": a.url, "checkinterval": 200}}, {"_default_": ["a"]})
    wait_until(lambda: proxy_names(p) == ["l1"], 6, what="listed")
    key = "p:l1:127.0.0.1:%d" % p.port
    assert redis.client().exists(key)

    redis.stop()
    for i in range(5):
        r = requests.post(p.url + "/write", params={"db": "r"}, data="m v=%d %d" % (i, i + 1), timeout=5)
        assert r.status_code == 204
    assert requests.get(p.url + "/meta", timeout=5).status_code == 200
    redis.start()
    wait_until(lambda: redis.client().exists(key), 40, what="key written again after redis came back")

    p.stop()
    assert not redis.client().exists(key)
    assert a.query("SELECT count(v) FROM m", db="r")["results"][0]["series"][0]["values"][0][1] == 5
