"""Fixtures for the HTTP client suite: the program under test (sqfetch, path
in SQFETCH, default <repo>/build/examples/c/sqfetch), the servers it talks
to (scripted Python servers, TLS ones with a CA made at test time, nginx,
squall's C demo server), and a TCP proxy that counts connections.

Everything listens on 127.0.0.1 (or ::1) on ephemeral ports and is stopped
at teardown."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scripted import NGINX_FILE, Server, server_ctx  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DEMO = os.environ.get("SQUALL_DEMO", str(ROOT / "build/examples/c/demo_server"))


# ---- servers ------------------------------------------------------------------

@pytest.fixture
def make_server():
    """A factory of scripted servers (keyword arguments of scripted.Server)."""
    servers = []

    def make(**kw):
        s = Server(**kw)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.stop()


@pytest.fixture
def srv(make_server):
    return make_server()


# ---- TLS ----------------------------------------------------------------------

@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """A test CA with a leaf for 127.0.0.1/localhost/::1, an unrelated second
    CA, and a leaf of the first CA for another name only."""
    trustme = pytest.importorskip("trustme", reason="trustme is needed (pip install -r tests/requirements.txt)")
    d = tmp_path_factory.mktemp("pki")
    ca, other_ca = trustme.CA(), trustme.CA()
    ca.cert_pem.write_to_path(str(d / "ca.pem"))
    other_ca.cert_pem.write_to_path(str(d / "other-ca.pem"))
    return {"ca": ca, "ca_pem": d / "ca.pem", "other_ca_pem": d / "other-ca.pem",
            "leaf": ca.issue_cert("127.0.0.1", "localhost", "::1"),
            "wrong_name_leaf": ca.issue_cert("other.example")}


@pytest.fixture
def tls_srv(make_server, pki):
    return make_server(ssl_ctx=server_ctx(pki["leaf"]))


# ---- a TCP proxy that counts connections --------------------------------------

class CountingProxy:
    def __init__(self, upstream_port):
        self.upstream = upstream_port
        self.accepted = 0
        self.socks = []
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
                u.settimeout(None)
            except OSError:
                c.close()
                continue
            with self.lock:
                self.accepted += 1
                self.socks += [c, u]
            threading.Thread(target=self._pump, args=(c, u), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c), daemon=True).start()

    @staticmethod
    def _pump(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def stop(self):
        self.listener.close()
        with self.lock:
            for s in self.socks:
                try:
                    s.close()
                except OSError:
                    pass


@pytest.fixture
def make_proxy():
    proxies = []

    def make(port):
        p = CountingProxy(port)
        proxies.append(p)
        return p
    yield make
    for p in proxies:
        p.stop()


# ---- squall's C demo server ---------------------------------------------------

def wait_listening(proc, port, what, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start listening within {timeout} s")
            time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_proc(proc, sig=signal.SIGTERM):
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def demo():
    if not os.access(DEMO, os.X_OK):
        pytest.fail(f"demo server not found at {DEMO}: build it (make examples) or set SQUALL_DEMO")
    port = free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([DEMO], env=dict(os.environ, PORT=str(port)), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_listening(proc, port, "demo server")
        yield port
    finally:
        stop_proc(proc)
        log.close()


# ---- nginx --------------------------------------------------------------------



def nginx_binary():
    for cand in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


@pytest.fixture(scope="module")
def nginx(tmp_path_factory):
    """nginx (unprivileged, one worker, temp prefix): /hello.txt (gzip on),
    /small.txt, /redirect -> /hello.txt, /empty (204). Access log fields:
    connection serial, request number on it, method, status, Accept-Encoding."""
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed (Debian package nginx)")
    d = tmp_path_factory.mktemp("nginx")
    d.chmod(0o755)
    (d / "www").mkdir()
    (d / "www/hello.txt").write_bytes(NGINX_FILE)
    (d / "www/small.txt").write_bytes(b"small\n")
    (d / "tmp").mkdir()
    port = free_port()
    user = "user root;\n" if os.geteuid() == 0 else ""
    (d / "nginx.conf").write_text(f"""{user}daemon off;
master_process on;
worker_processes 1;
pid nginx.pid;
error_log stderr warn;
events {{ worker_connections 1024; }}
http {{
    default_type text/plain;
    log_format t '$connection $connection_requests $request_method $status "$http_accept_encoding"';
    access_log access.log t;
    keepalive_timeout 30s;
    keepalive_requests 1000;
    gzip on;
    gzip_types text/plain;
    gzip_min_length 100;
    client_body_temp_path tmp/client_body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    server {{
        listen 127.0.0.1:{port} default_server;
        server_name _;
        root www;
        location = /redirect {{ return 302 /hello.txt; }}
        location = /empty {{ return 204; }}
    }}
}}
""")
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen([binary, "-e", "stderr", "-p", f"{d}/", "-c", str(d / "nginx.conf")],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        try:
            wait_listening(proc, port, "nginx")
        except RuntimeError as e:
            log.seek(0)
            raise RuntimeError(f"{e}: {log.read().decode(errors='replace')}")

        class Nginx:
            pass
        n = Nginx()
        n.port, n.dir = port, d
        n.access = lambda: [line.split() for line in (d / "access.log").read_text().splitlines()]
        yield n
    finally:
        stop_proc(proc, signal.SIGQUIT)
        log.close()


# ---- a port that never answers -------------------------------------------------

@pytest.fixture
def full_backlog():
    """A listening socket that never accepts, its backlog filled: further
    SYNs are dropped, so a connect neither succeeds nor fails."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(s)
    time.sleep(0.05)
    probe = socket.socket()
    probe.settimeout(0.3)
    try:
        probe.connect(("127.0.0.1", port))
        pytest.skip("this kernel accepted a connection past a full backlog")
    except (TimeoutError, socket.timeout):
        pass
    finally:
        probe.close()
    yield port
    for s in fillers:
        s.close()
    lsock.close()
