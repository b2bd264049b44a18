"""Fixtures for the conformance suite: start a demo server (the command in
SQUALL_DEMO, default the C demo) on a free 127.0.0.1 port and stop it after.

The demo honours PORT and, for the timeout tests, SQUALL_HEADER_TIMEOUT_MS,
SQUALL_BODY_TIMEOUT_MS and SQUALL_IDLE_TIMEOUT_MS."""
import os
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DEMO = str(ROOT / "build/examples/c/demo_server")

# SQUALL_CONFORMANCE_TLS=1 runs the suite over TLS: every demo gets a
# certificate made now (trustme), and every connection the suite opens to
# 127.0.0.1 is wrapped in TLS trusting it (socket.create_connection is
# replaced for the run).
TLS = os.environ.get("SQUALL_CONFORMANCE_TLS") == "1"
TLS_ENV = {}
SCHEME, WS_SCHEME = ("https", "wss") if TLS else ("http", "ws")
CURL_TLS = []       # curl's extra arguments (--cacert)
CLIENT_SSL = None   # an SSLContext for client libraries (websockets)
if TLS:
    import ssl
    import tempfile as _tempfile
    import trustme

    _ca = trustme.CA()
    _leaf = _ca.issue_cert("localhost", "127.0.0.1")
    _dir = Path(_tempfile.mkdtemp(prefix="squall-conformance-tls-"))
    _leaf.cert_chain_pems[0].write_to_path(_dir / "cert.pem")
    _leaf.private_key_pem.write_to_path(_dir / "key.pem")
    TLS_ENV = {"SQUALL_TLS_CERT": str(_dir / "cert.pem"), "SQUALL_TLS_KEY": str(_dir / "key.pem")}
    _ctx = ssl.create_default_context()
    _ca.configure_trust(_ctx)
    _ca.cert_pem.write_to_path(_dir / "ca.pem")
    CURL_TLS = ["--cacert", str(_dir / "ca.pem")]
    CLIENT_SSL = _ctx
    _plain_create_connection = socket.create_connection

    def _tls_create_connection(address, *args, **kwargs):
        sock = _plain_create_connection(address, *args, **kwargs)
        if address[0] != "127.0.0.1":
            return sock
        # The handshake runs with the first send or receive, as a plain
        # connect completes before the server accepts (the EMFILE test).
        return _ctx.wrap_socket(sock, server_hostname="127.0.0.1", do_handshake_on_connect=False)

    socket.create_connection = _tls_create_connection


def rss_kib(pid: int) -> int:
    """A process's resident memory now, from /proc."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Demo:
    def __init__(self, extra_env=None, nofile=None):
        self.cmd = shlex.split(os.environ.get("SQUALL_DEMO", DEFAULT_DEMO))
        self.port = free_port()
        env = dict(os.environ, PORT=str(self.port), **TLS_ENV, **(extra_env or {}))
        def limit():
            if nofile:
                import resource
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        # Output goes to a file, not a pipe: a demo that logs a lot must never
        # block on a pipe nobody reads until stop().
        import tempfile
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(self.cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     preexec_fn=limit if nofile else None)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"demo exited with {self.proc.returncode}: {self.output()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("demo did not start listening within 20 s")
                time.sleep(0.05)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self):
        """Stops the demo (SIGTERM, if it still runs) and returns its output;
        fails unless it stopped cleanly: exit status 0 within 10 s of the
        signal (or earlier, on its own, with status 0)."""
        hung = False
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                hung = True
                self.proc.kill()
                self.proc.wait()
        out = self.output()
        self.log.close()
        assert not hung, f"the demo did not exit within 10 s of SIGTERM (killed); output:\n{out}"
        assert self.proc.returncode == 0, f"the demo exited with {self.proc.returncode}; output:\n{out}"
        return out

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")


@pytest.fixture(scope="module")
def demo():
    d = Demo()
    yield d
    d.stop()  # asserts a clean stop


@pytest.fixture
def fast_timeouts_demo():
    d = Demo({"SQUALL_HEADER_TIMEOUT_MS": "700", "SQUALL_BODY_TIMEOUT_MS": "700", "SQUALL_IDLE_TIMEOUT_MS": "700"})
    yield d
    d.stop()  # asserts a clean stop
