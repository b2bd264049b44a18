#!/usr/bin/env python3
"""The Go package beside Go's net/http and the WebSocket anchors, in one run
(bench/run.sh go).

HTTP: wrk on GET / of examples/go/hello (squall's Go server) with GOMAXPROCS=1
(io_threads 1 and 0) and GOMAXPROCS=2, beside the anchors' go-hello (net/http)
with GOMAXPROCS=1 and 2. WebSockets: the anchors' echo and broadcast clients
against examples/go/demo_server (/ws/echo; /ws/chat publishes to a topic),
socketify.py and Tornado. Servers are pinned to CPU 1, clients to CPU 0 (the
anchors' bench.py does the pinning, warm-up and medians of 3).

Writes bench/results/go.md and go.json; raw output in bench/results/raw/.
ONLY=key1,key2 limits the rows.
"""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import http_bench  # noqa: E402  (prepare_anchors: the anchors' copy under build/anchors)

OUT = ROOT / "bench" / "results"
BIN = ROOT / "build" / "examples" / "go"


def main():
    bench, anchors, want = http_bench.anchor_bench(OUT)
    subprocess.run(["make", "-s", "examples"], cwd=ROOT, check=True)
    go_hello = bench.WORK / "go-hello"
    if not go_hello.exists():
        subprocess.run(["go", "build", "-o", str(go_hello), "main.go"], cwd=anchors / "servers" / "go_hello", check=True)
    py = sys.executable
    hello = str(BIN / "hello")
    http_servers = [
        ("squall-go-p1-io1", "squall Go (net/http handler), GOMAXPROCS=1, io_threads=1 (default)",
         ["env", "GOMAXPROCS=1", "SQUALL_IO_THREADS=1", hello, "127.0.0.1:18501"], 18501),
        ("squall-go-p1-io0", "squall Go (net/http handler), GOMAXPROCS=1, io_threads=0",
         ["env", "GOMAXPROCS=1", "SQUALL_IO_THREADS=0", hello, "127.0.0.1:18502"], 18502),
        ("squall-go-p2-io1", "squall Go (net/http handler), GOMAXPROCS=2, io_threads=1",
         ["env", "GOMAXPROCS=2", "SQUALL_IO_THREADS=1", hello, "127.0.0.1:18503"], 18503),
        ("go", "Go net/http, GOMAXPROCS=1", ["env", "GOMAXPROCS=1", str(go_hello), "127.0.0.1:18088"], 18088),
        ("go-p2", "Go net/http, GOMAXPROCS=2", ["env", "GOMAXPROCS=2", str(go_hello), "127.0.0.1:18089"], 18089),
    ]
    res = http_bench.bench_results(bench)
    for key, label, cmd, port in http_servers:
        if want(key):
            res["http"].append(bench.bench_http(key, label, bench.Server(key, port, cmd)))

    demo = str(BIN / "demo_server")
    ws_servers = [
        ("squall-go-ws", "squall Go WebSocketHandler (topics), GOMAXPROCS=1, io_threads=1",
         ["env", "GOMAXPROCS=1", "PORT=18511", demo], 18511),
        ("socketify", "socketify.py (uWS; chat = native pub/sub)",
         [py, str(anchors / "servers" / "socketify_ws.py"), "18091"], 18091),
        ("tornado", "Tornado WebSocketHandler", [py, str(anchors / "servers" / "tornado_ws.py"), "18090"], 18090),
    ]
    http_bench.bench_ws(bench, ws_servers, want, "go", res)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "go.json").write_text(json.dumps(res, indent=1))
    md = render(res)
    (OUT / "go.md").write_text(md)
    print(md)


def f(v, nd=0):
    return "–" if v is None else (f"{v:,.{nd}f}" if isinstance(v, (int, float)) else str(v))


def render(r):
    facts = r["facts"]
    L = ["# Go package benchmark: squall's Go servers beside Go's net/http and the WebSocket anchors (same run)", "",
         f"- date: {r['date']}",
         f"- machine: {facts.get('nproc') or facts.get('cpu_count')} CPUs, {facts.get('cpu_model', '')}, kernel {facts.get('kernel', '')}",
         "- pinning: server on CPU 1 (all its threads: reactor, host goroutine, handlers), load client on CPU 0",
         f"- HTTP load: {r['config']['wrk']}",
         "- command: `bench/run.sh go` (bench/go_bench.py); servers examples/go/hello and examples/go/demo_server", ""]
    http = {x["key"]: x for x in r["http"]}
    base = (http.get("go") or {}).get("rps")
    L += ["## HTTP hello world (GET /, 12-byte body)", "",
          "| server | req/s | range | p99 ms | server CPU % | req per server CPU-s | × net/http GOMAXPROCS=1 | ok |",
          "|---|---:|---:|---:|---:|---:|---:|---|"]
    for x in r["http"]:
        rps = x.get("rps")
        cpu = x.get("server_cpu_pct")
        per = rps / (cpu / 100) if rps and cpu else None
        L.append(f"| {x['label']} | {f(rps)} | {f(x.get('rps_min'))}–{f(x.get('rps_max'))} | {f(x.get('p99_ms'), 2)} | "
                 f"{f(cpu)} | {f(per)} | {f(rps / base, 2) if rps and base else '–'} | "
                 f"{'ok' if x.get('ok') else x.get('error', 'FAILED')} |")
    for sect, metric, unit in (("ws_echo", "msgs_per_s", "msgs/s"), ("ws_broadcast", "delivered_per_s", "deliveries/s")):
        L += ["", f"## WebSocket {'echo' if sect == 'ws_echo' else 'broadcast'} ({r['config'][sect]})", "",
              f"| server | client | {unit} | range | × socketify | × Tornado | server CPU % | client CPU % | ok |",
              "|---|---|---:|---:|---:|---:|---:|---:|---|"]
        sock = {x.get("impl"): x.get(metric) for x in r[sect] if x.get("key") == "socketify"}
        torn = {x.get("impl"): x.get(metric) for x in r[sect] if x.get("key") == "tornado"}
        for x in r[sect]:
            v = x.get(metric)
            s, t = sock.get(x.get("impl")), torn.get(x.get("impl"))
            L.append(f"| {x.get('label')} | {x.get('impl', '–')} | {f(v)} | {f(x.get(metric + '_min'))}–{f(x.get(metric + '_max'))} | "
                     f"{f(v / s, 2) if v and s else '–'} | {f(v / t, 2) if v and t else '–'} | {f(x.get('server_cpu_pct'))} | "
                     f"{f(x.get('client_cpu_pct'))} | {'ok' if x.get('ok') else x.get('error', 'FAILED')} |")
    L += ["", "Commands: servers as listed in bench/go_bench.py, loads as the anchors' bench.py runs them "
          "(raw output with the exact commands in bench/results/raw/go.*).", ""]
    profile = OUT / "go-profile.md"  # measured by hand with perf; kept across runs
    if profile.exists():
        L += [profile.read_text()]
    return "\n".join(L)


if __name__ == "__main__":
    main()
