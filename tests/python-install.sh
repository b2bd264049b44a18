#!/usr/bin/env bash
# The Python package as a user gets it: an sdist made from the checkout
# carries the crate (setup.py copies it under rust/); a wheel is built from
# that sdist alone, copied out of the checkout first, so nothing outside it
# is read; the wheel (py3-none-<platform>, the library stripped, <= 6 MB)
# is installed into a fresh venv, whose package loads its own copy of the
# library (not the checkout's) and reports the crate's version.
# CARGO_TARGET_DIR points at the checkout's target/ so cargo's cache of the
# dependencies is reused (the crate itself builds again from its copy).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=build/pyinstall/venv
rm -rf build/pyinstall build/wheels build/sdist
python3 -m venv "$VENV"
export CARGO_TARGET_DIR="$ROOT/target"
PIP=("$VENV/bin/pip" --no-input --disable-pip-version-check)
"${PIP[@]}" install -q build </dev/null
"$VENV/bin/python" -m build -q --sdist -o build/sdist bindings/python </dev/null >/dev/null
sdist=$(ls build/sdist/squall-*.tar.gz)
listing=$(tar -tzf "$sdist")
for f in rust/Cargo.toml rust/Cargo.lock rust/build.rs rust/src/lib.rs rust/src/ffi/mod.rs squall/__init__.py squall/py.typed squall/testing.crt squall/testing.key setup.py; do
    grep -q "^squall-[^/]*/$f\$" <<<"$listing" || { echo "$sdist lacks $f"; exit 1; }
done
mkdir -p build/pyinstall/outside
cp "$sdist" build/pyinstall/outside/
(cd build/pyinstall/outside && "$ROOT/${PIP[0]}" "${PIP[@]:1}" wheel -q --no-deps "$(basename "$sdist")" \
    -w "$ROOT/build/wheels" </dev/null)
whl=$(ls build/wheels/squall-*-py3-none-linux_*.whl)
wlisting=$(python3 -m zipfile -l "$whl")
for f in squall/libsquall.so squall/testing.crt squall/testing.key; do
    grep -q "$f" <<<"$wlisting" || { echo "$whl lacks $f"; exit 1; }
done
size=$(stat -c %s "$whl")
(( size <= 6 * 1024 * 1024 )) || { echo "$whl is $size bytes, over 6 MiB"; exit 1; }
"${PIP[@]}" install -q "$whl" </dev/null
crate_version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
py_version=$(sed -n 's/^version = "\([^"]*\)".*/\1/p' bindings/python/pyproject.toml | head -1)
[[ "$crate_version" == "$py_version" ]] || { echo "pyproject version $py_version != crate $crate_version"; exit 1; }
site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
(cd / && env -u SQUALL_LIBRARY -u PYTHONPATH "$ROOT/$VENV/bin/python" - "$site" "$crate_version" <<'PY'
import sys
site, version = sys.argv[1], sys.argv[2]
import squall._ffi as f
assert str(f.LIBRARY_PATH).startswith(site), f"loaded {f.LIBRARY_PATH}, not the installed copy under {site}"
assert f.LIBRARY_PATH.name == "libsquall.so"
assert f.version() == version, (f.version(), version)
import glob
wheel = open(glob.glob(f"{site}/squall-*.dist-info/WHEEL")[0]).read()
assert "Root-Is-Purelib: false" in wheel and "Tag: py3-none-linux_" in wheel, wheel
from squall import web, websocket, httpclient, options  # the modules import from the installed package
import os
from squall.testing import AsyncHTTPSTestCase  # its default certificate ships in the package
for path in AsyncHTTPSTestCase.default_ssl_options().values():
    assert path.startswith(site) and os.path.exists(path), path
print("installed:", f.LIBRARY_PATH)
PY
)
lib=$site/squall/libsquall.so
libsize=$(stat -c %s "$lib")
(( libsize <= 6 * 1024 * 1024 )) || { echo "$lib is $libsize bytes, over 6 MiB"; exit 1; }
if readelf -S "$lib" | grep -q '\.debug_info'; then echo "$lib still carries debug info"; exit 1; fi
echo "python-install: ok ($(basename "$sdist") -> $(basename "$whl"), wheel $((size / 1024)) KiB, library $((libsize / 1024)) KiB)"
