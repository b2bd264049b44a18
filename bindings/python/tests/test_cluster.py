"""The ``cluster`` setting: web.Application(handlers, cluster="redis://...",
cluster_state_callback=fn), with a real redis-server (Debian's, installed by
tests/redis-deps.sh) started here on a free loopback port and stopped by
PID; and fork_processes with a cluster, so that the children of one
program share their topics."""
import json
import shutil
import subprocess
import time

import pytest
from websockets.sync.client import connect

from conftest import free_port

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="redis-server missing: run tests/redis-deps.sh")


@pytest.fixture
def redis_port():
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-p", str(port), "PING"], capture_output=True).stdout.strip() != b"PONG":
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
        yield port
    finally:
        proc.kill()
        proc.wait()


APP = '''
import os, sys
from squall import web, websocket, httpserver, ioloop, process

STATES = []

class Room(websocket.WebSocketHandler):
    def open(self):
        self.subscribe("room")
        self.write_message(str(os.getpid()))
    def on_message(self, m):
        self.application.publish("room", m)

class Info(web.RequestHandler):
    def get(self):
        app = self.application
        self.write({"pid": os.getpid(), "state": app.cluster_state(), "states": STATES,
                    "delivered": app.cluster_counter("delivered"), "echo": app.cluster_counter("echo")})

app = web.Application([(r"/room", Room), (r"/info", Info)], cluster=os.environ["CLUSTER"],
                      cluster_state_callback=STATES.append)
server = httpserver.HTTPServer(app)
server.bind(int(os.environ["PORT"]), "127.0.0.1")
server.start(int(os.environ.get("PROCS", "1")))
ioloop.IOLoop.current().start()
'''


def info(port):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", "/info")
        return json.loads(c.getresponse().read())
    finally:
        c.close()


def test_the_state_callback_hears_connected(run_server, redis_port):
    srv = run_server(APP, env={"CLUSTER": f"redis://127.0.0.1:{redis_port}"})
    deadline = time.monotonic() + 10
    while info(srv.port)["state"] != "connected":
        assert time.monotonic() < deadline, info(srv.port)
        time.sleep(0.05)
    assert info(srv.port)["states"] == ["connected"]


def test_a_url_that_does_not_parse_is_a_value_error(tmp_path):
    import sys
    from conftest import child_env
    script = tmp_path / "app.py"
    script.write_text(APP)
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30,
                       env=child_env(PORT=str(free_port()), CLUSTER="redis://127.0.0.1:6379?colour=blue"))
    assert r.returncode != 0
    assert "ValueError" in r.stderr and 'unknown option "colour"' in r.stderr, r.stderr


def test_forked_children_share_a_room_through_redis(run_server, redis_port):
    srv = run_server(APP, env={"CLUSTER": f"redis://127.0.0.1:{redis_port}", "PROCS": "2"})
    clients = {}
    deadline = time.monotonic() + 20
    try:
        # New connections until one reaches each child (they share the port).
        while len(clients) < 2:
            assert time.monotonic() < deadline, f"reached only {list(clients)}"
            ws = connect(f"ws://127.0.0.1:{srv.port}/room", open_timeout=5)
            pid = ws.recv(timeout=5)
            if pid in clients:
                ws.close()
            else:
                clients[pid] = ws
        # Both children subscribed in Redis (their subscriptions are theirs).
        while subprocess.run(["redis-cli", "-p", str(redis_port), "PUBSUB", "NUMSUB", "squall:room"],
                             capture_output=True, text=True).stdout.split()[-1] != "2":
            assert time.monotonic() < deadline, "both children did not subscribe"
            time.sleep(0.05)
        (pa, wa), (pb, wb) = clients.items()
        wa.send(f"from {pa}")
        assert wa.recv(timeout=5) == f"from {pa}"
        assert wb.recv(timeout=5) == f"from {pa}", "the other child's subscriber got it through Redis"
        wb.send(f"from {pb}")
        assert wa.recv(timeout=5) == f"from {pb}"
        assert wb.recv(timeout=5) == f"from {pb}"
    finally:
        for ws in clients.values():
            ws.close()
