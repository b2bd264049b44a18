"""Running the program under test (sqfetch) and reading its JSON lines.

SQFETCH selects the binary (default <repo>/build/examples/c/sqfetch)."""
import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scripted import header  # noqa: F401  (re-exported for the tests)

ROOT = Path(__file__).resolve().parents[2]
SQFETCH = os.environ.get("SQFETCH", str(ROOT / "build/examples/c/sqfetch"))


# ---- running the program ------------------------------------------------------

@dataclass
class Run:
    args: list
    rc: int
    out: str
    err: str
    elapsed: float
    maxrss_kb: int
    cpu_s: float
    lines: list = field(default_factory=list)

    @property
    def results(self):
        return [line for line in self.lines if not line.get("summary")]

    @property
    def summary(self):
        s = [line for line in self.lines if line.get("summary")]
        assert len(s) == 1, f"expected one summary line:\n{self}"
        return s[0]

    def one(self):
        r = self.results
        assert len(r) == 1, f"expected one response line:\n{self}"
        return r[0]

    def __str__(self):
        return (f"sqfetch {' '.join(map(str, self.args))}\nexit {self.rc}, {self.elapsed:.3f} s\n"
                f"stdout: {self.out[:3000]}\nstderr: {self.err[:2000]}")


def run_program(path, args, timeout):
    """Run the program at `path` with args (no standard input) and read its
    JSON lines: (exit status, stdout, stderr, wall time, rusage, lines).
    Killed, and the test failed, after `timeout` s."""
    name = os.path.basename(path)
    if not os.access(path, os.X_OK):
        pytest.fail(f"{name} not found at {path}: build it (make examples) or set {name.upper()}")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        p = subprocess.Popen([path, *args], stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        killed = False
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid == p.pid:
                break
            if time.monotonic() - start > timeout and not killed:
                p.kill()
                killed = True
            time.sleep(0.002)
        elapsed = time.monotonic() - start
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace")
    shown = f"{name} {' '.join(args)[:500]}\nexit {p.returncode}, {elapsed:.3f} s\nstdout: {stdout[:3000]}\nstderr: {stderr[:2000]}"
    if killed:
        pytest.fail(f"{name} did not finish within {timeout} s\n{shown}")
    lines = []
    for line in stdout.splitlines():
        if line.strip():
            try:
                lines.append(json.loads(line))
            except ValueError:
                pytest.fail(f"not a JSON line: {line!r}\n{shown}")
    return p.returncode, stdout, stderr, elapsed, ru, lines


def sqfetch(*args, timeout=20.0) -> Run:
    """Run sqfetch with args; the exit status, JSON lines, wall time, the
    program's peak RSS and its CPU time (wait4). Killed after `timeout` s.

    The peak RSS is what sqfetch reports in its response lines (VmHWM):
    wait4's ru_maxrss also counts the process image before exec, a copy of
    this Python process, tens of MiB that would hide the program's own."""
    args = [str(a) for a in args]
    rc, out, err, elapsed, ru, lines = run_program(SQFETCH, args, timeout)
    peaks = [line["peak_rss_kib"] for line in lines if line.get("peak_rss_kib", -1) > 0]
    maxrss = max(peaks) if peaks else ru.ru_maxrss
    return Run(args, rc, out, err, elapsed, maxrss, ru.ru_utime + ru.ru_stime, lines)


def body(r) -> bytes:
    return r["body"].encode("latin-1")


def ok(run: Run):
    """The single response of a run that must have succeeded."""
    r = run.one()
    assert r["error"] is None and run.rc == 0, str(run)
    assert len(body(r)) == r["body_len"], str(run)
    return r


def failed(run: Run, error: str):
    """The single response of a run that must have failed with `error`."""
    r = run.one()
    assert r["error"] == error, f"expected {error}\n{run}"
    assert r["status"] == 0 and run.rc == 1, str(run)
    assert isinstance(r["message"], str) and r["message"], str(run)
    return r
