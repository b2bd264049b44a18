#!/usr/bin/env python3
"""What the always-on metrics cost: the C demo's "/" with metrics (the
release library) beside the same demo linked against a library built with
the benchmark-only feature `bench-metrics-off` (every counter add and the
latency clock compiled out), in one run, measured with the anchors' own
bench_http (wrk -t1 -c64, server pinned to CPU 1, wrk to CPU 0, 2 s warm-up,
3 runs of 8 s, median). The two alternate ROUNDS times (on, off, on, off,
...) so that drift of the machine falls on both.

Writes bench/results/metrics.md and metrics.json. Only 127.0.0.1 is used.
"""
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import http_bench  # noqa: E402

ROOT = http_bench.ROOT
OUT = http_bench.OUT
OFF_TARGET = ROOT / "target" / "metrics-off"
OFF_LIB = OFF_TARGET / "release" / "libsquall.a"
ON_DEMO = ROOT / "build" / "examples" / "c" / "demo_server"
OFF_DEMO = ROOT / "build" / "bench" / "demo_server_metrics_off"
ROUNDS = int(os.environ.get("ROUNDS", "3"))
STATIC_LIBS = ["-lgcc_s", "-lutil", "-lrt", "-lpthread", "-lm", "-ldl", "-lc"]


def build():
    subprocess.run(["make", "-s", "-C", str(ROOT), "examples"], check=True)
    subprocess.run(["cargo", "build", "-q", "--release", "--lib", "--features", "bench-metrics-off",
                    "--target-dir", str(OFF_TARGET)], cwd=ROOT, check=True)
    OFF_DEMO.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", "-O2", "-g", "-I", str(ROOT / "include"),
                    str(ROOT / "examples" / "c" / "demo_server.c"), "-o", str(OFF_DEMO), str(OFF_LIB)] + STATIC_LIBS,
                   check=True)


def main():
    build()
    bench, _, _ = http_bench.anchor_bench(OUT)
    rows = {"on": [], "off": []}
    for rnd in range(ROUNDS):
        for i, (key, demo) in enumerate((("on", ON_DEMO), ("off", OFF_DEMO))):
            port = 18350 + 2 * rnd + i
            cmd = ["env", f"PORT={port}", "SQUALL_IO_THREADS=1", str(demo)]
            r = bench.bench_http(f"metrics-{key}-{rnd}", f"metrics {key}, round {rnd + 1}",
                                 bench.Server(f"metrics-{key}-{rnd}", port, cmd))
            if not r.get("ok"):
                sys.exit(f"metrics {key} round {rnd + 1} failed: {r.get('error')}")
            r["per_cpu_s"] = http_bench.per_cpu(r)
            rows[key].append(r)
    med = {k: statistics.median(r["per_cpu_s"] for r in v) for k, v in rows.items()}
    spread = {k: (min(r["per_cpu_s"] for r in v), max(r["per_cpu_s"] for r in v)) for k, v in rows.items()}
    diff = (med["on"] - med["off"]) / med["off"] * 100
    result = {"rounds": ROUNDS, "rows": rows, "median_per_cpu_s": med, "spread": spread, "diff_pct": diff,
              "facts": bench.machine_facts()}
    (OUT / "metrics.json").write_text(json.dumps(result, indent=1, default=str))
    lines = [
        "# The cost of the always-on metrics",
        "",
        "`python3 bench/metrics_bench.py` (`bench/run.sh metrics`): the C demo's `GET /` (io_threads 1, "
        "host-thread handler) with the release library, and linked against the same library built with "
        "`--features bench-metrics-off` (counters and the latency clock compiled out); wrk -t1 -c64, server on "
        f"CPU 1, wrk on CPU 0, each a median of 3 × 8 s; the two alternate, {ROUNDS} rounds.",
        "",
        "| round | metrics on: req/s | server CPU % | req per server CPU-s | metrics off: req/s | server CPU % | req per server CPU-s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for i in range(ROUNDS):
        a, b = rows["on"][i], rows["off"][i]
        lines.append(f"| {i + 1} | {a['rps']:,.0f} | {a['server_cpu_pct']} | {a['per_cpu_s']:,.0f} "
                     f"| {b['rps']:,.0f} | {b['server_cpu_pct']} | {b['per_cpu_s']:,.0f} |")
    noise = max((spread[k][1] - spread[k][0]) / med[k] * 100 for k in med)
    lines += ["",
              f"Median requests per server CPU-second: on {med['on']:,.0f}, off {med['off']:,.0f}: "
              f"**{diff:+.1f} %** with metrics on; the spread between rounds of one build is up to {noise:.1f} %.",
              ""]
    (OUT / "metrics.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
