#!/usr/bin/env python3
"""HTTP client benchmark: squall's sq_fetch (sqfetch) beside Python clients, in one run.

Server: nginx serving one small static file (FETCH_SIZE bytes, 512 by
default) with keep-alive, 1 worker, pinned to CPU 1. Its configuration is the
anchors' nginx.conf (../shared/bench/anchors, copied to build/anchors) with
the port changed and `return 200` replaced by a static root, written to a
temporary prefix directory; it is started, unprivileged, with the anchors'
own bench.Server (`nginx -e stderr -p <tmp>/ -c <tmp>/nginx.conf`, own
process group, stopped by PID).

Clients, each pinned to CPU 0, each doing N GETs with 64 in flight:
  squall-io0 / squall-io1  sqfetch -n N -c 64 --max-clients 64 --quiet --io-threads 0|1
  tornado-simple           Tornado SimpleAsyncHTTPClient, max_clients=64 (no keep-alive)
  tornado-curl             Tornado CurlAsyncHTTPClient (pycurl), max_clients=64
  aiohttp                  aiohttp ClientSession, TCPConnector(limit=64), 64 tasks
(the Python ones are bench/fetch_clients.py). Each client first does a
warm-up run of WARM_N requests, which also sets its N: enough requests for
about TARGET_S seconds at the warm-up rate (at least MIN_N), the same N in
all its runs. Then REPEAT rounds, each running every client once in turn;
the median run (by requests/s) is reported.

Per client: requests/s (ok responses / the client's own elapsed time), the
client's CPU (user+sys of the client process and all its threads, from
getrusage(RUSAGE_CHILDREN) around the run: start-up included) per 1,000
requests, the client's own in-process CPU figure beside it, nginx's CPU %,
connections nginx accepted during the run (stub_status), errors, and the
ratio to Tornado's simple client.

Writes bench/results/fetch.md and fetch.json, raw output under
bench/results/raw/fetch.*. A client that fails or is not built is a failed
row; the run goes on.

  python3 bench/fetch_bench.py [--sqfetch PATH] [--clients a,b] [--quick]

Environment: SQFETCH (path of the squall client; default
build/examples/c/sqfetch), REPEAT (3), FETCH_N (fixed N for every client),
TARGET_S (6), MIN_N (5000), WARM_N (3000), FETCH_SIZE (512), CONC (64),
QUIET_PCT (10) and QUIET_WAIT_S (60): before each run, wait up to
QUIET_WAIT_S for other work to use under QUIET_PCT % of the CPUs (this
machine is shared; each run records what else ran meanwhile); all the
waits together stop at 300 s, which keeps the whole run under ~10 minutes.
Only 127.0.0.1 is used.
"""
import argparse
import datetime
import hashlib
import importlib
import json
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_bench import ANCHORS, OUT, ROOT, log, prepare_anchors  # noqa: E402
from ws_bench import foreign_busy  # noqa: E402

PY = sys.executable
CLIENTS_PY = ROOT / "bench" / "fetch_clients.py"
DEFAULT_SQFETCH = ROOT / "build" / "examples" / "c" / "sqfetch"
PORT = 18330
CLIENT_CPU = "0"
CLIENTS = {
    "squall-io0": ("**squall sq_fetch, io_threads=0**", "squall", ["--io-threads", "0"]),
    "squall-io1": ("**squall sq_fetch, io_threads=1**", "squall", ["--io-threads", "1"]),
    "tornado-simple": ("Tornado SimpleAsyncHTTPClient (no keep-alive)", "py", ["--impl", "simple"]),
    "tornado-curl": ("Tornado CurlAsyncHTTPClient (pycurl)", "py", ["--impl", "curl"]),
    "aiohttp": ("aiohttp ClientSession, TCPConnector(limit=64)", "py", ["--impl", "aiohttp"]),
}
BASE = "tornado-simple"


def env_int(name, default):
    return int(os.environ.get(name, default))


# ---------------------------------------------------------------- nginx

def nginx_prefix(size):
    """A temporary nginx prefix: the anchors' config with our port and a static root, and the file."""
    text = (ANCHORS / "nginx" / "nginx.conf").read_text()
    text, n1 = re.subn(r"listen 127\.0\.0\.1:\d+", f"listen 127.0.0.1:{PORT}", text)
    text, n2 = re.subn(r"location / \{[^}]*\}",
                       "location / {\n            root www;\n            open_file_cache max=16 inactive=600s;\n            open_file_cache_valid 600s;\n        }\n"
                       "        location = /nginx_status {\n            stub_status;\n        }", text)
    if (n1, n2) != (1, 1):
        raise RuntimeError("the anchors' nginx.conf no longer has one listen line and one `location /` block")
    prefix = Path(tempfile.mkdtemp(prefix="squall-fetch-nginx."))
    (prefix / "tmp").mkdir()
    (prefix / "www").mkdir()
    body = (b"squall fetch benchmark body " * (size // 28 + 1))[:size - 1] + b"\n"
    (prefix / "www" / "index.html").write_bytes(body)
    (prefix / "nginx.conf").write_text(text)
    # mkdtemp makes the directory 0700: when started by root, nginx's worker runs as nobody and must read www/
    for d in (prefix, prefix / "www"):
        d.chmod(0o755)
    (prefix / "www" / "index.html").chmod(0o644)
    return prefix, body


def nginx_accepted():
    """Connections nginx has accepted so far (stub_status), or None."""
    try:
        _, _, body = BENCH.raw_get(PORT, "/nginx_status")
        m = re.search(rb"\n\s*(\d+)\s+(\d+)\s+(\d+)", body)
        return int(m.group(1)) if m else None
    except OSError:
        return None


# ---------------------------------------------------------------- one client run

def cpu_busy_s():
    """CPU-seconds all CPUs have spent on anything but idle and iowait (steal included), so far."""
    try:
        v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
        return (sum(v) - v[3] - v[4]) / BENCH.procstat.CLK_TCK
    except (OSError, ValueError, IndexError):
        return None


def client_cmd(key, n, cfg, url):
    _, kind, extra = CLIENTS[key]
    if kind == "squall":
        return [cfg["sqfetch"], "-n", str(n), "-c", str(cfg["conc"]), "--max-clients", str(cfg["conc"]),
                "--quiet", *extra, url]
    return [PY, str(CLIENTS_PY), *extra, "-n", str(n), "-c", str(cfg["conc"]), "--size", str(cfg["size"]), url]


def shown(cmd):
    """A command as the page shows it: paths relative to the repository, python3 by name."""
    return " ".join(cmd).replace(str(ROOT) + "/", "").replace(PY, "python3")


def wait_quiet(cfg):
    """Before a run: wait (at most quiet_wait_s) until other work uses under quiet_pct % of both CPUs over 1 s.
    Returns (seconds waited, % busy at the last look)."""
    t0 = time.monotonic()
    limit = min(cfg["quiet_wait_s"], cfg["quiet_budget_s"] - cfg["quiet_waited_s"])  # all waits together: bounded
    while True:
        busy = foreign_busy(1.0)
        waited = time.monotonic() - t0
        if busy is None or busy < cfg["quiet_pct"] or waited >= limit:
            cfg["quiet_waited_s"] += waited
            return round(waited, 1), busy


def run_once(key, n, cfg, url, server, tag, timeout):
    cmd = client_cmd(key, n, cfg, url)
    full = ["taskset", "-c", CLIENT_CPU] + cmd
    res = {"n": n, "cmd": shown(cmd)}
    res["quiet_wait_s"], res["busy_before_pct"] = wait_quiet(cfg)
    acc0 = nginx_accepted()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    b0, s0, t0 = cpu_busy_s(), BENCH.procstat.cpu_seconds(server.pid), time.perf_counter()
    p = subprocess.Popen(full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                         text=True, start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)  # the group we created for this client
        out, err = p.communicate()
        res["error"] = f"timed out after {timeout:.0f} s"
    t1, s1, b1 = time.perf_counter(), BENCH.procstat.cpu_seconds(server.pid), cpu_busy_s()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    acc1 = nginx_accepted()
    (OUT / "raw" / f"fetch.{tag}.txt").write_text(" ".join(full) + f"\n\nexit {p.returncode}\n\n{out}\n{err}")
    res["rc"] = p.returncode
    res["wall_s"] = round(t1 - t0, 3)
    res["cpu_s"] = round((ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime), 3)
    res["server_cpu_pct"] = round(100 * (s1 - s0) / (t1 - t0), 1)
    # everything else the machine did meanwhile (other processes, steal), in % of one CPU: figures taken
    # while it is high are skewed
    if b0 is not None and b1 is not None:
        res["other_cpu_pct"] = round(max(0.0, 100 * ((b1 - b0) - res["cpu_s"] - (s1 - s0)) / (t1 - t0)), 1)
    # the two stub_status requests themselves are two connections
    res["conns"] = (acc1 - acc0 - 1) if acc0 is not None and acc1 is not None else None
    summary = None
    for line in reversed(out.strip().splitlines()):
        try:
            d = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(d, dict) and d.get("summary"):
            summary = d
            break
    if summary is None:
        res.setdefault("error", f"no summary line; exit {p.returncode}: {(err or out)[-300:].strip()}")
        res["ok"] = False
        return res
    res["own"] = summary
    ok = int(summary.get("ok") or 0)
    elapsed = float(summary.get("elapsed_s") or 0)
    res["ok_count"] = ok
    res["errors"] = dict(summary.get("errors") or {})
    missing = n - int(summary.get("count") or 0)
    if missing:
        res["errors"]["not done"] = missing
    res["error_count"] = (n - ok)
    res["rps"] = round(ok / elapsed, 1) if elapsed > 0 else None
    res["own_cpu_s"] = summary.get("cpu_s")
    res["cpu_s_per_1k"] = round(1000 * res["cpu_s"] / ok, 4) if ok else None
    res["own_cpu_s_per_1k"] = (round(1000 * float(summary["cpu_s"]) / ok, 4)
                               if ok and summary.get("cpu_s") is not None else None)
    res["client_cpu_pct"] = round(100 * res["cpu_s"] / res["wall_s"], 1) if res["wall_s"] else None
    res["ok"] = p.returncode == 0 and res["error_count"] == 0 and "error" not in res
    return res


def timeout_for(n, rate):
    return min(300.0, 30.0 + 3.0 * n / max(rate, 50.0))


# ---------------------------------------------------------------- facts

def facts(cfg):
    f = BENCH.machine_facts()
    keep = ("date_utc", "nproc", "cpu_model", "cpu_family_model", "hypervisor", "mem_total", "kernel", "os")
    out = {k: f.get(k) for k in keep}

    def pyv(code):
        p = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=60)
        return p.stdout.strip() if p.returncode == 0 else "not importable"

    out["versions"] = {
        "nginx": f["versions"]["nginx"], "python": f["versions"]["python"],
        "tornado": pyv("import tornado; print(tornado.version)"),
        "pycurl": pyv("import pycurl; print(' '.join(pycurl.version.split()[:2]))"),
        "aiohttp": pyv("import aiohttp; print(aiohttp.__version__)"),
        "squall": BENCH.sh(f"git -C {ROOT} log -1 --format='%h %cs'"),
    }
    sq = Path(cfg["sqfetch"])
    if sq.exists():
        digest = hashlib.sha256(sq.read_bytes()).hexdigest()[:12]
        built = datetime.datetime.fromtimestamp(sq.stat().st_mtime).isoformat(timespec="minutes")
        out["sqfetch"] = f"{shown([str(sq)])}, built {built}, sha256 {digest}…"
    else:
        out["sqfetch"] = f"{shown([str(sq)])}: not built"
    return out


# ---------------------------------------------------------------- main

def main():
    global BENCH
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sqfetch", default=os.environ.get("SQFETCH", str(DEFAULT_SQFETCH)),
                    help="the squall client program (default: $SQFETCH or build/examples/c/sqfetch)")
    ap.add_argument("--clients", default=",".join(CLIENTS), help="keys: " + ",".join(CLIENTS))
    ap.add_argument("--quick", action="store_true", help="1 round, ~2 s runs (checks the harness only)")
    ap.add_argument("--render", action="store_true", help="only rewrite fetch.md from the last fetch.json")
    args = ap.parse_args()
    if args.render:
        (OUT / "fetch.md").write_text(render(json.loads((OUT / "fetch.json").read_text())))
        return 0
    keys = [k for k in args.clients.split(",") if k]
    bad = [k for k in keys if k not in CLIENTS]
    if bad:
        ap.error(f"unknown clients: {bad}")
    cfg = {"sqfetch": str(Path(args.sqfetch).resolve()), "repeat": env_int("REPEAT", 1 if args.quick else 3),
           "target_s": float(os.environ.get("TARGET_S", 2 if args.quick else 6)),
           "min_n": env_int("MIN_N", 2000 if args.quick else 5000), "warm_n": env_int("WARM_N", 3000),
           "fixed_n": env_int("FETCH_N", 0) or None, "size": env_int("FETCH_SIZE", 512),
           "conc": env_int("CONC", 64), "quick": args.quick,
           "quiet_pct": float(os.environ.get("QUIET_PCT", 10)),
           "quiet_wait_s": float(os.environ.get("QUIET_WAIT_S", 0 if args.quick else 60)),
           "quiet_budget_s": 300.0, "quiet_waited_s": 0.0}

    prepare_anchors()
    sys.path.insert(0, str(ANCHORS))
    BENCH = importlib.import_module("bench")
    BENCH.RAW = OUT / "raw"
    BENCH.RAW.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{PORT}/index.html"

    t_all = time.perf_counter()
    busy0 = foreign_busy()
    prefix, body = nginx_prefix(cfg["size"])
    cmd = ["nginx", "-e", "stderr", "-p", f"{prefix}/", "-c", str(prefix / "nginx.conf")]
    server = BENCH.Server("nginx-fetch", PORT, cmd)
    rows = {k: {"key": k, "label": CLIENTS[k][0], "all_runs": []} for k in keys}
    try:
        status, head, got = server.start("fetch.nginx")
        _, _, got = BENCH.raw_get(PORT, "/index.html")
        if got != body:
            raise RuntimeError(f"nginx does not serve the file: {status!r} {got[:60]!r}")
        log(f"nginx up (pid {server.pid}) on 127.0.0.1:{PORT}, {len(body)}-byte file, prefix {prefix}")

        # warm-up, which also sets each client's N
        for k in keys:
            row = rows[k]
            if CLIENTS[k][1] == "squall" and not os.access(cfg["sqfetch"], os.X_OK):
                row["error"] = f"not built: {shown([cfg['sqfetch']])} missing"
                log(f"{k}: {row['error']}")
                continue
            w = run_once(k, cfg["warm_n"], cfg, url, server, f"{k}.warmup", timeout_for(cfg["warm_n"], 200))
            row["warmup"] = w
            if not w.get("rps"):
                row["error"] = "warm-up failed: " + str(w.get("error") or w.get("errors"))[:300]
                log(f"{k}: {row['error']}")
                continue
            n = cfg["fixed_n"] or max(cfg["min_n"], int(math.ceil(w["rps"] * cfg["target_s"] / 1000.0)) * 1000)
            row["n"] = n
            log(f"{k}: warm-up {w['rps']:,.0f} req/s, errors {w.get('errors')}; N = {n:,}")

        for rep in range(1, cfg["repeat"] + 1):
            for k in keys:
                row = rows[k]
                if "n" not in row:
                    continue
                r = run_once(k, row["n"], cfg, url, server, f"{k}.run{rep}", timeout_for(row["n"], row["warmup"]["rps"]))
                row["all_runs"].append(r)
                log(f"{k} run {rep}/{cfg['repeat']}: {r.get('rps')} req/s, client CPU {r.get('cpu_s')} s "
                    f"({r.get('cpu_s_per_1k')} s/1k req; own figure {r.get('own_cpu_s_per_1k')}), "
                    f"nginx CPU {r.get('server_cpu_pct')}%, other CPU {r.get('other_cpu_pct')}%, {r.get('conns')} connections, "
                    f"errors {r.get('errors')} {r.get('error', '')}")
    except Exception as e:  # noqa: BLE001
        log(f"FAILED: {type(e).__name__}: {e}")
        for row in rows.values():
            row.setdefault("error", f"{type(e).__name__}: {e}")
    finally:
        server.stop()
        shutil.rmtree(prefix, ignore_errors=True)
    busy1 = foreign_busy()

    for row in rows.values():
        runs = row["all_runs"]
        if runs:
            med = BENCH.median_run(runs, "rps")  # the median run's figures, plus "runs" (every run's req/s) and the range
            med.pop("cmd", None)
            row.update(med)
            row["cmd"] = runs[0]["cmd"]
            row["ok"] = all(r.get("ok") for r in runs) and len(runs) == cfg["repeat"]
            row["errors_total"] = sum(r.get("error_count") or 0 for r in runs)
        else:
            row["ok"] = False
    result = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "facts": facts(cfg), "config": cfg, "url": url, "body_bytes": len(body),
              "nginx_cmd": "nginx -e stderr -p <tmp>/ -c <tmp>/nginx.conf",
              "busy_before_pct": busy0, "busy_after_pct": busy1,
              "total_s": round(time.perf_counter() - t_all, 1), "rows": [rows[k] for k in keys]}
    md = render(result)
    if cfg["quick"]:  # a check of the harness: keep the committed page and figures
        (OUT / "raw" / "fetch.quick.json").write_text(json.dumps(result, indent=1))
    else:
        (OUT / "fetch.json").write_text(json.dumps(result, indent=1))
        (OUT / "fetch.md").write_text(md)
    print(md)
    return 0


def fmt(v, nd=0):
    return "—" if v is None else f"{v:,.{nd}f}"


def render(res):
    f, cfg = res["facts"], res["config"]
    base = next((r.get("rps") for r in res["rows"] if r["key"] == BASE and r.get("rps")), None)
    L = ["# HTTP client benchmark: squall sq_fetch vs Python clients (same run)", "",
         f"- date: {res['date']}; total {res['total_s']} s",
         "- machine: {nproc} CPUs, {cpu_model} ({cpu_family_model}), hypervisor {hypervisor}, {mem_total}, "
         "kernel {kernel}, {os}".format(**f),
         "- versions: " + ", ".join(f"{k} {v}" for k, v in f["versions"].items()),
         f"- squall client: {f['sqfetch']}",
         f"- server: nginx, 1 worker, the anchors' nginx.conf (keepalive_requests 100000000, keepalive_timeout "
         f"75s, access log off) with a static root (open file cache on), `{res['nginx_cmd']}`, pinned to CPU 1; "
         f"URL `{res['url']}`, a {res['body_bytes']}-byte file",
         f"- clients: pinned to CPU 0, {cfg['conc']} requests in flight; a warm-up run of {cfg['warm_n']:,} requests, "
         f"then N = requests for ~{cfg['target_s']:g} s at the warm-up rate (at least {cfg['min_n']:,}), "
         f"{cfg['repeat']} rounds of every client in turn, median run by req/s (range = slowest–fastest); before "
         f"each run the harness waits (up to {cfg.get('quiet_wait_s', 0):g} s) for other work to use under "
         f"{cfg.get('quiet_pct', 10):g} % of the CPUs",
         f"- CPUs busy with other work just before / after the run: {fmt(res['busy_before_pct'], 1)} % / "
         f"{fmt(res['busy_after_pct'], 1)} % of both CPUs",
         "- command: `bench/run.sh fetch` (bench/fetch_bench.py, clients in bench/fetch_clients.py)", "",
         "req/s = ok responses / the client's elapsed time. Client CPU = user+sys of the client process and all its "
         "threads (getrusage of the child, start-up and imports included), per 1,000 requests; \"own\" = the "
         "client's figure for its request loop only. conns = connections nginx accepted during the run "
         "(stub_status). × simple = req/s over Tornado's SimpleAsyncHTTPClient. other CPU % = CPU time both CPUs "
         "spent on anything but this client and nginx during the run (other processes, steal), in % of one CPU: "
         "rows where it is high were measured on a busy machine.", "",
         "| client | N | req/s | range | × simple | client CPU-s / 1k req | own CPU-s / 1k | client CPU % | nginx CPU % | other CPU % | conns | errors | status |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in res["rows"]:
        if not r.get("rps"):
            L.append(f"| {r['label']} | — | — | — | — | — | — | — | — | — | — | — | {r.get('error', 'failed')} |")
            continue
        rng = f"{fmt(r.get('rps_min'))}–{fmt(r.get('rps_max'))}"
        status = "ok" if r.get("ok") else "CHECK: " + str(r.get("error") or r.get("errors"))[:120]
        if (r.get("server_cpu_pct") or 0) >= 90:
            status += ", nginx-bound"
        busy = sum(1 for x in r.get("all_runs", []) if (x.get("other_cpu_pct") or 0) >= 25)
        if busy:
            status += f", {busy} of {len(r['all_runs'])} runs on a busy machine"
        L.append(f"| {r['label']} | {r['n']:,} | {fmt(r['rps'])} | {rng} | {fmt(r['rps'] / base, 2) if base else '—'} | "
                 f"{fmt(r.get('cpu_s_per_1k'), 3)} | {fmt(r.get('own_cpu_s_per_1k'), 3)} | "
                 f"{fmt(r.get('client_cpu_pct'))} | {fmt(r.get('server_cpu_pct'))} | {fmt(r.get('other_cpu_pct'))} | "
                 f"{fmt(r.get('conns'))} | "
                 f"{r.get('errors_total', 0)} | {status} |")
    sq = [r for r in res["rows"] if r["key"].startswith("squall") and r.get("rps")]
    if sq and base:
        best = max(sq, key=lambda r: r["rps"])
        L += ["", f"Target squall ≥ 5 × Tornado simple: best squall row {best['rps'] / base:.2f} × "
                  f"({'met' if best['rps'] / base >= 5 else 'NOT met'})."]
        simple = next(r for r in res["rows"] if r["key"] == BASE)
        if best.get("cpu_s_per_1k") and simple.get("cpu_s_per_1k"):
            L[-1] += (f" Client CPU per request: {simple['cpu_s_per_1k'] / best['cpu_s_per_1k']:.0f} × less than "
                      "Tornado simple.")
        if any((r.get("server_cpu_pct") or 0) >= 90 for r in sq):
            L[-1] += (" nginx (one worker, one CPU) was near its limit with squall, so squall's req/s are lower "
                      "bounds of the client's; CPU per request is the figure to compare.")
    L += ["", "## Commands", "", f"- server: `taskset -c 1 {res['nginx_cmd']}`, where `<tmp>/nginx.conf` is the "
          f"anchors' `nginx/nginx.conf` with `listen 127.0.0.1:{PORT}` and its `location /` replaced by "
          "`location / { root www; open_file_cache max=16 inactive=600s; open_file_cache_valid 600s; }` and "
          "`location = /nginx_status { stub_status; }`, and `<tmp>/www/index.html` "
          f"the {res['body_bytes']}-byte file"]
    for r in res["rows"]:
        if r.get("cmd"):
            L.append(f"- {r['key']}: `taskset -c {CLIENT_CPU} {r['cmd']}`")
    L.append("")
    return "\n".join(L)


BENCH = None

if __name__ == "__main__":
    sys.exit(main())
