#!/usr/bin/env python3
"""Autobahn|Testsuite against squall's WebSocket *client*.

kosoku's fuzzing server (`kosoku.run_fuzzingserver`, Autobahn's
"fuzzingserver" role) serves the cases; squall's client, driven by the
Python package (`squall.websocket.websocket_connect`, which is
`sq_ws_connect`), plays Autobahn's test agent in a child process: it reads
`/getCaseCount`, connects to `/runCase?case=N&agent=squall` for each case
and echoes every message back until the server closes, then calls
`/updateReports`. The verdicts are compared with a committed file, as
`run.py` does for the server side.

    python3 tests/autobahn/client_run.py --groups 12,13 \\
        --expected tests/autobahn/expected-client-deflate.json [--update]

The client offers permessage-deflate (`compression_options={}`: as browsers
do, `permessage-deflate; client_max_window_bits`), so groups 12 and 13 test
its inflater and compressor against every parameter set the cases answer
with (context takeover or not, windows 9 to 15).

Group 13's subgroups 2, 5 and 6 make the fuzzing server accept only an
offer with `client_no_context_takeover` (their `SERVER_ACCEPT`). For those
cases (found by asking each case's own acceptor whether it takes the
browser-like offer) the agent offers it too
(`compression_options={"client_no_context_takeover": True}`,
`sq_ws_options.compression_client_no_context_takeover`), so its compressor
without context takeover is tested there; every other case gets the
browser-like offer. The cases of run.py's skip list (the
first echo sent uncompressed, which kosoku 0.1.0 fails inside its own
harness) are left out by the make target the same way.

Exit status as for run.py: 0 when every verdict is acceptable and as
expected, 1 otherwise, 2 when the run could not be set up. Only the child
this script started is ever signalled, by its process id.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

import run as harness  # noqa: E402  (the verdict helpers of the server-side run)

AGENT = "squall"
# run.py's acceptable verdicts (OK, NON-STRICT, INFORMATIONAL).
ACCEPTABLE = harness.ACCEPTABLE

# The test agent: squall's client over the Python package, in a process of
# its own so that a client bug cannot stall the fuzzing server's loop.
AGENT_CODE = r'''
import asyncio, sys
from squall import ioloop, websocket

base, agent, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
# the cases whose server takes only an offer with client_no_context_takeover
no_takeover = {int(i) for i in sys.argv[5].split(",") if i}

async def echo_case(url, options):
    try:
        c = await websocket.websocket_connect(url, compression_options=options, max_message_size=64 << 20,
                                              connect_timeout=10)
    except Exception as exc:
        print(f"connect {url}: {exc!r}", file=sys.stderr)
        return
    while True:
        m = await c.read_message()
        if m is None:
            return
        try:
            c.write_message(m, binary=isinstance(m, bytes))
        except websocket.WebSocketClosedError:
            return

async def main():
    # four cases at a time, as run.py's --parallelism: each waits on the server
    sem = asyncio.Semaphore(4)
    async def one(i):
        async with sem:
            options = {"client_no_context_takeover": True} if i in no_takeover else {}
            await echo_case(f"{base}/runCase?case={i}&agent={agent}", options)
            print(f"case {i} done", flush=True)
    await asyncio.gather(*(one(i) for i in range(first, last + 1)))
    c = await websocket.websocket_connect(f"{base}/updateReports?agent={agent}")
    while await c.read_message() is not None:
        pass

ioloop.IOLoop.current().run_sync(main, timeout=None)
'''


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--groups", default="12,13")
    p.add_argument("--exclude", action="append", default=[], help="case id or glob to leave out")
    p.add_argument("--expected", type=Path, default=HERE / "expected-client-deflate.json")
    p.add_argument("--output", type=Path, default=REPO / "target" / "autobahn" / "results-client.json")
    p.add_argument("--timeout", type=float, default=600.0, help="the whole run, in seconds")
    p.add_argument("--update", action="store_true", help="rewrite --expected from this run")
    p.add_argument("-q", "--quiet", action="store_true")
    return p.parse_args(argv)


def takes_browser_offer(case) -> bool:
    """Whether a case's server side accepts the offer browsers make
    (`permessage-deflate; client_max_window_bits`, no
    `client_no_context_takeover`): asked of the case's own acceptor."""
    accept = getattr(case, "SERVER_ACCEPT", None)
    if accept is None:
        return True
    from kosoku._kosoku import PerMessageDeflateOffer

    return accept(None, [PerMessageDeflateOffer(acceptNoContextTakeover=False, acceptMaxWindowBits=True)]) is not None


async def serve(args, patterns: list[str], log_path: Path):
    from kosoku import FailureError, run_fuzzingserver

    from kosoku.cases import CASES

    # The selection by run.py's rules, handed to the server case by case:
    # kosoku's own pattern matching is a prefix match ("13.*.1" would take
    # 13.1.11 out too), and the agent must know which case it is in.
    ids = [i for i in CASES if harness.matches_any(i, patterns) and not harness.matches_any(i, args.exclude)]
    async with run_fuzzingserver(cases=ids, port=0) as srv:
        base = f"ws://{srv.address}:{srv.port}"
        no_takeover = ",".join(str(n) for n, cid in enumerate(ids, 1) if not takes_browser_offer(CASES[cid]))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "bindings" / "python"), env.get("PYTHONPATH")]))
        with open(log_path, "wb") as log:
            child = subprocess.Popen([sys.executable, "-c", AGENT_CODE, base, AGENT, "1", str(len(ids)), no_takeover],
                                     stdout=log, stderr=subprocess.STDOUT, env=env)
            try:
                try:
                    results = await asyncio.wait_for(srv.get_result(), args.timeout)
                except FailureError as failure:  # verdicts compared below
                    results = list(failure.results)
            finally:
                if child.poll() is None:
                    try:
                        child.wait(10)
                    except subprocess.TimeoutExpired:
                        child.kill()
                        child.wait()
        return results, child.returncode


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        import kosoku  # noqa: F401
    except ImportError:
        print(f"error: install kosoku=={harness.KOSOKU_VERSION}", file=sys.stderr)
        return 2
    patterns = harness.group_patterns(args.groups)
    log_path = args.output.with_name(args.output.stem + ".agent.log")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    try:
        results, agent_status = asyncio.run(serve(args, patterns, log_path))
    except asyncio.TimeoutError:
        print(f"error: the run did not end within {args.timeout:.0f} s; agent log {log_path}:\n"
              f"{harness.tail(log_path)}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    details = {}
    for r in results:
        details[r.case_id] = {"behavior": r.behavior.value, "behaviorClose": r.behavior_close.value,
                              "result": r.result, "resultClose": r.result_close,
                              "remoteCloseCode": r.remote_close_code, "durationMs": r.duration}
    verdicts = {cid: harness.combine(d["behavior"], d["behaviorClose"]) for cid, d in details.items()}
    harness.write_text(args.output, harness.dump_verdicts(verdicts))
    counts: dict[str, int] = {}
    for v in verdicts.values():
        counts[v] = counts.get(v, 0) + 1
    summary = ", ".join(f"{n} {v}" for v, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    print(f"{len(verdicts)} client cases in {elapsed:.1f}s: {summary} (agent exit {agent_status})")
    bad = [cid for cid in sorted(verdicts, key=harness.case_key) if verdicts[cid] not in ACCEPTABLE]
    for cid in bad:
        print(f"  {cid:<10} {verdicts[cid]}: {details[cid].get('result', '')}")

    def in_scope(cid: str) -> bool:
        return harness.matches_any(cid, patterns) and not harness.matches_any(cid, args.exclude)

    if args.update:
        if bad:
            print(f"refusing to update {args.expected}: {len(bad)} unacceptable verdicts")
            return 1
        old = harness.load_verdicts(args.expected) if args.expected.exists() else {}
        merged = {k: v for k, v in old.items() if not in_scope(k)}
        for cid, verdict in verdicts.items():
            merged[cid] = harness.expected_value(verdict, {}, old.get(cid))
        harness.write_text(args.expected, harness.dump_verdicts(merged))
        print(f"wrote {args.expected} ({len(merged)} cases)")
        return 0
    failing = set(bad)
    if not args.expected.exists():
        print(f"FAIL: {args.expected} does not exist; create it with --update")
        return 1
    problems = harness.compare(harness.load_verdicts(args.expected), verdicts, in_scope)
    if problems:
        failing.update(problems)
        print(f"FAIL: {len(problems)} differences from {args.expected}:")
        print("\n".join(problems.values()))
    print(f"autobahn client: {len(verdicts) - len(failing & set(verdicts))} passed, {len(failing)} failed")
    if failing:
        print(f"agent log tail ({log_path}):\n{harness.tail(log_path)}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
