#!/usr/bin/env python3
"""TLS: squall's C demo over https beside nginx with the same certificate,
in one run (both pinned to CPU 1, the load to CPU 0, loopback only):

1. keep-alive "Hello, world" over TLS 1.3: wrk -t1 -c64, 2 s warm-up, 3 runs
   of 8 s, median: req/s and requests per server CPU-second;
2. new connections: `openssl s_time -new` (a full TLS 1.3 handshake per
   connection) and `-reuse -tls1_2` (a resumed TLS 1.2 session: s_time
   closes a TLS 1.3 connection before its ticket arrives, so it never
   resumes 1.3; every connection is checked to be resumed), 8 s each, 3
   runs, median: connections/s and handshakes per server CPU-second;
3. memory: 10,000 idle TLS keep-alive connections (each has done one GET),
   the server's RSS growth per connection.

The certificate is ECDSA P-256, made by openssl at run time. nginx: one
worker, TLS 1.2 and 1.3, session tickets on (its default) and a shared
session cache, keep-alive as the anchors' nginx. The negotiated protocol and
cipher of each are printed by `openssl s_client` into the results.

Writes bench/results/tls.md and tls.json.
"""
import asyncio
import json
import os
import resource
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import http_bench  # noqa: E402

ROOT = http_bench.ROOT
OUT = http_bench.OUT
WORK = ROOT / "build" / "bench" / "tls"
DEMO = ROOT / "build" / "examples" / "c" / "demo_server"
IDLE = int(os.environ.get("TLS_IDLE", "10000"))
SECS = int(os.environ.get("TLS_SECS", "8"))


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


def make_cert():
    WORK.mkdir(parents=True, exist_ok=True)
    key, cert = WORK / "key.pem", WORK / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


def nginx_conf(port, cert, key):
    d = WORK / "nginx"
    for sub in ("tmp", "logs"):
        (d / sub).mkdir(parents=True, exist_ok=True)
    user = "user root;\n" if os.geteuid() == 0 else ""
    (d / "nginx.conf").write_text(f"""{user}daemon off;
master_process on;
worker_processes 1;
pid nginx.pid;
error_log stderr warn;
events {{ worker_connections 20000; use epoll; }}
http {{
    access_log off;
    default_type text/plain;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    client_body_temp_path tmp/client_body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    server {{
        listen 127.0.0.1:{port} ssl default_server;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{ return 200 "Hello, world"; }}
    }}
}}
""")
    return d


class TlsServer:
    """A server pinned to the server CPU, health-checked over TLS."""

    def __init__(self, bench, name, port, cmd, cwd=None):
        self.bench, self.name, self.port, self.cmd, self.cwd = bench, name, port, cmd, cwd
        self.proc = None

    def start(self, ca):
        logf = open(WORK / f"{self.name}.log", "wb")
        self.proc = subprocess.Popen(self.bench.pin(self.bench.SERVER_CPU, self.cmd), cwd=self.cwd, stdout=logf,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        ctx = ssl.create_default_context(cafile=str(ca))
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {(WORK / f'{self.name}.log').read_text()[-500:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    with ctx.wrap_socket(s, server_hostname="localhost") as t:
                        t.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                        got = b""
                        while chunk := t.recv(4096):
                            got += chunk
                        assert got.endswith(b"Hello, world"), got[-100:]
                        return
            except (OSError, ssl.SSLError):
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not answering over TLS")

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(8)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(5)
        try:
            os.killpg(self.proc.pid, 9)
        except (ProcessLookupError, PermissionError, AttributeError):
            pass


def negotiated(port, ca):
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-servername", "localhost",
                        "-CAfile", str(ca), "-brief"], input=b"", capture_output=True, timeout=10)
    out = (p.stdout + p.stderr).decode(errors="replace")
    proto = next((l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Protocol version")), "?")
    cipher = next((l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Ciphersuite")), "?")
    return f"{proto} {cipher}"


def measure(bench, srv, cmd, seconds):
    """Runs cmd (pinned to the client CPU); returns (its stdout, wall s, server CPU s)."""
    procstat = bench.procstat
    c0, t0 = procstat.cpu_seconds(srv.pid), time.perf_counter()
    p = subprocess.run(bench.pin(bench.CLIENT_CPU, cmd), capture_output=True, text=True, timeout=seconds + 60)
    c1, t1 = procstat.cpu_seconds(srv.pid), time.perf_counter()
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {p.returncode}: {p.stderr[-300:]}")
    return p.stdout, t1 - t0, c1 - c0


def keepalive(bench, srv):
    url = f"https://127.0.0.1:{srv.port}/"
    subprocess.run(bench.pin(bench.CLIENT_CPU, ["wrk", "-t1", "-c64", "-d2s", url]), capture_output=True)
    runs = []
    for _ in range(3):
        out, wall, cpu = measure(bench, srv, ["wrk", "-t1", "-c64", f"-d{SECS}s", "--latency", url], SECS)
        r = bench.parse_wrk(out)
        assert r["rps"] and r["socket_errors"] == 0 and r["non_2xx"] == 0, out
        r["server_cpu_s"] = cpu
        r["per_cpu_s"] = r["requests"] / cpu if cpu else None
        runs.append(r)
        log(f"{srv.name} keep-alive: {r['rps']:,.0f} req/s, {r['per_cpu_s']:,.0f} per server CPU-s")
    return sorted(runs, key=lambda r: r["per_cpu_s"])[1]


def handshakes(bench, srv, ca, mode):
    import re
    runs = []
    flags = ["-new"] if mode == "new" else ["-reuse", "-tls1_2"]
    for _ in range(3):
        out, wall, cpu = measure(bench, srv, ["openssl", "s_time", "-connect", f"127.0.0.1:{srv.port}",
                                              "-CAfile", str(ca), *flags, "-time", str(SECS)], SECS)
        m = re.search(r"(\d+) connections in ([\d.]+)s", out)
        assert m, out
        n = int(m.group(1))
        if mode == "reuse":  # s_time prints "r" per resumed connection (the first is full)
            marks = "".join(line for line in out.splitlines() if line and set(line) <= {"r", "*"})
            assert marks.count("r") >= n - 2, f"{srv.name}: sessions not resumed ({marks.count('r')} of {n})"
        runs.append({"connections": n, "per_s": n / wall, "server_cpu_s": cpu, "per_cpu_s": n / cpu if cpu else None})
        log(f"{srv.name} {mode}: {n / wall:,.0f} conn/s, {runs[-1]['per_cpu_s']:,.0f} per server CPU-s")
    return sorted(runs, key=lambda r: r["per_cpu_s"])[1]


async def idle_conns(port, ca, n):
    ctx = ssl.create_default_context(cafile=str(ca))
    sem = asyncio.Semaphore(200)
    conns = []

    async def one():
        async with sem:
            r, w = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
            w.write(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            await w.drain()
            got = b""
            while not got.endswith(b"Hello, world"):
                chunk = await r.read(4096)
                if not chunk:
                    raise ConnectionError("closed")
                got += chunk
            conns.append(w)

    await asyncio.gather(*(one() for _ in range(n)))
    return conns


def idle(bench, srv, ca):
    rss0 = bench.procstat.rss_kib(srv.pid)
    loop = asyncio.new_event_loop()
    conns = loop.run_until_complete(idle_conns(srv.port, ca, IDLE))
    time.sleep(2)
    rss1 = bench.procstat.rss_kib(srv.pid)
    for w in conns:
        w.close()
    loop.run_until_complete(asyncio.sleep(0.5))
    loop.close()
    per = (rss1 - rss0) / IDLE
    log(f"{srv.name} idle: {IDLE} TLS connections, RSS {rss0} -> {rss1} KiB, {per:.2f} KiB each")
    return {"conns": IDLE, "rss_before_kib": rss0, "rss_after_kib": rss1, "kib_per_conn": per}


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    subprocess.run(["make", "-s", "-C", str(ROOT), "examples"], check=True)
    bench, _, _ = http_bench.anchor_bench(OUT)
    if shutil.which("nginx") is None and not os.path.exists("/usr/sbin/nginx"):
        sys.exit("nginx is not installed")
    cert, key = make_cert()
    sq_port, ng_port = 18420, 18421
    servers = [
        TlsServer(bench, "squall", sq_port, ["env", f"PORT={sq_port}", "SQUALL_IO_THREADS=1",
                                             f"SQUALL_TLS_CERT={cert}", f"SQUALL_TLS_KEY={key}", str(DEMO)]),
        TlsServer(bench, "nginx", ng_port, [shutil.which("nginx") or "/usr/sbin/nginx", "-e", "stderr", "-p",
                                            f"{nginx_conf(ng_port, cert, key)}/", "-c", "nginx.conf"]),
    ]
    res = {"facts": bench.machine_facts(), "rows": {}}
    for srv in servers:
        srv.start(cert)
        try:
            row = {"negotiated": negotiated(srv.port, cert)}
            row["keepalive"] = keepalive(bench, srv)
            row["full"] = handshakes(bench, srv, cert, "new")
            row["resumed"] = handshakes(bench, srv, cert, "reuse")
            row["idle"] = idle(bench, srv, cert)
            res["rows"][srv.name] = row
        finally:
            srv.stop()
    (OUT / "tls.json").write_text(json.dumps(res, indent=1, default=str))
    s, n = res["rows"]["squall"], res["rows"]["nginx"]

    def ratio(a, b):
        return f"{a / b:.2f}×" if a and b else "—"

    lines = ["# TLS: squall beside nginx", "",
             f"`python3 bench/tls_bench.py` (`bench/run.sh tls`), {res['facts'].get('cpu_model', '')}: the C demo "
             "(io_threads 1) and nginx (1 worker), each pinned to CPU 1, the load on CPU 0; ECDSA P-256 "
             "certificate; medians of 3 runs.", "",
             f"Negotiated: squall {s['negotiated']}; nginx {n['negotiated']}.", "",
             "| | squall | nginx | squall / nginx |", "|---|---:|---:|---:|",
             f"| keep-alive hello, req/s (wrk -t1 -c64) | {s['keepalive']['rps']:,.0f} | {n['keepalive']['rps']:,.0f} "
             f"| {ratio(s['keepalive']['rps'], n['keepalive']['rps'])} |",
             f"| keep-alive, requests per server CPU-s | {s['keepalive']['per_cpu_s']:,.0f} | "
             f"{n['keepalive']['per_cpu_s']:,.0f} | {ratio(s['keepalive']['per_cpu_s'], n['keepalive']['per_cpu_s'])} |",
             f"| keep-alive p99 (ms) | {s['keepalive']['p99_ms']} | {n['keepalive']['p99_ms']} | |",
             f"| full handshakes/s (openssl s_time -new) | {s['full']['per_s']:,.0f} | {n['full']['per_s']:,.0f} "
             f"| {ratio(s['full']['per_s'], n['full']['per_s'])} |",
             f"| full handshakes per server CPU-s | {s['full']['per_cpu_s']:,.0f} | {n['full']['per_cpu_s']:,.0f} "
             f"| {ratio(s['full']['per_cpu_s'], n['full']['per_cpu_s'])} |",
             f"| resumed TLS 1.2 sessions/s (s_time -reuse -tls1_2) | {s['resumed']['per_s']:,.0f} | {n['resumed']['per_s']:,.0f} "
             f"| {ratio(s['resumed']['per_s'], n['resumed']['per_s'])} |",
             f"| resumed per server CPU-s | {s['resumed']['per_cpu_s']:,.0f} | {n['resumed']['per_cpu_s']:,.0f} "
             f"| {ratio(s['resumed']['per_cpu_s'], n['resumed']['per_cpu_s'])} |",
             f"| RSS per idle TLS keep-alive connection ({IDLE:,}), KiB | {s['idle']['kib_per_conn']:.2f} | "
             f"{n['idle']['kib_per_conn']:.2f} | {ratio(s['idle']['kib_per_conn'], n['idle']['kib_per_conn'])} |",
             "", "s_time runs one connection at a time, so connections/s is bounded by the client; "
             "per server CPU-second is the comparison.", ""]
    (OUT / "tls.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
