"""``squall.process``: ``fork_processes`` and ``task_id``, as Tornado's.

Call ``fork_processes`` before any squall loop starts (a server may already
be bound: its listening sockets are shared by the children, which each run
their own IOLoop). Beyond Tornado: SIGTERM/SIGINT sent to the parent are
passed on to every child, and the parent exits once they have, without
restarting them.
"""
from __future__ import annotations

import errno
import os
import random
import signal
import sys
from typing import Optional

__all__ = ["cpu_count", "fork_processes", "task_id"]

_task_id: Optional[int] = None


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def task_id() -> Optional[int]:
    """This process's index among the forked ones (None in the parent or
    without ``fork_processes``)."""
    return _task_id


def fork_processes(num_processes: Optional[int], max_restarts: Optional[int] = None) -> int:
    """Forks ``num_processes`` children (None or ≤ 0: one per CPU) and
    returns the child's task id in each child. The parent never returns: it
    restarts children that die by a signal or exit non-zero (up to
    ``max_restarts``, default 100) and exits when all have exited."""
    global _task_id
    from . import ioloop
    if ioloop.IOLoop.initialized():
        raise RuntimeError("fork_processes must be called before a squall loop starts in this process")
    if max_restarts is None:
        max_restarts = 100
    if num_processes is None or num_processes <= 0:
        num_processes = cpu_count()
    children: dict[int, int] = {}
    stopping = [False]

    def start_child(i: int) -> Optional[int]:
        pid = os.fork()
        if pid == 0:
            global _task_id
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            random.seed(int.from_bytes(os.urandom(16), "big"))
            _task_id = i
            return i
        children[pid] = i
        return None

    def forward(signum: int, frame: object) -> None:
        stopping[0] = True
        for pid in list(children):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    old_term = signal.signal(signal.SIGTERM, forward)
    old_int = signal.signal(signal.SIGINT, forward)
    for i in range(num_processes):
        tid = start_child(i)
        if tid is not None:
            return tid
    restarts = 0
    while children:
        try:
            pid, status = os.wait()
        except OSError as e:
            if e.errno == errno.EINTR:
                continue
            raise
        except InterruptedError:
            continue
        if pid not in children:
            continue
        i = children.pop(pid)
        if stopping[0]:
            continue
        if os.WIFSIGNALED(status) or os.WEXITSTATUS(status) != 0:
            restarts += 1
            if restarts > max_restarts:
                forward(signal.SIGTERM, None)
                raise RuntimeError("Too many child restarts, giving up")
            tid = start_child(i)
            if tid is not None:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                return tid
    signal.signal(signal.SIGTERM, old_term)
    signal.signal(signal.SIGINT, old_int)
    sys.exit(0)
