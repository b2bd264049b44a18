"""docs/DEPLOYMENT.md's configurations, each run: nginx in front of two
squall processes (docs/deploy/nginx-squall.conf), a rolling restart that
loses no request, the client's address through X-Real-IP (`xheaders`),
topics across the processes through Redis behind nginx, and the systemd
unit (docs/deploy/squall-chat.service) as systemd reads it."""
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from conftest import ROOT, Proc, demo, free_port, start_nginx, wait_for


def get(port, path="/", source="127.0.0.1", timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(source, 0))
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def metric(port, name, labels=""):
    """One sample of a process's /metrics, read directly (not through nginx)."""
    status, body = get(port, "/metrics")
    assert status == 200
    m = re.search(rb"^" + re.escape((name + labels).encode()) + rb" (\d+)$", body, re.M)
    assert m, f"{name}{labels} not in /metrics"
    return int(m.group(1))


def gets(port):
    return metric(port, "squall_http_requests_total", '{method="GET"}')


def opened(port):
    return metric(port, "squall_websocket_opened_total")


def test_http_and_websockets_through_nginx_reach_both_processes(procs, tmp_path):
    a, b = free_port(), free_port()
    procs += [demo(a), demo(b)]
    nginx = start_nginx(tmp_path, [a, b])
    procs.append(nginx)
    before = gets(a) + gets(b)
    for _ in range(20):
        assert get(nginx.port) == (200, b"Hello, world")
    # round robin over both; the /metrics reads themselves are GETs too
    assert gets(a) >= 10 and gets(b) >= 10 and gets(a) + gets(b) >= before + 20
    # a streamed response arrives through nginx whole
    status, body = get(nginx.port, "/stream")
    assert status == 200 and body, body
    # WebSockets: the upgrade passes through; two in a row land on both processes
    with connect(f"ws://127.0.0.1:{nginx.port}/ws/echo") as w1, connect(f"ws://127.0.0.1:{nginx.port}/ws/echo") as w2:
        for w, msg in ((w1, "one"), (w2, b"\x00two")):
            w.send(msg)
            assert w.recv(timeout=5) == msg
        assert (opened(a), opened(b)) == (1, 1)


def test_rolling_restart_loses_no_request(procs, tmp_path):
    a, b = free_port(), free_port()
    pa, pb = demo(a), demo(b)
    procs += [pa, pb]
    nginx = start_nginx(tmp_path, [a, b])
    procs.append(nginx)
    # one WebSocket on each process (round robin on a fresh nginx); which
    # is which shows when a stops
    with connect(f"ws://127.0.0.1:{nginx.port}/ws/echo") as w1, connect(f"ws://127.0.0.1:{nginx.port}/ws/echo") as w2:
        assert (opened(a), opened(b)) == (1, 1)
        rolling_restart(procs, nginx, pa, a, (w1, w2))


def rolling_restart(procs, nginx, pa, a, sockets):
    failures, done, stop = [], [0], threading.Event()

    def traffic():
        c = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=10)
        while not stop.is_set():
            try:
                c.request("GET", "/")
                r = c.getresponse()
                body = r.read()
                if (r.status, body) != (200, b"Hello, world"):
                    failures.append((r.status, body[:80]))
                done[0] += 1
            except (OSError, http.client.HTTPException) as e:
                failures.append(repr(e))
                c.close()
                c = http.client.HTTPConnection("127.0.0.1", nginx.port, timeout=10)
        c.close()

    threads = [threading.Thread(target=traffic) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        # restart a: SIGTERM drains it (its listener closes first, so nginx
        # sends new connections to b), then a new process takes its port
        pa.signal(signal.SIGTERM)
        codes = []
        for w in sockets:
            try:
                w.recv(timeout=0.5)
            except TimeoutError:
                codes.append(None)  # still open
            except ConnectionClosed as e:
                codes.append(e.rcvd.code if e.rcvd else 1006)
        assert sorted(codes, key=str) == [1001, None], f"a's WebSocket gets 1001, b's stays open: {codes}"
        assert pa.wait(15) == 0, pa.output()
        served_during = done[0]
        time.sleep(0.5)
        pa2 = demo(a)
        procs.append(pa2)
        # nginx goes back to a once its fail_timeout (2 s) has passed
        wait_for("requests served by the restarted process", lambda: gets(a) > 5, 10)
    finally:
        stop.set()
        for t in threads:
            t.join(15)
    assert not failures, f"{len(failures)} of {done[0]} requests failed: {failures[:5]}"
    assert done[0] > served_during > 0
    # the WebSocket on the process that stayed still works
    alive = [w for w in sockets if w.close_code is None]
    assert len(alive) == 1
    alive[0].send("still here")
    assert alive[0].recv(timeout=5) == "still here"


XHEADERS_APP = """
import sys
from squall import httpserver, ioloop, web

class Ip(web.RequestHandler):
    def get(self):
        self.write("%s %s" % (self.request.remote_ip, self.request.protocol))

server = httpserver.HTTPServer(web.Application([(r"/ip", Ip)]), xheaders=True)
server.listen(int(sys.argv[1]), "127.0.0.1")
ioloop.IOLoop.current().start()
"""


def test_xheaders_give_the_python_app_the_clients_address(procs, tmp_path):
    a, b = free_port(), free_port()
    env = {"PYTHONPATH": str(ROOT / "bindings" / "python")}
    procs += [Proc([sys.executable, "-c", XHEADERS_APP, str(p)], env, p, f"xheaders app :{p}") for p in (a, b)]
    nginx = start_nginx(tmp_path, [a, b])
    procs.append(nginx)
    # the client comes from 127.0.0.2; the app's peer is nginx on 127.0.0.1
    for _ in range(2):
        assert get(nginx.port, "/ip", source="127.0.0.2") == (200, b"127.0.0.2 http")
    # straight to the app (no proxy headers): its own peer
    assert get(a, "/ip", source="127.0.0.3") == (200, b"127.0.0.3 http")


def redis_server(port) -> Proc:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.access(binary, os.X_OK):
        pytest.fail("redis-server is not installed (tests/redis-deps.sh installs it)")
    return Proc([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                port=port, name="redis-server")


def test_topics_span_the_processes_behind_nginx(procs, tmp_path):
    rport = free_port()
    procs.append(redis_server(rport))
    a, b = free_port(), free_port()
    url = f"redis://127.0.0.1:{rport}/0?prefix=deploy"
    pa, pb = demo(a, SQUALL_CLUSTER=url), demo(b, SQUALL_CLUSTER=url)
    procs += [pa, pb]
    for p in (pa, pb):
        wait_for("the cluster to connect", lambda p=p: "cluster connected" in p.output(), 10)
    nginx = start_nginx(tmp_path, [a, b])
    procs.append(nginx)
    with connect(f"ws://127.0.0.1:{nginx.port}/ws/chat") as w1, connect(f"ws://127.0.0.1:{nginx.port}/ws/chat") as w2:
        assert (opened(a), opened(b)) == (1, 1), "one chat client on each process"
        # Redis subscribes asynchronously: wait until both processes hear each other
        def crossed():
            w1.send("ping")
            got = []
            try:
                while True:
                    got.append(w2.recv(timeout=0.3))
            except TimeoutError:
                pass
            while True:  # w1 hears itself too
                try:
                    w1.recv(timeout=0.05)
                except TimeoutError:
                    break
            return "ping" in got
        wait_for("a message to cross the processes", crossed, 10)
        for i in range(20):
            (w1 if i % 2 else w2).send(f"m{i}")
        for w in (w1, w2):
            got = [w.recv(timeout=5) for _ in range(20)]
            assert sorted(got) == sorted(f"m{i}" for i in range(20)), got
            # each sender's messages in its order
            assert [m for m in got if int(m[1:]) % 2] == [f"m{i}" for i in range(1, 20, 2)]


def test_the_systemd_unit_is_what_systemd_reads(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    unit = tmp_path / "squall-chat@8001.service"
    unit.write_text((ROOT / "docs" / "deploy" / "squall-chat.service").read_text())
    r = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "squall-chat" not in r.stderr, r.stderr
    # the check can fail: a unit with a mistake in it is refused
    bad = tmp_path / "bad@8001.service"
    bad.write_text(unit.read_text().replace("Type=exec", "Type=bogus"))
    r = subprocess.run([analyze, "verify", str(bad)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 or "bogus" in r.stderr, r.stderr


def test_the_chat_room_drains_on_sigterm(procs):
    """What the systemd unit's KillSignal relies on."""
    port = free_port()
    chat = Proc([sys.executable, str(ROOT / "examples" / "python" / "chat" / "chat.py"), f"--port={port}"],
                {"PYTHONPATH": str(ROOT / "bindings" / "python")}, port, "chat room")
    procs.append(chat)
    with connect(f"ws://127.0.0.1:{port}/message?name=ann") as w:
        assert '"welcome"' in w.recv(timeout=5)
        chat.signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as e:
            while True:
                w.recv(timeout=5)
        assert e.value.rcvd is not None and e.value.rcvd.code == 1001, e.value
    assert chat.wait(10) == 0, chat.output()
