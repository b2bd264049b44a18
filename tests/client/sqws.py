"""Running the WebSocket client program (sqws) and reading its JSON event
lines, plus the servers the WebSocket tests talk to: a Python `websockets`
server run on an asyncio loop in a thread, and a raw socket server for
handshakes and frames no real server would send.

SQWS selects the binary (default <repo>/build/examples/c/sqws)."""
import asyncio
import base64
import hashlib
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sqf import run_program

ROOT = Path(__file__).resolve().parents[2]
SQWS = os.environ.get("SQWS", str(ROOT / "build/examples/c/sqws"))
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


# ---- running the program ------------------------------------------------------

@dataclass
class WsRun:
    args: list
    rc: int
    out: str
    err: str
    elapsed: float
    events: list = field(default_factory=list)

    def of(self, kind):
        return [e for e in self.events if e["event"] == kind]

    def one(self, kind):
        e = self.of(kind)
        assert len(e) == 1, f"expected one {kind} event\n{self}"
        return e[0]

    @property
    def messages(self):
        return self.of("message")

    def __str__(self):
        return (f"sqws {' '.join(map(str, self.args))[:500]}\nexit {self.rc}, {self.elapsed:.3f} s\n"
                f"stdout: {self.out[:3000]}\nstderr: {self.err[:2000]}")


def sqws(*args, timeout=20.0) -> WsRun:
    """Run sqws with args; its exit status, events and wall time. Killed
    (and the test failed) after `timeout` s."""
    args = [str(a) for a in args]
    rc, out, err, elapsed, _, events = run_program(SQWS, args, timeout)
    return WsRun(args, rc, out, err, elapsed, events)


def data(event) -> bytes:
    """A message's (or ping's, pong's, close reason's) bytes."""
    return event["reason" if event["event"] == "close" else "data"].encode("latin-1")


def generated(n: int) -> bytes:
    """The payload of `sqws -g n`."""
    return bytes((i * 131 + (i >> 8)) & 0xFF for i in range(n))


def fnv1a(b: bytes) -> str:
    h = 0xCBF29CE484222325
    for c in b:
        h = ((h ^ c) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def connect_error(run: WsRun, status: str):
    """The single error event of a run that must have failed to connect."""
    e = run.one("error")
    assert e["status"] == status, f"expected {status}\n{run}"
    assert isinstance(e["message"], str) and e["message"], str(run)
    assert not run.of("open") and not run.of("close"), f"no other event after a connect error\n{run}"
    assert run.rc == 1, str(run)
    return e


def wait_until(cond, timeout=5.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


# ---- a Python websockets server in a thread -----------------------------------

class PyWsServer:
    """`websockets.asyncio.server.serve` on 127.0.0.1 with an ephemeral port,
    its loop in a daemon thread. `handler(ws, server)` is a coroutine; what it
    wants the test to see goes into `server.seen` (a dict)."""

    def __init__(self, handler, ssl=None, **kw):
        from websockets.asyncio.server import serve
        self.seen = {}
        self.port = None
        self.error = None
        self.scheme = "wss" if ssl else "ws"
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        kw.setdefault("ping_interval", None)
        kw.setdefault("max_size", 8 << 20)

        async def main():
            self._stop = asyncio.Event()
            async with serve(lambda ws: handler(ws, self), "127.0.0.1", 0, ssl=ssl, **kw) as s:
                self.port = s.sockets[0].getsockname()[1]
                started.set()
                await self._stop.wait()

        def run():
            try:
                self._loop.run_until_complete(main())
            except BaseException as e:  # reported by the constructor or stop()
                self.error = e
                started.set()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not started.wait(10) or self.port is None:
            raise RuntimeError(f"websockets server did not start: {self.error!r}")

    def url(self, path="/"):
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def stop(self):
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


# ---- a raw socket server --------------------------------------------------------

def accept_key(key: bytes) -> str:
    return base64.b64encode(hashlib.sha1(key.strip() + GUID).digest()).decode()


def read_head(conn) -> bytes:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionError("closed before the end of the request head")
        buf += chunk
    return buf


def request_header(head: bytes, name: str):
    for line in head.split(b"\r\n")[1:]:
        n, _, v = line.partition(b":")
        if n.strip().lower() == name.lower().encode():
            return v.strip()
    return None


def recv_exact(conn, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def read_frame(conn):
    """One frame: (fin, opcode, masked, payload unmasked)."""
    b0, b1 = recv_exact(conn, 2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(recv_exact(conn, 2), "big")
    elif n == 127:
        n = int.from_bytes(recv_exact(conn, 8), "big")
    masked = bool(b1 & 0x80)
    key = recv_exact(conn, 4) if masked else b"\0\0\0\0"
    payload = recv_exact(conn, n)
    if masked:
        payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
    return bool(b0 & 0x80), b0 & 0x0F, masked, payload


class RawServer:
    """Accepts one connection on 127.0.0.1 and runs `script(conn, server)` on
    it in a thread; what the script records goes into `server.seen`, an
    exception it raises into `server.error`."""

    def __init__(self, script):
        self.seen = {}
        self.error = None
        self.done = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._thread = threading.Thread(target=self._run, args=(script,), daemon=True)
        self._thread.start()

    def _run(self, script):
        try:
            self.listener.settimeout(15)
            conn, _ = self.listener.accept()
            conn.settimeout(10)
            with conn:
                script(conn, self)
        except BaseException as e:
            self.error = e
        finally:
            self.done.set()

    def url(self, path="/"):
        return f"ws://127.0.0.1:{self.port}{path}"

    def stop(self):
        self.listener.close()
        self._thread.join(10)
