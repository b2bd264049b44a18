"""Runs bench/loop_bench.c N times and prints a Markdown table of medians."""
import datetime
import os
import platform
import statistics
import subprocess
import sys

binary, runs = sys.argv[1], int(sys.argv[2])
samples: dict[str, list[float]] = {}
units: dict[str, str] = {}
raw = []
for i in range(runs):
    out = subprocess.run([binary], check=True, capture_output=True, text=True).stdout
    raw.append(out)
    for line in out.splitlines():
        *key, value, unit = line.split()
        k = " ".join(key)
        samples.setdefault(k, []).append(float(value))
        units[k] = unit
os.makedirs("bench/results/raw", exist_ok=True)
with open("bench/results/raw/loop.txt", "w") as f:
    f.write("\n".join(raw))

cpu = "unknown"
try:
    with open("/proc/cpuinfo") as f:
        cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
except (OSError, StopIteration):
    pass
print("# Loop micro-benchmarks\n")
print(f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}")
print(f"- machine: {os.cpu_count()} CPUs, {cpu}, {platform.platform()}")
print(f"- command: `bench/run.sh loop` ({binary}, {runs} runs, median; range = min–max)")
print("- callbacks: P producer threads pinned to CPU 0 call sq_loop_add_callback; the host thread")
print("  (sq_loop_run) pinned to CPU 1 runs them; figure = callbacks run per second of wall time")
print("- timers: 1,000,000 timers pending (due in an hour); cost per call, averaged over 1,000,000 calls\n")
print("| measurement | median | range | unit |")
print("|---|---:|---:|---|")
for k, v in samples.items():
    med = statistics.median(v)
    fmt = (lambda x: f"{x:,.0f}") if units[k] == "callbacks/s" else (lambda x: f"{x:,.1f}")
    print(f"| {k} | {fmt(med)} | {fmt(min(v))}–{fmt(max(v))} | {units[k]} |")
