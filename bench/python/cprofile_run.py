"""Runs one of the servers here under cProfile until SIGTERM or SIGINT, then
writes the functions that took the most time (own time, then cumulative).

Usage: python3 cprofile_run.py OUT.txt SCRIPT PORT   (bench/python/profile.sh runs it)
"""
import cProfile
import io
import pstats
import runpy
import signal
import sys

from squall import ioloop


def main():
    out, script, port = sys.argv[1], sys.argv[2], sys.argv[3]
    loop = ioloop.IOLoop.current()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.asyncio_loop.add_signal_handler(sig, loop.stop)
    sys.argv = [script, port]
    prof = cProfile.Profile()
    prof.enable()
    try:
        runpy.run_path(script, run_name="__main__")  # returns when the loop stops
    finally:
        prof.disable()
        text = io.StringIO()
        st = pstats.Stats(prof, stream=text).strip_dirs()
        text.write(f"cProfile of {script} {port} (deterministic: every call is timed, so Python-heavy "
                   "paths look slower than they run)\n")
        st.sort_stats("tottime").print_stats(30)
        st.sort_stats("cumulative").print_stats(25)
        with open(out, "w") as f:
            f.write(text.getvalue())


if __name__ == "__main__":
    main()
