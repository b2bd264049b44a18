"""squall.process: real forks, each scenario in its own subprocess (so that
pytest itself never forks), with bounded timeouts."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest

from squall import process

PKG = Path(__file__).resolve().parents[1]

PRELUDE = """
import faulthandler, logging, os, random, signal, sys, time
from pathlib import Path
faulthandler.register(signal.SIGUSR1, all_threads=True)  # finish() asks for stacks on a hang
# Python leaves SIGINT ignored when it started ignored (a job a non-interactive
# shell put in the background, as a CI runner may): the scenarios want the
# usual start, KeyboardInterrupt on SIGINT, which the children inherit.
signal.signal(signal.SIGINT, signal.default_int_handler)
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
from squall import process
OUT = Path(sys.argv[1])
random.seed(42)
"""


def start(code: str, tmp_path: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(PKG))
    return subprocess.Popen([sys.executable, "-c", PRELUDE + textwrap.dedent(code), str(tmp_path)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def finish(proc: subprocess.Popen, timeout: float = 15) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # what every process of the group (ours) is doing, for the report
        group = subprocess.run(["ps", "-o", "pid,stat,wchan:20,args", "--sid", str(proc.pid)],
                               capture_output=True, text=True).stdout
        for pid in [int(line.split()[0]) for line in group.splitlines()[1:] if line.split()]:
            try:
                os.kill(pid, signal.SIGUSR1)  # faulthandler: Python stacks to stderr
            except ProcessLookupError:
                pass
        time.sleep(0.5)
        os.killpg(proc.pid, signal.SIGKILL)  # the group of the process this test started
        out, err = proc.communicate()
        pytest.fail("fork_processes scenario did not finish in time\nprocesses:\n%s\nstderr:\n%s" % (group, err))
    return proc.returncode, out, err


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def test_normal_exits(tmp_path):
    code = """
        tid = process.fork_processes(3)
        assert process.task_id() == tid
        with open(OUT / f"child-{tid}", "a") as f:
            f.write(f"{os.getpid()} {random.random()}\\n")
        sys.exit(0)
    """
    rc, out, err = finish(start(code, tmp_path))
    assert rc == 0, err
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["child-0", "child-1", "child-2"]
    rows = [(tmp_path / f).read_text().split() for f in files]
    assert len({r[0] for r in rows}) == 3  # three processes
    assert len({r[1] for r in rows}) == 3  # each reseeded its random
    assert err.count("exited normally") == 3
    assert "restarting" not in err


def test_crash_is_restarted(tmp_path):
    code = """
        tid = process.fork_processes(3)
        runs = OUT / f"runs-{tid}"
        first = not runs.exists()
        with open(runs, "a") as f:
            f.write("run\\n")
        if first and tid == 1:
            os._exit(3)
        if first and tid == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        sys.exit(0)
    """
    rc, out, err = finish(start(code, tmp_path))
    assert rc == 0, err
    assert len(lines(tmp_path / "runs-0")) == 1
    assert len(lines(tmp_path / "runs-1")) == 2
    assert len(lines(tmp_path / "runs-2")) == 2
    assert "exited with status 3, restarting" in err
    assert f"killed by signal {int(signal.SIGKILL)}, restarting" in err


def test_too_many_restarts(tmp_path):
    code = """
        try:
            tid = process.fork_processes(2, max_restarts=3)
        except RuntimeError as e:
            print("parent:", e)
            time.sleep(0.3)
            sys.exit(7)
        with open(OUT / "runs", "a") as f:
            f.write(f"{tid}\\n")
        os._exit(1)
    """
    rc, out, err = finish(start(code, tmp_path))
    assert rc == 7, err
    assert "parent: Too many child restarts" in out
    # 2 first runs + 3 restarts + the 4th failure that gives up (no new run)
    assert len(lines(tmp_path / "runs")) == 5


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("children_handle_it", [True, False])
def test_signals_are_forwarded(tmp_path, signum, children_handle_it):
    code = f"""
        tid = process.fork_processes(2)
        if {children_handle_it}:
            def bye(n, frame):
                (OUT / f"got-{{tid}}").write_text(str(n))
                os._exit(0)
            signal.signal({int(signum)}, bye)
        try:  # "ready" is written inside the try: the signal may come right after it
            with open(OUT / "ready", "a") as f:
                f.write(f"{{tid}}\\n")
            while True:
                time.sleep(0.05)
        except KeyboardInterrupt:
            (OUT / f"got-{{tid}}").write_text("KeyboardInterrupt")
            os._exit(1)
    """
    proc = start(code, tmp_path)
    deadline = time.monotonic() + 10
    while len(lines(tmp_path / "ready")) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    assert sorted(lines(tmp_path / "ready")) == ["0", "1"]
    os.kill(proc.pid, signum)
    rc, out, err = finish(proc)
    assert rc == 0, err
    assert len(lines(tmp_path / "ready")) == 2  # nobody was restarted
    assert "restarting" not in err
    if children_handle_it:
        assert (tmp_path / "got-0").read_text() == str(int(signum))
        assert (tmp_path / "got-1").read_text() == str(int(signum))
    elif signum == signal.SIGINT:
        assert (tmp_path / "got-0").read_text() == "KeyboardInterrupt"
        assert (tmp_path / "got-1").read_text() == "KeyboardInterrupt"
    else:
        assert err.count(f"killed by signal {int(signum)}") == 2


def test_refuses_after_ioloop_started(monkeypatch):
    fake = types.ModuleType("squall.ioloop")

    class IOLoop:
        @classmethod
        def initialized(cls) -> bool:
            return True

    fake.IOLoop = IOLoop  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "squall.ioloop", fake)
    pid = os.getpid()
    with pytest.raises(RuntimeError, match="before the IOLoop starts"):
        process.fork_processes(2)
    assert os.getpid() == pid


def test_cpu_count_and_task_id():
    assert process.cpu_count() >= 1
    assert process.task_id() is None


def test_default_count_is_cpu_count(tmp_path):
    code = """
        process.cpu_count = lambda: 2
        tid = process.fork_processes(0)
        (OUT / f"c-{tid}").write_text("x")
        sys.exit(0)
    """
    rc, out, err = finish(start(code, tmp_path))
    assert rc == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c-0", "c-1"]
