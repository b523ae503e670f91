"""A write-stream client for the durability scenarios: it sends N uniquely identifiable points as
line-protocol requests over one keep-alive connection, in a background thread, and records which
requests were acknowledged (204) and which failed, without ever retrying.

Point i of a stream is

    <measurement>,t=<i % tags> v=<value(i)>i <t0_ns + i * step_ns>

so its timestamp alone identifies it (every point of a stream has its own time), and `v` says which
point it is. Request r carries points [r * lines, (r + 1) * lines).

    s = Stream(proxy.url, "dur", points=100_000, lines=100).start()
    s.wait_progress(0.3)          # 30 % of the requests have been answered
    ...
    s.join()
    s.summary()                   # {'sent': ..., 'acknowledged': ..., 'failed': ...} in points
    s.acked_points()              # {timestamp_ns: value} of every acknowledged point
"""

import threading
import time

import requests

T0_NS = 1_600_000_000_000_000_000  # 2020-09-13, well inside the autogen policy and one shard group


def point_line(i, measurement="m", tags=10, t0_ns=T0_NS, step_ns=1000, value=None):
    v = i if value is None else value
    return "%s,t=%d v=%di %d" % (measurement, i % tags, v, t0_ns + i * step_ns)


class Stream(threading.Thread):
    """Streams @points points in requests of @lines lines to <url>/write?db=<db>&precision=ns.

    @pace: minimum seconds between the starts of two requests (0: as fast as answers come).
    @error_pause: seconds to wait after a request that got no HTTP answer at all (connection refused
    while the server is down), so a stream does not burn through its points in a few milliseconds.
    @timeout: per-request seconds."""

    def __init__(self, url, db, points=100_000, lines=100, measurement="m", tags=10, t0_ns=T0_NS, step_ns=1000,
                 pace=0.0, error_pause=0.02, timeout=30.0, name="loadgen"):
        super().__init__(daemon=True, name=name)
        if points % lines != 0:
            raise ValueError("points must be a multiple of lines")
        self.url = url.rstrip("/") + "/write"
        self.params = {"db": db, "precision": "ns"}
        self.points = points
        self.lines = lines
        self.nreq = points // lines
        self.measurement = measurement
        self.tags = tags
        self.t0_ns = t0_ns
        self.step_ns = step_ns
        self.pace = pace
        self.error_pause = error_pause
        self.timeout = timeout
        self._lock = threading.Lock()
        self._done_requests = 0
        self._halt = threading.Event()
        # per request: None (not sent yet), 204, another HTTP status, or -1 (no answer)
        self.status = [None] * self.nreq
        self.errors = {}  # request index -> error text (response body or exception)
        self.latency = []  # seconds each answered request took, in request order
        self.elapsed = None
        self.exception = None

    # -- points ---------------------------------------------------------------------------------
    def ts(self, i):
        return self.t0_ns + i * self.step_ns

    def value(self, i):
        return i

    def body(self, r):
        lo = r * self.lines
        return "".join(point_line(i, self.measurement, self.tags, self.t0_ns, self.step_ns) + "\n"
                       for i in range(lo, lo + self.lines))

    # -- running --------------------------------------------------------------------------------
    def start(self):
        super().start()
        return self

    def run(self):
        t_start = time.monotonic()
        session = requests.Session()
        try:
            for r in range(self.nreq):
                if self._halt.is_set():
                    break
                t_req = time.monotonic()
                try:
                    resp = session.post(self.url, params=self.params, data=self.body(r).encode(),
                                        timeout=self.timeout)
                    st = resp.status_code
                    if st != 204:
                        self.errors[r] = resp.text[:500]
                except requests.RequestException as e:
                    st = -1
                    self.errors[r] = "%s: %s" % (type(e).__name__, e)
                    session.close()
                    session = requests.Session()
                with self._lock:
                    self.latency.append(time.monotonic() - t_req)
                    self.status[r] = st
                    self._done_requests = r + 1
                if st == -1 and self.error_pause > 0:
                    time.sleep(self.error_pause)
                if self.pace > 0:
                    rest = self.pace - (time.monotonic() - t_req)
                    if rest > 0:
                        time.sleep(rest)
        except Exception as e:  # surfaced by join()
            self.exception = e
        finally:
            session.close()
            self.elapsed = time.monotonic() - t_start

    def stop(self):
        """Stops after the request in flight (the rest stay unsent)."""
        self._halt.set()

    def join(self, timeout=None):
        super().join(timeout)
        if self.is_alive():
            raise AssertionError("%s still running after %ss (%d of %d requests answered)" %
                                 (self.name, timeout, self.done_requests(), self.nreq))
        if self.exception is not None:
            raise self.exception
        return self

    # -- progress -------------------------------------------------------------------------------
    def done_requests(self):
        with self._lock:
            return self._done_requests

    def progress(self):
        return self.done_requests() / self.nreq

    def wait_progress(self, fraction, timeout=120):
        """Blocks until @fraction of the requests have been answered (or the stream ended)."""
        deadline = time.monotonic() + timeout
        while self.progress() < fraction and self.is_alive():
            if time.monotonic() > deadline:
                raise AssertionError("stream at %.0f%% after %ss, waiting for %.0f%%" %
                                     (100 * self.progress(), timeout, 100 * fraction))
            time.sleep(0.005)
        return self.done_requests()

    def wait_failures(self, n=1, timeout=120):
        """Blocks until @n requests have failed (or the stream ended); returns the failure count."""
        deadline = time.monotonic() + timeout
        while self.is_alive():
            with self._lock:
                f = sum(1 for s in self.status if s is not None and s != 204)
            if f >= n:
                return f
            if time.monotonic() > deadline:
                raise AssertionError("only %d failed requests after %ss" % (f, timeout))
            time.sleep(0.005)
        return sum(1 for s in self.status if s is not None and s != 204)

    # -- results --------------------------------------------------------------------------------
    def requests_with(self, pred):
        with self._lock:
            return [r for r, s in enumerate(self.status) if s is not None and pred(s)]

    def acked_requests(self):
        return self.requests_with(lambda s: s == 204)

    def failed_requests(self):
        return self.requests_with(lambda s: s != 204)

    def sent_requests(self):
        return self.requests_with(lambda s: True)

    def points_of(self, reqs):
        """{timestamp_ns: value} of every point of the requests @reqs."""
        out = {}
        for r in reqs:
            for i in range(r * self.lines, (r + 1) * self.lines):
                out[self.ts(i)] = self.value(i)
        return out

    def acked_points(self):
        return self.points_of(self.acked_requests())

    def sent_points(self):
        return self.points_of(self.sent_requests())

    def status_counts(self):
        counts = {}
        for s in self.status:
            if s is not None:
                counts[s] = counts.get(s, 0) + 1
        return counts

    def summary(self):
        acked, failed = len(self.acked_requests()), len(self.failed_requests())
        return {"sent": (acked + failed) * self.lines, "acknowledged": acked * self.lines,
                "failed": failed * self.lines, "requests": acked + failed, "statuses": self.status_counts(),
                "seconds": round(self.elapsed, 2) if self.elapsed is not None else None}
