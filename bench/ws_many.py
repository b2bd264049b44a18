#!/usr/bin/env python3
"""Many concurrent WebSocket connections, then one broadcast: connect time, server RSS, fan-out time.

Opens N WebSocket connections to a chat-room route (every message sent to the
room is forwarded to every connection in it) and holds them. The connections
are split over --procs worker processes; worker i binds its sockets to the
source address 127.0.0.<src-base + i> (IP_BIND_ADDRESS_NO_PORT, so the port is
picked at connect time), because one source address only has the ephemeral
ports of net.ipv4.ip_local_port_range (~28,000 by default). Each worker is a
single-threaded epoll loop over raw non-blocking sockets: non-blocking
connect, upgrade request, "101 Switching Protocols" checked (status and
Sec-WebSocket-Accept), then only unmasked server frames are read (pings are
answered with pongs). At most --inflight handshakes per worker are in progress
at once, so the server's listen backlog is not overrun.

When every worker holds its connections, the controller (this process) reads
the server's VmRSS, opens one more connection from 127.0.0.1 (the publisher)
and sends a sync message, waits until every connection has received it (so
every connection is known to be in the room), then sends the measured
message and waits until every connection has received it. Times are
CLOCK_MONOTONIC, which all processes share:

  fanout_s            send of the measured message -> the epoll wake-up that
                      returned the last connection's copy (an upper bound of
                      its arrival: the data was in the socket by then)
  fanout_processed_s  send -> the last copy read and checked by a worker
                      (includes the client's own Python time per connection)

Server CPU time during the fan-out is read from /proc/PID/task/*/schedstat
(nanoseconds) when --server-pid is given. Every step has a timeout; at the
end all sockets are closed and the workers exit. Prints one JSON object on
stdout (progress on stderr). Only ever point it at 127.0.0.x.

  python3 bench/ws_many.py --port 18322 --path /ws/chat -n 50000 --procs 4 --server-pid PID
"""
import argparse
import base64
import errno
import hashlib
import json
import os
import resource
import select
import socket
import subprocess
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
CONNECTING, HANDSHAKE, OPEN = 0, 1, 2


def now():
    return time.monotonic()


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}] ws_many:", *a, file=sys.stderr, flush=True)


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            want = hard
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return max(soft, want)


def messages(size):
    """The sync and the measured payloads, and the unmasked frames a server sends for them."""
    sync = (b"S-sync:" + b"s" * size)[:size]
    meas = (b"M-measured:" + b"m" * size)[:size]

    def frame(p):
        n = len(p)
        if n < 126:
            return bytes((0x81, n)) + p
        if n < 65536:
            return bytes((0x81, 126)) + n.to_bytes(2, "big") + p
        return bytes((0x81, 127)) + n.to_bytes(8, "big") + p
    return sync, meas, frame(sync), frame(meas)


def masked(payload, opcode=1):
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 65536:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = os.urandom(4)
    k = (key * (n // 4 + 1))[:n]
    body = (int.from_bytes(payload, "big") ^ int.from_bytes(k, "big")).to_bytes(n, "big") if n else b""
    return head + key + body


def upgrade_request(host, port, path):
    key = base64.b64encode(os.urandom(16))
    req = (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + f"{host}:{port}".encode()
           + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key
           + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    return req, base64.b64encode(hashlib.sha1(key + GUID).digest())


def check_101(head, accept):
    if not head.startswith(b"HTTP/1.1 101"):
        first = head.split(b"\r\n", 1)[0][:80]
        return f"no 101: {first!r}"
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"sec-websocket-accept":
            return None if v.strip() == accept else "wrong Sec-WebSocket-Accept"
    return "no Sec-WebSocket-Accept"


def parse_frames(buf):
    """Complete server frames in buf: ([(opcode, fin, payload)], rest) or raises ValueError."""
    out, i, n = [], 0, len(buf)
    while n - i >= 2:
        b0, b1 = buf[i], buf[i + 1]
        if b1 & 0x80:
            raise ValueError("server sent a masked frame")
        ln, hdr = b1 & 0x7F, 2
        if ln == 126:
            if n - i < 4:
                break
            ln, hdr = int.from_bytes(buf[i + 2:i + 4], "big"), 4
        elif ln == 127:
            if n - i < 10:
                break
            ln, hdr = int.from_bytes(buf[i + 2:i + 10], "big"), 10
        if n - i < hdr + ln:
            break
        out.append((b0 & 0x0F, bool(b0 & 0x80), buf[i + hdr:i + hdr + ln]))
        i += hdr + ln
    return out, buf[i:]


# ---------------------------------------------------------------- worker

class Worker:
    def __init__(self, a):
        self.a = a
        self.sync, self.meas, self.sync_frame, self.meas_frame = messages(a.size)
        self.ep = select.epoll()
        self.socks = {}     # fd -> socket
        self.state = {}     # fd -> CONNECTING / HANDSHAKE / OPEN
        self.accept = {}    # fd -> expected Sec-WebSocket-Accept (during the handshake)
        self.bufs = {}      # fd -> unparsed bytes (handshake head, or a partial frame)
        self.phase = {}     # fd -> 0 nothing, 1 got sync, 2 got measured message
        self.errors, self.error_count = [], 0
        self.opened = self.failed = self.inflight = 0
        self.synced = self.got = self.lost = self.missed_sync = self.dups = self.other_msgs = 0
        self.first_m = self.last_m = self.last_m_done = self.t_synced = None
        self.cpu_synced = None
        self.reported_sync = self.reported_done = False

    def emit(self, obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    def error(self, msg):
        self.error_count += 1
        if len(self.errors) < 5:
            self.errors.append(msg)

    def drop(self, fd, why):
        st = self.state.pop(fd, None)
        s = self.socks.pop(fd)
        try:
            self.ep.unregister(fd)
        except OSError:
            pass
        s.close()
        self.accept.pop(fd, None)
        self.bufs.pop(fd, None)
        ph = self.phase.pop(fd, 0)
        if st == OPEN:
            if ph < 2:
                self.lost += 1
            self.error(f"closed after open: {why}")
        else:
            self.failed += 1
            self.inflight -= 1
            self.error(why)

    def start_one(self):
        a = self.a
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.bind((a.src, 0))
            err = s.connect_ex((a.host, a.port))
        except OSError as e:
            s.close()
            self.failed += 1
            self.error(f"connect from {a.src}: {e}")
            return
        if err not in (0, errno.EINPROGRESS):
            s.close()
            self.failed += 1
            self.error(f"connect from {a.src}: {os.strerror(err)}")
            return
        fd = s.fileno()
        self.socks[fd] = s
        self.state[fd] = CONNECTING
        self.ep.register(fd, select.EPOLLOUT)
        self.inflight += 1

    def on_event(self, fd, ev, t):
        st = self.state.get(fd)
        if st is None:
            return
        s = self.socks[fd]
        if st == CONNECTING:
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self.drop(fd, f"connect: {os.strerror(err)}")
                return
            req, accept = upgrade_request(self.a.host, self.a.port, self.a.path)
            try:
                s.send(req)
            except OSError as e:
                self.drop(fd, f"send upgrade: {e}")
                return
            self.accept[fd] = accept
            self.bufs[fd] = b""
            self.state[fd] = HANDSHAKE
            self.ep.modify(fd, select.EPOLLIN)
            return
        try:
            data = s.recv(65536)
        except BlockingIOError:
            return
        except OSError as e:
            self.drop(fd, f"recv: {e}")
            return
        if not data:
            self.drop(fd, "closed by the server" + (" during the handshake" if st == HANDSHAKE else ""))
            return
        if st == HANDSHAKE:
            buf = self.bufs[fd] + data
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.bufs[fd] = buf
                return
            why = check_101(buf[:end], self.accept.pop(fd))
            if why:
                self.drop(fd, why)
                return
            self.state[fd] = OPEN
            self.phase[fd] = 0
            self.opened += 1
            self.inflight -= 1
            rest = buf[end + 4:]
            del self.bufs[fd]
            if rest:
                self.frames(fd, rest, t)
            return
        # OPEN: the fast path is one whole frame of the expected message
        if fd not in self.bufs:
            if data == self.meas_frame:
                self.on_meas(fd, t)
                return
            if data == self.sync_frame:
                self.on_sync(fd)
                return
        self.frames(fd, data, t)

    def frames(self, fd, data, t):
        buf = self.bufs.pop(fd, b"") + data
        try:
            frames, rest = parse_frames(buf)
        except ValueError as e:
            self.drop(fd, str(e))
            return
        for op, fin, payload in frames:
            if op in (1, 2):
                if not fin:
                    self.drop(fd, "fragmented message (not expected for these sizes)")
                    return
                if payload == self.meas:
                    self.on_meas(fd, t)
                elif payload == self.sync:
                    self.on_sync(fd)
                else:
                    self.other_msgs += 1
            elif op == 9:
                try:
                    self.socks[fd].send(masked(payload, 10))
                except OSError as e:
                    self.drop(fd, f"send pong: {e}")
                    return
            elif op == 8:
                self.drop(fd, f"close frame from the server {payload[:2].hex()}")
                return
        if rest:
            self.bufs[fd] = rest

    def on_sync(self, fd):
        if self.phase[fd] == 0:
            self.phase[fd] = 1
            self.synced += 1
        else:
            self.dups += 1

    def on_meas(self, fd, t):
        ph = self.phase[fd]
        if ph == 2:
            self.dups += 1
            return
        if ph == 0:
            self.missed_sync += 1
        self.phase[fd] = 2
        self.got += 1
        if self.first_m is None:
            self.first_m = t
        self.last_m = t

    def cpu(self):
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    def status(self, event):
        return {"event": event, "src": self.a.src, "requested": self.a.count, "opened": self.opened,
                "open_now": len(self.socks), "failed": self.failed, "synced": self.synced, "got": self.got,
                "lost": self.lost, "missed_sync": self.missed_sync, "dups": self.dups,
                "other_msgs": self.other_msgs, "first_m": self.first_m, "last_m": self.last_m,
                "last_m_done": self.last_m_done, "t_synced": self.t_synced,
                "client_cpu_fanout_s": (round(self.cpu() - self.cpu_synced, 4) if self.cpu_synced is not None
                                        else None),
                "errors": self.errors, "error_count": self.error_count}

    def run(self):
        a = self.a
        maxev = max(1024, min(a.count, 65536))
        t_start = now()
        deadline = t_start + a.connect_timeout
        started = 0
        while self.opened + self.failed < a.count and now() < deadline:
            while self.inflight < a.inflight and started < a.count:
                self.start_one()
                started += 1
            if self.failed >= 50 and self.opened == 0:
                break  # the route refuses WebSocket upgrades: no point trying the rest
            for fd, ev in self.ep.poll(0.2, maxev):
                self.on_event(fd, ev, 0.0)
        # abandon handshakes still in progress at the deadline
        for fd in [fd for fd, st in self.state.items() if st != OPEN]:
            self.drop(fd, "handshake not finished before the connect deadline")
        t_ready = now()
        self.emit(dict(self.status("ready"), t_start=t_start, t_ready=t_ready))

        stdin = sys.stdin.fileno()
        os.set_blocking(stdin, False)
        self.ep.register(stdin, select.EPOLLIN)
        self.cpu_synced = None
        cmd_buf = b""
        while True:
            events = self.ep.poll(0.5, maxev)
            t = now()
            quit_ = False
            for fd, ev in events:
                if fd == stdin:
                    try:
                        chunk = os.read(stdin, 4096)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        quit_ = True
                        break
                    cmd_buf += chunk
                    while b"\n" in cmd_buf:
                        line, cmd_buf = cmd_buf.split(b"\n", 1)
                        if line.strip() == b"report":
                            self.emit(self.status("report"))
                        elif line.strip() == b"close":
                            quit_ = True
                    continue
                self.on_event(fd, ev, t)
            if quit_:
                break
            live = self.opened - self.lost
            if not self.reported_sync and self.opened and self.synced >= live:
                self.reported_sync = True
                self.t_synced = now()
                self.cpu_synced = self.cpu()
                self.emit(self.status("synced"))
            if self.reported_sync and not self.reported_done and self.got >= live:
                self.reported_done = True
                self.last_m_done = now()
                self.emit(self.status("done"))
        for s in self.socks.values():
            s.close()
        return 0


# ---------------------------------------------------------------- controller

def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def cpu_ns(pid):
    """CPU time of every thread of pid, in ns (schedstat), or from utime+stime if schedstat is absent."""
    total, seen = 0, False
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
                    seen = True
            except (OSError, ValueError, IndexError):
                pass
    except OSError:
        return None
    if seen:
        return total
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class Publisher:
    def __init__(self, host, port, path, timeout):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        req, accept = upgrade_request(host, port, path)
        self.s.sendall(req)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.s.recv(4096)
            if not chunk:
                raise ConnectionError("publisher: closed during the handshake")
            buf += chunk
        why = check_101(buf.split(b"\r\n\r\n", 1)[0], accept)
        if why:
            raise ConnectionError(f"publisher: {why}")

    def send(self, payload):
        self.s.sendall(masked(payload, 1))

    def close(self):
        try:
            self.s.sendall(masked((1000).to_bytes(2, "big"), 8))
        except OSError:
            pass
        self.s.close()


class Workers:
    """The worker processes and their JSON-lines stdout."""

    def __init__(self, a, plan):
        self.procs, self.bufs, self.last = [], {}, {}
        for src, count in plan:
            cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--host", a.host, "--port", str(a.port),
                   "--path", a.path, "--src", src, "--count", str(count), "--size", str(a.size),
                   "--inflight", str(a.inflight), "--connect-timeout", str(a.connect_timeout)]
            p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=sys.stderr)
            self.procs.append(p)
            self.bufs[p.pid] = b""
        self.ep = select.epoll()
        self.by_fd = {p.stdout.fileno(): p for p in self.procs}
        for fd in self.by_fd:
            os.set_blocking(fd, False)
            self.ep.register(fd, select.EPOLLIN)

    def collect(self, event, deadline, pids=None):
        """{pid: status} of the given event from every worker in pids (default all), until the deadline."""
        got = {}
        alive = set(pids) if pids is not None else {p.pid for p in self.procs}
        while alive - set(got) and now() < deadline:
            for fd, _ in self.ep.poll(min(0.5, max(0.0, deadline - now()))):
                p = self.by_fd[fd]
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    self.ep.unregister(fd)
                    alive.discard(p.pid)
                    continue
                self.bufs[p.pid] += chunk
                while b"\n" in self.bufs[p.pid]:
                    line, self.bufs[p.pid] = self.bufs[p.pid].split(b"\n", 1)
                    msg = json.loads(line)
                    self.last[p.pid] = msg
                    if msg["event"] == event or (event == "done" and msg["event"] == "report"):
                        got[p.pid] = msg
        return got

    def tell(self, line):
        for p in self.procs:
            try:
                p.stdin.write(line.encode() + b"\n")
                p.stdin.flush()
            except (BrokenPipeError, OSError):
                pass

    def close(self, timeout=30):
        self.tell("close")
        for p in self.procs:
            try:
                p.stdin.close()
            except OSError:
                pass
        deadline = now() + timeout
        for p in self.procs:
            try:
                p.wait(timeout=max(0.1, deadline - now()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=5)


def controller(a):
    raise_nofile(a.n // max(1, a.procs) + 4096)
    out = {"host": a.host, "port": a.port, "path": a.path, "requested": a.n, "procs": a.procs,
           "size": a.size, "inflight_per_proc": a.inflight, "ok": False}
    lo, hi = map(int, open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
    out["ip_local_port_range"] = f"{lo}-{hi}"
    per_ip = min(a.per_ip, hi - lo + 1)
    procs = max(a.procs, -(-a.n // per_ip))
    if a.src_base + procs - 1 > 254:
        raise SystemExit("too many source addresses needed")
    base, extra = divmod(a.n, procs)
    plan = [(f"127.0.0.{a.src_base + i}", base + (1 if i < extra else 0)) for i in range(procs)]
    out["procs"] = procs
    out["sources"] = f"{plan[0][0]}..{plan[-1][0]}" if procs > 1 else plan[0][0]
    out["per_source"] = [c for _, c in plan]
    pid = a.server_pid
    out["rss_before_kib"] = rss_kib(pid) if pid else None
    log(f"{a.n} connections to {a.host}:{a.port}{a.path} from {out['sources']} ({procs} workers)")
    w = Workers(a, plan)
    pub = None
    try:
        ready = w.collect("ready", now() + a.connect_timeout + 30)
        opened = sum(r["opened"] for r in ready.values())
        out["opened"] = opened
        out["failed"] = sum(r["failed"] for r in ready.values())
        out["errors"] = [e for r in ready.values() for e in r["errors"]][:5]
        if ready:
            t0 = min(r["t_start"] for r in ready.values())
            t1 = max(r["t_ready"] for r in ready.values())
            out["connect_s"] = round(t1 - t0, 3)
            out["connects_per_s"] = round(opened / (t1 - t0), 1) if t1 > t0 else None
        log(f"open: {opened:,}/{a.n:,} in {out.get('connect_s')} s, failed {out['failed']}"
            + (f" ({out['errors'][0]})" if out["errors"] else ""))
        if len(ready) < procs:
            out["error"] = f"only {len(ready)}/{procs} workers reported their connections"
        if not opened:
            out.setdefault("error", "no connection opened")
            return out
        time.sleep(a.settle)
        out["rss_with_conns_kib"] = rss_kib(pid) if pid else None
        if pid and out["rss_before_kib"] and out["rss_with_conns_kib"]:
            out["bytes_per_conn"] = round((out["rss_with_conns_kib"] - out["rss_before_kib"]) * 1024 / opened)
        sync, meas, _, _ = messages(a.size)
        pub = Publisher(a.host, a.port, a.path, 30)
        ts = now()
        pub.send(sync)
        holders = [pid_ for pid_, r in ready.items() if r["opened"]]
        synced = w.collect("synced", now() + a.sync_timeout, holders)
        n_synced = sum(r["synced"] for r in synced.values())
        if synced:
            out["sync_fanout_s"] = round(max(r["t_synced"] for r in synced.values()) - ts, 4)
        if len(synced) < len(holders):
            w.tell("report")
            part = w.collect("report", now() + 10, holders)
            n_synced = sum(r["synced"] for r in part.values())
            out["error"] = f"sync message: only {n_synced:,}/{opened:,} connections got it in {a.sync_timeout} s"
            log(out["error"])
            return out
        log(f"sync message reached all {n_synced:,} in {out['sync_fanout_s']} s")
        time.sleep(a.settle)
        c0 = cpu_ns(pid) if pid else None
        t0 = now()
        pub.send(meas)
        done = w.collect("done", now() + a.fanout_timeout, holders)
        c1 = cpu_ns(pid) if pid else None
        if len(done) < len(holders):
            w.tell("report")
            done.update(w.collect("report", now() + 10, set(holders) - set(done)))
        got = sum(r["got"] for r in done.values())
        lost = sum(r["lost"] for r in done.values())
        out.update(received=got, lost_before_fanout=lost,
                   missed_sync=sum(r["missed_sync"] for r in done.values()),
                   duplicates=sum(r["dups"] for r in done.values()),
                   client_cpu_fanout_s=round(sum(r["client_cpu_fanout_s"] or 0 for r in done.values()), 4))
        lasts = [r["last_m"] for r in done.values() if r["last_m"]]
        firsts = [r["first_m"] for r in done.values() if r["first_m"]]
        dones = [r["last_m_done"] for r in done.values() if r["last_m_done"]]
        if firsts:
            out["first_delivery_ms"] = round((min(firsts) - t0) * 1e3, 2)
        if lasts:
            out["fanout_s"] = round(max(lasts) - t0, 4)
        if dones and len(dones) == len(done):
            out["fanout_processed_s"] = round(max(dones) - t0, 4)
        if c0 is not None and c1 is not None:
            out["server_cpu_fanout_s"] = round((c1 - c0) / 1e9, 4)
            out["server_us_per_delivery"] = round((c1 - c0) / 1e3 / got, 3) if got else None
        out["ok"] = got == opened and opened == a.n and not lost
        if got < opened:
            out["error"] = f"measured message: {got:,}/{opened:,} received within {a.fanout_timeout} s"
        log(f"fan-out to {got:,}: {out.get('fanout_s')} s (processed {out.get('fanout_processed_s')} s), "
            f"server CPU {out.get('server_cpu_fanout_s')} s, client CPU {out['client_cpu_fanout_s']} s")
        return out
    finally:
        if pub:
            pub.close()
        w.close()
        if pid:
            time.sleep(a.settle)
            out["rss_after_close_kib"] = rss_kib(pid)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--path", default="/ws/chat")
    p.add_argument("-n", type=int, default=50000, help="connections in all")
    p.add_argument("--procs", type=int, default=4, help="worker processes (at least one per source address)")
    p.add_argument("--per-ip", type=int, default=20000, help="connections per source address, at most")
    p.add_argument("--src-base", type=int, default=2, help="first source address is 127.0.0.<src-base>")
    p.add_argument("--inflight", type=int, default=128, help="handshakes in progress per worker")
    p.add_argument("--size", type=int, default=32, help="payload bytes of the sync and measured messages")
    p.add_argument("--server-pid", type=int, default=0)
    p.add_argument("--settle", type=float, default=1.0)
    p.add_argument("--connect-timeout", type=float, default=180)
    p.add_argument("--sync-timeout", type=float, default=30)
    p.add_argument("--fanout-timeout", type=float, default=60)
    # worker mode (started by the controller)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--src", default="127.0.0.2", help=argparse.SUPPRESS)
    p.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    a = p.parse_args()
    if not a.host.startswith("127."):
        raise SystemExit("only 127.0.0.x targets")
    if a.worker:
        raise_nofile(a.count + 1024)
        return Worker(a).run()
    out = controller(a)
    print(json.dumps(out))
    return 0 if out.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
