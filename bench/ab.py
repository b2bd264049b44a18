#!/usr/bin/env python3
"""Two builds of the C demo server, measured interleaved: A, B, A, B, ...

For a change that must not cost speed (a refactor), one run of each build
minutes apart is not enough on a machine whose figures drift by tens of per
cent: this runs the two side by side, alternating, in the same minutes, and
reports the median of each (req/s and requests per server CPU-second).

    python3 bench/ab.py OLD/build/examples/c/demo_server build/examples/c/demo_server \\
        [--rounds 5] [--seconds 8] [--modes host0,host1,inline0,inline1]

Server pinned to CPU 1, wrk (-t1 -c64) to CPU 0, 2 s warm-up per server
start, as the HTTP benchmark does. Server CPU is read from /proc/PID/stat.
"""

import argparse
import os
import re
import socket
import statistics
import subprocess
import time

MODES = {
    "host0": {"SQUALL_IO_THREADS": "0"},
    "host1": {"SQUALL_IO_THREADS": "1"},
    "inline0": {"SQUALL_IO_THREADS": "0", "SQUALL_INLINE": "1"},
    "inline1": {"SQUALL_IO_THREADS": "1", "SQUALL_INLINE": "1"},
}
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process and its threads, in seconds."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def wait_port(port: int, deadline: float) -> None:
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def run_once(binary: str, env: dict, seconds: int) -> tuple[float, float]:
    """(req/s, requests per server CPU-second) of one server start."""
    port = free_port()
    srv = subprocess.Popen(["taskset", "-c", "1", binary], env={**os.environ, **env, "PORT": str(port)},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, time.time() + 10)
        url = f"http://127.0.0.1:{port}/"
        subprocess.run(["taskset", "-c", "0", "wrk", "-t1", "-c64", "-d2s", url], capture_output=True, check=True)
        c0 = cpu_seconds(srv.pid)
        out = subprocess.run(["taskset", "-c", "0", "wrk", "-t1", "-c64", f"-d{seconds}s", url],
                             capture_output=True, text=True, check=True).stdout
        cpu = cpu_seconds(srv.pid) - c0
        m = re.search(r"(\d+) requests in ([\d.]+)s", out)
        reqs, secs = int(m.group(1)), float(m.group(2))
        if "Non-2xx" in out or "Socket errors" in out:
            raise RuntimeError(f"wrk saw errors:\n{out}")
        return reqs / secs, reqs / cpu if cpu > 0 else float("nan")
    finally:
        srv.terminate()
        srv.wait(timeout=10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--seconds", type=int, default=8)
    p.add_argument("--modes", default="host0,host1,inline0,inline1")
    args = p.parse_args()
    modes = args.modes.split(",")
    results = {(m, w): [] for m in modes for w in "ab"}
    for r in range(args.rounds):
        for m in modes:
            # Alternate which build goes first, so neither always follows the other.
            order = "ab" if r % 2 == 0 else "ba"
            for w in order:
                rps, per_cpu = run_once(args.a if w == "a" else args.b, MODES[m], args.seconds)
                results[(m, w)].append((rps, per_cpu))
                print(f"round {r + 1} {m} {w}: {rps:,.0f} req/s, {per_cpu:,.0f} req per server CPU-s", flush=True)
    print()
    print(f"A = {args.a}\nB = {args.b}\n{args.rounds} rounds, wrk -t1 -c64 -d{args.seconds}s, server CPU 1, wrk CPU 0; medians")
    print()
    print("| mode | A req/s | B req/s | B/A | A req/CPU-s | B req/CPU-s | B/A |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for m in modes:
        a = results[(m, "a")]
        b = results[(m, "b")]
        ar, br = statistics.median(x[0] for x in a), statistics.median(x[0] for x in b)
        ac, bc = statistics.median(x[1] for x in a), statistics.median(x[1] for x in b)
        print(f"| {m} | {ar:,.0f} | {br:,.0f} | {br / ar:.3f} | {ac:,.0f} | {bc:,.0f} | {bc / ac:.3f} |")


if __name__ == "__main__":
    main()
