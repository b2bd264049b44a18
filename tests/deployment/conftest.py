"""The configurations of docs/DEPLOYMENT.md, run: nginx (Debian's package,
unprivileged, one worker, a temporary prefix) in front of squall's demo
processes, with docs/deploy/nginx-squall.conf rendered with this run's ports
(its upstream addresses and its `listen`, nothing else changed); Redis
when a test needs topics across the processes. Every process is started
here on 127.0.0.1 and stopped by its PID."""
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "build" / "examples" / "c" / "demo_server"
sys.path.insert(0, str(ROOT / "examples" / "python" / "chat"))
import cluster  # noqa: E402  (examples/python/chat/cluster.py: nginx's configuration)
from cluster import free_port, listening  # noqa: E402,F401  (the tests import free_port from here)


def wait_for(what, cond, timeout=10.0):
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class Proc:
    """A process of ours: started in its own process group, output in a
    temporary file, stopped by PID."""

    def __init__(self, cmd, env=None, port=None, name="process"):
        self.name, self.port = name, port
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(cmd, env=dict(os.environ, **(env or {})), stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        if port:
            wait_for(f"{name} to listen on {port}", lambda: self._up(), 20)

    def _up(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.output()}")
        return listening(self.port)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout=15):
        return self.proc.wait(timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def demo(port, **env) -> Proc:
    return Proc([str(DEMO)], dict({"PORT": str(port), "SQUALL_SHUTDOWN_MS": "5000"}, **env), port, f"demo :{port}")


def start_nginx(tmp: Path, backends) -> Proc:
    """nginx with docs/deploy/nginx-squall.conf for these backends, through
    the chat room's cluster launcher's rendering (the same code `make
    demo-cluster` runs)."""
    port = free_port()
    conf = cluster.nginx_config(tmp, list(backends), port)
    return Proc([cluster.binary("nginx"), "-e", "stderr", "-p", f"{tmp}/", "-c", str(conf)], port=port, name="nginx")


@pytest.fixture
def procs():
    """Stops every process a test started, nginx last."""
    started = []
    yield started
    for p in reversed(started):
        p.stop()


@pytest.fixture(scope="session", autouse=True)
def built():
    if not DEMO.exists():
        pytest.fail(f"{DEMO} is not built (make examples)")
    sys.path.insert(0, str(Path(__file__).parent))
