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
import datetime
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import http_bench  # noqa: E402  (prepare_anchors: the anchors' copy under build/anchors)

OUT = ROOT / "bench" / "results"
PKG = ROOT / "bindings" / "python"


def main():
    http_bench.raise_nofile()
    http_bench.prepare_anchors()
    anchors = http_bench.ANCHORS
    sys.path.insert(0, str(anchors))
    bench = importlib.import_module("bench")
    bench.RAW = OUT / "raw"
    bench.RAW.mkdir(parents=True, exist_ok=True)
    bench.WORK.mkdir(exist_ok=True)
    os.environ["PYTHONPATH"] = str(PKG) + os.pathsep + os.environ.get("PYTHONPATH", "")
    py = sys.executable
    only = set(filter(None, os.environ.get("ONLY", "").split(",")))

    def want(key):
        return not only or key in only or any(key.startswith(o) for o in only)

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
    res = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "facts": bench.machine_facts(), "http": [], "ws_echo": [], "ws_broadcast": [],
           "config": {"wrk": f"wrk -t1 -c{bench.WRK_CONNS} -d{bench.WRK_DURATION}s --latency "
                             f"(after a -d{bench.WRK_WARMUP}s warm-up), median of {bench.REPEAT}",
                      "ws_echo": f"{bench.WS_CONNS} connections, 32-byte text, 1 outstanding each, "
                                 f"{bench.WS_DURATION:g} s, median of {bench.REPEAT}",
                      "ws_broadcast": f"{bench.BCAST_CLIENTS} receivers + 1 sender, {bench.BCAST_MESSAGES} x 32-byte text"}}
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
    for key, label, cmd, port in ws_servers:
        if not want(key) and not want("ws"):
            continue
        srv = bench.Server(key, port, cmd)
        try:
            srv.start(f"py.{key}")  # probes GET / (a 404 from the WebSocket-only servers is an answer)
            for impl in bench.WS_IMPLS:
                runs = [bench.run_client("ws_echo_client.py", [
                    "--impl", impl, "--url", f"ws://127.0.0.1:{port}/ws/echo", "--conns", str(bench.WS_CONNS),
                    "--duration", str(bench.WS_DURATION), "--warmup", "2", "--size", "32",
                    "--server-pid", str(srv.pid)], timeout=bench.WS_DURATION + 60, tag=f"py.{key}.echo.{impl}.{rep}")
                    for rep in range(bench.REPEAT)]
                r = bench.median_run(runs, "msgs_per_s")
                r.update(key=key, label=label, impl=impl, ok=all(x["ok"] for x in runs))
                bench.log(f"{key} echo [{impl}]: {r.get('msgs_per_s')} msg/s")
                res["ws_echo"].append(r)
            for impl in bench.WS_IMPLS:
                runs = [bench.run_client("ws_broadcast_client.py", [
                    "--impl", impl, "--url", f"ws://127.0.0.1:{port}/ws/chat", "--clients", str(bench.BCAST_CLIENTS),
                    "--messages", str(bench.BCAST_MESSAGES), "--size", "32", "--timeout", "90",
                    "--server-pid", str(srv.pid)], timeout=180, tag=f"py.{key}.bcast.{impl}.{rep}")
                    for rep in range(bench.REPEAT)]
                r = bench.median_run(runs, "delivered_per_s")
                r.update(key=key, label=label, impl=impl, ok=all(x["ok"] for x in runs))
                bench.log(f"{key} broadcast [{impl}]: {r.get('delivered_per_s')} deliveries/s")
                res["ws_broadcast"].append(r)
        except Exception as e:  # noqa: BLE001
            res["ws_echo"].append({"key": key, "label": label, "ok": False, "error": f"{type(e).__name__}: {e}"})
        finally:
            srv.stop()
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
