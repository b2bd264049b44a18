#!/usr/bin/env python3
"""Broadcast across processes through Redis: squall beside Socket.IO, in one
run (loopback only).

Servers (each case's processes and the redis-server) are pinned to CPU 1,
the load client (bench/cluster/load.js, Node) to CPU 0. A case is a chat
room of RECEIVERS WebSocket clients spread evenly over its processes, plus
one sender on the first process, sending MESSAGES messages of 64 bytes:

- squall, 2 processes: the C demo's /ws/chat with SQUALL_CLUSTER (squall's
  own Redis engine);
- Socket.IO 4, 2 processes: bench/cluster/sio_server.js with
  @socket.io/redis-adapter, through the same kind of redis-server;
- squall, 1 process, no Redis: what the cluster path costs.

Each case runs twice: back to back (deliveries/s and server CPU per
delivery: every server process plus Redis) and paced at RATE messages/s
(publish-to-delivery latency, p50/p99, on the client's one clock). Medians
of REPEAT runs. Writes bench/results/cluster.md and cluster.json.
"""
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import http_bench  # noqa: E402

ROOT = http_bench.ROOT
OUT = http_bench.OUT
NODE_DIR = ROOT / "bench" / "cluster"
DEMO = ROOT / "build" / "examples" / "c" / "demo_server"
RECEIVERS = int(os.environ.get("RECEIVERS", "1000"))
MESSAGES = int(os.environ.get("MESSAGES", "200"))
RATE = int(os.environ.get("RATE", "100"))
REPEAT = int(os.environ.get("REPEAT", "3"))


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(proc, port, what):
    end = time.time() + 20
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port}")


class Case:
    """A case's processes (started pinned to the server CPU, stopped by PID)."""

    def __init__(self, bench):
        self.bench, self.procs = bench, []

    def start(self, what, cmd, port, env=None, cwd=None):
        p = subprocess.Popen(self.bench.pin(self.bench.SERVER_CPU, cmd), env=dict(os.environ, **(env or {})),
                             cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(p)
        wait_port(p, port, what)
        return p

    def cpu(self):
        return sum(self.bench.procstat.cpu_seconds(p.pid) for p in self.procs)

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                os.killpg(p.pid, 15)
        for p in reversed(self.procs):
            try:
                p.wait(8)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
                p.wait(5)


def load(bench, case, kind, urls, rate):
    cmd = ["node", str(NODE_DIR / "load.js"), "--kind", kind, "--urls", ",".join(urls), "--receivers",
           str(RECEIVERS), "--messages", str(MESSAGES), "--size", "64", "--rate", str(rate)]
    c0 = case.cpu()
    p = subprocess.run(bench.pin(bench.CLIENT_CPU, cmd), capture_output=True, text=True, timeout=180, cwd=NODE_DIR)
    c1 = case.cpu()
    if p.returncode != 0:
        raise RuntimeError(f"load.js failed: {p.stderr[-800:]}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    # the server CPU of the whole run: connections and sync included, so
    # an upper bound on the fan-out's own
    r["server_cpu_s"] = c1 - c0
    r["us_cpu_per_delivery"] = (c1 - c0) * 1e6 / r["delivered"] if r["delivered"] else None
    r["ok"] = r["delivered"] == r["expected"] and r["order_errors"] == 0
    return r


def run_case(bench, name, start):
    case = Case(bench)
    try:
        kind, urls = start(case)
        thr = [load(bench, case, kind, urls, 0) for _ in range(REPEAT)]
        for r in thr:
            log(f"{name} back to back: {r['deliveries_per_s']:,.0f} deliveries/s, "
                f"{r['us_cpu_per_delivery']:.2f} µs server CPU each, ok={r['ok']}")
        lat = [load(bench, case, kind, urls, RATE) for _ in range(REPEAT)]
        for r in lat:
            log(f"{name} at {RATE}/s: p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, ok={r['ok']}")
    finally:
        case.stop()
    med = sorted(thr, key=lambda r: r["deliveries_per_s"])[len(thr) // 2]
    medl = sorted(lat, key=lambda r: r["p99_ms"])[len(lat) // 2]
    return {"name": name, "throughput": med, "latency": medl, "runs": thr + lat,
            "ok": all(r["ok"] for r in thr + lat)}


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    subprocess.run(["make", "-s", "-C", str(ROOT), "examples"], check=True)
    if not (NODE_DIR / "node_modules" / "socket.io").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)
    bench, _, _ = http_bench.anchor_bench(OUT)
    redis = shutil.which("redis-server") or "/usr/bin/redis-server"

    def with_redis(case):
        port = free_port()
        case.start("redis-server", [redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                    "--appendonly", "no"], port)
        return f"redis://127.0.0.1:{port}"

    def squall2(case):
        url = with_redis(case) + "/0?prefix=bench"
        ports = [free_port(), free_port()]
        for p in ports:
            case.start("squall", [str(DEMO)], p, {"PORT": str(p), "SQUALL_CLUSTER": url})
        time.sleep(0.5)  # both joined
        return "squall", [f"ws://127.0.0.1:{p}/ws/chat" for p in ports]

    def sio2(case):
        url = with_redis(case)
        ports = [free_port(), free_port()]
        for p in ports:
            case.start("socket.io", ["node", str(NODE_DIR / "sio_server.js")], p,
                       {"PORT": str(p), "REDIS_URL": url}, cwd=NODE_DIR)
        time.sleep(0.5)
        return "sio", [f"ws://127.0.0.1:{p}/" for p in ports]

    def squall1(case):
        p = free_port()
        case.start("squall", [str(DEMO)], p, {"PORT": str(p)})
        return "squall", [f"ws://127.0.0.1:{p}/ws/chat"]

    rows = [run_case(bench, "squall, 2 processes + Redis", squall2),
            run_case(bench, "Socket.IO 4 + redis-adapter, 2 processes + Redis", sio2),
            run_case(bench, "squall, 1 process, no Redis", squall1)]
    res = {"facts": bench.machine_facts(), "receivers": RECEIVERS, "messages": MESSAGES, "rate": RATE, "rows": rows}
    (OUT / "cluster.json").write_text(json.dumps(res, indent=1))
    sq, sio = rows[0], rows[1]
    per_cpu = lambda r: 1e6 / r["throughput"]["us_cpu_per_delivery"]  # noqa: E731
    lines = ["# Broadcast across processes: squall beside Socket.IO", "",
             f"`python3 bench/cluster_bench.py` (`bench/run.sh cluster`): {RECEIVERS} receivers spread over the "
             f"processes + 1 sender, {MESSAGES} messages of 64 bytes; servers and redis-server pinned to CPU 1, the "
             f"Node load client (bench/cluster/load.js) to CPU 0; back to back for throughput, {RATE}/s for latency; "
             f"medians of {REPEAT}.", "",
             "| case | deliveries/s | server CPU µs per delivery (processes + Redis) | deliveries per server CPU-s "
             f"| p50 ms at {RATE}/s | p99 ms | all delivered, in order |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        t, l = r["throughput"], r["latency"]
        lines.append(f"| {r['name']} | {t['deliveries_per_s']:,.0f} | {t['us_cpu_per_delivery']:.2f} | {per_cpu(r):,.0f} "
                     f"| {l['p50_ms']:.2f} | {l['p99_ms']:.2f} | {'yes' if r['ok'] else 'NO'} |")
    lines += ["", f"squall / Socket.IO, deliveries per server CPU-second: **{per_cpu(sq) / per_cpu(sio):.2f}×** "
              f"(target ≥ 3×); p99 {sq['latency']['p99_ms']:.2f} ms vs {sio['latency']['p99_ms']:.2f} ms.",
              "The server CPU is that of the whole load run (connecting and the sync phase included), for "
              "both alike.", ""]
    (OUT / "cluster.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
