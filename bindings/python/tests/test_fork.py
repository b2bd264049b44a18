"""HTTPServer.bind + start(n): processes forked after the bind share the
listening socket, each with its own IOLoop; SIGTERM to the parent ends all."""
import http.client
import os
import signal
import time

from conftest import wait_port

APP = '''
import os
from squall import web, httpserver, ioloop, process
class Pid(web.RequestHandler):
    def get(self): self.write(str(os.getpid()))
server = httpserver.HTTPServer(web.Application([(r"/", Pid)]))
server.bind(int(os.environ["PORT"]), "127.0.0.1")
server.start(2)
assert process.task_id() in (0, 1)
ioloop.IOLoop.current().start()
'''


def test_two_processes_serve_one_port(run_server):
    srv = run_server(APP)
    pids = set()
    deadline = time.monotonic() + 20
    while len(pids) < 2 and time.monotonic() < deadline:
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)  # a new connection each time
        c.request("GET", "/")
        pids.add(int(c.getresponse().read()))
        c.close()
    assert len(pids) == 2, pids
    assert srv.proc.pid not in pids
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(10) == 0
    time.sleep(0.2)
    for pid in pids:
        try:
            os.kill(pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        assert not alive, f"child {pid} outlived the parent"


def test_fork_after_the_loop_started_is_refused(run_server):
    import subprocess, sys
    from conftest import child_env
    code = '''
from squall import web, ioloop, process
async def main():
    web.Application([]).listen(0, "127.0.0.1")
ioloop.IOLoop.current().run_sync(main)
try:
    process.fork_processes(2)
except RuntimeError as e:
    print("refused:", e)
'''
    r = subprocess.run([sys.executable, "-c", code], env=child_env(), capture_output=True, text=True, timeout=30)
    assert "refused:" in r.stdout, r.stdout + r.stderr


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie still answers kill(0): look at its state
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _get_pid(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", "/")
        return int(c.getresponse().read())
    finally:
        c.close()


def test_concurrent_clients_and_a_killed_child_is_replaced(run_server):
    import threading
    srv = run_server(APP)
    counts = {}
    errors = []
    lock = threading.Lock()

    def client():
        for _ in range(30):
            try:
                pid = _get_pid(srv.port)
            except Exception as e:  # pragma: no cover - reported below
                errors.append(repr(e))
                continue
            with lock:
                counts[pid] = counts.get(pid, 0) + 1
    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and sum(counts.values()) == 240, (errors[:3], counts)
    assert len(counts) == 2 and srv.proc.pid not in counts, counts

    victim = next(iter(counts))
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 15
    seen = set()
    while time.monotonic() < deadline:
        seen.add(_get_pid(srv.port))  # answered throughout, by the survivor or the replacement
        if len(seen - set(counts)) >= 1:
            break
    replacement = seen - set(counts)
    assert replacement, f"no replacement for {victim}: saw {seen}"
    assert victim not in seen
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(10) == 0
    time.sleep(0.2)
    for pid in set(counts) | replacement:
        assert not _alive(pid), pid


def test_sigterm_with_open_keepalive_connections(run_server):
    srv = run_server(APP)
    conns = []
    pids = set()
    for _ in range(20):
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=5)
        c.request("GET", "/")
        pids.add(int(c.getresponse().read()))
        conns.append(c)  # left open, idle
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(15) == 0
    time.sleep(0.2)
    for pid in pids:
        assert not _alive(pid), pid
    for c in conns:
        c.close()
