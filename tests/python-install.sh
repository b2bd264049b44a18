#!/usr/bin/env bash
# `pip install ./bindings/python` into a fresh venv builds the library and
# installs a py3-none-<platform> wheel carrying it; the installed package
# loads its own copy (not the checkout's) and reports the crate's version.
# CARGO_TARGET_DIR points at the checkout's target/ so cargo's cache is reused.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=build/pyinstall/venv
rm -rf build/pyinstall build/wheels
python3 -m venv "$VENV"
export CARGO_TARGET_DIR="$ROOT/target"
"$VENV/bin/pip" install -q --no-input --disable-pip-version-check ./bindings/python </dev/null
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
print("installed:", f.LIBRARY_PATH)
PY
)
"$VENV/bin/pip" wheel -q --no-input --no-deps --disable-pip-version-check ./bindings/python -w build/wheels </dev/null
whl=$(ls build/wheels/squall-*-py3-none-linux_*.whl)
listing=$(python3 -m zipfile -l "$whl")
grep -q 'squall/libsquall.so' <<<"$listing" || { echo "$whl lacks squall/libsquall.so"; exit 1; }
echo "python-install: ok ($(basename "$whl"))"
