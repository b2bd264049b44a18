"""Hostile servers: a squall client must not grow without bound.

Each case starts a raw socket server on 127.0.0.1 that misbehaves (an
endless body, endless interim responses or headers or trailers, a gzip
bomb, a flood of WebSocket pings, empty frames, tiny or large messages or
endless fragments while never reading), runs
the client program (sqfetch or sqws) against it, and asserts:
- the client's peak resident memory (VmHWM: sampled from /proc while it
  runs, or reported by sqfetch itself) grows less than the stated bound
  over the same program's peak on a well-behaved exchange;
- the client either stopped reading (the server's send stays blocked for a
  second) or failed cleanly: an error and exit status 1, within a timeout;
  it never hangs past the timeout.

Where the client's host must be behind, the program's output goes into a
pipe the test never reads: sqfetch -o writes every streamed chunk there,
sqws prints every event to its stdout, so the callbacks block on a full
pipe and the library has to stop reading from the server.

Every flood is bounded in bytes and seconds and stops by itself."""
import fcntl
import gzip
import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from scripted import gzip_bomb
from sqf import SQFETCH, sqfetch
from sqws import SQWS, accept_key, read_head, request_header

MIB = 1 << 20

# How much a hostile server may grow the client, in MiB of peak resident
# memory over the same program's peak on a short well-behaved exchange
# (the `baseline` fixtures). The library's own limits (1 MiB of
# undelivered events, 64 KiB of response head, the body limits given on
# the command line) account for a few; a client that keeps reading from a
# server it cannot keep up with passes this within a second.
GROWTH_MIB = 8

# A flood stops at this many bytes: far more than any bound above, so a
# client that keeps reading is caught by the byte count, not by the clock.
FLOOD_BYTES = 512 * MIB
FLOOD_SECONDS = 20


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field}")


class Hostile:
    """Accepts one connection on 127.0.0.1 and runs `script(conn, self)` on
    it in a thread, the connection open until stop(). `self.result` is
    what the script returned (for a flood: (bytes sent, why it ended)),
    `self.error` what it raised."""

    def __init__(self, script):
        self.result = None
        self.error = None
        self.conn = None
        self.done = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._thread = threading.Thread(target=self._run, args=(script,), daemon=True)
        self._thread.start()

    def _run(self, script):
        try:
            self.listener.settimeout(15)
            conn, _ = self.listener.accept()
            self.conn = conn
            conn.settimeout(10)
            # left open until stop(): the client must not see the server
            # close when the flood ends
            self.result = script(conn, self)
        except BaseException as e:
            self.error = e
        finally:
            self.done.set()

    def url(self, scheme="http", path="/"):
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def wait(self, timeout):
        if not self.done.wait(timeout):
            pytest.fail(f"the hostile server's script did not end within {timeout} s")
        if self.error is not None:
            raise self.error
        return self.result

    def stop(self):
        self.listener.close()
        if self.conn is not None:
            try:
                self.conn.close()
            except OSError:
                pass
        self._thread.join(10)


@pytest.fixture
def hostile():
    servers = []

    def make(script):
        s = Hostile(script)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.stop()


def answer_ok(conn, srv):
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")


def ws_accept_then_close(conn, srv):
    ws_handshake(conn)
    time.sleep(0.5)  # long enough for the sampler to see the program
    conn.sendall(b"\x88\x02\x03\xe8")
    try:
        conn.recv(64)
    except OSError:
        pass


@pytest.fixture(scope="module")
def http_baseline():
    """sqfetch's peak RSS (MiB) for one small response."""
    srv = Hostile(answer_ok)
    try:
        run = sqfetch("--stream", srv.url(path="/ok"), timeout=20)
        assert run.rc == 0, str(run)
        return run.maxrss_kb / 1024
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def ws_baseline():
    """sqws's peak RSS (MiB) for a connection the server closes at once."""
    srv = Hostile(ws_accept_then_close)
    try:
        client = Blocked(SQWS, ["--wait-close", srv.url("ws", "/ok")], "stdout")
        rc = client.finish(drain=True)
        assert rc == 0 and client.peak_kib > 0, str(client)
        return client.peak_mib
    finally:
        srv.stop()


def flood(sock: socket.socket, data: bytes, max_bytes: int = FLOOD_BYTES, seconds: float = FLOOD_SECONDS):
    """Sends `data` again and again, never reading, until `max_bytes` are
    sent, `seconds` pass, a send stays blocked for 1 s (the client stopped
    reading) or the client closes. Returns (bytes sent, "blocked", "closed",
    "sent all" or "time")."""
    sock.settimeout(1.0)
    sent = 0
    deadline = time.monotonic() + seconds
    view = memoryview(data)
    off = 0
    while sent < max_bytes:
        if time.monotonic() > deadline:
            return sent, "time"
        try:
            n = sock.send(view[off:])
        except socket.timeout:
            return sent, "blocked"
        except (BrokenPipeError, ConnectionResetError):
            return sent, "closed"
        sent += n
        off = (off + n) % len(data)
    return sent, "sent all"


def read_request(conn) -> bytes:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the end of the request head")
        buf += chunk
    return buf


def repeat_to(piece: bytes, n: int = 256 << 10) -> bytes:
    return piece * max(1, n // len(piece))


# ---- the client under a blocked host --------------------------------------------

class Blocked:
    """The client program with its output going into a pipe nobody reads.
    `out` selects where: "stdout" (sqws prints events there) or "-o" (sqfetch
    writes streamed chunks to the path it is given)."""

    def __init__(self, program, args, out):
        if not os.access(program, os.X_OK):
            pytest.fail(f"{program} not found: build it (make examples)")
        self.rfd, self.wfd = os.pipe()
        # The smallest pipe (one page): what the host has written before it
        # blocks is then negligible beside what the library holds.
        fcntl.fcntl(self.wfd, fcntl.F_SETPIPE_SZ, 4096)
        self.err = tempfile.TemporaryFile()
        if out == "-o":
            args = [*args, "-o", f"/proc/self/fd/{self.wfd}"]
            stdout = tempfile.TemporaryFile()
            self._stdout_file = stdout
        else:
            stdout = self.wfd
            self._stdout_file = None
        self.args = [str(a) for a in args]
        self.proc = subprocess.Popen([program, *self.args], stdin=subprocess.DEVNULL, stdout=stdout,
                                     stderr=self.err, pass_fds=(self.wfd,))
        os.close(self.wfd)
        self.peak_kib = 0
        self.tail = b""
        self.rc = None
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._sample, daemon=True)
        self._t.start()

    def _sample(self):
        while True:
            try:
                self.peak_kib = max(self.peak_kib, status_kib(self.proc.pid, "VmHWM"))
            except (OSError, RuntimeError):
                return
            if self._stop.wait(0.01):
                return

    def running(self) -> bool:
        # WNOWAIT: the exit status stays for finish() (and its wait4)
        return os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None

    def read_some(self) -> bytes:
        """What is in the pipe now (the end of it is kept in `tail`)."""
        try:
            data = os.read(self.rfd, 1 << 20)
        except (BlockingIOError, OSError):
            return b""
        self.tail = (self.tail + data)[-65536:]
        return data

    def finish(self, drain=False, timeout=10.0):
        """Stops sampling; kills the program if it still runs (unless
        `drain`: then its pipe is read until it exits by itself, within
        `timeout`). Returns the exit status (negative: the signal)."""
        if self.running() and not drain:
            try:
                self.peak_kib = max(self.peak_kib, status_kib(self.proc.pid, "VmHWM"))
            except (OSError, RuntimeError):
                pass
            self.proc.send_signal(signal.SIGKILL)
        deadline = time.monotonic() + timeout
        os.set_blocking(self.rfd, False)
        while True:
            pid, status, ru = os.wait4(self.proc.pid, os.WNOHANG)
            if pid == self.proc.pid:
                break
            while self.read_some():
                pass
            if time.monotonic() > deadline:
                self.proc.kill()
                pid, status, ru = os.wait4(self.proc.pid, 0)
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                self._close()
                pytest.fail(f"the client did not exit within {timeout} s after its output was drained\n{self}")
            time.sleep(0.01)
        while self.read_some():  # what it wrote before it exited
            pass
        self.proc.returncode = self.rc = os.waitstatus_to_exitcode(status)
        self._close()
        return self.rc

    def _close(self):
        self._stop.set()
        self._t.join()
        os.close(self.rfd)
        self.err.seek(0)
        self.stderr = self.err.read().decode("utf-8", "replace")
        self.err.close()
        if self._stdout_file is not None:
            self._stdout_file.seek(0)
            self.stdout = self._stdout_file.read().decode("utf-8", "replace")
            self._stdout_file.close()
        else:
            self.stdout = ""
        # a program that exited by itself reports its own peak at the end
        for line in (self.tail.decode("latin-1") + self.stdout).splitlines():
            if '"peak_rss_kib"' in line and line.startswith("{"):
                try:
                    self.peak_kib = max(self.peak_kib, json.loads(line)["peak_rss_kib"])
                except (ValueError, KeyError):
                    pass

    @property
    def peak_mib(self) -> float:
        return self.peak_kib / 1024

    def __str__(self):
        return (f"{' '.join(self.args)[:300]}\nexit {self.rc}, peak RSS {self.peak_mib:.1f} MiB\n"
                f"stdout: {getattr(self, 'stdout', '')[:2000]}\nstderr: {getattr(self, 'stderr', '')[:2000]}")


def check_grown(peak_mib, baseline, what):
    assert peak_mib > 0, f"no RSS measured {what}"
    grown = peak_mib - baseline
    print(f"grew {grown:.1f} MiB (peak {peak_mib:.1f}, baseline {baseline:.1f}) {what.splitlines()[0][:100]}")
    assert grown < GROWTH_MIB, f"grew {grown:.1f} MiB (peak {peak_mib:.1f}, baseline {baseline:.1f}) {what}"


def check_stopped(how, sent, client):
    print(f"flood ended: {how} after {sent / MIB:.1f} MiB")
    assert how in ("blocked", "closed"), f"the client kept reading: {sent / MIB:.1f} MiB taken ({how})\n{client}"


# ---- HTTP: the client's host behind an endless body ------------------------------

def endless_body(framing):
    def script(conn, srv):
        read_request(conn)
        if framing == "length":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         b"Content-Length: 1000000000000000\r\n\r\n")
            return flood(conn, bytes(range(256)) * 256)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        return flood(conn, b"4000\r\n" + b"c" * 0x4000 + b"\r\n")
    return script


@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_an_endless_body_into_a_host_that_does_not_keep_up(hostile, http_baseline, framing):
    srv = hostile(endless_body(framing))
    client = Blocked(SQFETCH, ["--stream", "--max-body", str(1 << 50), srv.url(path="/endless")], "-o")
    sent, how = srv.wait(FLOOD_SECONDS + 10)
    running = client.running()
    client.finish()
    check_stopped(how, sent, client)
    assert how == "blocked" and running, f"the client should wait for its host, not give up\n{client}"
    # the pipe (64 KiB), the kernel's socket buffers (a few MiB) and the
    # library's 1 MiB of undelivered chunks
    assert sent < 32 * MIB, f"{sent / MIB:.1f} MiB taken from the server before reading paused"
    check_grown(client.peak_mib, http_baseline, f"after {sent / MIB:.1f} MiB\n{client}")


def test_an_endless_body_over_the_body_limit_fails(hostile, http_baseline):
    srv = hostile(endless_body("chunked"))
    run = sqfetch("--max-body", 4 * MIB, srv.url(path="/endless"), timeout=20)
    r = run.one()
    assert r["error"] == "SQ_ERR_LIMIT" and run.rc == 1, str(run)
    check_grown(run.maxrss_kb / 1024, http_baseline, str(run))
    sent, how = srv.wait(FLOOD_SECONDS + 10)
    assert how == "closed", f"the server could still send after the failure ({how}, {sent / MIB:.1f} MiB)"


# ---- HTTP: responses that never end their head, interim or trailers --------------

def failing_response(prologue: bytes, piece: bytes):
    def script(conn, srv):
        read_request(conn)
        conn.sendall(prologue)
        return flood(conn, repeat_to(piece))
    return script


FAILING = {
    # RFC 9110 §15.2: any number of 1xx may precede the final response
    "endless 100 Continue": (b"", b"HTTP/1.1 100 Continue\r\n\r\n"),
    "endless 103 Early Hints": (b"", b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"),
    "endless header lines": (b"HTTP/1.1 200 OK\r\n", b"X-Filler: " + b"f" * 50 + b"\r\n"),
    "one endless header line": (b"HTTP/1.1 200 OK\r\nX-Endless: ", b"e" * 1000),
    "one endless status line": (b"HTTP/1.1 200 ", b"r" * 1000),
    "a chunk extension over the limit": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;",
                                         b"x" * 1000),
    "endless trailer lines": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n",
                              b"X-Trailer: " + b"t" * 50 + b"\r\n"),
    "one endless trailer line": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-T: ",
                                 b"t" * 1000),
}


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
@pytest.mark.parametrize("case", list(FAILING))
def test_a_response_that_never_ends_fails_cleanly(hostile, http_baseline, case, stream):
    srv = hostile(failing_response(*FAILING[case]))
    run = sqfetch(*(["--stream"] if stream else []), srv.url(path="/hostile"), timeout=20)
    r = run.one()
    assert r["error"] in ("SQ_ERR_PROTOCOL", "SQ_ERR_LIMIT") and r["status"] == 0 and run.rc == 1, str(run)
    assert r["message"], str(run)
    check_grown(run.maxrss_kb / 1024, http_baseline, str(run))
    sent, how = srv.wait(FLOOD_SECONDS + 10)
    assert how == "closed", f"the client did not close the connection ({how}, {sent / MIB:.1f} MiB)"
    assert sent < 16 * MIB, f"{sent / MIB:.1f} MiB taken before the client gave up"


def one_byte_chunks(ext_len: int) -> bytes:
    """1-byte chunks, each with a chunk extension of `ext_len` bytes (a
    token=token pair: valid grammar)."""
    return b"1;e=" + b"x" * (ext_len - 3) + b"\r\nz\r\n"


def test_one_byte_chunks_with_long_extensions_hit_the_body_limit(hostile, http_baseline):
    # Each chunk is valid (its extension within the 4 KiB limit), so only the
    # body limit stops it: 16 KiB of body is about 64 MiB on the wire.
    srv = hostile(failing_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", one_byte_chunks(4000)))
    run = sqfetch("--max-body", 16384, srv.url(path="/tiny-chunks"), timeout=30)
    r = run.one()
    assert r["error"] in ("SQ_ERR_PROTOCOL", "SQ_ERR_LIMIT") and run.rc == 1, str(run)
    check_grown(run.maxrss_kb / 1024, http_baseline, str(run))
    sent, how = srv.wait(FLOOD_SECONDS + 10)
    assert how == "closed", f"({how}, {sent / MIB:.1f} MiB)"


def test_one_byte_chunks_with_long_extensions_into_a_host_that_does_not_keep_up(hostile, http_baseline):
    # Every 1-byte chunk handed to the host counts 1 KiB: reading pauses
    # after about a thousand of them undelivered (plus the 4 KiB the pipe
    # takes, one byte per chunk), not after the whole flood.
    def script(conn, srv):
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        return flood(conn, repeat_to(one_byte_chunks(4000)))
    srv = hostile(script)
    client = Blocked(SQFETCH, ["--stream", "--max-body", str(1 << 50), srv.url(path="/tiny-chunks")], "-o")
    sent, how = srv.wait(FLOOD_SECONDS + 10)
    running = client.running()
    client.finish()
    check_stopped(how, sent, client)
    assert how == "blocked" and running, str(client)
    # about 5,000 chunks of 4 KiB, plus the kernel's socket buffers
    assert sent < 64 * MIB, f"{sent / MIB:.1f} MiB taken from the server before reading paused"
    check_grown(client.peak_mib, http_baseline, f"after {sent / MIB:.1f} MiB\n{client}")


# ---- WebSocket: floods from a server that never reads ------------------------------

def ws_handshake(conn):
    head = read_head(conn)
    key = request_header(head, "Sec-WebSocket-Key")
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n")


def ws_flood(frames: bytes, seconds: float = FLOOD_SECONDS):
    def script(conn, srv):
        ws_handshake(conn)
        # never reads again: the client's pongs and close frames back up
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 10)
        return flood(conn, repeat_to(frames), seconds=seconds)
    return script


WS_FLOODS = {
    "pings": b"\x89\x00",
    "pings with payload": b"\x89\x7d" + b"p" * 125,
    "empty binary frames": b"\x82\x00",
    "empty text frames": b"\x81\x00",
    "empty continuation fragments": b"\x02\x00" + b"\x00\x00" * 64 + b"\x80\x00",
    "tiny messages": b"\x82\x01m",
    "256 KiB messages": b"\x82\x7f" + (256 << 10).to_bytes(8, "big") + b"m" * (256 << 10),
}


@pytest.mark.parametrize("host", ["behind", "reading"])
@pytest.mark.parametrize("kind", list(WS_FLOODS))
def test_a_websocket_flood_from_a_server_that_never_reads(hostile, ws_baseline, kind, host):
    """`behind`: sqws's stdout is a pipe nobody reads, so its callbacks block.
    `reading`: its output is drained as it comes; only the server's not
    reading (pongs queued for output) is left to stop the client."""
    srv = hostile(ws_flood(WS_FLOODS[kind], seconds=FLOOD_SECONDS if host == "behind" or kind.startswith("pings") else 5))
    client = Blocked(SQWS, ["--expect", "1000000000000", "--wait-close", srv.url("ws", "/flood")], "stdout")
    drainer = None
    if host == "reading":
        stop = threading.Event()

        def drain():
            while not stop.is_set() and client.read_some():
                pass
        drainer = threading.Thread(target=drain, daemon=True)
        drainer.start()
    sent, how = srv.wait(FLOOD_SECONDS + 10)
    running = client.running()
    if drainer is not None:
        stop.set()
    # A host that keeps up may take data frames for as long as they come:
    # they need no answer. Pings need one (a pong), which the server never
    # reads: the client's output backs up and it must stop reading.
    must_stop = host == "behind" or kind.startswith("pings")
    if how == "closed" or not running:
        # the client closed the connection (the server may see that as a
        # send that blocks, the client no longer reading): it must then
        # exit by itself, with a close event that says why
        drainer and drainer.join(5)
        rc = client.finish(drain=True)
        assert rc in (0, 1), str(client)
        events = [json.loads(line) for line in client.tail.decode("latin-1").splitlines()[1:] if line.startswith("{")]
        closes = [e for e in events if e["event"] in ("close", "error")]
        assert closes, f"the client closed the connection without a close or error event\n{client}"
        print(f"the client closed: {closes[-1]}")
    else:
        client.finish()
    if must_stop:
        check_stopped(how, sent, client)
    check_grown(client.peak_mib, ws_baseline, f"after {sent / MIB:.1f} MiB of {kind}\n{client}")


def test_an_endless_fragmented_message_is_closed_at_the_message_limit(hostile, ws_baseline):
    # A first fragment, then 16 KiB continuations that never end the
    # message: the client must close with 1009 at --max-message, not keep
    # assembling.
    def script(conn, srv):
        ws_handshake(conn)
        conn.sendall(b"\x02\x7e\x40\x00" + b"f" * 0x4000)
        return flood(conn, repeat_to(b"\x00\x7e\x40\x00" + b"f" * 0x4000))
    srv = hostile(script)
    client = Blocked(SQWS, ["--expect", "1000000000000", "--wait-close", "--max-message", 1 << 20,
                            srv.url("ws", "/fragments")], "stdout")
    sent, how = srv.wait(FLOOD_SECONDS + 10)
    check_stopped(how, sent, client)
    # it closed (with 1009), or it sent its close and stopped reading while
    # it waits for the answer (the server never gives one): either way it
    # must end by itself
    rc = client.finish(drain=True, timeout=15)
    events = [json.loads(line) for line in client.tail.decode("latin-1").splitlines() if line.startswith("{")]
    assert rc == 0 and events and events[-1]["event"] == "close", str(client)
    assert events[-1]["code"] in (1009, 1006), events[-1]
    assert not [e for e in events if e["event"] == "message"], "no part of the message is delivered"
    assert sent < 32 * MIB, f"{sent / MIB:.1f} MiB taken for a 1 MiB message limit"
    check_grown(client.peak_mib, ws_baseline, f"after {sent / MIB:.1f} MiB of fragments\n{client}")


@pytest.mark.parametrize("piece", [b"X-Filler: " + b"f" * 50 + b"\r\n", b"HTTP/1.1 100 Continue\r\n\r\n"],
                         ids=["endless header lines", "endless 100 Continue"])
def test_an_endless_handshake_response_fails_the_connect(hostile, ws_baseline, piece):
    def script(conn, srv):
        read_head(conn)
        if piece.startswith(b"X-"):
            conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n")
        return flood(conn, repeat_to(piece))
    srv = hostile(script)
    client = Blocked(SQWS, ["--wait-close", srv.url("ws", "/handshake")], "stdout")
    sent, how = srv.wait(FLOOD_SECONDS + 10)
    check_stopped(how, sent, client)
    rc = client.finish(drain=True, timeout=15)
    events = [json.loads(line) for line in client.tail.decode("latin-1").splitlines() if line.startswith("{")]
    assert rc == 1 and [e["event"] for e in events] == ["error"], str(client)
    assert sent < 16 * MIB, f"{sent / MIB:.1f} MiB taken before the client gave up"
    check_grown(client.peak_mib, ws_baseline, f"after {sent / MIB:.1f} MiB of handshake\n{client}")


def test_stray_bytes_on_an_idle_pooled_connection_close_it(hostile, http_baseline):
    # The first response completes and its connection goes back to the pool;
    # the server then floods it. The client must drop that connection (the
    # second fetch, 2 s later, finds a listener that never answers and times
    # out: that failure is expected).
    def script(conn, srv):
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        time.sleep(0.2)
        return flood(conn, repeat_to(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), seconds=10)
    srv = hostile(script)
    run = sqfetch("-n", 2, "--delay", 2000, "--timeout", 2000, srv.url(path="/idle"), timeout=20)
    sent, how = srv.wait(FLOOD_SECONDS + 10)
    assert how == "closed" and sent < 16 * MIB, f"the idle connection kept taking bytes ({how}, {sent / MIB:.1f} MiB)"
    first, second = run.results
    assert first["error"] is None and first["body"] == "ok", str(run)
    assert second["error"] == "SQ_ERR_TIMEOUT", str(run)
    check_grown(run.maxrss_kb / 1024, http_baseline, str(run))


# ---- HTTP: compressed bodies streamed into a host that is behind ------------------

def gzip_response(data: bytes):
    def script(conn, srv):
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(data))
        return flood(conn, data, max_bytes=len(data))
    return script


def test_a_streamed_gzip_bomb_into_a_host_that_does_not_keep_up(hostile, http_baseline):
    # 260 KB inflating to 256 MiB, no limit on the decompressed size (the
    # host streams it): reading must pause within a few MiB of output, not
    # after inflating a whole read at once. The server sees nothing (its
    # bytes fit the socket buffers): only the client's memory tells.
    srv = hostile(gzip_response(gzip_bomb()))
    client = Blocked(SQFETCH, ["--stream", "--max-body", str(1 << 50), "--max-decompressed", str(1 << 50),
                               srv.url(path="/bomb")], "-o")
    sent, how = srv.wait(FLOOD_SECONDS + 10)
    time.sleep(1.0)
    running = client.running()
    client.finish()
    assert running, f"the client should wait for its host\n{client}"
    check_grown(client.peak_mib, http_baseline, f"from a {sent / 1024:.0f} KiB gzip bomb ({how})\n{client}")


def test_a_compressed_body_streamed_through_pauses_arrives_whole(hostile, http_baseline):
    plain = b"".join(b"line %07d of a body that compresses well\n" % i for i in range(400000))  # 17 MiB
    srv = hostile(gzip_response(gzip.compress(plain, 6)))
    client = Blocked(SQFETCH, ["--stream", "--max-decompressed", str(1 << 30), srv.url(path="/gz")], "-o")
    time.sleep(1.0)  # the host is blocked: reading pauses
    assert client.running(), str(client)
    got = bytearray()
    os.set_blocking(client.rfd, True)
    while True:
        chunk = os.read(client.rfd, 1 << 20)
        if not chunk:
            break
        got += chunk
        if len(got) < 4 * MIB:
            time.sleep(0.002)  # a slow host at first: pause, resume, pause
    rc = client.finish(drain=True)
    assert rc == 0, str(client)
    assert len(got) == len(plain) and bytes(got) == plain, f"{len(got)} of {len(plain)} bytes, or not the same"
    line = json.loads(client.stdout.splitlines()[0])
    assert line["error"] is None and line["body_len"] == len(plain), line
    check_grown(client.peak_mib, http_baseline, str(client))
