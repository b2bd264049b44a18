#!/usr/bin/env bash
# What the cluster tests (tests/cluster.rs, tests/cluster/) need: Debian's
# redis-server and redis-cli (package redis-server, which brings
# redis-tools). The tests start their own server on a free loopback port
# with no persistence and stop it by PID; nothing here starts one.
# Idempotent: installs only what is missing, never reads standard input.
#
#   bash tests/redis-deps.sh          # as root, or with passwordless sudo
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    SUDO="sudo -n"
fi

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    echo "redis-deps: installing redis-server"
    $SUDO apt-get update -qq </dev/null
    $SUDO apt-get install -y -qq --no-install-recommends redis-server </dev/null
fi
for bin in redis-server redis-cli; do
    command -v $bin >/dev/null || { echo "redis-deps: $bin is still missing" >&2; exit 1; }
done
echo "redis-deps: $(redis-server --version | head -1)"
