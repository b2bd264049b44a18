#!/usr/bin/env python3
"""Autobahn|Testsuite conformance run for the WebSocket server.

Drives the Autobahn "fuzzingclient" cases (via the `kosoku` package) against a
running echo endpoint, records one verdict per case, writes them as JSON and
compares them with the committed expectations in ``expected.json``.

    python3 tests/autobahn/run.py --url ws://127.0.0.1:9001/ws/echo
    python3 tests/autobahn/run.py --cmd "path/to/server --flag" --path /ws/echo
    python3 tests/autobahn/run.py --url ... --update      # rewrite expected.json

Exit status: 0 when every verdict matches ``expected.json`` and is acceptable
(OK, NON-STRICT or INFORMATIONAL); 1 on any difference, missing/extra case or
unacceptable verdict; 2 when the run could not be set up (bad options, kosoku
not installed, server did not start).

The cases run in a child Python process (this same file, ``--_worker``) so a
case that hangs on a server bug can be cut off after ``--case-timeout`` without
losing the verdicts already collected; the worker is then restarted for the
remaining cases. The whole run is bounded by ``--timeout``. Only processes this
script started (the worker and, with ``--cmd``, the server) are ever signalled,
by their process id / the process group they lead.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_GROUPS = "1,2,3,4,5,6,7,10"
DEFAULT_EXPECTED = HERE / "expected.json"
DEFAULT_OUTPUT = REPO / "target" / "autobahn" / "results.json"
KOSOKU_VERSION = "0.1.0"

# Verdicts a case may have and still count as conformant.
ACCEPTABLE = ("OK", "NON-STRICT", "INFORMATIONAL")
# Closing-handshake verdicts that do not spoil the case verdict.
CLOSE_ACCEPTABLE = ("OK", "INFORMATIONAL")
# Verdicts this script adds on top of kosoku's.
TIMEOUT = "TIMEOUT"  # the case ran longer than --case-timeout; worker killed
NOT_RUN = "NOT RUN"  # the whole-run --timeout expired before the case ran
CRASHED = "ERROR"  # the worker process died while the case was in flight


# --------------------------------------------------------------------------
# Case ids and patterns
# --------------------------------------------------------------------------


def case_key(case_id: str) -> tuple[int, ...]:
    """Numeric order: 1.2.10 after 1.2.9, 10.x after 9.x."""
    return tuple(int(p) if p.isdigit() else 0 for p in case_id.split("."))


def pattern_regex(pattern: str) -> re.Pattern[str]:
    """A case pattern is an exact id or a glob where `*` matches anything."""
    if "*" not in pattern:
        return re.compile(re.escape(pattern) + r"\Z")
    parts = [re.escape(p) for p in pattern.split("*")]
    return re.compile(".*".join(parts) + r"\Z")


def matches_any(case_id: str, patterns: list[str]) -> bool:
    return any(pattern_regex(p).match(case_id) for p in patterns)


def group_patterns(groups: str) -> list[str]:
    out = []
    for g in groups.replace(" ", "").split(","):
        if not g:
            continue
        if not re.fullmatch(r"\d+(\.\d+)*", g):
            raise ValueError(f"bad group {g!r}: expected numbers like 1,2,9 or 6.4")
        out.append(f"{g}.*")
    if not out:
        raise ValueError("no groups selected")
    return out


# --------------------------------------------------------------------------
# Verdict files
# --------------------------------------------------------------------------


def dump_verdicts(verdicts: dict[str, str]) -> str:
    """Sorted JSON object, one case per line, so diffs read well."""
    ids = sorted(verdicts, key=case_key)
    lines = [f"  {json.dumps(i)}: {json.dumps(verdicts[i])}" for i in ids]
    return "{\n" + ",\n".join(lines) + ("\n" if lines else "") + "}\n"


def load_verdicts(path: Path) -> dict[str, str]:
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(f"{path}: expected a JSON object of case id -> verdict")
    return data


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def combine(behavior: str, behavior_close: str) -> str:
    """One verdict per case: the message-exchange verdict, with the closing
    handshake's verdict appended when that one is not acceptable (the same
    rule kosoku uses to decide whether a case passed). "-" means this script
    made the verdict itself (TIMEOUT, NOT RUN, ERROR) and there is no close
    verdict."""
    if behavior == "ERROR" or behavior_close in CLOSE_ACCEPTABLE + ("-",):
        return behavior
    return f"{behavior}; CLOSE {behavior_close}"


# --------------------------------------------------------------------------
# Worker: runs inside a child process, talks JSON lines on stdout
# --------------------------------------------------------------------------


def emit(event: dict) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def write_report(results: list, report_dir: str) -> None:
    """kosoku's own Autobahn-style report (per-case JSON/HTML with wire logs,
    index.html). A debugging aid: failures here only warn."""
    try:
        from kosoku._report import write_reports

        write_reports(results, report_dir)
    except Exception as exc:  # noqa: BLE001
        print(f"warning: could not write reports: {exc!r}", file=sys.stderr)


def worker_main() -> int:
    spec = json.loads(sys.stdin.read())
    try:
        import kosoku
        from kosoku import FailureError, run_fuzzingclient
        from kosoku.cases import CASES  # importing builds the case index
    except Exception as exc:  # noqa: BLE001 - report any import problem
        emit({"event": "fatal", "error": f"cannot import kosoku: {exc!r}"})
        return 2
    try:
        from importlib.metadata import version

        kv = version("kosoku")
    except Exception:  # noqa: BLE001
        kv = getattr(kosoku, "__version__", "?")

    all_ids = sorted(CASES, key=case_key)
    if spec.get("ids") is not None:
        ids = [i for i in spec["ids"] if i in CASES]
    else:
        ids = []
        for pat in spec["patterns"]:
            sel = [i for i in all_ids if pattern_regex(pat).match(i)]
            if not sel:
                emit({"event": "fatal", "error": f"no cases match {pat!r}"})
                return 2
            ids.extend(sel)
        ids = [i for i in dict.fromkeys(ids) if not matches_any(i, spec["exclude"])]
        ids.sort(key=case_key)
    emit({"event": "plan", "ids": ids, "kosoku": kv})

    report_dir = spec.get("report_dir")
    kept = []

    async def one(case_id: str, sem) -> None:
        async with sem:
            emit({"event": "start", "id": case_id})
            try:
                results = await run_fuzzingclient(spec["url"], [case_id])
            except FailureError as failure:
                results = list(failure.results)
            except Exception as exc:  # noqa: BLE001 - a verdict-less case
                emit({"event": "done", "id": case_id, "behavior": "ERROR",
                      "behaviorClose": "FAILED", "result": f"kosoku raised {exc!r}"})
                return
            if not results:
                emit({"event": "done", "id": case_id, "behavior": "ERROR",
                      "behaviorClose": "FAILED", "result": "kosoku returned no result"})
                return
            r = results[0]
            try:
                accepts = [v for v in ACCEPTABLE if v in (r.expected or {})]
            except TypeError:
                accepts = []
            if report_dir:
                kept.append(r)
                write_report([r], report_dir)  # per case, in case we get killed
            emit({
                "event": "done",
                "id": case_id,
                "behavior": r.behavior.value,
                "behaviorClose": r.behavior_close.value,
                "result": r.result,
                "resultClose": r.result_close,
                "remoteCloseCode": r.remote_close_code,
                "durationMs": r.duration,
                "agent": r.agent,
                "accepts": accepts,
            })

    async def run_all() -> None:
        sem = asyncio.Semaphore(max(1, int(spec.get("parallelism", 1))))
        await asyncio.gather(*(one(i, sem) for i in ids))

    asyncio.run(run_all())
    if kept:
        kept.sort(key=lambda r: case_key(r.case_id))
        write_report(kept, report_dir)
    emit({"event": "end"})
    return 0


# --------------------------------------------------------------------------
# Process handling (parent)
# --------------------------------------------------------------------------


def start_group(argv: list[str], **kw) -> subprocess.Popen:
    """Start a process as the leader of a new process group (so everything it
    spawns, e.g. a build tool's child, can be stopped together)."""
    return subprocess.Popen(argv, start_new_session=True, **kw)


def stop_group(proc: subprocess.Popen | None, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL, the process group led by `proc` (which we
    started). Never touches anything else."""
    if proc is None:
        return
    pgid = proc.pid
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; give stragglers in its group the same signal once.
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass
        break
    try:
        proc.wait(timeout=1)
    except subprocess.TimeoutExpired:
        pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def tail(path: Path | None, n: int = 30) -> str:
    if path is None or not path.exists():
        return ""
    lines = path.read_text(errors="replace").splitlines()
    return "\n".join("    " + line for line in lines[-n:])


class Worker:
    """One worker child process and a thread reading its event lines."""

    def __init__(self, spec: dict, stderr_path: Path):
        self.stderr_file = open(stderr_path, "a")  # noqa: SIM115
        self.proc = start_group(
            [sys.executable, str(Path(__file__).resolve()), "--_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr_file,
            text=True,
        )
        self.events: queue.Queue = queue.Queue()
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(spec))
        self.proc.stdin.close()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                self.events.put(json.loads(line))
            except json.JSONDecodeError:
                self.events.put({"event": "noise", "line": line})
        self.events.put({"event": "eof"})

    def stop(self) -> None:
        stop_group(self.proc, grace=2.0)
        self.stderr_file.close()


# --------------------------------------------------------------------------
# Parent
# --------------------------------------------------------------------------


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Run Autobahn|Testsuite cases (via kosoku) against a WebSocket "
        "echo endpoint and compare verdicts with expected.json.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    tgt = p.add_argument_group("target")
    tgt.add_argument("--url", help="ws:// URL of the echo endpoint, e.g. "
                     "ws://127.0.0.1:9001/ws/echo (with --cmd, its port is the one "
                     "passed to the server as PORT)")
    tgt.add_argument("--cmd", help="start this server command (split like a shell "
                     "would, no shell features) with PORT set in its environment, "
                     "wait for the port, run, then stop it")
    tgt.add_argument("--path", default="/ws/echo",
                     help="endpoint path used with --cmd when --url is not given")
    tgt.add_argument("--startup-timeout", type=float, default=60.0,
                     help="seconds to wait for the --cmd server to accept connections")
    tgt.add_argument("--server-log", type=Path, default=None,
                     help="where the --cmd server's stdout/stderr go "
                     "(default: server.log beside --output)")
    sel = p.add_argument_group("selection")
    sel.add_argument("--groups", default=DEFAULT_GROUPS,
                     help="comma-separated case groups (e.g. 9 for the performance "
                     "cases, or 6.4 for a subgroup)")
    sel.add_argument("--cases", action="append", metavar="PATTERN",
                     help="case id or `*` glob (repeatable); replaces --groups")
    sel.add_argument("--exclude", action="append", default=[], metavar="PATTERN",
                     help="case id or `*` glob to leave out (repeatable)")
    run = p.add_argument_group("run")
    run.add_argument("--timeout", type=float, default=300.0,
                     help="bound on the whole run in seconds, server start included")
    run.add_argument("--case-timeout", type=float, default=30.0,
                     help="a case running longer than this is recorded as TIMEOUT "
                     "and the remaining cases continue (group 9 needs ~150)")
    run.add_argument("--parallelism", type=int, default=1,
                     help="cases run at once (1 keeps timing-sensitive cases stable)")
    out = p.add_argument_group("output")
    out.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                     help="verdicts of this run (same format as expected.json)")
    out.add_argument("--details", type=Path, default=None,
                     help="per-case details JSON (default: <output>.details.json)")
    out.add_argument("--report-dir", type=Path, default=None,
                     help="also write kosoku's HTML/JSON reports (wire logs) here; "
                     "after a worker restart index.html lists only the last "
                     "worker's cases, the per-case files are all kept")
    out.add_argument("--expected", type=Path, default=DEFAULT_EXPECTED,
                     help="expected verdicts to compare with")
    out.add_argument("--no-compare", action="store_true",
                     help="only check that every verdict is acceptable")
    out.add_argument("--update", action="store_true",
                     help="rewrite --expected from this run (refused if any verdict "
                     "is not acceptable); entries of groups not run are kept")
    out.add_argument("-q", "--quiet", action="store_true", help="no per-case lines")
    args = p.parse_args(argv)
    if not args.url and not args.cmd:
        p.error("give --url, --cmd, or both")
    if args.update and args.no_compare:
        p.error("--update and --no-compare do not go together")
    if args.timeout <= 0 or args.case_timeout <= 0 or args.parallelism < 1:
        p.error("--timeout and --case-timeout must be > 0, --parallelism >= 1")
    return args


def resolve_url(args: argparse.Namespace) -> tuple[str, str, int]:
    url = args.url
    if url is None:
        port = free_port()
        path = args.path if args.path.startswith("/") else "/" + args.path
        url = f"ws://127.0.0.1:{port}{path}"
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "http") or not parts.hostname:
        raise ValueError(f"--url must look like ws://HOST:PORT/PATH, got {url!r}")
    return url, parts.hostname, parts.port or 80


def start_server(args, host: str, port: int, log_path: Path, deadline: float):
    argv = shlex.split(args.cmd)
    if not argv:
        raise ValueError("--cmd is empty")
    env = dict(os.environ, PORT=str(port))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "w")  # noqa: SIM115
    try:
        proc = start_group(argv, stdin=subprocess.DEVNULL, stdout=log,
                           stderr=subprocess.STDOUT, env=env)
    except OSError as exc:
        log.close()
        raise RuntimeError(f"cannot start {argv[0]!r}: {exc}") from exc
    log.close()
    ready_by = min(deadline, time.monotonic() + args.startup_timeout)
    while time.monotonic() < ready_by:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} before "
                               f"accepting connections; log {log_path}:\n{tail(log_path)}",
                               proc)
        if port_open(host, port):
            return proc
        time.sleep(0.2)
    raise RuntimeError(f"server did not accept connections on {host}:{port} within "
                       f"{args.startup_timeout:.0f}s; log {log_path}:\n{tail(log_path)}",
                       proc)


def run_cases(args, url: str, patterns: list[str], deadline: float,
              server: subprocess.Popen | None, stderr_path: Path):
    """Run the selected cases, restarting the worker after a per-case timeout
    or a crash. Returns (planned ids, details by id, notes, setup error)."""
    details: dict[str, dict] = {}
    notes: list[str] = []
    planned: list[str] | None = None
    remaining: list[str] | None = None
    stderr_path.parent.mkdir(parents=True, exist_ok=True)
    stderr_path.write_text("")
    server_died_reported = False
    while remaining is None or remaining:
        spec = {
            "url": url,
            "patterns": patterns,
            "exclude": args.exclude,
            "ids": remaining,
            "parallelism": args.parallelism,
            "report_dir": str(args.report_dir) if args.report_dir else None,
        }
        worker = Worker(spec, stderr_path)
        in_flight: dict[str, float] = {}
        finished = False
        try:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    notes.append(f"whole-run timeout ({args.timeout:.0f}s) reached")
                    for cid in in_flight:
                        details[cid] = {"behavior": TIMEOUT, "behaviorClose": "-",
                                        "result": "still running at the whole-run timeout"}
                    return planned or [], details, notes, None
                if server is not None and server.poll() is not None \
                        and not server_died_reported:
                    server_died_reported = True
                    notes.append(f"the server exited (status {server.returncode}) "
                                 "during the run; see the server log")
                late = [c for c, t in in_flight.items() if now - t >= args.case_timeout]
                if late:
                    for cid in late:
                        details[cid] = {
                            "behavior": TIMEOUT, "behaviorClose": "-",
                            "result": f"no verdict within {args.case_timeout:.0f}s "
                                      "(the connection was neither closed nor "
                                      "answered); worker restarted"}
                        in_flight.pop(cid)
                        say(args, f"{cid:<10} {TIMEOUT}")
                    break  # restart the worker with what is left
                wait = deadline - now
                if in_flight:
                    wait = min(wait, min(in_flight.values()) + args.case_timeout - now)
                try:
                    ev = worker.events.get(timeout=max(0.05, min(wait, 1.0)))
                except queue.Empty:
                    continue
                kind = ev.get("event")
                if kind == "fatal":
                    return planned or [], details, notes, ev.get("error", "worker failed")
                if kind == "plan":
                    if planned is None:
                        planned = list(ev["ids"])
                        if ev.get("kosoku") not in (KOSOKU_VERSION, None):
                            notes.append(f"kosoku {ev.get('kosoku')} is installed; "
                                         f"expected.json was made with {KOSOKU_VERSION}")
                        say(args, f"running {len(planned)} cases against {url}")
                elif kind == "start":
                    in_flight[ev["id"]] = time.monotonic()
                elif kind == "done":
                    cid = ev.pop("id")
                    ev.pop("event")
                    in_flight.pop(cid, None)
                    details[cid] = ev
                    say(args, f"{cid:<10} {combine(ev['behavior'], ev['behaviorClose'])}"
                              f"  ({ev.get('durationMs', 0)} ms)")
                elif kind == "end":
                    finished = True
                    break
                elif kind == "eof":
                    code = worker.proc.wait(timeout=5)
                    for cid in in_flight:
                        details[cid] = {"behavior": CRASHED, "behaviorClose": "-",
                                        "result": f"the worker exited with status {code} "
                                                  "while this case ran"}
                    notes.append(f"worker exited with status {code}; stderr "
                                 f"{stderr_path}:\n{tail(stderr_path, 15)}")
                    break
        finally:
            worker.stop()
        if planned is None:
            return [], details, notes, (f"worker produced no case list; stderr "
                                        f"{stderr_path}:\n{tail(stderr_path)}")
        remaining = [c for c in planned if c not in details]
        if finished and remaining:
            # The worker said it finished yet left cases out: do not loop.
            for cid in remaining:
                details[cid] = {"behavior": CRASHED, "behaviorClose": "-",
                                "result": "the worker reported no verdict"}
            remaining = []
    return planned or [], details, notes, None


def say(args, msg: str) -> None:
    if not args.quiet:
        print(msg, flush=True)


def alternatives(value: str) -> list[str]:
    """An expected value is one verdict or several joined by "|"."""
    return [v.strip() for v in value.split("|")]


def compare(expected: dict[str, str], got: dict[str, str], in_scope) -> dict[str, str]:
    """Differences between expected (within the selection) and this run, as
    case id -> message, in case order."""
    problems = {}
    exp = {k: v for k, v in expected.items() if in_scope(k)}
    for cid in sorted(set(exp) | set(got), key=case_key):
        if cid not in got:
            problems[cid] = f"  {cid:<10} missing from this run (expected {exp[cid]})"
        elif cid not in exp:
            problems[cid] = f"  {cid:<10} not in expected.json (got {got[cid]})"
        elif got[cid] not in alternatives(exp[cid]):
            problems[cid] = f"  {cid:<10} expected {exp[cid]}, got {got[cid]}"
    return problems


def expected_value(verdict: str, detail: dict, old: str | None) -> str:
    """What --update records for one case. Some cases accept more than one
    conformant outcome (typically OK when the echo of an earlier message wins
    the race with the server failing the connection, NON-STRICT when it does
    not); those are recorded as "OK|NON-STRICT" so timing cannot flip them.
    An existing entry that already admits the verdict is kept as it is."""
    if old is not None and verdict in alternatives(old):
        return old
    accepts = detail.get("accepts") or []
    if len(accepts) > 1 and verdict in accepts:
        return "|".join(accepts)
    return verdict


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    deadline = started + args.timeout
    try:
        patterns = args.cases if args.cases else group_patterns(args.groups)
        url, host, port = resolve_url(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out_dir = args.output.parent
    details_path = args.details or args.output.with_name(args.output.stem + ".details.json")
    server_log = args.server_log or out_dir / "server.log"
    stderr_path = out_dir / "worker.log"

    def in_scope(cid: str) -> bool:
        return matches_any(cid, patterns) and not matches_any(cid, args.exclude)

    server = None
    # Turn SIGTERM into a normal exit so the finally block stops our children.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(2))
    try:
        if args.cmd:
            say(args, f"starting server: {args.cmd} (PORT={port})")
            try:
                server = start_server(args, host, port, server_log, deadline)
            except (RuntimeError, ValueError) as exc:
                if len(exc.args) > 1:
                    server = exc.args[1]
                print(f"error: {exc.args[0]}", file=sys.stderr)
                return 2
        elif not port_open(host, port):
            print(f"error: nothing accepts connections on {host}:{port}", file=sys.stderr)
            return 2
        planned, details, notes, fatal = run_cases(args, url, patterns, deadline,
                                                   server, stderr_path)
        if server is not None and server.poll() is not None and not any(
                "server exited" in n for n in notes):
            notes.append(f"the server exited (status {server.returncode}) during the run")
    finally:
        stop_group(server)
    elapsed = time.monotonic() - started

    if fatal:
        print(f"error: {fatal}", file=sys.stderr)
        if "import kosoku" in fatal:
            print(f"       install it with: python3 -m pip install kosoku=={KOSOKU_VERSION}",
                  file=sys.stderr)
        return 2

    for cid in planned:
        details.setdefault(cid, {"behavior": NOT_RUN, "behaviorClose": "-",
                                 "result": "not reached before the whole-run timeout"})
    verdicts = {cid: combine(d["behavior"], d["behaviorClose"]) for cid, d in details.items()}
    write_text(args.output, dump_verdicts(verdicts))
    write_text(details_path, json.dumps(
        {cid: details[cid] for cid in sorted(details, key=case_key)}, indent=1) + "\n")

    counts: dict[str, int] = {}
    for v in verdicts.values():
        counts[v] = counts.get(v, 0) + 1
    summary = ", ".join(f"{n} {v}" for v, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    print(f"{len(verdicts)} cases in {elapsed:.1f}s: {summary}")
    print(f"verdicts: {args.output}\ndetails:  {details_path}")
    for n in notes:
        print(f"note: {n}")
    if server is not None and any("server exited" in n for n in notes):
        print(f"server log tail ({server_log}):\n{tail(server_log)}")

    bad = [cid for cid in sorted(verdicts, key=case_key) if verdicts[cid] not in ACCEPTABLE]
    bad_lines = [f"  {cid:<10} {verdicts[cid]}: {details[cid].get('result', '')}"
                 + (f" / {details[cid]['resultClose']}"
                    if details[cid].get("behaviorClose") not in CLOSE_ACCEPTABLE + ("-",)
                    and details[cid].get("resultClose") else "")
                 for cid in bad]

    if args.update:
        if bad:
            print(f"refusing to update {args.expected}: {len(bad)} unacceptable verdicts:")
            print("\n".join(bad_lines))
            return 1
        old = load_verdicts(args.expected) if args.expected.exists() else {}
        changes = compare(old, verdicts, in_scope)
        merged = {k: v for k, v in old.items() if not in_scope(k)}
        for cid, verdict in verdicts.items():
            merged[cid] = expected_value(verdict, details[cid], old.get(cid))
        write_text(args.expected, dump_verdicts(merged))
        if not old:
            print(f"created {args.expected} ({len(merged)} cases)")
            return 0
        print(f"updated {args.expected} ({len(merged)} cases, {len(changes)} changed)"
              + (":" if changes else ""))
        if changes:
            print("\n".join(changes.values()))
        return 0

    failing = set(bad)
    if bad:
        print(f"FAIL: {len(bad)} cases with a verdict other than {', '.join(ACCEPTABLE)}:")
        print("\n".join(bad_lines))
    if not args.no_compare:
        if not args.expected.exists():
            failing.update(verdicts or {"(no expected.json)": ""})
            print(f"FAIL: {args.expected} does not exist; create it with --update")
        else:
            expected = load_verdicts(args.expected)
            problems = compare(expected, verdicts, in_scope)
            skipped = sum(1 for k in expected if not in_scope(k))
            if problems:
                failing.update(problems)
                print(f"FAIL: {len(problems)} differences from {args.expected}:")
                print("\n".join(problems.values()))
            if skipped:
                print(f"note: {skipped} expected cases outside the selection were not compared")
    if not failing:
        print("PASS: all verdicts acceptable" + ("" if args.no_compare else " and as expected"))
    # Closing count line: a case passes when its verdict is acceptable and (unless
    # --no-compare) matches expected.json; missing cases count as failed.
    passed = sum(1 for cid in verdicts if cid not in failing)
    print(f"autobahn: {passed} passed, {len(failing)} failed")
    return 1 if failing else 0

if __name__ == "__main__":
    if sys.argv[1:2] == ["--_worker"]:
        sys.exit(worker_main())
    sys.exit(main(sys.argv[1:]))
