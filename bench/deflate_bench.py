#!/usr/bin/env python3
"""permessage-deflate: squall's C demo beside socketify.py (uWebSockets,
SHARED_COMPRESSOR) and Tornado (get_compression_options() -> {}), with
compression and without, in one run (loopback only).

Every server is pinned to CPU 1, the load client (bench/deflate/load.js,
Node, a thin client over `net`) to CPU 0. The client offers
`permessage-deflate; server_no_context_takeover; client_no_context_takeover`
(each message compressed on its own, as squall's shared mode and uWS's
shared compressor do) or nothing.

1. broadcast: 1,000 receivers + 1 sender on /ws/chat, 200 chat-like JSON
   messages of about 1 KiB back to back: deliveries/s, server CPU µs per
   delivery (the whole load run's), wire bytes per delivery.
2. echo: 50 connections on /ws/echo, one 1 KiB JSON message outstanding
   each, 2 s warm-up + ECHO_SECS: messages/s, server CPU µs per message.
3. idle: 10,000 WebSockets on squall's /ws/chat that agreed to deflate or
   not: the server's RSS growth per connection.

Medians of REPEAT runs. Writes bench/results/deflate.md and deflate.json.
"""
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import http_bench  # noqa: E402
from cluster_bench import Case, free_port, log  # noqa: E402

ROOT = http_bench.ROOT
OUT = Path(os.environ["DEFLATE_OUT"]) if os.environ.get("DEFLATE_OUT") else http_bench.OUT
HERE = ROOT / "bench" / "deflate"
DEMO = ROOT / "build" / "examples" / "c" / "demo_server"
RECEIVERS = int(os.environ.get("RECEIVERS", "1000"))
MESSAGES = int(os.environ.get("MESSAGES", "200"))
ECHO_CONNS = int(os.environ.get("ECHO_CONNS", "50"))
ECHO_SECS = int(os.environ.get("ECHO_SECS", "8"))
IDLE = int(os.environ.get("IDLE", "10000"))
REPEAT = int(os.environ.get("REPEAT", "3"))


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def load(bench, case, mode, url, deflate, **kw):
    cmd = ["node", str(HERE / "load.js"), "--mode", mode, "--url", url, "--deflate", "1" if deflate else "0"]
    for k, v in kw.items():
        cmd += [f"--{k}", str(v)]
    c0 = case.cpu()
    p = subprocess.run(bench.pin(bench.CLIENT_CPU, cmd), capture_output=True, text=True, timeout=240)
    c1 = case.cpu()
    if p.returncode != 0:
        raise RuntimeError(f"load.js {mode} failed: {p.stderr[-800:]}")
    r = json.loads(p.stdout.strip().splitlines()[-1])
    r["server_cpu_s"] = c1 - c0
    n = r.get("delivered") or r.get("messages")
    r["us_cpu_per_message"] = (c1 - c0) * 1e6 / n if n else None
    if deflate and not r["extensions"].startswith("permessage-deflate"):
        r["ok"] = False
        r["why"] = "deflate not agreed"
    return r


def median(runs, key):
    return sorted(runs, key=lambda r: r[key] or 0)[len(runs) // 2]


def idle_rss(bench, deflate):
    """A fresh squall per measurement: RSS before and with IDLE idle sockets."""
    case = Case(bench)
    port = free_port()
    try:
        srv = case.start("squall", [str(DEMO)], port, {"PORT": str(port), "SQUALL_IO_THREADS": "1"})
        time.sleep(0.5)
        before = rss_kib(srv.pid)
        cmd = ["node", str(HERE / "load.js"), "--mode", "idle", "--url", f"ws://127.0.0.1:{port}/ws/chat",
               "--deflate", "1" if deflate else "0", "--conns", str(IDLE)]
        p = subprocess.Popen(bench.pin(bench.CLIENT_CPU, cmd), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline()
            info = json.loads(line)
            time.sleep(2)
            after = rss_kib(srv.pid)
        finally:
            p.stdin.close()
            p.wait(60)
        ok = info["conns"] == IDLE and info["agreed"] == (IDLE if deflate else 0)
        return {"deflate": deflate, "conns": info["conns"], "agreed": info["agreed"], "rss_before_kib": before,
                "rss_after_kib": after, "kib_per_conn": (after - before) / IDLE, "ok": ok}
    finally:
        case.stop()


def main():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))
    subprocess.run(["make", "-s", "-C", str(ROOT), "examples"], check=True)
    bench, _, _ = http_bench.anchor_bench(OUT)
    py = sys.executable
    servers = [
        ("squall", "squall (C demo, io_threads 1)", lambda port: [str(DEMO)], {"SQUALL_IO_THREADS": "1"}),
        ("socketify", "socketify.py 0.0.31 (uWS, SHARED_COMPRESSOR)",
         lambda port: [py, str(HERE / "socketify_deflate.py"), str(port)], {}),
        ("tornado", "Tornado 6.6 (compression_options {})",
         lambda port: [py, str(HERE / "tornado_deflate.py"), str(port)], {}),
    ]
    rows = []
    for key, name, cmd, env in servers:
        case = Case(bench)
        port = free_port()
        row = {"key": key, "name": name}
        try:
            case.start(name, cmd(port), port, dict(env, PORT=str(port)))
            time.sleep(0.5)
            for deflate in (False, True):
                tag = "deflate" if deflate else "plain"
                b = [load(bench, case, "broadcast", f"ws://127.0.0.1:{port}/ws/chat", deflate,
                          receivers=RECEIVERS, messages=MESSAGES, size=1024) for _ in range(REPEAT)]
                for r in b:
                    log(f"{key} {tag} broadcast: {r['deliveries_per_s']:,.0f}/s, {r['us_cpu_per_message']:.2f} µs CPU, "
                        f"{r['wire_bytes_per_delivery']:.0f} B each, ok={r['ok']}")
                e = [load(bench, case, "echo", f"ws://127.0.0.1:{port}/ws/echo", deflate,
                          conns=ECHO_CONNS, seconds=ECHO_SECS, size=1024) for _ in range(REPEAT)]
                for r in e:
                    log(f"{key} {tag} echo: {r['msgs_per_s']:,.0f}/s, {r['us_cpu_per_message']:.2f} µs CPU, ok={r['ok']}")
                row[tag] = {"broadcast": median(b, "deliveries_per_s"), "echo": median(e, "msgs_per_s"),
                            "runs": b + e, "ok": all(r["ok"] for r in b + e)}
        except Exception as ex:  # a failed anchor is reported, the run goes on
            log(f"{key}: FAILED: {ex}")
            row["failed"] = str(ex)[-400:]
        finally:
            case.stop()
        rows.append(row)
    idle = [idle_rss(bench, False), idle_rss(bench, True)]
    for r in idle:
        log(f"idle deflate={r['deflate']}: {r['kib_per_conn']:.2f} KiB per connection, ok={r['ok']}")
    res = {"facts": bench.machine_facts(), "receivers": RECEIVERS, "messages": MESSAGES, "echo_conns": ECHO_CONNS,
           "rows": rows, "idle": idle}
    (OUT / "deflate.json").write_text(json.dumps(res, indent=1))
    write_md(res)


def write_md(res):
    rows = {r["key"]: r for r in res["rows"]}
    per_cpu = lambda x: 1e6 / x["us_cpu_per_message"] if x and x.get("us_cpu_per_message") else None  # noqa: E731
    f = lambda v, fmt="{:,.0f}": "—" if v is None else fmt.format(v)  # noqa: E731
    lines = ["# permessage-deflate: squall beside socketify.py and Tornado", "",
             f"`python3 bench/deflate_bench.py` (`bench/run.sh deflate`): servers pinned to CPU 1, the Node load client "
             "(bench/deflate/load.js) to CPU 0; the client offers `permessage-deflate; server_no_context_takeover; "
             f"client_no_context_takeover` (or nothing); chat-like JSON messages of about 1 KiB; medians of {REPEAT}. "
             "Server CPU is that of the whole load run (connecting and syncing included), alike for all.", "",
             f"## Broadcast: {res['receivers']:,} receivers + 1 sender, {res['messages']} messages", "",
             "| server | compression | deliveries/s | server CPU µs per delivery | deliveries per server CPU-s "
             "| wire bytes per delivery | load client's CPU over the fan-out | all delivered, in order |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in res["rows"]:
        for tag in ("plain", "deflate"):
            x = r.get(tag, {}).get("broadcast")
            if not x:
                lines.append(f"| {r['name']} | {tag} | failed: {r.get('failed', '?')[:80]} | | | | | |")
                continue
            lines.append(f"| {r['name']} | {tag} | {f(x['deliveries_per_s'])} | {f(x['us_cpu_per_message'], '{:.2f}')} "
                         f"| {f(per_cpu(x))} | {f(x['wire_bytes_per_delivery'], '{:.0f}')} "
                         f"| {f(x.get('client_cpu_share', 0) * 100, '{:.0f} %')} | {'yes' if x['ok'] else 'NO'} |")
    lines += ["", f"## Echo: {res['echo_conns']} connections, one 1 KiB message outstanding each", "",
              "| server | compression | messages/s | server CPU µs per message | p50 ms | p99 ms | replies intact |",
              "|---|---|---:|---:|---:|---:|---|"]
    for r in res["rows"]:
        for tag in ("plain", "deflate"):
            x = r.get(tag, {}).get("echo")
            if not x:
                continue
            lines.append(f"| {r['name']} | {tag} | {f(x['msgs_per_s'])} | {f(x['us_cpu_per_message'], '{:.2f}')} "
                         f"| {f(x['p50_ms'], '{:.2f}')} | {f(x['p99_ms'], '{:.2f}')} | {'yes' if x['ok'] else 'NO'} |")
    sq = rows.get("squall", {})
    so = rows.get("socketify", {})
    lines += ["", "## Targets", ""]
    try:
        ratio = sq["deflate"]["broadcast"]["deliveries_per_s"] / sq["plain"]["broadcast"]["deliveries_per_s"]
        lines.append(f"- squall's compressed broadcast: **{ratio:.2f}×** its uncompressed deliveries/s (target ≥ 0.8×); "
                     "per server CPU-second, "
                     f"**{per_cpu(sq['deflate']['broadcast']) / per_cpu(sq['plain']['broadcast']):.2f}×**. Where the "
                     "load client's CPU is near 100 %, deliveries/s is the client's limit, not the server's.")
    except (KeyError, TypeError, ZeroDivisionError):
        lines.append("- squall's broadcast ratio: not measured (a run failed).")
    try:
        a, b = per_cpu(sq["deflate"]["broadcast"]), per_cpu(so["deflate"]["broadcast"])
        lines.append(f"- compressed broadcast deliveries per server CPU-second, squall / socketify.py: **{a / b:.2f}×** "
                     "(target > 1×).")
        a, b = per_cpu(sq["deflate"]["echo"]), per_cpu(so["deflate"]["echo"])
        lines.append(f"- compressed echo messages per server CPU-second, squall / socketify.py: **{a / b:.2f}×**.")
        t = rows.get("tornado", {})
        a2 = per_cpu(t["deflate"]["echo"])
        lines.append(f"- compressed echo messages per server CPU-second, squall / Tornado: **{a / a2:.2f}×**.")
    except (KeyError, TypeError, ZeroDivisionError):
        lines.append("- ratios to the anchors: not measured (an anchor failed).")
    lines += ["", f"## Idle WebSockets ({IDLE:,} on squall's /ws/chat, a fresh server each)", "",
              "| compression agreed | RSS growth per connection, KiB |", "|---|---:|"]
    for r in res["idle"]:
        lines.append(f"| {'yes (shared mode)' if r['deflate'] else 'no'} | {r['kib_per_conn']:.2f} |")
    if len(res["idle"]) == 2:
        d = res["idle"][1]["kib_per_conn"] - res["idle"][0]["kib_per_conn"]
        lines.append("")
        lines.append(f"Shared mode costs {d:+.2f} KiB per idle socket over an uncompressed one (target: within 0.2 KiB).")
    lines.append("")
    (OUT / "deflate.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
