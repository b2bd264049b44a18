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
