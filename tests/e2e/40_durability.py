"""Durability (SPEC §6 acknowledgement, disk queue and replay; §8 faults): an acknowledged write is
never lost, whatever happens to the backends or to the proxy, and a queue replays in order.

Every scenario streams 100,000 uniquely identifiable points (1,000 requests of 100 lines, see
loadgen.py) through a real daemon to real influxd backends, breaks something mid-stream, waits until
the proxy's queues are empty and the backends' counts are stable, and then reads every point back
from every backend: each acknowledged point must be there with its value; a point of a failed
request may or may not be there; nothing else may be. Run with -s to see the figures.
"""

import signal
import time

import pytest
import requests

from helpers import wait_until
from loadgen import T0_NS, Stream

DB = "dur"
POINTS = 100_000
LINES = 100
CHECK_MS = 200
REWRITE_MS = 500
DRAIN_TIMEOUT = 90
PACE = 0.006  # seconds per request in the paced streams (1,000 requests: about 6 s)


# ---- rig ----------------------------------------------------------------------------------------------


def backend(i, **extra):
    return dict({"url": i.url, "checkinterval": CHECK_MS, "rewriteinterval": REWRITE_MS, "timeout": 5000}, **extra)


def two_backends(redis, influxd, proxy, node_fields=None, **extra):
    """influxd a and b, both holding DB, behind one proxy with _default_ -> a,b, both seen healthy; @extra: more
    fields of both backends."""
    a, b = influxd(dbs=[DB]), influxd(dbs=[DB])
    p = proxy(redis, {"a": backend(a, **extra), "b": backend(b, **extra)}, {"_default_": ["a", "b"]},
              node_fields=node_fields)
    wait_healthy(p, {"a": True, "b": True})
    return a, b, p


def wait_healthy(p, want, timeout=10):
    def ok():
        st = p.meta()["backendStatus"]
        return all(st.get(n) is v for n, v in want.items()) and st

    return wait_until(ok, timeout, what="backendStatus %s" % want)


def queue_records(p):
    return {n: q["records"] for n, q in p.meta()["queues"].items()}


def count(i, measurement="m"):
    res = i.query("SELECT count(v) FROM %s" % measurement, db=DB)["results"][0]
    if "series" not in res:
        return 0
    return res["series"][0]["values"][0][1]


def wait_drained(p, backends, timeout=DRAIN_TIMEOUT):
    """Waits until every queue of @p is empty and every backend's count has stopped moving."""
    t0 = time.monotonic()
    last_q = {}

    def empty():
        last_q.update(queue_records(p))
        return all(r == 0 for r in last_q.values())

    try:
        wait_until(empty, timeout, interval=0.2, what="empty queues")
    except AssertionError as e:
        raise AssertionError("%s; records: %s\n%s" % (e, last_q, p.stderr()[-3000:]))
    last = None
    while True:
        now = [count(i) for i in backends]
        if now == last:
            break
        last = now
        time.sleep(0.5)
        assert time.monotonic() - t0 < timeout, "counts still moving: %s" % now
    queues = p.meta()["queues"]
    refused = [ln for ln in p.stderr().splitlines() if "refused" in ln or "rejected" in ln]
    assert all(q["rejected"] == 0 for q in queues.values()), (
        "replayed records were rejected: %s\n%s" % (queues, "\n".join(refused[-10:])))
    return time.monotonic() - t0


def points_on(i, measurement="m"):
    """{timestamp_ns: v} of every point of @measurement on influxd @i (one query, epoch=ns)."""
    r = requests.post(i.url + "/query", params={"db": DB, "q": "SELECT v FROM %s" % measurement, "epoch": "ns"},
                      timeout=60)
    r.raise_for_status()
    res = r.json()["results"][0]
    assert "error" not in res, res
    out = {}
    for series in res.get("series", []):
        for ts, v in series["values"]:
            assert ts not in out, "two points at %d" % ts
            out[ts] = v
    return out


def spot_check(i, stream, indexes):
    """SELECT v FROM m WHERE time = <ts> for a few points, independently of the bulk read."""
    for k in indexes:
        ts = stream.ts(k)
        res = i.query("SELECT v FROM m WHERE time = %d" % ts, db=DB, epoch="ns")["results"][0]
        assert res["series"][0]["values"] == [[ts, stream.value(k)]], (i.url, k, res)


def check_backends(streams, backends, expected=None, label=""):
    """Every expected point (default: every acknowledged one) of @streams (one Stream or a list) on
    every backend with its value; nothing that was never sent. Exactly the acknowledged points when no
    request failed. Prints the figures; returns {backend: points found}."""
    streams = streams if isinstance(streams, list) else [streams]
    acked, sent = {}, {}
    summ = {"sent": 0, "acknowledged": 0, "failed": 0, "statuses": {}}
    for st in streams:
        acked.update(st.acked_points())
        sent.update(st.sent_points())
        one = st.summary()
        for k in ("sent", "acknowledged", "failed"):
            summ[k] += one[k]
        for code, n in one["statuses"].items():
            summ["statuses"][code] = summ["statuses"].get(code, 0) + n
    want = acked if expected is None else expected
    found = {}
    for name, i in backends.items():
        got = points_on(i)
        found[name] = len(got)
        missing = [ts for ts in want if ts not in got]
        wrong = [ts for ts in want if ts in got and got[ts] != want[ts]]
        extra = [ts for ts in got if ts not in sent]
        assert not missing, "%s: %d of %d expected points missing (first ts: %s)" % (
            name, len(missing), len(want), sorted(missing)[:5])
        assert not wrong, "%s: %d points with a wrong value (first ts %s)" % (name, len(wrong), sorted(wrong)[:5])
        assert not extra, "%s: %d points never sent (first ts %s)" % (name, len(extra), sorted(extra)[:5])
        assert count(i) == len(got), (name, count(i), len(got))
        if summ["failed"] == 0 and expected is None:
            assert len(got) == len(acked), (name, len(got), len(acked))
        for st in streams:
            ids = sorted(k for k in range(st.points) if st.ts(k) in want)
            if ids:
                spot_check(i, st, [ids[0], ids[len(ids) // 2], ids[-1]])
    print("\n[%s] sent=%d acknowledged=%d failed=%d statuses=%s stream=%ss found=%s" % (
        label, summ["sent"], summ["acknowledged"], summ["failed"], summ["statuses"],
        "/".join(str(st.summary()["seconds"]) for st in streams), " ".join("%s:%d" % kv for kv in found.items())))
    return found


# ---- scenarios ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("maxrowlimit", [10000, 30], ids=["whole", "in-pieces"])
def test_backend_killed_mid_stream_and_restarted(redis, influxd, proxy, maxrowlimit):
    """kill -9 of one replica at 30 % of the stream, restart on the same port and data at 60 %: both
    replicas end with exactly the acknowledged points. The stream is paced (about 6 s) so that writes
    keep coming while a is down and while its queue replays. With maxrowlimit 30 every request goes upstream in four
    pieces, so the kill also catches requests of which a stored some pieces and lost others."""
    a, b, p = two_backends(redis, influxd, proxy, maxrowlimit=maxrowlimit)
    s = Stream(p.url, DB, POINTS, LINES, pace=PACE).start()
    at_kill = s.wait_progress(0.3)
    a.kill()
    at_start = s.wait_progress(0.6)
    queued = queue_records(p)["a"]
    a.start()
    back_at = s.done_requests()
    s.join(120)
    took = wait_drained(p, [a, b])
    check_backends(s, {"a": a, "b": b}, label="backend kill -9 (killed at req %d, restarted at %d with %d records "
                   "queued, answering again at req %d, drained in %.1fs)" % (at_kill, at_start, queued, back_at, took))
    assert queued > 0, "nothing was queued for a while it was down"
    assert back_at < s.nreq, "the stream ended before a was back: no write went behind the replay"
    assert p.alive(), p.exited_message()


def test_proxy_killed_mid_stream_and_restarted(redis, influxd, proxy):
    """kill -9 of the proxy at 30 % of the stream while b is down and its queue is filling; the proxy is
    restarted at once with the same config and datadir, b returns at 60 %: every acknowledged point
    reaches both backends (writes sent while the proxy was down fail at the client)."""
    a, b, p = two_backends(redis, influxd, proxy)
    s = Stream(p.url, DB, POINTS, LINES, pace=PACE).start()
    s.wait_progress(0.1)
    b.kill()
    at_kill = s.wait_progress(0.3)
    queued_before = queue_records(p)["b"]
    p.kill()
    time.sleep(0.3)
    p.start()
    at_start = s.wait_progress(0.6)
    b.start()
    s.join(120)
    took = wait_drained(p, [a, b])
    check_backends(s, {"a": a, "b": b}, label="proxy kill -9 (b queue %d records at kill; proxy killed at req %d; "
                   "b back at req %d; drained in %.1fs)" % (queued_before, at_kill, at_start, took))
    assert queued_before > 0
    assert any(st == -1 for st in s.status), "no write failed while the proxy was down: the kill did not bite"


def test_proxy_killed_during_replay(redis, influxd, proxy):
    """kill -9 of the proxy while b's queue is being replayed (2,000 records of 50 lines: two replay
    batches; the kill comes once the first one is on b), restart: the replay resumes and every point
    reaches b (the batch in flight at the kill may be delivered twice: InfluxDB stores it once)."""
    a, b, p = two_backends(redis, influxd, proxy)
    b.stop()
    s = Stream(p.url, DB, POINTS, 50).start().join(120)
    assert s.summary()["failed"] == 0, s.summary()
    before = queue_records(p)["b"]
    b.start()
    on_b_at_kill = wait_until(lambda: count(b), 30, interval=0.01, what="the first replayed batch on b")
    p.kill()
    after_kill = count(b)
    p.start()
    at_restart = queue_records(p)["b"]
    took = wait_drained(p, [a, b])
    check_backends(s, {"a": a, "b": b}, label="proxy kill -9 during replay (b queue %d records; b held %d points "
                   "at the kill, %d just after; %d records pending on restart; drained in %.1fs)" % (
                       before, on_b_at_kill, after_kill, at_restart, took))
    assert after_kill < POINTS and at_restart > 0, "the replay had finished before the kill: scenario missed"


def test_concurrent_streams_backend_killed_and_restarted(redis, influxd, proxy):
    """Four clients at once (25,000 points each: the proxy coalesces their writes into shared upstream
    batches), kill -9 of a at 30 %, restart at 60 %: both replicas hold exactly the acknowledged points."""
    a, b, p = two_backends(redis, influxd, proxy)
    streams = [Stream(p.url, DB, POINTS // 4, LINES, t0_ns=T0_NS + k * 10**9, name="loadgen-%d" % k).start()
               for k in range(4)]

    def wait_total(fraction):
        wait_until(lambda: sum(s.progress() for s in streams) / 4 >= fraction or
                   not any(s.is_alive() for s in streams), 120, interval=0.005, what="%.0f%%" % (100 * fraction))
        return sum(s.done_requests() for s in streams)

    at_kill = wait_total(0.3)
    a.kill()
    at_start = wait_total(0.6)
    queued = queue_records(p)["a"]
    a.start()
    for s in streams:
        s.join(120)
    took = wait_drained(p, [a, b])
    check_backends(streams, {"a": a, "b": b}, label="4 concurrent streams, backend kill -9 (killed at req %d, "
                   "restarted at %d with %d records queued; drained in %.1fs)" % (at_kill, at_start, queued, took))
    assert queued > 0


def test_frozen_backend_times_out_and_catches_up(redis, influxd, proxy):
    """b frozen with SIGSTOP at 30 % of the stream (connections hang, nothing is refused): the write in
    flight times out after b's `timeout` (1 s) and is queued, later writes go behind it; SIGCONT at 60 %:
    both replicas end with exactly the acknowledged points."""
    a, b = influxd(dbs=[DB]), influxd(dbs=[DB])
    p = proxy(redis, {"a": backend(a), "b": dict(backend(b), timeout=1000)}, {"_default_": ["a", "b"]})
    wait_healthy(p, {"a": True, "b": True})
    s = Stream(p.url, DB, POINTS, LINES, pace=PACE).start()
    try:
        at_stop = s.wait_progress(0.3)
        b.signal(signal.SIGSTOP)
        at_cont = s.wait_progress(0.6)
        queued = queue_records(p)["b"]
        slowest = max(s.latency) if s.latency else None
    finally:
        b.signal(signal.SIGCONT)
    s.join(120)
    took = wait_drained(p, [a, b])
    check_backends(s, {"a": a, "b": b}, label="backend SIGSTOP (frozen at req %d, resumed at %d with %d records "
                   "queued, slowest request %.2fs; drained in %.1fs)" % (at_stop, at_cont, queued, slowest, took))
    assert queued > 0


def test_all_backends_down_writes_queued_then_delivered(redis, influxd, proxy):
    a, b, p = two_backends(redis, influxd, proxy)
    a.stop()
    b.stop()
    s = Stream(p.url, DB, POINTS, LINES).start().join(120)
    summ = s.summary()
    assert summ["failed"] == 0, (summ, list(s.errors.items())[:3])
    q = queue_records(p)
    assert q["a"] > 0 and q["b"] > 0, q
    a.start()
    b.start()
    took = wait_drained(p, [a, b])
    check_backends(s, {"a": a, "b": b}, label="all backends down (queued %s; drained in %.1fs)" % (q, took))


def stream_while_b_is_down(p, b):
    """Stops b and streams until some writes fail; they must all be 503s naming b. Returns (stream, first failed
    request, failed requests)."""
    b.stop()
    s = Stream(p.url, DB, POINTS, LINES).start()
    s.wait_failures(1)
    first_failure = min(s.failed_requests())
    s.join(120)
    failed = s.failed_requests()
    statuses = {s.status[r] for r in failed}
    assert statuses == {503}, (statuses, [s.errors[r] for r in failed[:3]])
    for r in failed:
        assert "backend b " in s.errors[r], s.errors[r]
    return s, first_failure, failed


def test_queue_cap_answers_503_and_keeps_what_was_acknowledged(redis, influxd, proxy):
    """queuemaxmb=1 and b down for a stream of about 3.5 MB: once b's queue is full, writes fail with
    503 naming b; what was acknowledged before reaches both backends after b returns, and writes are
    acknowledged again once its queue drained."""
    a, b, p = two_backends(redis, influxd, proxy, node_fields={"queuemaxmb": 1})
    s, first_failure, failed = stream_while_b_is_down(p, b)
    for r in failed:
        assert "full" in s.errors[r], s.errors[r]
    assert all(s.status[r] == 204 for r in range(first_failure)), "a write failed before b's queue was full"
    meta_q = p.meta()["queues"]["b"]
    assert meta_q["bytes"] <= 1 << 20, meta_q
    b.start()
    took = wait_drained(p, [a, b])
    check_backends(s, {"a": a, "b": b}, label="queue cap 1 MiB (first 503 at req %d, %d requests refused, b queue "
                   "peaked at %d bytes; drained in %.1fs)" % (first_failure, len(failed), meta_q["bytes"], took))
    r = requests.post(p.url + "/write", params={"db": DB}, data=b"after,t=x v=1i 1600000000000000000\n", timeout=10)
    assert r.status_code == 204, r.text
    assert points_on(b, "after") == {T0_NS: 1}


def test_update_during_replay_keeps_the_newest_value(redis, influxd, proxy):
    """A point written with v=1 while b is down (queued behind 100,000 points) and again with v=2 as soon
    as b answers /ping, before the replay finished: both replicas end with v=2."""
    a, b, p = two_backends(redis, influxd, proxy)
    b.stop()
    s = Stream(p.url, DB, POINTS, LINES).start().join(120)
    assert s.summary()["failed"] == 0, s.summary()
    line = "upd,t=p v=%di " + str(T0_NS + 7) + "\n"
    r = requests.post(p.url + "/write", params={"db": DB, "precision": "ns"}, data=(line % 1).encode(), timeout=10)
    assert r.status_code == 204, r.text
    b.start()
    r = requests.post(p.url + "/write", params={"db": DB, "precision": "ns"}, data=(line % 2).encode(), timeout=10)
    assert r.status_code == 204, r.text
    pending = queue_records(p)["b"]
    assert pending > 1, "the replay finished before the update was written: the scenario did not happen"
    took = wait_drained(p, [a, b])
    for name, i in (("a", a), ("b", b)):
        assert points_on(i, "upd") == {T0_NS + 7: 2}, (name, points_on(i, "upd"))
    check_backends(s, {"a": a, "b": b}, label="update during replay (b queue %d records when v=2 was written; "
                   "drained in %.1fs; upd = 2 on a and b)" % (pending, took))


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_corrupt_queue_tail_on_startup(redis, influxd, proxy, damage):
    """The proxy is stopped while b is down and its queue holds the whole stream; the newest segment is
    then cut inside its last record, or has garbage appended. On start the proxy logs the torn tail,
    keeps the records before it, and replays them once b is back."""
    a, b, p = two_backends(redis, influxd, proxy)
    b.stop()
    s = Stream(p.url, DB, POINTS, LINES).start().join(120)
    assert s.summary()["failed"] == 0, s.summary()
    before = queue_records(p)["b"]
    assert p.stop() == 0, p.stderr()
    qdir = p.workdir / "data" / "b"
    segs = sorted(qdir.glob("*.seg"))
    assert segs, list(qdir.iterdir())
    seg = segs[-1]
    size = seg.stat().st_size
    acked = s.acked_points()
    if damage == "truncated":
        with open(seg, "r+b") as f:
            f.truncate(size - 100)
        last = max(s.acked_requests())
        lost = s.points_of([last])
        expected = {ts: v for ts, v in acked.items() if ts not in lost}
        want_records = before - 1
    else:
        with open(seg, "ab") as f:
            f.write(b"\xd9Q\x01\x01garbage that is not a frame\n" * 3)
        expected = acked
        want_records = before
    log_from = len(p.stderr())
    p.start()
    log = p.stderr()[log_from:]
    lines = [ln for ln in log.splitlines() if "queue b" in ln and seg.name in ln and "torn tail" in ln]
    assert len(lines) == 1, log
    after = queue_records(p)["b"]
    assert after == want_records, (before, after, log)
    b.start()
    took = wait_drained(p, [a, b])
    found = check_backends(s, {"a": a, "b": b}, expected=expected,
                           label="corrupt tail (%s; %d records before, %d after; drained in %.1fs)" % (
                               damage, before, after, took))
    assert found["a"] == len(acked)
    assert found["b"] == len(expected)
    print("log: " + lines[0])


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs: the daemon's datadir on a disk that fills up."""
    import subprocess

    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(mnt)], capture_output=True,
                       text=True)
    assert r.returncode == 0, "cannot mount a tmpfs for the full-disk test (needs root): %s" % r.stderr
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_answers_503_and_keeps_what_was_acknowledged(redis, influxd, proxy, small_disk):
    """The datadir's disk fills up while b is down (queuemaxmb far above the disk): writes fail with 503 naming b,
    nothing acknowledged is lost, not even across a kill -9 of the proxy on the full disk; once b is back its queue
    drains, the disk is freed, and writes are acknowledged again."""
    a, b, p = two_backends(redis, influxd, proxy, node_fields={"queuemaxmb": 256, "datadir": str(small_disk / "q")})
    s, first_failure, failed = stream_while_b_is_down(p, b)
    assert "No space left on device" in s.errors[first_failure], s.errors[first_failure]
    assert first_failure > 50, "a write failed before the disk was full"
    # one log line a second for a refusal that comes with every write; the next one tells how many it held back
    time.sleep(1.1)
    late = "".join("late,t=x v=1i %d\n" % (T0_NS + i) for i in range(2000))  # larger than any record that failed
    r = requests.post(p.url + "/write", params={"db": DB}, data=late, timeout=10)
    assert r.status_code == 503, r.text
    logged = [ln for ln in p.stderr().splitlines() if "could not be queued" in ln]
    assert 2 <= len(logged) <= s.summary()["seconds"] + 3, logged[:5]
    assert "more like it" in logged[-1], logged
    assert requests.get(p.url + "/ping", timeout=5).status_code == 204
    p.kill()
    p.start()
    assert queue_records(p)["b"] > 0
    b.start()
    took = wait_drained(p, [a, b])
    check_backends(s, {"a": a, "b": b}, label="full disk (first 503 at req %d, %d requests refused; drained in "
                   "%.1fs)" % (first_failure, len(failed), took))
    r = requests.post(p.url + "/write", params={"db": DB}, data=b"after,t=x v=1i 1600000000000000000\n", timeout=10)
    assert r.status_code == 204, r.text
    assert points_on(b, "after") == {T0_NS: 1}


def test_file_size_limit_answers_503_and_the_daemon_stays_up(redis, influxd, proxy):
    """Under a file size limit (ulimit -f, LimitFSIZE=) a queue file stops growing: the write that would pass it gets
    503 naming b and the reason; the daemon is not killed by SIGXFSZ, and what was acknowledged reaches b."""
    import subprocess

    a, b, p = two_backends(redis, influxd, proxy)
    subprocess.run(["prlimit", "--pid", str(p.popen.pid), "--fsize=300000"], check=True)
    b.stop()
    s = Stream(p.url, DB, 20_000, LINES).start().join(60)
    failed = s.failed_requests()
    assert failed and {s.status[r] for r in failed} == {503}, s.summary()
    assert "File too large" in s.errors[failed[0]], s.errors[failed[0]]
    assert p.popen.poll() is None, "the daemon died"
    assert requests.get(p.url + "/ping", timeout=5).status_code == 204
    b.start()
    took = wait_drained(p, [a, b])
    check_backends(s, {"a": a, "b": b}, label="file size limit (%d requests refused; drained in %.1fs)" % (
        len(failed), took))
