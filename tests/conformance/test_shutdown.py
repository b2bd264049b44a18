"""Graceful shutdown on SIGTERM: the demo stops accepting, closes idle
keep-alive connections, lets requests in flight finish with
`Connection: close`, force-closes what outlives the deadline, and exits 0."""
import http.client
import signal
import socket
import threading
import time

import pytest

from conftest import Demo
from httpraw import Raw


def slow_get(port, ms, out):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        c.request("GET", f"/slow?ms={ms}")
        r = c.getresponse()
        out.append((r.status, r.read(), r.getheader("Connection")))
    except (OSError, http.client.HTTPException) as e:
        out.append(e)


def refused(port, within=3.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            time.sleep(0.05)
        except OSError:
            return True
    return False


def test_in_flight_requests_finish_then_exit():
    d = Demo({"SQUALL_SHUTDOWN_MS": "5000"})
    try:
        idle = Raw(d.port)
        idle.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle.read_response().status == 200
        out = []
        th = threading.Thread(target=slow_get, args=(d.port, 1200, out))
        th.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        assert idle.closed_by_peer(timeout=2.0), "idle keep-alive connection closed at once"
        assert refused(d.port), "no new connections after the shutdown began"
        th.join(timeout=10)
        assert out and out[0] == (200, b"slept 1200", "close"), out
        assert d.proc.wait(timeout=5) == 0
        assert time.monotonic() - t0 < 4.0, "exited once the last request finished, not at the deadline"
    finally:
        d.stop()


def test_deadline_forces_the_rest_closed():
    d = Demo({"SQUALL_SHUTDOWN_MS": "500"})
    try:
        out = []
        th = threading.Thread(target=slow_get, args=(d.port, 5000, out))
        th.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        d.proc.send_signal(signal.SIGTERM)
        th.join(timeout=10)
        assert out and isinstance(out[0], Exception), f"the request outliving the deadline is cut: {out}"
        assert d.proc.wait(timeout=5) == 0
        assert 0.3 < time.monotonic() - t0 < 3.0
    finally:
        d.stop()
