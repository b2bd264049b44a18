#!/usr/bin/env bash
# Runs a Go hello server built against an installed squall (pkg-config) on a
# free port and checks one answer. Usage: tests/go-pkgconfig.sh BINARY
set -euo pipefail
bin=$1
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" "127.0.0.1:$port" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 200); do
    if body=$(curl -sf "http://127.0.0.1:$port/" 2>/dev/null); then
        [[ $body == "Hello, world" ]] || { echo "go-pkgconfig: unexpected body: $body"; exit 1; }
        echo "go-pkgconfig: ok"
        exit 0
    fi
    sleep 0.05
done
echo "go-pkgconfig: the server never answered"
exit 1
