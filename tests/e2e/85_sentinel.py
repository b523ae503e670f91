"""Redis through Sentinel: a real master, a replica and a sentinel (redis-server --sentinel); the proxy
finds the master through the sentinel, and after SENTINEL FAILOVER it reads, reloads and registers on the
new master."""

import redis as redis_py
import requests

from helpers import Proc, free_port, wait_until, write_config


class Server(Proc):
    def __init__(self, name, workdir, argv):
        super().__init__(name, argv, workdir)

    def start(self):
        self.spawn()
        return self


def client(port):
    return redis_py.Redis(host="127.0.0.1", port=port, decode_responses=True, socket_timeout=2)


def quietly(fn):
    """fn() for wait_until, with a server still starting counting as 'not yet'."""
    def call():
        try:
            return fn()
        except redis_py.RedisError:
            return False
    return call


class Addr:
    """What helpers.write_config needs of a Redis: its address."""

    def __init__(self, port):
        self.addr = "127.0.0.1:%d" % port
        self.password = None


def test_proxy_follows_a_sentinel_failover(influxd, proxy, tmp_path):
    p1, p2, ps = free_port(), free_port(), free_port()
    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    master = Server("master", tmp_path / "m", ["redis-server", "--port", p1] + common).start()
    replica = Server("replica", tmp_path / "r",
                     ["redis-server", "--port", p2, "--replicaof", "127.0.0.1", str(p1)] + common).start()
    conf = tmp_path / "sentinel.conf"
    conf.write_text("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor mym 127.0.0.1 %d 1\n"
                    "sentinel down-after-milliseconds mym 1000\nsentinel failover-timeout mym 5000\n"
                    % (ps, tmp_path, p1))
    sentinel = Server("sentinel", tmp_path / "s", ["redis-server", str(conf), "--sentinel"]).start()
    try:
        wait_until(quietly(lambda: client(p1).ping()), 5, what="master")
        wait_until(quietly(lambda: client(p2).info("replication")["master_link_status"] == "up"), 10, what="replica")
        wait_until(quietly(lambda: client(ps).execute_command("SENTINEL", "get-master-addr-by-name", "mym")), 10,
                   what="sentinel knows the master")

        a = influxd()
        a.create_db("s")
        port = free_port()
        backends = {"a": {"url": a.url, "checkinterval": 200}}
        nodes = {"l1": {"listenaddr": "127.0.0.1:%d" % port, "datadir": str(tmp_path / "data")}}
        write_config(Addr(p1), tmp_path, backends, {"_default_": ["a"]}, nodes)
        wait_until(lambda: client(p2).exists("n:l1"), 5, what="config replicated")
        p = proxy(Addr(p1), node="l1", write=False, listen_port=port,
                  args=["-sentinel", "127.0.0.1:%d" % ps, "-master", "mym"])
        assert requests.post(p.url + "/write", params={"db": "s"}, data="m v=1 1", timeout=5).status_code == 204
        wait_until(lambda: client(p1).exists("p:l1:127.0.0.1:%d" % port), 5, what="registered on the master")

        # the sentinel learns about the replica from the master's INFO (every 10 s at first): wait for it,
        # then ask for the failover until the sentinel accepts it
        wait_until(quietly(lambda: len(client(ps).execute_command("SENTINEL", "replicas", "mym")) > 0), 25,
                   what="sentinel knows the replica")
        wait_until(quietly(lambda: client(ps).execute_command("SENTINEL", "FAILOVER", "mym")), 15,
                   what="failover accepted")
        wait_until(quietly(lambda: client(ps).execute_command("SENTINEL", "get-master-addr-by-name", "mym")[1] == str(p2)),
                   20, what="failover to the replica")
        wait_until(quietly(lambda: client(p2).info("replication")["role"] == "master"), 10, what="replica promoted")

        # a new keymap written to the NEW master reaches the proxy (reload through the sentinel)
        write_config(Addr(p2), tmp_path, backends, {"cpu": ["a"], "_default_": ["a"]}, nodes)
        wait_until(lambda: "cpu" in p.meta()["measurementToBackends"], 15, what="reload from the new master")
        # and the node registers itself there
        wait_until(lambda: client(p2).exists("p:l1:127.0.0.1:%d" % port), 15, what="registered on the new master")
        assert requests.post(p.url + "/write", params={"db": "s"}, data="cpu v=2 2", timeout=5).status_code == 204
    finally:
        for s in (sentinel, replica, master):
            s.stop()


def test_sentinel_without_master_name_is_refused(proxy):
    rc, err = proxy.run_expect_fail(["-sentinel", "127.0.0.1:1"])
    assert rc == 1
    assert "-sentinel and -master go together" in err


def test_unreachable_sentinel_is_one_clear_line(proxy):
    rc, err = proxy.run_expect_fail(["-sentinel", "127.0.0.1:1", "-master", "mym", "-node", "l1"])
    assert rc == 1
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and 'redis master "mym" via sentinels 127.0.0.1:1' in lines[0], err
