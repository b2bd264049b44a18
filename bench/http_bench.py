#!/usr/bin/env python3
"""HTTP benchmark of squall's C demo server beside the anchors, in one run.

1. Runs the anchors (../shared/bench/anchors, copied to build/anchors because
   the original is read-only) with ONLY=http: nginx, h2o, Tornado, uvicorn,
   socketify.py, hyper, Go net/http.
2. Measures build/examples/c/demo_server's "/" the same way, with the anchors'
   own code (bench.py: wrk -t1 -c64, server pinned to CPU 1, wrk to CPU 0,
   2 s warm-up, 3 runs of 8 s, median), in four modes: inline or host-thread
   handler × io_threads 0 or 1.
3. Idle keep-alive memory at 10,000 connections (idle_conns.py) and 10,000
   concurrent connections under wrk (-c10000), counting errors.
4. Writes bench/results/http.md and http.json.

Environment: SKIP_ANCHORS=1 reuses build/anchors/results/latest.json;
REPEAT, WRK_DURATION, WRK_WARMUP as for the anchors. Only 127.0.0.1 is used.
"""
import datetime
import importlib
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "bench" / "anchors"
ANCHORS = ROOT / "build" / "anchors"
DEMO = ROOT / "build" / "examples" / "c" / "demo_server"
OUT = ROOT / "bench" / "results"
IDLE_N = int(os.environ.get("IDLE_N", "10000"))
MANY_CONNS = int(os.environ.get("MANY_CONNS", "10000"))


def log(*a):
    print(f"[{time.strftime('%H:%M:%S')}]", *a, flush=True)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, min(hard, 65536))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def prepare_anchors():
    if not ANCHORS.exists():
        shutil.copytree(SHARED, ANCHORS, ignore=shutil.ignore_patterns("results", ".work"))
        (ANCHORS / "results").mkdir(exist_ok=True)
        subprocess.run(["chmod", "-R", "u+w", str(ANCHORS)], check=True)


def run_anchors():
    env = dict(os.environ, ONLY="http")
    log("anchors: bash build/anchors/run.sh (ONLY=http)")
    p = subprocess.run(["bash", str(ANCHORS / "run.sh")], env=env, timeout=1800)
    if p.returncode != 0:
        log(f"anchors: run.sh exited {p.returncode}")
    return json.loads((ANCHORS / "results" / "latest.json").read_text())


def main():
    nofile = raise_nofile()
    prepare_anchors()
    subprocess.run(["make", "-s", "-C", str(ROOT), "examples"], check=True)
    anchors = run_anchors() if os.environ.get("SKIP_ANCHORS") != "1" else \
        json.loads((ANCHORS / "results" / "latest.json").read_text())

    sys.path.insert(0, str(ANCHORS))
    bench = importlib.import_module("bench")
    bench.RAW = OUT / "raw"
    bench.RAW.mkdir(parents=True, exist_ok=True)
    bench.WORK.mkdir(exist_ok=True)

    modes = [
        ("squall-inline-io0", "squall C, SQ_INLINE handler, io_threads=0", {"SQUALL_INLINE": "1", "SQUALL_IO_THREADS": "0"}),
        ("squall-inline-io1", "squall C, SQ_INLINE handler, io_threads=1", {"SQUALL_INLINE": "1", "SQUALL_IO_THREADS": "1"}),
        ("squall-host-io0", "squall C, host-thread handler, io_threads=0", {"SQUALL_IO_THREADS": "0"}),
        ("squall-host-io1", "squall C, host-thread handler, io_threads=1 (default)", {"SQUALL_IO_THREADS": "1"}),
    ]
    ours = []
    for i, (key, label, env) in enumerate(modes):
        port = 18300 + i
        cmd = ["env", f"PORT={port}"] + [f"{k}={v}" for k, v in env.items()] + [str(DEMO)]
        ours.append(bench.bench_http(key, label, bench.Server(key, port, cmd)))

    # idle keep-alive memory and many concurrent connections
    port = 18310
    srv = bench.Server("squall-idle", port, ["env", f"PORT={port}", "SQUALL_IO_THREADS=1", str(DEMO)])
    srv.start("squall-idle")
    idle = {}
    many = {}
    try:
        p = subprocess.run([sys.executable, str(ANCHORS / "idle_conns.py"), "--port", str(port), "--pid", str(srv.pid),
                            "--mode", "http", "-n", str(IDLE_N)], capture_output=True, text=True, timeout=300)
        idle = json.loads((p.stdout.strip().splitlines() or ["{}"])[-1])
        log(f"idle: {idle}")
        # 10,000 concurrent connections under load
        cmd = ["taskset", "-c", "0", "wrk", "-t1", f"-c{MANY_CONNS}", "-d5s", "--timeout", "10s",
               f"http://127.0.0.1:{port}/"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        many = bench.parse_wrk(p.stdout)
        many["cmd"] = " ".join(cmd)
        many["raw"] = p.stdout[-600:]
        log(f"many: {many.get('rps')} req/s, errors {many.get('socket_errors')}, non-2xx {many.get('non_2xx')}")
    finally:
        srv.stop()

    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "nofile": nofile, "anchors": anchors.get("http", []), "facts": anchors.get("facts", {}),
              "anchor_config": anchors.get("config", {}), "squall": ours, "idle": idle, "many": many}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "http.json").write_text(json.dumps(result, indent=1))
    (OUT / "http.md").write_text(render(result))
    print(render(result))


def per_cpu(r):
    if r.get("rps") and r.get("server_cpu_pct"):
        return r["rps"] / (r["server_cpu_pct"] / 100)
    return None


def fmt(v, nd=0):
    return "—" if v is None else f"{v:,.{nd}f}"


def render(res):
    anchors = {a["key"]: a for a in res["anchors"] if a.get("ok")}
    nginx, hyper = anchors.get("nginx", {}), anchors.get("hyper", {})
    lines = ["# HTTP benchmark: squall C demo vs the anchors (same run)", "",
             f"- date: {res['date']}",
             "- machine: {nproc} CPUs, {cpu_model} ({cpu_family_model}), {hypervisor}, {mem_total}, kernel {kernel}, {os}".format(
                 **{k: res.get("facts", {}).get(k, "?") for k in
                    ("nproc", "cpu_model", "cpu_family_model", "hypervisor", "mem_total", "kernel", "os")}),
             f"- load: {res.get('anchor_config', {}).get('wrk', 'wrk -t1 -c64')}; server pinned to CPU 1, wrk to CPU 0",
             "- command: `bench/run.sh http` (bench/http_bench.py)", "",
             "| server | req/s | range | p99 ms | server CPU % | req per server CPU-s | × nginx req/s | × hyper req/CPU-s | errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    rows = [(r, True) for r in res["squall"]] + [(a, False) for a in res["anchors"]]
    for r, mine in rows:
        if not r.get("ok") and not r.get("rps"):
            lines.append(f"| {r.get('label', r.get('key'))} | failed: {r.get('error', '')[:80]} | | | | | | | |")
            continue
        pc = per_cpu(r)
        xn = r["rps"] / nginx["rps"] if nginx.get("rps") else None
        xh = pc / per_cpu(hyper) if pc and per_cpu(hyper) else None
        name = f"**{r['label']}**" if mine else r.get("label", r["key"])
        rng = f"{fmt(r.get('rps_min'))}–{fmt(r.get('rps_max'))}"
        lines.append(f"| {name} | {fmt(r['rps'])} | {rng} | {fmt(r.get('p99_ms'), 2)} | {fmt(r.get('server_cpu_pct'))} | "
                     f"{fmt(pc)} | {fmt(xn, 2)} | {fmt(xh, 2)} | {r.get('socket_errors', 0) + r.get('non_2xx', 0)} |")
    # squall's best inline and best host-thread figures against every anchor
    best = {}
    for r in res["squall"]:
        if r.get("rps"):
            kind = "inline" if "INLINE" in r["label"] else "host"
            if r["rps"] > best.get(kind, {}).get("rps", 0):
                best[kind] = r
    if best and res["anchors"]:
        lines += ["", "## Ratios to each anchor (req/s; req per server CPU-second)", "",
                  "| anchor | " + " | ".join(f"{k} mode: req/s × | {k} mode: per CPU-s ×" for k in best) + " |",
                  "|---|" + "---:|---:|" * len(best)]
        for a in res["anchors"]:
            if not a.get("rps"):
                continue
            cells = []
            for k, r in best.items():
                cells.append(fmt(r["rps"] / a["rps"], 2))
                pa, pr = per_cpu(a), per_cpu(r)
                cells.append(fmt(pr / pa, 2) if pa and pr else "—")
            lines.append(f"| {a.get('label', a['key'])} | " + " | ".join(cells) + " |")
        lines.append("")
        lines.append("Best modes: " + "; ".join(f"{k} = {r['label']}" for k, r in best.items()))
    idle, many = res.get("idle", {}), res.get("many", {})
    lines += ["", f"## Idle keep-alive connections (`idle_conns.py --mode http -n {IDLE_N}`, after one GET / each)", ""]
    if idle.get("bytes_per_conn") is not None:
        lines.append(f"{idle.get('opened', 0):,} opened, {idle.get('still_open', 0):,} still open, RSS "
                     f"{idle.get('rss_before_kib', 0):,} → {idle.get('rss_with_conns_kib', 0):,} KiB: "
                     f"**{idle['bytes_per_conn']} bytes per connection**, {idle.get('error_count', 0)} errors")
    else:
        lines.append("```\n" + json.dumps(idle, indent=1) + "\n```")
    lines += ["", f"## {MANY_CONNS:,} concurrent connections", "",
              f"`{many.get('cmd', '')}`: {fmt(many.get('rps'))} req/s, socket errors {many.get('socket_errors')}, "
              f"non-2xx {many.get('non_2xx')}", ""]
    return "\n".join(lines) + "\n"



def anchor_bench(out):
    """Readies the anchors' bench.py for a package benchmark: open-file
    limit, the anchors' copy, raw output under out/raw. Returns the bench
    module, the anchors' directory, and want(key): whether ONLY=key1,key2
    (prefixes too) selects a row (every row when ONLY is unset)."""
    raise_nofile()
    prepare_anchors()
    sys.path.insert(0, str(ANCHORS))
    bench = importlib.import_module("bench")
    bench.RAW = out / "raw"
    bench.RAW.mkdir(parents=True, exist_ok=True)
    bench.WORK.mkdir(exist_ok=True)
    only = set(filter(None, os.environ.get("ONLY", "").split(",")))

    def want(key):
        return not only or key in only or any(key.startswith(o) for o in only)

    return bench, ANCHORS, want


def bench_results(bench):
    """The results dict the package benchmarks (python_bench, go_bench)
    start from: date, machine facts, and the load settings."""
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "facts": bench.machine_facts(), "http": [], "ws_echo": [], "ws_broadcast": [],
            "config": {"wrk": f"wrk -t1 -c{bench.WRK_CONNS} -d{bench.WRK_DURATION}s --latency "
                              f"(after a -d{bench.WRK_WARMUP}s warm-up), median of {bench.REPEAT}",
                       "ws_echo": f"{bench.WS_CONNS} connections, 32-byte text, 1 outstanding each, "
                                  f"{bench.WS_DURATION:g} s, median of {bench.REPEAT}",
                       "ws_broadcast": f"{bench.BCAST_CLIENTS} receivers + 1 sender, {bench.BCAST_MESSAGES} x 32-byte text"}}


def bench_ws(bench, servers, want, prefix, res):
    """The anchors' WebSocket echo (/ws/echo) and broadcast (/ws/chat)
    clients, with every client implementation, against each (key, label,
    cmd, port) server that `want` selects; rows go to res["ws_echo"] and
    res["ws_broadcast"], raw output under the tag prefix."""
    for key, label, cmd, port in servers:
        if not want(key) and not want("ws"):
            continue
        srv = bench.Server(key, port, cmd)
        try:
            srv.start(f"{prefix}.{key}")  # probes GET / (a 404 from the WebSocket-only servers is an answer)
            for impl in bench.WS_IMPLS:
                runs = [bench.run_client("ws_echo_client.py", [
                    "--impl", impl, "--url", f"ws://127.0.0.1:{port}/ws/echo", "--conns", str(bench.WS_CONNS),
                    "--duration", str(bench.WS_DURATION), "--warmup", "2", "--size", "32",
                    "--server-pid", str(srv.pid)], timeout=bench.WS_DURATION + 60,
                    tag=f"{prefix}.{key}.echo.{impl}.{rep}")
                    for rep in range(bench.REPEAT)]
                r = bench.median_run(runs, "msgs_per_s")
                r.update(key=key, label=label, impl=impl, ok=all(x["ok"] for x in runs))
                bench.log(f"{key} echo [{impl}]: {r.get('msgs_per_s')} msg/s")
                res["ws_echo"].append(r)
            for impl in bench.WS_IMPLS:
                runs = [bench.run_client("ws_broadcast_client.py", [
                    "--impl", impl, "--url", f"ws://127.0.0.1:{port}/ws/chat", "--clients", str(bench.BCAST_CLIENTS),
                    "--messages", str(bench.BCAST_MESSAGES), "--size", "32", "--timeout", "90",
                    "--server-pid", str(srv.pid)], timeout=180, tag=f"{prefix}.{key}.bcast.{impl}.{rep}")
                    for rep in range(bench.REPEAT)]
                r = bench.median_run(runs, "delivered_per_s")
                r.update(key=key, label=label, impl=impl, ok=all(x["ok"] for x in runs))
                bench.log(f"{key} broadcast [{impl}]: {r.get('delivered_per_s')} deliveries/s")
                res["ws_broadcast"].append(r)
        except Exception as e:  # noqa: BLE001
            res["ws_echo"].append({"key": key, "label": label, "ok": False, "error": f"{type(e).__name__}: {e}"})
        finally:
            srv.stop()

if __name__ == "__main__":
    main()
