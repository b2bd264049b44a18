#!/usr/bin/env python3
"""WebSocket benchmark of squall's C demo server beside the anchors, in one run.

Servers: build/examples/c/demo_server (routes /ws/echo and /ws/chat; env PORT,
SQUALL_IO_THREADS=1 by default), and the anchors' Tornado and socketify.py
WebSocket servers (../shared/bench/anchors, copied to build/anchors because the
original is read-only), started with the anchors' own bench.py code
(bench.Server: server pinned to CPU 1, own process group, stopped by PID) on
the anchors' ports. Load clients run pinned to CPU 0.

1. echo: ws_echo_client.py, 50 connections, 32-byte text, 1 outstanding per
   connection, 2 s warm-up + 8 s, clients `websockets` and `raw` (wsraw.py),
   median of 3 runs: msgs/s, RTT p50/p99, server CPU %, server CPU µs per
   message, ratios to socketify.py and Tornado.
2. broadcast: ws_broadcast_client.py, 1,000 receivers + 1 sender, 200 x
   32-byte text, both clients, median of 3: deliveries/s, server CPU %, server
   CPU µs per delivery, ratios.
3. idle: idle_conns.py --mode ws on /ws/chat, 10,000 connections, fresh server
   each: server RSS growth per connection.
4. many: bench/ws_many.py against the squall demo only: 50,000 WebSocket
   connections on /ws/chat from 127.0.0.2.. (one source address per worker
   process), then one broadcast: connect time, server RSS, fan-out time. Capped
   by the RLIMIT_NOFILE hard limit the server can get (reported when it is).

Writes bench/results/ws.md and ws.json, raw client output under
bench/results/raw/ws.*. A server that fails (does not start, no WebSocket on a
route, crashes, times out) is reported as a failed row; the run goes on.

  python3 bench/ws_bench.py [--quick] [--only echo,broadcast,idle,many] [--servers squall,squall-inline,socketify,tornado]

Environment: REPEAT (3), WS_DURATION (8), WS_CONNS (50), BCAST_CLIENTS (1000),
BCAST_MESSAGES (200), IDLE_N (10000), MANY_N (50000), WS_IMPLS
(websockets,raw), SQUALL_IO_THREADS (1), BUDGET_S (1200: later steps are
skipped, and reported so, once the run is past it). Only 127.0.0.x is used.
"""
import argparse
import base64
import datetime
import hashlib
import importlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_bench import ANCHORS, DEMO, OUT, ROOT, log, prepare_anchors  # noqa: E402

WS_MANY = ROOT / "bench" / "ws_many.py"
SQUALL_PORT, SQUALL_IDLE_PORT, SQUALL_MANY_PORT = 18320, 18321, 18322
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SECTIONS = ("echo", "broadcast", "idle", "many")
# SQUALL_DEMO=/path/to/server (reads PORT) stands in for the demo, e.g. to check the harness itself
SQUALL_DEMO = os.environ.get("SQUALL_DEMO", str(DEMO))


def env_int(name, default):
    return int(os.environ.get(name, default))


def config(args):
    quick = args.quick
    c = {
        "repeat": env_int("REPEAT", 1 if quick else 3),
        "duration": float(os.environ.get("WS_DURATION", 3 if quick else 8)),
        "warmup": 1 if quick else 2,
        "conns": env_int("WS_CONNS", 50),
        "bcast_clients": env_int("BCAST_CLIENTS", 1000),
        "bcast_messages": env_int("BCAST_MESSAGES", 50 if quick else 200),
        "idle_n": env_int("IDLE_N", 2000 if quick else 10000),
        "many_n": env_int("MANY_N", 10000 if quick else 50000),
        "impls": [x for x in os.environ.get("WS_IMPLS", "websockets,raw").split(",") if x],
        "io_threads": os.environ.get("SQUALL_IO_THREADS", "1"),
        "budget_s": float(os.environ.get("BUDGET_S", 600 if quick else 840)),
        "quick": quick,
    }
    return c


def raise_nofile():
    """Soft RLIMIT_NOFILE up to the hard limit (and the hard limit up, where allowed); inherited by servers."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1 << 17
    if hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
        except (ValueError, OSError):
            pass  # needs CAP_SYS_RESOURCE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def sysctl(name):
    try:
        return Path("/proc/sys/" + name.replace(".", "/")).read_text().split()
    except OSError:
        return None


def foreign_busy(seconds=2.0):
    """% of all CPUs busy over a short window while this harness runs nothing (other work skews figures)."""
    def snap():
        v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(v), v[3] + v[4]  # total, idle + iowait
    try:
        t0, i0 = snap()
        time.sleep(seconds)
        t1, i1 = snap()
        return round(100 * (1 - (i1 - i0) / (t1 - t0)), 1) if t1 > t0 else None
    except (OSError, ValueError, IndexError):
        return None


def ws_probe(port, path, timeout=3.0):
    """One WebSocket upgrade on a fresh connection: None when it is a valid 101, else why not."""
    key = base64.b64encode(os.urandom(16))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET " + path.encode() + f" HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
                      + b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key
                      + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    return f"{path}: connection closed without a response" + (f" ({buf[:60]!r})" if buf else "")
                buf += chunk
    except OSError as e:
        return f"{path}: {type(e).__name__}: {e}"
    head = buf.split(b"\r\n\r\n", 1)[0]
    status = head.split(b"\r\n", 1)[0].decode(errors="replace")
    if not status.startswith("HTTP/1.1 101"):
        return f"no WebSocket on {path}: {status}"
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    if accept not in head:
        return f"{path}: 101 without the right Sec-WebSocket-Accept"
    return None


class Run:
    def __init__(self, args, cfg, bench):
        self.args, self.cfg, self.bench = args, cfg, bench
        self.t0 = time.monotonic()
        self.res = {"echo": [], "broadcast": [], "idle": [], "many": {}}

    def over_budget(self):
        """Past the soft budget no new step starts; at the budget itself SIGALRM aborts the running one."""
        return time.monotonic() - self.t0 > self.cfg["budget_s"] - 90

    # ------------------------------------------------------------ servers

    def servers(self, keys=None):
        b, py = self.bench, self.bench.PY
        io = self.cfg["io_threads"]
        demo = lambda port: ["env", f"PORT={port}", f"SQUALL_IO_THREADS={io}", SQUALL_DEMO]  # noqa: E731
        every = {
            "squall": (f"**squall C demo, io_threads={io}**", lambda port=SQUALL_PORT: b.Server(
                "squall-ws", port, demo(port))),
            # the same demo with its callbacks on the reactor thread (SQ_INLINE)
            "squall-inline": (f"**squall C demo, io_threads={io}, SQ_INLINE**", lambda port=SQUALL_PORT + 5: b.Server(
                "squall-ws-inline", port, ["env", "SQUALL_INLINE=1", *demo(port)])),
            # as the anchors' bench.py defines them (same commands, same ports)
            "socketify": ("socketify.py (uWS; chat = native pub/sub)", lambda port=18091: b.Server(
                "socketify-ws", 18091, [py, str(b.HERE / "servers" / "socketify_ws.py"), "18091"])),
            "tornado": ("Tornado WebSocketHandler", lambda port=18090: b.Server(
                "tornado-ws", 18090, [py, str(b.HERE / "servers" / "tornado_ws.py"), "18090"])),
        }
        return [(k, *every[k]) for k in (keys or self.args.servers)]

    # ------------------------------------------------------------ echo + broadcast

    def client_runs(self, script, args, timeout, tag, metric):
        """REPEAT runs of one anchors client; stops early after a failed run that timed out or ran nothing."""
        runs = []
        for rep in range(1, self.cfg["repeat"] + 1):
            if runs and self.over_budget():
                break
            r = self.bench.run_client(script, args, timeout=timeout, tag=f"{tag}.run{rep}")
            runs.append(r)
            log(f"{tag} run {rep}/{self.cfg['repeat']}: {metric} {r.get(metric)}, server CPU {r.get('server_cpu_pct')}%, "
                f"client CPU {r.get('client_cpu_pct')}% {'' if r['ok'] else 'FAILED ' + str(r.get('error') or r.get('errors'))[:200]}")
            if not r["ok"] and not r.get(metric):
                break
        med = self.bench.median_run(runs, metric)
        med["ok"] = bool(runs) and all(x["ok"] for x in runs) and len(runs) == self.cfg["repeat"]
        if len(runs) < self.cfg["repeat"] and not med.get("error"):
            med["error"] = f"only {len(runs)}/{self.cfg['repeat']} runs"
        return med

    def echo_and_broadcast(self, key, label, make):
        cfg, b = self.cfg, self.bench
        want_e, want_b = "echo" in self.args.only, "broadcast" in self.args.only
        if not (want_e or want_b):
            return
        srv = make()

        def fail_rows(sect, why):
            for impl in cfg["impls"]:
                self.res[sect].append({"key": key, "label": label, "impl": impl, "ok": False, "error": why,
                                       "server_cmd": " ".join(srv.cmd)})
            log(f"{key} {sect}: FAILED: {why}")

        if self.over_budget():
            for sect, w in (("echo", want_e), ("broadcast", want_b)):
                if w:
                    fail_rows(sect, "skipped: time budget used up")
            return
        try:
            srv.start(f"ws.{key}")
        except Exception as e:  # noqa: BLE001
            for sect, w in (("echo", want_e), ("broadcast", want_b)):
                if w:
                    fail_rows(sect, f"server did not start: {type(e).__name__}: {e}"[:300])
            srv.stop()
            return
        try:
            log(f"{key}: up (pid {srv.pid}, port {srv.port})")
            if want_e:
                why = ws_probe(srv.port, "/ws/echo")
                if why:
                    fail_rows("echo", why)
                else:
                    for impl in cfg["impls"]:
                        args = ["--impl", impl, "--url", f"ws://127.0.0.1:{srv.port}/ws/echo",
                                "--conns", str(cfg["conns"]), "--duration", str(cfg["duration"]),
                                "--warmup", str(cfg["warmup"]), "--size", "32", "--server-pid", str(srv.pid)]
                        r = self.client_runs("ws_echo_client.py", args, cfg["duration"] + cfg["warmup"] + 60,
                                             f"ws.{key}.echo.{impl}", "msgs_per_s")
                        if r.get("msgs_per_s") and r.get("server_cpu_pct") is not None:
                            r["server_us_per_msg"] = round(r["server_cpu_pct"] / 100 / r["msgs_per_s"] * 1e6, 2)
                        r.update(key=key, label=label, impl=impl, server_cmd=" ".join(srv.cmd))
                        self.res["echo"].append(r)
            if want_b:
                why = ws_probe(srv.port, "/ws/chat")
                if srv.proc is None or srv.proc.poll() is not None:
                    why = f"server exited ({srv.proc.returncode if srv.proc else '?'}); see its log"
                if why:
                    fail_rows("broadcast", why)
                else:
                    for impl in cfg["impls"]:
                        args = ["--impl", impl, "--url", f"ws://127.0.0.1:{srv.port}/ws/chat",
                                "--clients", str(cfg["bcast_clients"]), "--messages", str(cfg["bcast_messages"]),
                                "--size", "32", "--timeout", "60", "--server-pid", str(srv.pid)]
                        r = self.client_runs("ws_broadcast_client.py", args, 150, f"ws.{key}.broadcast.{impl}",
                                             "delivered_per_s")
                        if r.get("delivered_per_s") and r.get("server_cpu_pct") is not None:
                            r["server_us_per_delivery"] = round(
                                r["server_cpu_pct"] / 100 / r["delivered_per_s"] * 1e6, 3)
                        r.update(key=key, label=label, impl=impl, server_cmd=" ".join(srv.cmd))
                        self.res["broadcast"].append(r)
        finally:
            srv.stop()

    # ------------------------------------------------------------ idle

    def idle(self, key, label, make):
        n = self.cfg["idle_n"]
        srv = make(SQUALL_IDLE_PORT) if key == "squall" else make()
        row = {"key": key, "label": label, "requested": n, "server_cmd": " ".join(srv.cmd)}
        if self.over_budget():
            row.update(ok=False, error="skipped: time budget used up")
            self.res["idle"].append(row)
            return
        try:
            srv.start(f"ws.{key}.idle")
            why = ws_probe(srv.port, "/ws/chat")
            if why:
                raise RuntimeError(why)
            log(f"{key}: idle ws x{n} (pid {srv.pid})")
            r = self.bench.run_client("idle_conns.py", ["--port", str(srv.port), "--pid", str(srv.pid), "--mode", "ws",
                                                        "--path", "/ws/chat", "-n", str(n)],
                                      timeout=240, tag=f"ws.{key}.idle")
            row.update(r)
            row["label"] = label
            log(f"{key}: idle ws: {r.get('bytes_per_conn')} B/conn ({r.get('rss_before_kib')} -> "
                f"{r.get('rss_with_conns_kib')} KiB), {r.get('still_open')}/{r.get('opened')} open")
        except Exception as e:  # noqa: BLE001
            row.update(ok=False, error=f"{type(e).__name__}: {e}"[:300])
            log(f"{key}: idle FAILED: {row['error']}")
        finally:
            srv.stop()
        self.res["idle"].append(row)

    # ------------------------------------------------------------ many

    def many(self, key, label, make, hard_nofile):
        want = self.cfg["many_n"]
        # the server needs one descriptor per connection plus its own few
        n = min(want, hard_nofile - 256)
        srv = make(SQUALL_MANY_PORT) if key == "squall" else make()
        row = {"key": key, "label": label, "wanted": want, "requested": n, "server_cmd": " ".join(srv.cmd),
               "server_nofile": hard_nofile}
        if n < want:
            row["capped"] = (f"RLIMIT_NOFILE hard limit is {hard_nofile:,} here and cannot be raised "
                             f"(raising it needs CAP_SYS_RESOURCE), so the server can hold at most ~{hard_nofile - 256:,} "
                             f"connections: measured {n:,} instead of {want:,}")
            log("many: " + row["capped"])
        self.res["many"] = row
        if self.over_budget():
            row.update(ok=False, error="skipped: time budget used up")
            return
        ws_cmd = ["--port", str(srv.port), "--path", "/ws/chat", "-n", str(n), "--procs", "4"]
        row["cmd"] = "python3 bench/ws_many.py " + " ".join(ws_cmd)
        proc = None
        try:
            srv.start(f"ws.{key}.many")
            why = ws_probe(srv.port, "/ws/chat")
            if why:
                raise RuntimeError(why)
            cmd = self.bench.pin(self.bench.CLIENT_CPU, [self.bench.PY, str(WS_MANY)] + ws_cmd
                                 + ["--server-pid", str(srv.pid)])
            log(f"{key}: {n:,} WebSocket connections (ws_many.py, pid {srv.pid})")
            rawf = self.bench.RAW / f"ws.{key}.many.txt"
            with open(rawf, "w") as errf:
                errf.write(" ".join(cmd) + "\n\n")
                errf.flush()
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errf, text=True, start_new_session=True)
                self.bench._running[proc.pid] = "ws_many"
                try:
                    out, _ = proc.communicate(timeout=420)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    out, _ = proc.communicate(timeout=10)
                    raise RuntimeError("ws_many.py timed out after 420 s")
                finally:
                    self.bench._running.pop(proc.pid, None)
            with open(rawf, "a") as f:
                f.write("\n" + out)
            r = json.loads((out.strip().splitlines() or ["{}"])[-1])
            row.update(r)
            row["ok"] = bool(r.get("ok")) and proc.returncode == 0
        except Exception as e:  # noqa: BLE001
            row.update(ok=False, error=f"{type(e).__name__}: {e}"[:300])
            log(f"{key}: many FAILED: {row['error']}")
        finally:
            srv.stop()


class OutOfTime(BaseException):
    """Raised by SIGALRM at the time budget; not an Exception, so no step swallows it."""


def on_alarm(*_):
    raise OutOfTime()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="1 run each, 3 s echo, 50 broadcast messages, "
                   "2,000 idle, 10,000 concurrent (~3 min)")
    p.add_argument("--only", default=",".join(SECTIONS), help="sections: " + ",".join(SECTIONS))
    p.add_argument("--servers", default="squall,squall-inline,socketify,tornado")
    p.add_argument("--many-on", default="squall", help="server of the many-connections test (squall; another "
                   "key only to check the client)")
    p.add_argument("--no-build", action="store_true", help="do not run `make examples`")
    p.add_argument("--render", action="store_true", help="only rewrite ws.md from the last ws.json")
    args = p.parse_args()
    if args.render:
        (OUT / "ws.md").write_text(render(json.loads((OUT / "ws.json").read_text()), args))
        return 0
    args.only = [x for x in args.only.split(",") if x]
    args.servers = [x for x in args.servers.split(",") if x]
    bad = [x for x in args.only if x not in SECTIONS] + [x for x in args.servers + [args.many_on]
                                                         if x not in ("squall", "squall-inline", "socketify", "tornado")]
    if bad:
        p.error(f"unknown: {bad}")
    cfg = config(args)

    hard = raise_nofile()
    prepare_anchors()
    build = "skipped (--no-build)"
    if not args.no_build:
        b = subprocess.run(["make", "-s", "-C", str(ROOT), "examples"], capture_output=True, text=True)
        build = "ok" if b.returncode == 0 else f"FAILED ({b.returncode}): {(b.stderr or b.stdout)[-300:]}"
        log(f"make examples: {build}")

    sys.path.insert(0, str(ANCHORS))
    bench = importlib.import_module("bench")
    bench.RAW = OUT / "raw"
    bench.RAW.mkdir(parents=True, exist_ok=True)
    bench.WORK.mkdir(exist_ok=True)

    run = Run(args, cfg, bench)
    busy0 = foreign_busy()
    servers = run.servers()
    interrupted = None
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(cfg["budget_s"]))
    try:
        for key, label, make in servers:
            run.echo_and_broadcast(key, label, make)
        if "idle" in args.only:
            for key, label, make in servers:
                if key != "squall-inline":  # same memory as "squall"
                    run.idle(key, label, make)
        if "many" in args.only:
            (key, label, make), = run.servers([args.many_on])
            run.many(key, label, make, hard)
    except OutOfTime:
        interrupted = f"time budget of {cfg['budget_s']:g} s used up: the step then running was aborted"
    except (SystemExit, KeyboardInterrupt) as e:
        interrupted = f"interrupted ({type(e).__name__} {getattr(e, 'code', '')})"
    finally:
        signal.alarm(0)
        bench._cleanup()
    if interrupted:
        log("ws_bench: " + interrupted)

    facts = bench.machine_facts()
    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "config": cfg, "build": build, "facts": facts, "nofile_hard": hard,
              "port_range": " ".join(sysctl("net.ipv4.ip_local_port_range") or ["?"]),
              "nr_open": (sysctl("fs.nr_open") or ["?"])[0], "file_max": (sysctl("fs.file-max") or ["?"])[0],
              "somaxconn": (sysctl("net.core.somaxconn") or ["?"])[0],
              "busy_before_pct": busy0, "busy_after_pct": foreign_busy(),
              "interrupted": interrupted, "total_s": round(time.monotonic() - run.t0, 1), **run.res}
    OUT.mkdir(parents=True, exist_ok=True)
    text = scrub(json.dumps(result, indent=1), bench)
    (OUT / "ws.json").write_text(text)
    md = scrub(render(json.loads(text), args), bench)
    (OUT / "ws.md").write_text(md)
    print(md)
    log(f"done in {result['total_s']} s")
    return 1 if interrupted else 0


def scrub(text, bench):
    """Commands relative to the repository (anchors under build/anchors), python3 by name."""
    return (text.replace(str(ANCHORS) + "/", "build/anchors/").replace(str(ROOT) + "/", "")
            .replace(bench.PY, "python3"))


# ---------------------------------------------------------------- markdown

def fmt(v, nd=0):
    return "—" if v is None else f"{v:,.{nd}f}"


def rng(x, metric):
    lo, hi = x.get(f"{metric}_min"), x.get(f"{metric}_max")
    return "—" if lo is None or hi is None else f"{lo:,.0f}–{hi:,.0f}"


def ratio(rows, x, key, metric, invert=False):
    """x's metric over the same-client row of server `key` (for a cost, theirs over ours)."""
    ref = next((y.get(metric) for y in rows if y["key"] == key and y.get("impl") == x.get("impl")), None)
    mine = x.get(metric)
    if not ref or not mine:
        return "—"
    return fmt(ref / mine if invert else mine / ref, 2)


def status(x, client_metric="client_cpu_pct"):
    if not x.get("ok"):
        err = x.get("error") or x.get("errors") or x.get("order_errors") or "failed"
        return ("failed: " if not x.get("msgs_per_s") and not x.get("delivered_per_s") else "CHECK: ") + str(err)[:160]
    return "ok" + (", client-bound" if (x.get(client_metric) or 0) >= 90 else "")


def render(res, args):
    cfg, f = res["config"], res.get("facts", {})
    reps = cfg["repeat"]
    L = ["# WebSocket benchmark: squall C demo vs the anchors (same run)", "",
         f"- date: {res['date']}" + (" (--quick)" if cfg.get("quick") else ""),
         "- machine: {nproc} CPUs, {cpu_model} ({cpu_family_model}), {hypervisor}, {mem_total}, kernel {kernel}, {os}".format(
             **{k: f.get(k, "?") for k in ("nproc", "cpu_model", "cpu_family_model", "hypervisor", "mem_total",
                                          "kernel", "os")}),
         f"- versions: python {f.get('versions', {}).get('python')}, tornado {f.get('versions', {}).get('tornado')}, "
         f"socketify {f.get('versions', {}).get('socketify')}, websockets {f.get('versions', {}).get('websockets')}",
         f"- pinning: {f.get('pinning', '?')}; RLIMIT_NOFILE {res['nofile_hard']:,} (client and servers); "
         f"ip_local_port_range {res['port_range']}; fs.nr_open {res['nr_open']}; somaxconn {res['somaxconn']}",
         f"- `make examples`: {res['build']}" + ("" if SQUALL_DEMO == str(DEMO) else f"; demo replaced by {SQUALL_DEMO}"),
         f"- CPUs busy with other work just before / after the run (2 s each): {res.get('busy_before_pct')} % / "
         f"{res.get('busy_after_pct')} %" + (" (**other work was running: figures are skewed**)" if max(
             res.get("busy_before_pct") or 0, res.get("busy_after_pct") or 0) > 5 else ""),
         f"- command: `bench/run.sh ws` (bench/ws_bench.py{' --quick' if cfg.get('quick') else ''}); "
         f"total {res['total_s']} s" + (f"; **{res['interrupted']}**" if res.get("interrupted") else ""),
         "- server CPU µs per message = server CPU seconds / messages (echo round trips, or broadcast deliveries); "
         "× columns: this row over the socketify.py / Tornado row with the same client (for µs per message: "
         "theirs over ours, so > 1 = cheaper)", ""]

    e = res["echo"]
    if e:
        L += [f"## Echo ({cfg['conns']} connections, 32-byte text, 1 outstanding per connection, "
              f"{cfg['warmup']} s warm-up + {cfg['duration']:g} s; median of {reps})", "",
              "Client `websockets` = the websockets package, `raw` = the anchors' thin wsraw.py client.", "",
              "| server | client | msgs/s | range | RTT p50 ms | RTT p99 ms | server CPU % | server µs/msg | client CPU % "
              "| × socketify msgs/s | × Tornado msgs/s | × socketify µs/msg | × Tornado µs/msg | status |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for x in e:
            if x.get("msgs_per_s"):
                L.append(f"| {x['label']} | {x['impl']} | {fmt(x['msgs_per_s'])} | {rng(x, 'msgs_per_s')} | "
                         f"{fmt(x.get('rtt_ms_p50'), 2)} | {fmt(x.get('rtt_ms_p99'), 2)} | {fmt(x.get('server_cpu_pct'))} | "
                         f"{fmt(x.get('server_us_per_msg'), 1)} | {fmt(x.get('client_cpu_pct'))} | "
                         f"{ratio(e, x, 'socketify', 'msgs_per_s')} | {ratio(e, x, 'tornado', 'msgs_per_s')} | "
                         f"{ratio(e, x, 'socketify', 'server_us_per_msg', True)} | "
                         f"{ratio(e, x, 'tornado', 'server_us_per_msg', True)} | {status(x)} |")
            else:
                L.append(f"| {x['label']} | {x.get('impl')} | — | — | — | — | — | — | — | — | — | — | — | {status(x)} |")
        L.append("")

    bc = res["broadcast"]
    if bc:
        L += [f"## Broadcast ({cfg['bcast_clients']:,} receivers + 1 sender, {cfg['bcast_messages']} × 32-byte text; "
              f"median of {reps} by deliveries/s)", "",
              "Fan-out s = first send to the last receiver holding every message.", "",
              "| server | client | delivered | deliveries/s | range | fan-out s | server CPU % | server µs/delivery "
              "| client CPU % | × socketify deliveries/s | × Tornado deliveries/s | × socketify µs/delivery "
              "| × Tornado µs/delivery | status |",
              "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for x in bc:
            if x.get("delivered") is not None:
                L.append(f"| {x['label']} | {x['impl']} | {x['delivered']:,}/{x['expected_deliveries']:,} | "
                         f"{fmt(x.get('delivered_per_s'))} | {rng(x, 'delivered_per_s')} | {fmt(x.get('fanout_s'), 3)} | "
                         f"{fmt(x.get('server_cpu_pct'))} | {fmt(x.get('server_us_per_delivery'), 2)} | "
                         f"{fmt(x.get('client_cpu_pct'))} | {ratio(bc, x, 'socketify', 'delivered_per_s')} | "
                         f"{ratio(bc, x, 'tornado', 'delivered_per_s')} | "
                         f"{ratio(bc, x, 'socketify', 'server_us_per_delivery', True)} | "
                         f"{ratio(bc, x, 'tornado', 'server_us_per_delivery', True)} | {status(x)} |")
            else:
                L.append(f"| {x['label']} | {x.get('impl')} | — | — | — | — | — | — | — | — | — | — | — | {status(x)} |")
        L.append("")

    idle = res["idle"]
    if idle:
        L += [f"## Idle WebSocket connections ({cfg['idle_n']:,}, `idle_conns.py --mode ws --path /ws/chat`, "
              "fresh server each)", "",
              "| server | opened / still open | RSS before KiB | RSS with conns KiB | growth per conn | "
              "RSS after close KiB | status |",
              "|---|---:|---:|---:|---:|---:|---|"]
        for x in idle:
            if x.get("bytes_per_conn") is not None:
                L.append(f"| {x['label']} | {x['opened']:,} / {x['still_open']:,} | {x['rss_before_kib']:,} | "
                         f"{x['rss_with_conns_kib']:,} | {x['bytes_per_conn'] / 1024:.1f} KiB | "
                         f"{fmt(x.get('rss_after_close_kib'))} | {status(x)} |")
            else:
                L.append(f"| {x['label']} | — | — | — | — | — | {status(x)} |")
        L.append("")

    m = res["many"]
    if m:
        L += [f"## {m.get('requested', 0):,} concurrent WebSocket connections, one broadcast ({m['label']})", ""]
        if m.get("capped"):
            L += [f"**Capped:** {m['capped']}.", ""]
        L += [f"`{m.get('cmd', '')}` (pinned to CPU 0): {m.get('procs', '?')} worker processes, one source "
              f"address each ({m.get('sources', '?')}), all on /ws/chat; then one client sends a sync message, "
              "waits until every connection has it, and sends the measured 32-byte message.", "",
              "| measure | value |", "|---|---:|",
              f"| connections open / requested | {fmt(m.get('opened'))} / {fmt(m.get('requested'))} "
              f"(failed {fmt(m.get('failed'))}) |",
              f"| connect time (first connect → last 101) | {fmt(m.get('connect_s'), 2)} s "
              f"({fmt(m.get('connects_per_s'))} /s) |",
              f"| server RSS before → with connections | {fmt(m.get('rss_before_kib'))} → "
              f"{fmt(m.get('rss_with_conns_kib'))} KiB |",
              f"| server RSS growth per connection | "
              f"{fmt(m['bytes_per_conn'] / 1024, 2) + ' KiB' if m.get('bytes_per_conn') is not None else '—'} |",
              f"| server RSS after closing all | {fmt(m.get('rss_after_close_kib'))} KiB |",
              f"| fan-out of the sync message (all connections) | "
              f"{fmt(m['sync_fanout_s'] * 1e3 if m.get('sync_fanout_s') is not None else None, 1)} ms |",
              f"| **fan-out of the measured message** (send → last copy in a client socket) | "
              f"**{fmt(m['fanout_s'] * 1e3 if m.get('fanout_s') is not None else None, 1)} ms** |",
              f"| … until the last copy was read and checked by the client | "
              f"{fmt(m['fanout_processed_s'] * 1e3 if m.get('fanout_processed_s') is not None else None, 1)} ms |",
              f"| first copy received after | {fmt(m.get('first_delivery_ms'), 2)} ms |",
              f"| received / lost / duplicates | {fmt(m.get('received'))} / {fmt(m.get('lost_before_fanout'))} / "
              f"{fmt(m.get('duplicates'))} |",
              f"| server CPU during the fan-out | {fmt(m.get('server_cpu_fanout_s'), 3)} s "
              f"({fmt(m.get('server_us_per_delivery'), 2)} µs per delivery) |",
              f"| client CPU during the fan-out (all workers, CPU 0) | {fmt(m.get('client_cpu_fanout_s'), 3)} s |",
              f"| status | {status(m)} |", "",
              "One 32-byte message per connection means one send per connection; on loopback the sending "
              "process's CPU also runs the receiving side of TCP, so µs per delivery here is mostly that "
              "per-send kernel cost (in the broadcast table a connection's back-to-back messages can share "
              "sends).", ""]

    L += ["## Commands", ""]
    seen = set()
    for sect in ("echo", "broadcast", "idle"):
        for x in res[sect]:
            if x.get("server_cmd") and x["server_cmd"] not in seen:
                seen.add(x["server_cmd"])
                what = "echo + broadcast" if sect != "idle" else "idle"
                L.append(f"- server {x['key']} ({what}): `taskset -c 1 {x['server_cmd']}`")
    if m.get("server_cmd") and m["server_cmd"] not in seen:
        L.append(f"- server {m['key']} (many): `taskset -c 1 {m['server_cmd']}`")
    for sect in ("echo", "broadcast", "idle"):
        for x in res[sect]:
            if x.get("cmd"):
                L.append(f"- {sect} {x['key']}{' ' + x['impl'] if 'impl' in x else ''}: "
                         f"`taskset -c 0 {x['cmd'].replace('python3 ', 'python3 build/anchors/', 1)}`")
    if m.get("cmd"):
        L.append(f"- many {m['key']}: `taskset -c 0 {m['cmd']} --server-pid PID`")
    L.append("")
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main())
