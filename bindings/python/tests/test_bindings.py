"""The generated ctypes declarations match include/squall.h, and the loader
finds, checks and refuses libraries as documented."""
import os
import subprocess
import sys
from pathlib import Path

from conftest import PKG, ROOT, child_env


def test_bindings_are_fresh():
    r = subprocess.run([sys.executable, str(PKG / "tools" / "gen_bindings.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_every_header_function_is_declared():
    from squall import _bindings, _ffi
    header = (ROOT / "include" / "squall.h").read_text()
    import re
    names = set(re.findall(r"\b(sq_[a-z0-9_]+)\(", header)) - {n for n in re.findall(r"\(\*(sq_[a-z_]+)\)", header)}
    declared = set(_bindings.FUNCTIONS)
    missing = {n for n in names if n not in declared and hasattr(_ffi.lib, n)}
    assert not missing
    for n in declared:
        f = getattr(_ffi.lib, n)
        assert f.argtypes is not None, n


def test_abi_version_and_version():
    from squall import _bindings, _ffi
    assert _ffi.lib.sq_abi_version() == _bindings.SQ_ABI_VERSION
    assert _ffi.version() == _bindings.SQ_VERSION_STRING


def _import_with(env_extra):
    code = "import squall._ffi as f; print(f.LIBRARY_PATH)"
    return subprocess.run([sys.executable, "-c", code], env=child_env(**env_extra), capture_output=True, text=True,
                          cwd="/")


def test_squall_library_env_wins(tmp_path):
    from squall import _ffi
    r = _import_with({"SQUALL_LIBRARY": str(_ffi.LIBRARY_PATH)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(_ffi.LIBRARY_PATH)


def test_missing_library_is_a_clear_error(tmp_path):
    r = _import_with({"SQUALL_LIBRARY": str(tmp_path / "nope.so")})
    assert r.returncode != 0
    assert "SQUALL_LIBRARY" in r.stderr and "cannot be loaded" in r.stderr


def test_wrong_library_is_refused(tmp_path):
    # a real shared library that is not libsquall: libc has no sq_abi_version
    import ctypes.util
    libc = ctypes.util.find_library("c")
    r = _import_with({"SQUALL_LIBRARY": libc})
    assert r.returncode != 0
    assert "not libsquall" in r.stderr or "cannot be loaded" in r.stderr


def test_abi_mismatch_is_refused(tmp_path):
    # same library, but a bindings module claiming another ABI version
    pkg = tmp_path / "squall"
    pkg.mkdir()
    for f in (PKG / "squall").glob("*.py"):
        text = f.read_text()
        if f.name == "_bindings.py":
            text = text.replace("SQ_ABI_VERSION = ", "SQ_ABI_VERSION = 1000 + ")
        (pkg / f.name).write_text(text)
    from squall import _ffi
    env = child_env(SQUALL_LIBRARY=str(_ffi.LIBRARY_PATH))
    env["PYTHONPATH"] = str(tmp_path)
    r = subprocess.run([sys.executable, "-c", "import squall._ffi"], env=env, capture_output=True, text=True, cwd="/")
    assert r.returncode != 0
    assert "ABI version" in r.stderr
