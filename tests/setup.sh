#!/usr/bin/env bash
# What `make test` needs beyond the README's prerequisites (Rust through
# rustup, Go 1.23+, a C compiler, make, Python 3): Debian's packages, the
# nightly toolchain with Miri and rust-src, the Go modules, the
# Python test packages, Selenium. Idempotent (installs only what is missing,
# one `apt-get update` at most), never reads standard input; `make test`
# runs it first, and `.ci/run` is `make test` with the lints and the header
# check around it.
#
#   bash tests/setup.sh          # as root, or with passwordless sudo
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
PYTHON=${PYTHON:-python3}
SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo -n"

# ---- the prerequisites the README lists: say clearly what is missing ----------
for tool in cargo rustup "$PYTHON"; do
    command -v "$tool" >/dev/null || { echo "setup: $tool is required and not installed (see the README)" >&2; exit 1; }
done
command -v go >/dev/null || { [[ -x /usr/local/go/bin/go ]] && export PATH=/usr/local/go/bin:$PATH; }
command -v go >/dev/null || { echo "setup: go (1.23 or later) is required and not installed" >&2; exit 1; }

# ---- Debian packages ------------------------------------------------------------
need=()
command -v valgrind   >/dev/null || need+=(valgrind)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v curl       >/dev/null || need+=(curl)
command -v cc         >/dev/null || need+=(gcc libc6-dev)
command -v make       >/dev/null || need+=(make)
command -v readelf    >/dev/null || need+=(binutils)
# the HTTP client is tested against nginx, a server no one here wrote
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx-light)
# promtool checks the metrics text; a Prometheus server scrapes a demo
command -v promtool >/dev/null || need+=(prometheus)
# the cluster tests start their own redis-server
{ command -v redis-server >/dev/null && command -v redis-cli >/dev/null; } || need+=(redis-server)
# the chat room's real-browser test: headless Chromium and its driver
[[ -x /usr/bin/chromium ]] || need+=(chromium)
[[ -x /usr/bin/chromedriver ]] || need+=(chromium-driver)
if ((${#need[@]})); then
    echo "setup: installing ${need[*]}"
    $SUDO apt-get update -qq </dev/null
    $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" </dev/null
fi

# ---- Rust: the nightly toolchain with Miri and rust-src ----------------------------
# (cargo-fuzz is for `make test-long`, whose fuzz-deps installs it.)
make -s nightly-tools </dev/null
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy </dev/null

# ---- Go modules, Python packages ----------------------------------------------
(cd bindings/go && go mod download) </dev/null
"$PYTHON" -c 'import pytest, websockets, kosoku, trustme, jinja2, tornado, h11, pdoc, mypy' 2>/dev/null ||
    "$PYTHON" -m pip install -q -r tests/requirements.txt </dev/null
bash tests/redis-deps.sh </dev/null
bash tests/browser-deps.sh </dev/null

echo "setup: $(cargo --version); $(rustup run nightly rustc --version); $(cc --version | head -1);" \
     "$(valgrind --version); $(go version)"
