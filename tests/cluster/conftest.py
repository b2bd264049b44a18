"""Fixtures for the cluster suite: a real redis-server (Debian's, installed by
tests/redis-deps.sh) started on a free loopback port with no persistence and
stopped by PID, and demo servers (the command in SQUALL_DEMO, default the C
demo; with SQUALL_DEMO_B set, every second demo a test starts runs that
command instead, so one process of each language share a room) joined to it
through SQUALL_CLUSTER.

Redis(tls=dir) serves TLS only (rediss://) with the certificates that
make_certs(dir) writes (trustme, at test time; no key is committed).

The demo prints each cluster state change as a line "cluster <state>" and
serves GET /cluster: "state <state>" then one "<counter> <value>" per line."""
import http.client
import os
import shlex
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DEMO = str(ROOT / "build/examples/c/demo_server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, cond, timeout=10.0):
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def make_certs(d: Path) -> Path:
    """Writes into `d`: ca.pem; server.pem (chain) and server.key for
    127.0.0.1; other-ca.pem, a CA that signed nothing. Returns `d`."""
    import trustme
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    server = ca.issue_cert("127.0.0.1")
    server.private_key_pem.write_to_path(str(d / "server.key"))
    (d / "server.pem").write_bytes(b"".join(b.bytes() for b in server.cert_chain_pems))
    trustme.CA().cert_pem.write_to_path(str(d / "other-ca.pem"))
    return d


class Redis:
    def __init__(self, port=None, args=(), password=None, tls=None):
        self.port = port or free_port()
        self.password = password
        self.tls = tls
        if password:
            args = (*args, "--requirepass", password)
        if tls:
            listen = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(tls / "server.pem"),
                      "--tls-key-file", str(tls / "server.key"), "--tls-ca-cert-file", str(tls / "ca.pem"),
                      "--tls-auth-clients", "no"]
        else:
            listen = ["--port", str(self.port)]
        self.proc = subprocess.Popen(
            ["redis-server", *listen, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--enable-debug-command", "local", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for("redis-server to answer PING", lambda: self.cli("PING") == "PONG")
        except BaseException:
            self.kill9()
            raise

    def cli(self, *args) -> str:
        cmd = ["redis-cli", "-p", str(self.port), "--no-auth-warning"]
        if self.tls:
            cmd += ["--tls", "--cacert", str(self.tls / "ca.pem")]
        if self.password:
            cmd += ["-a", self.password]
        r = subprocess.run(cmd + [str(a) for a in args], capture_output=True, timeout=20)
        return r.stdout.decode(errors="replace").strip()

    def numsub(self, channel: str) -> int:
        out = self.cli("PUBSUB", "NUMSUB", channel).split("\n")
        return int(out[1]) if len(out) == 2 else -1

    def url(self, auth="", opts="") -> str:
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}127.0.0.1:{self.port}/0?ping_ms=200&timeout_ms=1000{opts}"

    def kill9(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Demo:
    def __init__(self, cluster_url, extra_env=None, wait=True, second=False):
        cmd = os.environ.get("SQUALL_DEMO", DEFAULT_DEMO)
        if second and os.environ.get("SQUALL_DEMO_B"):
            cmd = os.environ["SQUALL_DEMO_B"]
        self.cmd = shlex.split(cmd)
        self.port = free_port()
        env = dict(os.environ, PORT=str(self.port), SQUALL_CLUSTER=cluster_url, **(extra_env or {}))
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_listening()

    def wait_listening(self):
        def up():
            if self.proc.poll() is not None:
                raise RuntimeError(f"demo exited with {self.proc.returncode}: {self.output()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return True
            except OSError:
                return False
        wait_for("the demo to listen", up, 20)

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def states(self) -> list:
        return [line.split()[1] for line in self.output().splitlines() if line.startswith("cluster ")]

    def wait_state(self, state, after=0, timeout=10.0):
        """Waits for the state line `state` among the lines after the first `after`."""
        return wait_for(f"'cluster {state}' (saw {self.states()})", lambda: state in self.states()[after:], timeout)

    def info(self) -> dict:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        c.request("GET", "/cluster")
        body = c.getresponse().read().decode()
        c.close()
        out = {}
        for line in body.splitlines():
            k, v = line.split(" ", 1)
            out[k] = v if k == "state" else int(v)
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        out = self.output()
        self.log.close()
        return out


@pytest.fixture
def redis():
    r = Redis()
    yield r
    r.stop()


@pytest.fixture
def demos():
    """A factory of demos, all stopped at the end."""
    made = []

    def make(url, **kw):
        d = Demo(url, second=len(made) % 2 == 1, **kw)
        made.append(d)
        return d
    yield make
    for d in made:
        d.stop()
