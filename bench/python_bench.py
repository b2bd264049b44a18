#!/usr/bin/env python3
"""The Python package beside the Python anchors, in one run (bench/run.sh python).

HTTP: wrk on GET / of bench/python/hello_handler.py (RequestHandler) and
hello_fast.py (app.route), each with SQUALL_IO_THREADS=1 and 0, beside
Tornado, uvicorn (asyncio and uvloop) and socketify.py. WebSockets: the
anchors' echo and broadcast clients against bench/python/ws_server.py,
Tornado and socketify.py. Servers are pinned to CPU 1, clients to CPU 0, as
the anchors are (their bench.py does the pinning, warm-up, medians of 3).

Writes bench/results/python.md and python.json; raw output in
bench/results/raw/.
"""
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import http_bench  # noqa: E402  (prepare_anchors: the anchors' copy under build/anchors)

OUT = ROOT / "bench" / "results"
PKG = ROOT / "bindings" / "python"


def main():
    bench, anchors, want = http_bench.anchor_bench(OUT)
    os.environ["PYTHONPATH"] = str(PKG) + os.pathsep + os.environ.get("PYTHONPATH", "")
    py = sys.executable
    here = ROOT / "bench" / "python"
    uvicorn = lambda port, loop: [py, "-m", "uvicorn", "--app-dir", str(anchors / "servers"), "uvicorn_app:app",  # noqa: E731
                                  "--host", "127.0.0.1", "--port", str(port), "--http", "httptools", "--loop", loop,
                                  "--log-level", "warning", "--no-access-log", "--workers", "1"]
    http_servers = [
        ("squall-handler-io1", "squall Python RequestHandler, io_threads=1 (default)",
         ["env", "SQUALL_IO_THREADS=1", py, str(here / "hello_handler.py"), "18401"], 18401),
        ("squall-handler-io0", "squall Python RequestHandler, io_threads=0",
         ["env", "SQUALL_IO_THREADS=0", py, str(here / "hello_handler.py"), "18402"], 18402),
        ("squall-fast-io1", "squall Python fast path (app.route), io_threads=1",
         ["env", "SQUALL_IO_THREADS=1", py, str(here / "hello_fast.py"), "18403"], 18403),
        ("squall-fast-io0", "squall Python fast path (app.route), io_threads=0",
         ["env", "SQUALL_IO_THREADS=0", py, str(here / "hello_fast.py"), "18404"], 18404),
        ("tornado", "Tornado hello world, 1 process", [py, str(anchors / "servers" / "tornado_hello.py"), "18083"], 18083),
        ("uvicorn", "uvicorn + httptools, raw ASGI, asyncio loop", uvicorn(18084, "asyncio"), 18084),
        ("uvicorn-uvloop", "uvicorn + httptools + uvloop, raw ASGI", uvicorn(18085, "uvloop"), 18085),
        ("socketify", "socketify.py (uWebSockets), 1 process",
         [py, str(anchors / "servers" / "socketify_hello.py"), "18086"], 18086),
    ]
    res = http_bench.bench_results(bench)
    for key, label, cmd, port in http_servers:
        if want(key):
            res["http"].append(bench.bench_http(key, label, bench.Server(key, port, cmd)))

    ws_servers = [
        ("squall-ws-io1", "squall Python WebSocketHandler (topics), io_threads=1",
         ["env", "SQUALL_IO_THREADS=1", py, str(here / "ws_server.py"), "18411"], 18411),
        ("squall-ws-io0", "squall Python WebSocketHandler (topics), io_threads=0",
         ["env", "SQUALL_IO_THREADS=0", py, str(here / "ws_server.py"), "18412"], 18412),
        ("tornado", "Tornado WebSocketHandler", [py, str(anchors / "servers" / "tornado_ws.py"), "18090"], 18090),
        ("socketify", "socketify.py (uWS; chat = native pub/sub)",
         [py, str(anchors / "servers" / "socketify_ws.py"), "18091"], 18091),
    ]
    http_bench.bench_ws(bench, ws_servers, want, "py", res)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "python.json").write_text(json.dumps(res, indent=1))
    md = render(res)
    (OUT / "python.md").write_text(md)
    print(md)


def f(v, nd=0):
    return "–" if v is None else (f"{v:,.{nd}f}" if isinstance(v, (int, float)) else str(v))


def render(r):
    facts = r["facts"]
    L = ["# Python package benchmark: squall's Python servers beside the Python anchors (same run)", "",
         f"- date: {r['date']}",
         f"- machine: {facts.get('cpu_count')} CPUs, {facts.get('cpu_model', '')}, kernel {facts.get('kernel', '')}",
         "- pinning: server on CPU 1, load client on CPU 0 (the anchors' bench.py)",
         f"- HTTP load: {r['config']['wrk']}",
         "- command: `bench/run.sh python` (bench/python_bench.py); servers in bench/python/", ""]
    http = {x["key"]: x for x in r["http"]}
    tornado = (http.get("tornado") or {}).get("rps")
    sock = (http.get("socketify") or {}).get("rps")
    L += ["## HTTP hello world", "",
          "| server | req/s | range | p99 ms | server CPU % | req per server CPU-s | × Tornado | × socketify | ok |",
          "|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for x in r["http"]:
        rps = x.get("rps")
        cpu = x.get("server_cpu_pct")
        per = rps / (cpu / 100) if rps and cpu else None
        L.append(f"| {x['label']} | {f(rps)} | {f(x.get('rps_min'))}–{f(x.get('rps_max'))} | {f(x.get('p99_ms'), 2)} | "
                 f"{f(cpu)} | {f(per)} | {f(rps / tornado, 2) if rps and tornado else '–'} | "
                 f"{f(rps / sock, 2) if rps and sock else '–'} | {'ok' if x.get('ok') else x.get('error', 'FAILED')} |")
    for sect, metric, unit in (("ws_echo", "msgs_per_s", "msgs/s"), ("ws_broadcast", "delivered_per_s", "deliveries/s")):
        L += ["", f"## WebSocket {'echo' if sect == 'ws_echo' else 'broadcast'} ({r['config'][sect]})", "",
              f"| server | client | {unit} | range | × Tornado | server CPU % | client CPU % | ok |", "|---|---|---:|---:|---:|---:|---:|---|"]
        base = {x.get("impl"): x.get(metric) for x in r[sect] if x.get("key") == "tornado"}
        for x in r[sect]:
            v = x.get(metric)
            b = base.get(x.get("impl"))
            L.append(f"| {x.get('label')} | {x.get('impl', '–')} | {f(v)} | {f(x.get(metric + '_min'))}–{f(x.get(metric + '_max'))} | "
                     f"{f(v / b, 2) if v and b else '–'} | {f(x.get('server_cpu_pct'))} | {f(x.get('client_cpu_pct'))} | "
                     f"{'ok' if x.get('ok') else x.get('error', 'FAILED')} |")
    L += ["", "Commands: servers as listed in bench/python_bench.py, loads as the anchors' bench.py runs them "
          "(raw output with the exact commands in bench/results/raw/py.*).", ""]
    return "\n".join(L)


if __name__ == "__main__":
    main()
