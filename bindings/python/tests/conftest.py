"""Fixtures of the Python package's suite.

``run_server(source)`` writes a Python program to a temporary file and runs it
in a subprocess with ``PORT`` in its environment (a free 127.0.0.1 port) and
this package on ``PYTHONPATH``; it returns once the port accepts connections,
and the process is stopped (by its PID) when the test ends. Servers run in
their own process so that a crash in one cannot take the test run down and
so that each has its own asyncio loop and squall loop.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Callable, Optional

import pytest

PKG = Path(__file__).resolve().parents[1]
ROOT = PKG.parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: Optional[subprocess.Popen] = None, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open within {timeout}s")


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PKG) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


class Server:
    def __init__(self, proc: subprocess.Popen, port: int, log_path: Path) -> None:
        self.proc = proc
        self.port = port
        self.log_path = log_path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def stop_cleanly(self, timeout: float = 10.0) -> None:
        """``stop`` with SIGTERM, failing unless the server stopped cleanly:
        it exited 0 on its own, or ended by that SIGTERM (a script without a
        handler) or with status 0 within ``timeout``; not killed after
        hanging, not crashed, not ended early with an error."""
        running = self.alive()
        code = self.stop(signal.SIGTERM, timeout)
        ok = (0, -signal.SIGTERM) if running else (0,)
        assert code in ok, (f"server on port {self.port} did not stop cleanly: exit status {code} "
                            f"({'running' if running else 'had already exited'} at stop)\n"
                            f"--- server log ---\n{self.log()}")


def launch(directory: Path, source: str = "", *, name: str = "server", path: Optional[str] = None,
           args: tuple[str, ...] = (), env: Optional[dict[str, str]] = None, port: Optional[int] = None,
           wait: bool = True) -> Server:
    """Writes ``source`` to ``directory/<name>.py`` (or runs ``path``) with
    PORT set to a free port, its output in ``directory/<name>.log``, and
    returns once the port accepts connections. The caller stops it."""
    port = port or free_port()
    if path is None:
        script = directory / f"{name}.py"
        script.write_text(textwrap.dedent(source))
        path = str(script)
    log_path = directory / f"{name}.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, path, *args], env=child_env(PORT=str(port), **(env or {})),
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    srv = Server(proc, port, log_path)
    if wait:
        try:
            wait_port(port, proc)
        except RuntimeError as e:
            srv.stop()
            raise RuntimeError(f"{e}\n--- server log ---\n{srv.log()}") from None
    return srv


@pytest.fixture
def run_server(tmp_path: Path) -> Callable[..., Server]:
    """``launch`` in the test's temporary directory; every server it started
    is stopped when the test ends."""
    started: list[Server] = []

    def start(source: str = "", **kwargs: object) -> Server:
        srv = launch(tmp_path, source, name=f"server_{len(started)}", **kwargs)  # type: ignore[arg-type]
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop_cleanly()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A test CA made now (trustme) and a certificate it signed for
    localhost and 127.0.0.1: the paths of ca.pem, cert.pem and key.pem."""
    import trustme
    d = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    leaf = ca.issue_cert("localhost", "127.0.0.1")
    ca.cert_pem.write_to_path(d / "ca.pem")
    leaf.cert_chain_pems[0].write_to_path(d / "cert.pem")
    leaf.private_key_pem.write_to_path(d / "key.pem")
    return {"ca": str(d / "ca.pem"), "cert": str(d / "cert.pem"), "key": str(d / "key.pem")}
