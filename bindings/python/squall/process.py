"""Multi-process servers, with the API of ``tornado.process``.

``fork_processes(n)`` forks ``n`` children and returns, in each child, its
task id (0..n-1); the parent never returns: it waits for its children,
restarts any that crash (killed by a signal or exiting non-zero), and exits
(status 0) once all have exited normally. Typical use, with sockets bound
before the fork so that every child accepts on them::

    sockets = bind_sockets(8888)        # or HTTPServer.bind(...)
    fork_processes(0)                   # one child per CPU
    server.add_sockets(sockets)
    IOLoop.current().start()

Beyond Tornado: SIGTERM or SIGINT sent to the parent is forwarded to every
live child, and the parent then exits once they have all exited, restarting
none of them (so ``kill <parent pid>`` stops the whole group cleanly).
"""
from __future__ import annotations

import logging
import os
import random
import signal
import sys
import time
from types import FrameType
from typing import Any, Optional

__all__ = ["cpu_count", "fork_processes", "task_id"]

gen_log = logging.getLogger("squall.general")

_task_id: Optional[int] = None

_FORWARDED = (signal.SIGTERM, signal.SIGINT)


def cpu_count() -> int:
    """The number of processors (1 when unknown)."""
    try:
        return os.cpu_count() or 1
    except NotImplementedError:
        return 1


def task_id() -> Optional[int]:
    """This process's id from ``fork_processes`` (None in a process that was
    not forked by it)."""
    return _task_id


def _reseed_random() -> None:
    # Children start with the parent's random state: give each its own.
    try:
        seed = int.from_bytes(os.urandom(16), "big")
    except NotImplementedError:
        seed = int(time.time() * 1000) ^ os.getpid()
    random.seed(seed)


def fork_processes(num_processes: Optional[int], max_restarts: Optional[int] = None) -> int:
    """Forks ``num_processes`` children (None or <= 0: ``cpu_count()``) and
    returns the task id in each child. In the parent, does not return: a
    child that dies by a signal or exits non-zero is restarted with the same
    id, at most ``max_restarts`` times in all (default 100; beyond that
    ``RuntimeError`` is raised); when every child has exited normally the
    parent calls ``sys.exit(0)``. SIGTERM/SIGINT to the parent are forwarded
    to the children, which are then not restarted; the parent exits (0) when
    they are gone.

    Must be called before any ``IOLoop`` has started in this process."""
    if sys.platform == "win32":
        raise RuntimeError("fork_processes is not available on Windows")
    # A loop can only have started if squall.ioloop was imported; looking it
    # up (rather than importing it) keeps this usable without libsquall.
    ioloop: Any = sys.modules.get(__name__.rpartition(".")[0] + ".ioloop")
    if ioloop is not None and ioloop.IOLoop.initialized():
        raise RuntimeError("fork_processes must be called before the IOLoop starts")
    if max_restarts is None:
        max_restarts = 100
    if num_processes is None or num_processes <= 0:
        num_processes = cpu_count()
    gen_log.info("Starting %d processes", num_processes)

    parent_pid = os.getpid()
    children: dict[int, int] = {}
    stop_signal: list[int] = []  # the signal that asked us to stop, once one did
    previous: dict[int, Any] = {}

    def restore_handlers() -> None:
        for signum, handler in previous.items():
            try:
                signal.signal(signum, handler)
            except (ValueError, OSError, TypeError):
                pass

    def forward(signum: int, frame: Optional[FrameType]) -> None:
        if os.getpid() != parent_pid:
            # A child got this before it restored its own handlers: act as
            # it would have, then.
            restore_handlers()
            os.kill(os.getpid(), signum)
            return
        if not stop_signal:
            gen_log.info("Got signal %d: stopping %d child processes", signum, len(children))
        stop_signal.append(signum)
        for pid in list(children):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def start_child(i: int) -> Optional[int]:
        pid = os.fork()
        if pid == 0:
            restore_handlers()
            _reseed_random()
            global _task_id
            _task_id = i
            return i
        children[pid] = i
        if stop_signal:  # asked to stop while forking: the new child goes too
            try:
                os.kill(pid, stop_signal[0])
            except ProcessLookupError:
                pass
        return None

    for signum in _FORWARDED:
        try:
            previous[signum] = signal.signal(signum, forward)
        except ValueError:  # not the main thread: no forwarding
            pass

    try:
        for i in range(num_processes):
            child_id = start_child(i)
            if child_id is not None:
                return child_id
        num_restarts = 0
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                # Polled, not a blocking os.wait(): a signal arriving just
                # before a blocking wait would only be handled (and forwarded)
                # once some child exited; here it is handled within 50 ms.
                time.sleep(0.05)
                continue
            if pid not in children:
                continue
            child_id = children.pop(pid)
            if os.WIFSIGNALED(status):
                how = f"killed by signal {os.WTERMSIG(status)}"
            elif os.WEXITSTATUS(status) != 0:
                how = f"exited with status {os.WEXITSTATUS(status)}"
            else:
                gen_log.info("child %d (pid %d) exited normally", child_id, pid)
                continue
            if stop_signal:
                gen_log.info("child %d (pid %d) %s", child_id, pid, how)
                continue
            gen_log.warning("child %d (pid %d) %s, restarting", child_id, pid, how)
            num_restarts += 1
            if num_restarts > max_restarts:
                raise RuntimeError("Too many child restarts, giving up")
            new_id = start_child(child_id)
            if new_id is not None:
                return new_id
    finally:
        if os.getpid() == parent_pid:
            restore_handlers()
    # All children are gone: the parent's work is done. (Only the parent
    # gets here; children returned above.)
    sys.exit(0)
