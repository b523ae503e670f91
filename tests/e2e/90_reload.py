"""Live reload and shutdown under traffic: config.py changing a keymap while a client writes, invalid
configurations refused with the reason in /meta, Redis away for 10 s without a failed request, SIGHUP and
POST /reload, and SIGTERM under load delivering every acknowledged write."""

import signal
import threading
import time

import requests

from helpers import free_port, wait_until, write_config


class Writer(threading.Thread):
    """Writes one point per request, measurement chosen by the caller, until stopped; records every
    answer with the time it was sent."""

    def __init__(self, url, db, measurement):
        super().__init__(daemon=True)
        self.url, self.db, self.measurement = url, db, measurement
        self.stop_flag = threading.Event()
        self.answers = []  # (i, sent_at, status)

    def run(self):
        s = requests.Session()
        i = 0
        while not self.stop_flag.is_set():
            i += 1
            sent = time.time()
            try:
                st = s.post(self.url + "/write", params={"db": self.db},
                            data="%s v=%di %d" % (self.measurement, i, i), timeout=10).status_code
            except requests.RequestException:
                st = -1
            self.answers.append((i, sent, st))
            time.sleep(0.005)

    def finish(self):
        self.stop_flag.set()
        self.join(15)
        return self.answers


def values(influxd, db, measurement):
    res = influxd.query("SELECT v FROM %s" % measurement, db=db)["results"][0]
    return {row[1] for row in res.get("series", [{}])[0].get("values", [])}


def start_cluster(redis, influxd, proxy, tmp_path, **node):
    a, b = influxd(), influxd()
    for x in (a, b):
        x.create_db("r")
    backends = {"a": {"url": a.url, "checkinterval": 200, "rewriteinterval": 300},
                "b": {"url": b.url, "checkinterval": 200, "rewriteinterval": 300}}
    port = free_port()
    nodes = {"l1": dict({"listenaddr": "127.0.0.1:%d" % port, "datadir": str(tmp_path / "data")}, **node)}
    write_config(redis, tmp_path, backends, {"cpu": ["a"], "_default_": ["a", "b"]}, nodes)
    p = proxy(redis, write=False, listen_port=port)
    wait_until(lambda: all(p.meta()["backendStatus"].values()), 10, what="backends healthy")
    return a, b, backends, nodes, p


def test_keymap_change_under_traffic(redis, influxd, proxy, tmp_path):
    a, b, backends, nodes, p = start_cluster(redis, influxd, proxy, tmp_path)
    w = Writer(p.url, "r", "cpu")
    w.start()
    time.sleep(1)
    changed_at = time.time()
    write_config(redis, tmp_path, backends, {"cpu": ["b"], "_default_": ["a", "b"]}, nodes)
    wait_until(lambda: p.meta()["measurementToBackends"]["cpu"] == ["b"], 2, what="new keymap in /meta")
    time.sleep(1.5)
    answers = w.finish()
    assert all(st == 204 for _, _, st in answers), [x for x in answers if x[2] != 204][:5]
    on_a, on_b = values(a, "r", "cpu"), values(b, "r", "cpu")
    # every point sent a second after the change went to b only; every point before it to a only
    late = {i for i, sent, _ in answers if sent > changed_at + 1.0}
    early = {i for i, sent, _ in answers if sent < changed_at}
    assert late and late <= on_b and not (late & on_a)
    assert early and early <= on_a and not (early & on_b)
    assert on_a | on_b == {i for i, _, _ in answers}
    assert p.alive()


def test_invalid_config_refused_and_reported(redis, influxd, proxy, tmp_path):
    a, b, backends, nodes, p = start_cluster(redis, influxd, proxy, tmp_path)
    loaded_at = p.meta()["node"]["config_loaded_at"]
    c = redis.client()
    c.rpush("m:mem", "ghost")
    c.publish("influxdb-proxy:reload", "test")
    wait_until(lambda: p.meta()["node"]["reload_error"], 3, what="reload error in /meta")
    meta = p.meta()
    assert 'm:mem names unknown backend "ghost"' in meta["node"]["reload_error"]
    assert "mem" not in meta["measurementToBackends"]
    assert meta["node"]["config_loaded_at"] == loaded_at
    assert requests.post(p.url + "/write", params={"db": "r"}, data="mem v=1i 1", timeout=5).status_code == 204
    # POST /reload says the same; fixing the config clears the error
    r = requests.post(p.url + "/reload", timeout=5)
    assert r.status_code == 400 and "ghost" in r.json()["error"]
    c.delete("m:mem")
    c.rpush("m:mem", "b")
    r = requests.post(p.url + "/reload", timeout=5)
    assert r.status_code == 200, r.text
    meta = p.meta()
    assert meta["node"]["reload_error"] is None
    assert meta["measurementToBackends"]["mem"] == ["b"]
    # SIGHUP reloads too
    c.delete("m:mem")
    c.rpush("m:mem", "a")
    p.signal(signal.SIGHUP)
    wait_until(lambda: p.meta()["measurementToBackends"]["mem"] == ["a"], 3, what="SIGHUP reload")


def test_redis_away_for_ten_seconds(redis, influxd, proxy, tmp_path):
    a, b, backends, nodes, p = start_cluster(redis, influxd, proxy, tmp_path)
    w = Writer(p.url, "r", "disk")
    w.start()
    time.sleep(0.5)
    redis.stop()
    time.sleep(10)
    assert requests.get(p.url + "/meta", timeout=5).status_code == 200
    redis.start()
    time.sleep(0.5)
    answers = w.finish()
    assert len(answers) > 100
    assert all(st == 204 for _, _, st in answers), [x for x in answers if x[2] != 204][:5]
    # reload works again once Redis is back (the subscription reconnects)
    write_config(redis, tmp_path, backends, {"cpu": ["b"], "_default_": ["a", "b"]}, nodes)
    wait_until(lambda: p.meta()["measurementToBackends"]["cpu"] == ["b"], 15, what="reload after redis returned")
    sent = {i for i, _, _ in answers}
    wait_until(lambda: values(a, "r", "disk") == sent and values(b, "r", "disk") == sent, 10, what="all stored")


def test_sigterm_under_load_delivers_every_acknowledged_write(redis, influxd, proxy, tmp_path):
    a, b, backends, nodes, p = start_cluster(redis, influxd, proxy, tmp_path)
    writers = [Writer(p.url, "r", "load%d" % k) for k in range(4)]
    for w in writers:
        w.start()
    time.sleep(1.5)
    p.signal(signal.SIGTERM)
    assert p.wait(20) == 0
    for k, w in enumerate(writers):
        acked = {i for i, _, st in w.finish() if st == 204}
        assert len(acked) > 10
        for x in (a, b):
            stored = values(x, "r", "load%d" % k)
            assert acked <= stored, sorted(acked - stored)[:10]
    assert "stopped" in p.stderr()


def test_backends_added_and_removed_by_reload(redis, influxd, proxy, tmp_path):
    """A backend added by a reload gets health and a queue; one removed keeps its queue on disk and gets
    it replayed when it comes back; the others keep their state throughout."""
    a, b, backends, nodes, p = start_cluster(redis, influxd, proxy, tmp_path)
    c = influxd()
    c.create_db("r")
    with_c = dict(backends, c={"url": c.url, "checkinterval": 200, "rewriteinterval": 300})
    write_config(redis, tmp_path, with_c, {"cpu": ["c"], "_default_": ["a", "b"]}, nodes)
    wait_until(lambda: p.meta()["backendStatus"].get("c") is True, 5, what="c added and healthy")
    assert requests.post(p.url + "/write", params={"db": "r"}, data="cpu v=1i 1", timeout=5).status_code == 204
    assert values(c, "r", "cpu") == {1} and values(a, "r", "cpu") == set()

    # c goes down: its writes queue; then a reload removes it while its queue still holds a record
    c.kill()
    wait_until(lambda: p.meta()["backendStatus"]["c"] is False, 3, what="c down")
    assert requests.post(p.url + "/write", params={"db": "r"}, data="cpu v=2i 2", timeout=5).status_code == 204
    assert p.meta()["queues"]["c"]["records"] == 1
    write_config(redis, tmp_path, backends, {"cpu": ["a"], "_default_": ["a", "b"]}, nodes)
    wait_until(lambda: "c" not in p.meta()["backends"], 5, what="c removed")
    assert p.meta()["node"]["reload_error"] is None
    assert requests.post(p.url + "/write", params={"db": "r"}, data="cpu v=3i 3", timeout=5).status_code == 204
    assert values(a, "r", "cpu") == {3}
    assert any((tmp_path / "data" / "c").iterdir()), "c's queue stays on disk"

    # c returns and is configured again: the record it missed is replayed to it
    c.start()
    write_config(redis, tmp_path, with_c, {"cpu": ["c"], "_default_": ["a", "b"]}, nodes)
    wait_until(lambda: values(c, "r", "cpu") == {1, 2}, 10, what="c's queue replayed after it came back")
    # influxd shows the point before its answer reaches the proxy, which only then takes the record off the queue
    wait_until(lambda: p.meta()["queues"]["c"]["records"] == 0, 5, what="c's queue empty")
    # a and b kept their health across the reloads
    assert p.meta()["backendStatus"] == {"a": True, "b": True, "c": True}
