#!/usr/bin/env python3
"""bench/soak: an endurance run against the C demo and the Python chat room.

    SOAK_SECONDS=1800 make soak          # or: python3 bench/soak/soak.py --seconds 120

Starts ``build/examples/c/demo_server`` and ``examples/python/chat/chat.py``
on loopback ports and drives a mixed, moderate workload at both (a few
hundred requests a second: the machine must not be saturated, the point is
time, not load):

* HTTP on keep-alive connections and on one connection per request
  (``/``, ``/query``, ``/args/..``, ``/headers``, ``/status/404``), uploads
  (``POST /echo``, 1 KiB to 1 MiB, the echo compared), streamed responses
  (``/stream``, chunked), timers (``/slow?ms=``: ``sq_call_later``) and
  responses finished from a thread (``/defer``); the chat room's page;
* WebSockets on ``/ws/echo`` and ``/ws/chat`` (C) and ``/message`` (the chat
  room) that join, talk (each message must come back), then leave in one of
  three ways: a close handshake, a half-close (FIN, then wait), or vanishing
  (RST: SO_LINGER 0); WebSockets that stall (stop reading while a room
  talks, or while sending 32 KiB messages to /ws/echo whose echoes back up)
  and then vanish;
* clients that connect and never send, and malformed requests (garbage,
  an oversized header, a bad chunk size): their answers are not checked
  beyond "the server answered or closed", and they are no failure.

Every ``--sample`` seconds (5) it records for both servers the RSS
(``VmRSS`` of /proc/PID/status), the open descriptors (/proc/PID/fd), figures
of their ``/metrics`` text, and the client-side latency p50/p99 of the
well-formed HTTP requests completed in that window.

It fails (exit status 1, the reasons printed and written in the report) when

* any well-formed request or WebSocket exchange fails (a wrong status, a
  wrong body, an error, no answer within 10 s), or a server exits;
* RSS grows after the warm-up: the median of the last third of the samples
  after the warm-up exceeds the median of the first third by more than
  10 % *and* by more than 4 MiB (the band: the larger of the two);
* descriptors grow: the same medians differ by more than 10 % and by more
  than 16 descriptors (the load keeps a bounded number of connections
  open, so the count is flat once warm);
* p99 drifts upward: the median of the per-window p99 over the last third
  exceeds that over the first third by more than 50 % *and* by more than
  5 ms, after taking off how much the client's own event loop lag p99
  (how late a 10 ms sleep wakes, the same medians) grew. Medians of
  windows, not single windows, so one noisy moment on a shared machine
  does not fail the run; both a relative and an absolute margin, so
  sub-millisecond p99s do not fail it on jitter; the client's lag, so a
  machine that got busier (the client slowed as much as the server) does
  not either.

The warm-up is the first 20 % of the run, at most 300 s.

Writes ``soak.md`` (figures and verdict), ``soak.csv`` (the raw samples)
and ``soak.svg`` (RSS, descriptors and p99 over time, drawn by this script)
into ``--out`` (bench/results). Loopback only.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import signal
import socket
import statistics
import struct
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import websockets
from websockets.asyncio.client import connect as ws_connect

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 10.0
MAX_SECONDS = 6 * 3600
RSS_REL, RSS_ABS_MIB = 0.10, 4.0
FD_REL, FD_ABS = 0.10, 16
P99_REL, P99_ABS_MS = 0.50, 5.0


# ---- the servers -------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    port: int
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def wait_port(p: Proc, within: float = 30.0) -> None:
    end = time.monotonic() + within
    while time.monotonic() < end:
        if p.popen.poll() is not None:
            raise SystemExit(f"{p.name} exited at start: see {p.log}")
        try:
            socket.create_connection(("127.0.0.1", p.port), 0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{p.name} did not listen on {p.port} within {within} s: see {p.log}")


def start_servers(demo: Path, logdir: Path) -> tuple[Proc, Proc]:
    logdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    c_port, chat_port = free_port(), free_port()
    # A silent client is closed after 3 s (408), so that path is exercised.
    c_env = dict(env, PORT=str(c_port), SQUALL_HEADER_TIMEOUT_MS="3000")
    c_log = logdir / "soak-demo_server.log"
    c = Proc("c-demo", subprocess.Popen([str(demo)], env=c_env, stdout=c_log.open("wb"), stderr=subprocess.STDOUT), c_port, c_log)
    py_env = dict(env, PYTHONPATH=str(ROOT / "bindings" / "python"))
    chat_log = logdir / "soak-chat.log"
    chat = Proc("chat", subprocess.Popen([sys.executable, str(ROOT / "examples/python/chat/chat.py"), f"--port={chat_port}",
                                          "--address=127.0.0.1"], env=py_env, stdout=chat_log.open("wb"),
                                         stderr=subprocess.STDOUT), chat_port, chat_log)
    for p in (c, chat):
        wait_port(p)
    return c, chat


# ---- a small HTTP/1.1 client on asyncio streams --------------------------------


class HTTPError(Exception):
    pass


async def read_response(r: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await r.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise HTTPError(f"bad status line {lines[0]!r}")
    status = int(parts[1])
    headers: dict[str, str] = {}
    for ln in lines[1:]:
        if ln:
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while True:
            size = int((await r.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await r.readuntil(b"\r\n")) != b"\r\n":
                    pass
                break
            body += await r.readexactly(size)
            await r.readexactly(2)
        return status, headers, bytes(body)
    n = int(headers.get("content-length", "0"))
    return status, headers, await r.readexactly(n) if n else b""


def request_bytes(method: str, path: str, body: bytes = b"", close: bool = False, extra: str = "") -> bytes:
    h = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}"
    if body or method == "POST":
        h += f"Content-Length: {len(body)}\r\nContent-Type: application/octet-stream\r\n"
    if close:
        h += "Connection: close\r\n"
    return (h + "\r\n").encode() + body


# ---- the run's state -----------------------------------------------------------


@dataclass
class Stats:
    lat: dict[str, list[float]] = field(default_factory=lambda: {"c-demo": [], "chat": []})
    # the client's own event loop lag (how late a 10 ms sleep wakes): the
    # machine's noise, seen from the client
    lag: list[float] = field(default_factory=list)
    ok: int = 0
    ws_exchanges: int = 0
    bad_sent: int = 0
    silent: int = 0
    failures: list[str] = field(default_factory=list)
    failed: int = 0

    def fail(self, what: str) -> None:
        self.failed += 1
        if len(self.failures) < 50:
            self.failures.append(f"{time.strftime('%H:%M:%S')} {what}")


class Run:
    def __init__(self, c: Proc, chat: Proc, seconds: float):
        self.c, self.chat = c, chat
        self.end = time.monotonic() + seconds
        self.stats = Stats()
        self.rng = random.Random(23)

    def running(self) -> bool:
        return time.monotonic() < self.end

    async def pace(self, seconds: float) -> None:
        await asyncio.sleep(seconds * self.rng.uniform(0.5, 1.5))

    # one well-formed request on (r, w), its status and body checked
    async def exchange(self, server: str, r, w, method: str, path: str, body: bytes = b"", close: bool = False,
                       want_status: int = 200, want_body: Optional[bytes] = None, delay: float = 0.0) -> None:
        """``delay``: the wait the request asks for (a timer), taken off its latency."""
        t0 = time.perf_counter()
        w.write(request_bytes(method, path, body, close))
        await w.drain()
        status, _, got = await asyncio.wait_for(read_response(r), TIMEOUT)
        self.stats.lat[server].append(max(0.0, time.perf_counter() - t0 - delay))
        if status != want_status:
            raise HTTPError(f"{method} {path}: status {status}, wanted {want_status}")
        if want_body is not None and got != want_body:
            raise HTTPError(f"{method} {path}: body of {len(got)} bytes is not the one expected ({len(want_body)})")
        self.stats.ok += 1

    def pick(self) -> tuple[str, bytes, int, Optional[bytes]]:
        x = self.rng.random()
        if x < 0.35:
            return "/", b"", 200, b"Hello, world"
        if x < 0.55:
            n = self.rng.randrange(1000)
            return f"/query?name=n{n}", b"", 200, f"name=n{n}".encode()
        if x < 0.7:
            return "/args/abc/42", b"", 200, b"a=abc b=42"
        if x < 0.8:
            return "/stream", b"", 200, b"".join(f"chunk {i}\n".encode() for i in range(5))
        if x < 0.9:
            return "/headers", b"", 200, b"ok"
        return "/status/404", b"", 404, b"status"

    async def keepalive(self, rate: float) -> None:
        while self.running():
            try:
                r, w = await asyncio.open_connection("127.0.0.1", self.c.port)
                for _ in range(self.rng.randrange(50, 500)):
                    if not self.running():
                        break
                    path, _, st, body = self.pick()
                    await self.exchange("c-demo", r, w, "GET", path, want_status=st, want_body=body)
                    await self.pace(1 / rate)
                w.close()
            except Exception as e:  # noqa: BLE001 - every failure is reported
                self.stats.fail(f"keep-alive: {type(e).__name__}: {e}")
                await asyncio.sleep(1)

    async def short(self, rate: float) -> None:
        while self.running():
            try:
                path, _, st, body = self.pick()
                r, w = await asyncio.open_connection("127.0.0.1", self.c.port)
                await self.exchange("c-demo", r, w, "GET", path, close=True, want_status=st, want_body=body)
                w.close()
            except Exception as e:  # noqa: BLE001
                self.stats.fail(f"short: {type(e).__name__}: {e}")
                await asyncio.sleep(1)
            await self.pace(1 / rate)

    async def uploads(self, rate: float) -> None:
        while self.running():
            try:
                body = self.rng.randbytes(self.rng.choice([1 << 10, 16 << 10, 256 << 10, 1 << 20]))
                r, w = await asyncio.open_connection("127.0.0.1", self.c.port)
                await self.exchange("c-demo", r, w, "POST", "/echo", body, close=True, want_body=body)
                w.close()
            except Exception as e:  # noqa: BLE001
                self.stats.fail(f"upload: {type(e).__name__}: {e}")
                await asyncio.sleep(1)
            await self.pace(1 / rate)

    async def timers_and_threads(self, rate: float) -> None:
        r = w = None
        while self.running():
            try:
                if w is None:
                    r, w = await asyncio.open_connection("127.0.0.1", self.c.port)
                if self.rng.random() < 0.5:
                    ms = self.rng.choice([1, 10, 50, 200])
                    await self.exchange("c-demo", r, w, "GET", f"/slow?ms={ms}", want_body=f"slept {ms}".encode(), delay=ms / 1e3)
                else:
                    await self.exchange("c-demo", r, w, "GET", "/defer", want_body=b"deferred")
            except Exception as e:  # noqa: BLE001
                self.stats.fail(f"timer/defer: {type(e).__name__}: {e}")
                w = None
                await asyncio.sleep(1)
            await self.pace(1 / rate)

    async def chat_pages(self, rate: float) -> None:
        while self.running():
            try:
                r, w = await asyncio.open_connection("127.0.0.1", self.chat.port)
                for _ in range(self.rng.randrange(5, 50)):
                    t0 = time.perf_counter()
                    w.write(request_bytes("GET", "/"))
                    await w.drain()
                    status, _, body = await asyncio.wait_for(read_response(r), TIMEOUT)
                    self.stats.lat["chat"].append(time.perf_counter() - t0)
                    if status != 200 or b"<html" not in body.lower():
                        raise HTTPError(f"chat GET /: status {status}, {len(body)} bytes")
                    self.stats.ok += 1
                    await self.pace(1 / rate)
                w.close()
            except Exception as e:  # noqa: BLE001
                self.stats.fail(f"chat page: {type(e).__name__}: {e}")
                await asyncio.sleep(1)

    async def bad(self, rate: float) -> None:
        junk = [
            b"\x00\x01garbage\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"GET /" + b"p" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        ]
        while self.running():
            port = self.c.port if self.rng.random() < 0.7 else self.chat.port
            try:
                r, w = await asyncio.open_connection("127.0.0.1", port)
                w.write(self.rng.choice(junk))
                await w.drain()
                await asyncio.wait_for(r.read(65536), TIMEOUT)  # an answer or the close
                w.close()
            except (ConnectionError, asyncio.IncompleteReadError):
                pass  # refused by closing: fine
            except Exception as e:  # noqa: BLE001
                self.stats.fail(f"bad request: no answer and no close: {type(e).__name__}: {e}")
            self.stats.bad_sent += 1
            await self.pace(1 / rate)

    async def silent(self, rate: float) -> None:
        async def one() -> None:
            port = self.c.port if self.rng.random() < 0.7 else self.chat.port
            try:
                r, w = await asyncio.open_connection("127.0.0.1", port)
                try:
                    # held up to 5 s: the C demo closes it after 3 s (header timeout)
                    await asyncio.wait_for(r.read(1024), self.rng.uniform(0.5, 5))
                except asyncio.TimeoutError:
                    pass
                w.close()
            except OSError:
                pass
            self.stats.silent += 1

        tasks = set()
        while self.running():
            t = asyncio.ensure_future(one())
            tasks.add(t)
            t.add_done_callback(tasks.discard)
            await self.pace(1 / rate)
        for t in list(tasks):
            await t

    # ---- WebSockets ----

    async def leave(self, ws, how: str) -> None:
        if how == "close":
            await ws.close()
            return
        transport = ws.transport
        if how == "half":
            # FIN: the server sees the end of its input and closes its side
            transport.write_eof()
            try:
                await asyncio.wait_for(ws.wait_closed(), 3)
            except asyncio.TimeoutError:
                pass
            transport.abort()
            return
        # vanish: a RST instead of a FIN
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.fileno() >= 0:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()

    async def ws_talker(self, kind: str) -> None:
        n = 0
        while self.running():
            n += 1
            how = self.rng.choice(["close", "close", "half", "rst"])
            me = f"{kind}-{id(self) % 1000}-{n}-{self.rng.randrange(1 << 30)}"
            try:
                if kind == "chat-room":
                    url = f"ws://127.0.0.1:{self.chat.port}/message?name=soak{self.rng.randrange(1000)}"
                else:
                    url = f"ws://127.0.0.1:{self.c.port}/ws/{'echo' if kind == 'echo' else 'chat'}"
                async with asyncio.timeout(TIMEOUT * 2):
                    ws = await ws_connect(url, max_size=1 << 22, open_timeout=TIMEOUT)
                if kind == "chat-room":
                    welcome = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
                    if welcome.get("type") != "welcome":
                        raise HTTPError(f"chat room: first frame {welcome!r}")
                for i in range(self.rng.randrange(5, 60)):
                    if not self.running():
                        break
                    tag = f"{me}-{i}"
                    if kind == "chat-room":
                        await ws.send(json.dumps({"body": tag}))
                    elif kind == "echo" and i % 3 == 2:
                        await ws.send(tag.encode() * self.rng.randrange(1, 2000))
                    else:
                        await ws.send(tag)
                    async with asyncio.timeout(TIMEOUT):
                        while True:  # a room's messages of others come first
                            m = await ws.recv()
                            if isinstance(m, bytes):
                                m = m.decode()
                            if tag in m:
                                break
                    self.stats.ws_exchanges += 1
                    await self.pace(0.1)
                await self.leave(ws, how)
            except Exception as e:  # noqa: BLE001
                self.stats.fail(f"websocket {kind}: {type(e).__name__}: {e}")
                await asyncio.sleep(1)
            await self.pace(0.5)

    async def ws_staller(self, kind: str) -> None:
        """Joins, stops reading for a while, then vanishes with a RST. In a
        room the others' messages back up towards it; on /ws/echo it sends
        32 KiB messages and reads none of the echoes, so the server's output
        to it fills and the server stops reading it (its pauses and drops
        in /metrics)."""
        paths = {"chat-room": (self.chat.port, "/message?name=staller"), "c-chat": (self.c.port, "/ws/chat"),
                 "echo": (self.c.port, "/ws/echo")}
        port, path = paths[kind]
        frame = bytes([0x82, 0x80 | 126]) + (32 << 10).to_bytes(2, "big") + b"\0\0\0\0" + b"s" * (32 << 10)
        while self.running():
            w = None
            try:
                r, w = await asyncio.open_connection("127.0.0.1", port, limit=4096)
                sock = w.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                w.write((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
                head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), TIMEOUT)
                if not head.startswith(b"HTTP/1.1 101"):
                    raise HTTPError(f"staller upgrade: {head[:40]!r}")
                w.transport.pause_reading()  # from here on nothing is read
                end = time.monotonic() + self.rng.uniform(5, 20)
                while kind == "echo" and time.monotonic() < end:
                    w.write(frame)
                    try:
                        await asyncio.wait_for(w.drain(), 1)
                    except asyncio.TimeoutError:
                        break  # the server stopped reading us: stalled both ways
                    except ConnectionError:
                        break  # closed by the server (over its limits): fine
                    await asyncio.sleep(0.05)
                await asyncio.sleep(max(0.0, end - time.monotonic()))
            except Exception as e:  # noqa: BLE001
                self.stats.fail(f"staller {kind}: {type(e).__name__}: {e}")
            if w is not None:
                sock = w.get_extra_info("socket")
                try:
                    if sock is not None and sock.fileno() >= 0:
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
                w.transport.abort()
            await self.pace(2)


async def lag_probe(run: Run) -> None:
    while run.running():
        t0 = time.perf_counter()
        await asyncio.sleep(0.01)
        run.stats.lag.append(max(0.0, time.perf_counter() - t0 - 0.01))


# ---- sampling ------------------------------------------------------------------

METRICS = {
    "requests": "squall_http_requests_total",
    "conns_open": "squall_connections_open",
    "ws_open": "squall_websocket_opened_total",
    "ws_pauses": "squall_websocket_pauses_total",
    "ws_dropped": "squall_websocket_dropped_total",
    "ws_bp_closed": "squall_websocket_backpressure_closed_total",
    "refused": "squall_http_refused_total",
}


def scrape(port: int) -> dict[str, float]:
    out = {k: 0.0 for k in METRICS}
    try:
        with socket.create_connection(("127.0.0.1", port), 5) as s:
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except OSError:
        return {k: float("nan") for k in METRICS}
    for line in data.decode("utf-8", "replace").split("\r\n\r\n", 1)[-1].splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        for k, fam in METRICS.items():
            if name == fam:
                out[k] += float(line.rsplit(" ", 1)[1])
    return out


def pct(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def sampler(run: Run, every: float, rows: list[dict]) -> None:
    t_start = time.monotonic()
    loop = asyncio.get_running_loop()
    last_ok = 0
    while run.running():
        await asyncio.sleep(every)
        row: dict = {"t": round(time.monotonic() - t_start, 1), "ok": run.stats.ok - last_ok, "failed": run.stats.failed}
        last_ok = run.stats.ok
        lag, run.stats.lag = run.stats.lag, []
        row["client_lag_p99_ms"] = round(pct(lag, 0.99) * 1e3, 3)
        for p in (run.c, run.chat):
            if p.popen.poll() is not None:
                run.stats.fail(f"{p.name} exited with status {p.popen.returncode}")
                run.end = 0
                return
            row[f"{p.name}_rss_kib"] = p.rss_kib()
            row[f"{p.name}_fds"] = p.fds()
            lat, run.stats.lat[p.name] = run.stats.lat[p.name], []
            row[f"{p.name}_p50_ms"] = round(pct(lat, 0.5) * 1e3, 3)
            row[f"{p.name}_p99_ms"] = round(pct(lat, 0.99) * 1e3, 3)
            row[f"{p.name}_n"] = len(lat)
            for k, v in (await loop.run_in_executor(None, scrape, p.port)).items():
                row[f"{p.name}_{k}"] = v
        rows.append(row)
        print(f"[{row['t']:7.1f}s] ok/window {row['ok']:5d} failed {row['failed']} | "
              + " | ".join(f"{n}: rss {row[n + '_rss_kib'] / 1024:.1f} MiB fds {row[n + '_fds']} "
                           f"p50 {row[n + '_p50_ms']:.2f} p99 {row[n + '_p99_ms']:.2f} ms" for n in ("c-demo", "chat")),
              flush=True)


# ---- the verdict ---------------------------------------------------------------


def thirds(rows: list[dict], warm: float) -> tuple[list[dict], list[dict]]:
    after = [r for r in rows if r["t"] > warm]
    k = len(after) // 3
    return (after[:k], after[-k:]) if k else ([], [])


def verdict(rows: list[dict], stats: Stats, warm: float) -> tuple[list[str], list[str]]:
    problems, figures = [], []
    if stats.failed:
        problems.append(f"{stats.failed} well-formed requests or exchanges failed; first: {stats.failures[0]}")
    first, last = thirds(rows, warm)
    if not first:
        problems.append("too few samples after the warm-up to judge growth (run longer)")
        return problems, figures
    def med(rs: list[dict], k: str) -> float:
        # NaN (a window with nothing completed) dropped; a third with no
        # figure at all is a problem, not a crash
        vals = [r[k] for r in rs if r[k] == r[k]]
        if not vals:
            problems.append(f"{k}: no figure in a whole third of the run after the warm-up")
            return float("nan")
        return statistics.median(vals)

    lag_a, lag_b = med(first, "client_lag_p99_ms"), med(last, "client_lag_p99_ms")
    noise = max(0.0, lag_b - lag_a)
    figures.append(f"| client | event loop lag p99 (ms, median of windows) | {lag_a:.2f} | {lag_b:.2f} | {lag_b - lag_a:+.2f} | (noise: taken off the p99 drift) |")
    for n in ("c-demo", "chat"):
        a, b = med(first, f"{n}_rss_kib") / 1024, med(last, f"{n}_rss_kib") / 1024
        figures.append(f"| {n} | RSS (MiB) | {a:.1f} | {b:.1f} | {b - a:+.1f} | > {RSS_REL:.0%} and > {RSS_ABS_MIB} MiB |")
        if b - a > RSS_ABS_MIB and b > a * (1 + RSS_REL):
            problems.append(f"{n}: RSS grew from {a:.1f} to {b:.1f} MiB after the warm-up")
        a, b = med(first, f"{n}_fds"), med(last, f"{n}_fds")
        figures.append(f"| {n} | descriptors | {a:.0f} | {b:.0f} | {b - a:+.0f} | > {FD_REL:.0%} and > {FD_ABS} |")
        if b - a > FD_ABS and b > a * (1 + FD_REL):
            problems.append(f"{n}: descriptors grew from {a:.0f} to {b:.0f} after the warm-up")
        a, b = med(first, f"{n}_p99_ms"), med(last, f"{n}_p99_ms")
        figures.append(f"| {n} | p99 (ms, median of windows) | {a:.2f} | {b:.2f} | {b - a:+.2f} | > {P99_REL:.0%} and > {P99_ABS_MS} ms |")
        # the client's own lag growth is the machine's noise, not the server's drift
        b_net = b - noise
        if b_net - a > P99_ABS_MS and b_net > a * (1 + P99_REL):
            problems.append(f"{n}: p99 drifted from {a:.2f} to {b:.2f} ms (client lag grew {noise:.2f} ms)")
    return problems, figures


# ---- the report ----------------------------------------------------------------


def svg(rows: list[dict], warm: float, title: str) -> str:
    panels = [("RSS (MiB)", "rss_kib", 1 / 1024), ("open descriptors", "fds", 1), ("p99 latency (ms)", "p99_ms", 1)]
    colors = {"c-demo": "#1f77b4", "chat": "#d62728"}
    W, H, L, R, T, PH, GAP = 900, 640, 70, 20, 40, 160, 40
    tmax = max((r["t"] for r in rows), default=1) or 1
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{L}" y="22" font-size="14">{title}</text>']
    for i, (label, key, scale) in enumerate(panels):
        top = T + i * (PH + GAP)
        vals = [r[f"{n}_{key}"] * scale for r in rows for n in colors if r[f"{n}_{key}"] == r[f"{n}_{key}"]]
        vmax = max(vals, default=1) * 1.1 or 1
        x = lambda t: L + (W - L - R) * t / tmax  # noqa: E731
        y = lambda v: top + PH - PH * v / vmax  # noqa: E731
        out.append(f'<rect x="{L}" y="{top}" width="{W - L - R}" height="{PH}" fill="none" stroke="#888"/>')
        out.append(f'<text x="{L}" y="{top - 6}">{label}</text>')
        for frac in (0, 0.5, 1):
            out.append(f'<text x="{L - 6}" y="{y(vmax * frac) + 4:.1f}" text-anchor="end">{vmax * frac:.1f}</text>')
        if warm < tmax:
            out.append(f'<line x1="{x(warm):.1f}" y1="{top}" x2="{x(warm):.1f}" y2="{top + PH}" stroke="#aaa" stroke-dasharray="4"/>')
        for n, col in colors.items():
            pts = " ".join(f"{x(r['t']):.1f},{y(r[f'{n}_{key}'] * scale):.1f}" for r in rows if r[f"{n}_{key}"] == r[f"{n}_{key}"])
            out.append(f'<polyline fill="none" stroke="{col}" stroke-width="1.5" points="{pts}"/>')
    bottom = T + 3 * (PH + GAP) - GAP + 20
    out.append(f'<text x="{L}" y="{bottom}">seconds (0 to {tmax:.0f}; dashed: end of warm-up)</text>')
    for j, (n, col) in enumerate(colors.items()):
        out.append(f'<text x="{W - 220 + j * 110}" y="{bottom}" fill="{col}">{n}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def report(out: Path, rows: list[dict], stats: Stats, seconds: float, warm: float, problems: list[str],
           figures: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if rows:
        with (out / "soak.csv").open("w", newline="") as f:
            wr = csv.DictWriter(f, fieldnames=list(rows[0]))
            wr.writeheader()
            wr.writerows(rows)
    title = f"squall soak: {seconds:.0f} s ({seconds / 60:.1f} min), C demo and Python chat room"
    (out / "soak.svg").write_text(svg(rows, warm, title))
    total = sum(r["ok"] for r in rows)
    lines = [f"# Soak run: {seconds:.0f} s ({seconds / 60:.1f} minutes)", "",
             f"Duration **{seconds:.0f} s**; warm-up {warm:.0f} s; {len(rows)} samples "
             f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, `bench/soak/soak.py`).", "",
             f"Verdict: **{'FAIL' if problems else 'pass'}**", ""]
    lines += [f"- {p}" for p in problems] + ([""] if problems else [])
    lines += [f"Well-formed HTTP requests and WebSocket exchanges checked: {stats.ok} requests "
              f"(~{total / max(seconds, 1):.0f}/s), {stats.ws_exchanges} WebSocket round trips; "
              f"{stats.bad_sent} malformed requests and {stats.silent} silent connections sent; {stats.failed} failures.", "",
              "After the warm-up, median of the first third of the samples against the last third:", "",
              "| server | figure | first third | last third | change | fails when |", "|---|---|---|---|---|---|"]
    lines += figures
    if rows:
        last = rows[-1]
        lines += ["", "Server counters at the end (`/metrics`):", "", "| server | " + " | ".join(METRICS) + " |",
                  "|---|" + "---|" * len(METRICS)]
        for n in ("c-demo", "chat"):
            lines.append(f"| {n} | " + " | ".join(f"{last[f'{n}_{k}']:.0f}" for k in METRICS) + " |")
    if stats.failures:
        lines += ["", "Failures (first 50):", ""] + [f"- {f}" for f in stats.failures]
    lines += ["", "Plot: `soak.svg` (RSS, descriptors, p99 per window); raw samples: `soak.csv`.", ""]
    (out / "soak.md").write_text("\n".join(lines))


# ---- main ----------------------------------------------------------------------


async def drive(run: Run, every: float, rows: list[dict]) -> None:
    tasks = [
        *(run.keepalive(40) for _ in range(4)),
        *(run.short(15) for _ in range(2)),
        run.uploads(5),
        run.timers_and_threads(10),
        run.chat_pages(10),
        run.bad(2),
        run.silent(2),
        *(run.ws_talker(k) for k in ("echo", "echo", "c-chat", "c-chat", "chat-room", "chat-room", "chat-room")),
        run.ws_staller("c-chat"),
        run.ws_staller("chat-room"),
        run.ws_staller("echo"),
        lag_probe(run),
        sampler(run, every, rows),
    ]
    await asyncio.gather(*tasks)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 1800)))
    ap.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    ap.add_argument("--demo", type=Path, default=ROOT / "build/examples/c/demo_server")
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results")
    a = ap.parse_args()
    if not 30 <= a.seconds <= MAX_SECONDS:
        ap.error(f"--seconds / SOAK_SECONDS must be between 30 and {MAX_SECONDS}")
    if not a.demo.exists():
        ap.error(f"{a.demo} is missing: make build/examples/c/demo_server")
    warm = min(300.0, a.seconds * 0.2)
    print(f"soak: {a.seconds:.0f} s, warm-up {warm:.0f} s, a sample every {a.sample} s; websockets {websockets.__version__}")
    c, chat = start_servers(a.demo, a.out)
    rows: list[dict] = []
    run = Run(c, chat, a.seconds)
    print(f"c-demo pid {c.pid} port {c.port}; chat pid {chat.pid} port {chat.port}", flush=True)
    try:
        asyncio.run(drive(run, a.sample, rows))
    finally:
        c.stop()
        chat.stop()
    problems, figures = verdict(rows, run.stats, warm)
    report(a.out, rows, run.stats, a.seconds, warm, problems, figures)
    print(f"wrote {a.out}/soak.md, soak.csv, soak.svg")
    if problems:
        print("soak FAILED:\n  " + "\n  ".join(problems))
        return 1
    print("soak passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
