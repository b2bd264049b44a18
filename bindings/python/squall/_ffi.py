"""Loads libsquall with ctypes and declares every function of its header.

The library is looked for, in order:
1. the path in the environment variable ``SQUALL_LIBRARY``;
2. ``libsquall.so`` in this package's directory (what a wheel carries);
3. ``target/release/libsquall.so`` of the source checkout this package sits
   in (development: ``make`` then ``PYTHONPATH=bindings/python``).

A library whose ``sq_abi_version()`` is not the one ``_bindings.py`` was
generated for is refused with a message saying which is which.

``CDLL`` (not ``PyDLL``) is used on purpose: it releases the GIL around every
call, so a thread blocked in ``sq_loop_run`` does not freeze the others.
"""
from __future__ import annotations

import ctypes
import os
import sys
from ctypes import byref, string_at
from pathlib import Path

from . import _bindings as b
from ._bindings import sq_str

__all__ = ["lib", "LIBRARY_PATH", "SquallError", "check", "error_for", "b"]

_NAME = "libsquall.so"


def _candidates() -> list[tuple[str, Path]]:
    found = []
    env = os.environ.get("SQUALL_LIBRARY")
    if env:
        found.append(("SQUALL_LIBRARY", Path(env)))
    here = Path(__file__).resolve().parent
    found.append(("package", here / _NAME))
    found.append(("checkout", here.parents[2] / "target" / "release" / _NAME))
    return found


def _load() -> tuple[ctypes.CDLL, Path]:
    if not sys.platform.startswith("linux"):
        raise RuntimeError(f"squall: platform {sys.platform!r} is not supported (Linux only)")
    tried = []
    for origin, path in _candidates():
        if origin != "SQUALL_LIBRARY" and not path.exists():
            tried.append(f"{path} ({origin}: not there)")
            continue
        try:
            lib = ctypes.CDLL(str(path))
        except OSError as e:
            if origin == "SQUALL_LIBRARY":
                raise RuntimeError(f"squall: SQUALL_LIBRARY={path} cannot be loaded: {e}") from None
            tried.append(f"{path} ({origin}: {e})")
            continue
        return lib, path
    raise RuntimeError(
        "squall: libsquall.so not found. Install the package with "
        "`pip install ./bindings/python`, or build the library with `make` in "
        "the source tree, or set SQUALL_LIBRARY to its path. Tried:\n  " + "\n  ".join(tried)
    )


def _check_abi(lib: ctypes.CDLL, path: Path) -> None:
    try:
        probe = lib.sq_abi_version
    except AttributeError:
        raise RuntimeError(f"squall: {path} is not libsquall (no sq_abi_version symbol)") from None
    probe.argtypes = []
    probe.restype = ctypes.c_uint32
    abi = probe()
    if abi != b.SQ_ABI_VERSION:
        raise RuntimeError(
            f"squall: {path} has ABI version {abi}, but this Python package was "
            f"generated for ABI version {b.SQ_ABI_VERSION}: rebuild the library "
            f"(`make`) or reinstall the package so that both come from one source tree"
        )


lib, LIBRARY_PATH = _load()
_check_abi(lib, LIBRARY_PATH)
try:
    b.declare(lib)
except AttributeError as e:  # a symbol of the header is missing from the library
    raise RuntimeError(f"squall: {LIBRARY_PATH} does not match include/squall.h: {e}") from None


class SquallError(Exception):
    """A squall call failed: ``status`` is the ``SQ_ERR_*`` code (negative)."""

    def __init__(self, status: int, message: str | None = None) -> None:
        self.status = status
        name = lib.sq_status_str(status).decode()
        detail = message if message is not None else (lib.sq_last_error() or b"").decode("utf-8", "replace")
        super().__init__(f"{name}: {detail}" if detail else name)


def error_for(status: int) -> SquallError:
    return SquallError(status)


def check(status: int) -> int:
    """Raises SquallError for a negative status, returns it otherwise."""
    if status < 0:
        raise SquallError(status)
    return status


def view(s: sq_str) -> bytes:
    """The bytes an ``sq_str`` filled by squall points at."""
    return string_at(s.ptr, s.len) if s.len else b""


def version() -> str:
    return lib.sq_version().decode()
