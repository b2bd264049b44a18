#!/usr/bin/env python3
"""The chat room as several processes, the way docs/DEPLOYMENT.md deploys
it: a redis-server, N chat processes (``chat.py --cluster``), and nginx in
front with docs/deploy/nginx-squall.conf. ``make demo-cluster`` runs it:

    python3 examples/python/chat/cluster.py --port=8888 --processes=2

Open http://127.0.0.1:8888/ in two browsers: nginx sends them to different
processes, and they are in one room. Everything listens on 127.0.0.1 only
and runs from a temporary directory; Ctrl-C (or SIGTERM) stops it all, each
process by the PID this script started. Needs Debian's redis-server and
nginx (``bash tests/setup.sh`` installs them).
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
SITE = ROOT / "docs" / "deploy" / "nginx-squall.conf"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def render_site(backends: list[int], listen_port: int) -> str:
    """docs/deploy/nginx-squall.conf with these backends and this port:
    its two example servers become one line per backend, its `listen 80`
    the given port on 127.0.0.1; nothing else changes."""
    lines, done = [], False
    for line in SITE.read_text().splitlines(keepends=True):
        if line.strip().startswith("server 127.0.0.1:800"):
            if not done:
                for port in backends:
                    lines.append(line.replace(line.split()[1], f"127.0.0.1:{port}"))
                done = True
            continue
        lines.append(line)
    text = "".join(lines)
    assert done and "    listen 80;" in text, "docs/deploy/nginx-squall.conf changed shape"
    return text.replace("    listen 80;", f"    listen 127.0.0.1:{listen_port};")


def nginx_config(tmp: Path, backends: list[int], listen_port: int) -> Path:
    """A whole nginx.conf (unprivileged, one worker, everything under tmp)
    around the site; returns its path."""
    (tmp / "logs").mkdir(parents=True, exist_ok=True)
    (tmp / "squall.conf").write_text(render_site(backends, listen_port))
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "".join(f"    {d}_temp_path {tmp}/{d};\n" for d in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = tmp / "nginx.conf"
    conf.write_text(f"""{user}daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {tmp}/logs/access.log;
{temp}    include {tmp}/squall.conf;
}}
""")
    return conf


def binary(name: str) -> str:
    for cand in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if cand and os.access(cand, os.X_OK):
            return cand
    sys.exit(f"{name} is not installed (bash tests/setup.sh installs it)")


def wait_listening(proc: subprocess.Popen, port: int, what: str, timeout: float = 20) -> None:
    end = time.monotonic() + timeout
    while not listening(port):
        if proc.poll() is not None:
            sys.exit(f"{what} exited with {proc.returncode}")
        if time.monotonic() > end:
            sys.exit(f"{what} did not listen on {port} in {timeout:g} s")
        time.sleep(0.05)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8888")))
    ap.add_argument("--processes", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="squall-chat-cluster-"))
    procs: list[tuple[str, subprocess.Popen]] = []

    def start(what: str, cmd: list[str], port: int, env: dict[str, str] | None = None) -> None:
        p = subprocess.Popen(cmd, env=dict(os.environ, **(env or {})), start_new_session=True)
        procs.append((what, p))
        wait_listening(p, port, what)

    def stop(*_: object) -> None:
        for what, p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for what, p in reversed(procs):
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        rport = free_port()
        start("redis-server", [binary("redis-server"), "--port", str(rport), "--bind", "127.0.0.1",
                               "--save", "", "--appendonly", "no", "--dir", str(tmp)], rport)
        backends = [free_port() for _ in range(args.processes)]
        env = {"PYTHONPATH": str(ROOT / "bindings" / "python")}
        for port in backends:
            start(f"chat :{port}", [sys.executable, str(HERE / "chat.py"), f"--port={port}",
                                    f"--cluster=redis://127.0.0.1:{rport}/0?prefix=chat"], port, env)
        conf = nginx_config(tmp, backends, args.port)
        start("nginx", [binary("nginx"), "-e", "stderr", "-p", f"{tmp}/", "-c", str(conf)], args.port)
        print(f"chat room on http://127.0.0.1:{args.port}/ : nginx in front of {args.processes} processes "
              f"({', '.join(map(str, backends))}) sharing redis-server :{rport}; Ctrl-C stops it all", flush=True)
        while all(p.poll() is None for _, p in procs):
            time.sleep(0.5)
        gone = [what for what, p in procs if p.poll() is not None]
        print(f"{', '.join(gone)} exited; stopping the rest", file=sys.stderr, flush=True)
    finally:
        stop()


if __name__ == "__main__":
    main()
